r"""``solve_ivp``'s input checks: the state, the tolerances and their dtype rule, the times.

Concrete mistakes raise at call time (``ValueError``/``TypeError``, naming the fix).
Values that are traced (``solve_ivp`` called under ``jit``/``vmap``) cannot be read
then; :func:`runtime_input_result` checks them inside the solve instead, where a bad
value becomes a named :class:`~scidiff.RESULTS` failure before the first step.

Default tolerances follow the state's dtype: with ``eps`` its machine epsilon,

.. math::

    \mathrm{rtol} = \max(10^{-6},\ 100\,\varepsilon), \qquad
    \mathrm{atol} = 10^{-3}\,\mathrm{rtol},

i.e. ``1e-6``/``1e-9`` in float64 and ``1.2e-5``/``1.2e-8`` in float32 (where ``1e-9``
sits below the resolution of an O(1) state). Tolerances below what the dtype resolves
(``atol + rtol |y| < eps |y|``) warn once at call time.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

from .._results import RESULTS

__all__ = [
    "concrete",
    "checked_state",
    "default_tolerances",
    "checked_tolerances",
    "checked_times",
    "checked_save_times",
    "runtime_input_result",
]


def concrete(x: Any) -> np.ndarray | None:
    """``x`` as a NumPy array, or ``None`` if it is traced (checked at run time instead)."""
    try:
        return np.asarray(x)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None


def _has_nan(x: np.ndarray) -> bool:
    return bool(np.any(np.isnan(x))) if np.issubdtype(x.dtype, np.inexact) else False


def checked_state(y0: PyTree) -> tuple[PyTree, Any]:
    """``y0`` as arrays of fixed (not weak) dtype, and its working dtype.

    Raises for an empty pytree, a zero-size leaf, non-floating leaves and NaN in a
    concrete state; warns when float64 NumPy data is narrowed because x64 is off.
    """
    leaves_in = jax.tree_util.tree_leaves(y0)
    if not leaves_in:
        raise ValueError("`y0` must contain at least one array.")
    narrowed = []
    for leaf in leaves_in:
        wide = np.result_type(leaf) if isinstance(leaf, (np.ndarray, np.generic)) else None
        if wide is not None and wide.itemsize > jnp.dtype(jnp.asarray(leaf).dtype).itemsize:
            narrowed.append(wide)
    if narrowed:
        warnings.warn(
            f"`y0` holds {narrowed[0]} NumPy data but jax_enable_x64 is off, so it is narrowed "
            "to float32 and the solve runs in float32. Enable float64 with "
            'jax.config.update("jax_enable_x64", True), or pass float32 data to silence this.',
            UserWarning,
            stacklevel=3,
        )
    # An explicit dtype also drops weak typing (jnp.full(n, 1.0) vs jnp.ones(n) would
    # otherwise compile twice).
    y0 = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.asarray(v).dtype), y0)
    leaves = jax.tree_util.tree_leaves(y0)
    for i, leaf in enumerate(leaves):
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            raise TypeError(
                f"`y0` must hold floating (or complex) arrays, got dtype {leaf.dtype}: pass "
                "e.g. jnp.asarray(y0, dtype=float)."
            )
        if leaf.size == 0:
            raise ValueError(
                f"`y0` leaf {i} has shape {leaf.shape} (no elements): the state needs at "
                "least one number (drop empty leaves from y0)."
            )
        c = concrete(leaf)
        if c is not None and not np.all(np.isfinite(c)):
            raise ValueError(
                f"`y0` leaf {i} holds NaN or Inf values: the initial state must be finite."
            )
    return y0, jnp.result_type(*leaves)


def default_tolerances(dtype: Any) -> tuple[float, float]:
    """``(rtol, atol)`` for a state of this dtype (see the module docstring)."""
    eps = float(jnp.finfo(dtype).eps)
    rtol = max(1e-6, 100 * eps)
    return rtol, 1e-3 * rtol


def checked_tolerances(rtol: Any, atol: Any, time_dtype: Any, y0: PyTree) -> tuple[Any, Any, bool]:
    """``(rtol, atol, traced)`` as scalar arrays; ``traced``: some value is only known at
    run time (then :func:`runtime_input_result` checks it)."""
    d_rtol, d_atol = default_tolerances(time_dtype)
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    rtol = jnp.asarray(rtol, time_dtype)
    atol = jnp.asarray(atol, time_dtype)
    if rtol.shape != () or atol.shape != ():
        raise ValueError("`rtol` and `atol` must be scalars.")
    crt, cat = concrete(rtol), concrete(atol)
    for name, c in (("rtol", crt), ("atol", cat)):
        if c is not None and (_has_nan(c) or c < 0):
            raise ValueError(f"`{name}` must be non-negative (and not NaN), got {float(c)}.")
    if crt is None or cat is None:
        return rtol, atol, True
    if crt == 0 and cat == 0:
        raise ValueError("`rtol` and `atol` are both zero: no error is acceptable; set one > 0.")
    eps = float(jnp.finfo(time_dtype).eps)
    sizes = [concrete(v) for v in jax.tree_util.tree_leaves(y0)]
    scale = max((float(np.max(np.abs(c))) for c in sizes if c is not None), default=1.0)
    scale = scale if scale > 0 else 1.0
    if float(cat) + float(crt) * scale < eps * scale:
        name = jnp.dtype(time_dtype).name
        warnings.warn(
            f"tolerance unreachable in {name}: rtol={float(crt):.3g}, atol={float(cat):.3g} ask "
            f"for less error than {name} resolves (machine epsilon {eps:.2g} relative to "
            f"|y| ~ {scale:.3g}); the solve will likely stop with a step-size underflow or "
            f"max_steps. Use rtol >= {10 * eps:.2g} (default {default_tolerances(time_dtype)[0]:.2g}), "
            'or float64 (jax.config.update("jax_enable_x64", True)).',
            UserWarning,
            stacklevel=3,
        )
    return rtol, atol, False


def checked_times(
    t_span: Any, time_dtype: Any, open_end: bool = False
) -> tuple[Any, Any, tuple[float, float] | None]:
    """``(t0, t1, span)`` with ``span = (t0, t1)`` as floats when both are concrete.
    ``open_end``: ``t1`` may be ``+-inf`` (a terminal event ends the solve, ``_open_end.py``)."""
    try:
        n_span = len(t_span)
    except TypeError:
        n_span = -1
    if n_span != 2:
        raise ValueError(f"`t_span` must be a pair (t0, t1), got {t_span!r}.")
    t0 = jnp.asarray(t_span[0], time_dtype)
    t1 = jnp.asarray(t_span[1], time_dtype)
    if t0.shape != () or t1.shape != ():
        raise ValueError("`t_span` must hold two scalars (t0, t1).")
    ct0, ct1 = concrete(t0), concrete(t1)
    if ct0 is None or ct1 is None:
        return t0, t1, None
    if not (np.isfinite(ct0) and (np.isfinite(ct1) or (open_end and np.isinf(ct1)))):
        from ._open_end import OPEN_END_HINT

        hint = f" ({OPEN_END_HINT})" if np.isfinite(ct0) and np.isinf(ct1) else ""
        raise ValueError(f"`t_span` must be finite, got {t_span!r}{hint}.")
    if ct0 == ct1:
        raise ValueError(
            f"`t_span` has t0 == t1 == {float(ct0)}: nothing to integrate (use t1 != t0)."
        )
    return t0, t1, (float(ct0), float(ct1))


def checked_save_times(
    t_eval: Any, time_dtype: Any, span: tuple[float, float] | None
) -> tuple[Any, bool]:
    """``(t_eval, traced)``: validated save times (or ``None``); ``traced``: checked at
    run time instead (traced values, or a traced ``t_span``)."""
    if t_eval is None:
        return None, False
    t_eval = jnp.asarray(t_eval, time_dtype)
    if t_eval.ndim != 1 or t_eval.shape[0] == 0:
        raise ValueError(f"`t_eval` must be a non-empty 1-D array, got shape {t_eval.shape}.")
    cte = concrete(t_eval)
    if cte is not None and _has_nan(cte):
        raise ValueError("`t_eval` holds NaN: save times must be finite numbers.")
    if cte is None or span is None:
        return t_eval, True
    t0, t1 = span
    forward = t1 > t0
    steps = np.diff(cte) if forward else -np.diff(cte)
    if np.any(steps <= 0):
        raise ValueError(
            "`t_eval` must be strictly monotone in the direction of integration "
            f"({'increasing' if forward else 'decreasing'} for t0={t0}, t1={t1})."
        )
    lo, hi = min(t0, t1), max(t0, t1)
    if np.any(cte < lo) or np.any(cte > hi):
        raise ValueError(
            f"`t_eval` must lie inside t_span [{lo}, {hi}]; got values in "
            f"[{float(cte.min())}, {float(cte.max())}]."
        )
    if not np.all(np.isfinite(cte)):  # only an infinite t1 gets here
        raise ValueError("`t_eval` must be finite (with t1 = inf too): save times are numbers.")
    return t_eval, False


def runtime_input_result(
    t0: Any,
    t1: Any,
    rtol: Any,
    atol: Any,
    t_eval: Any,
    *,
    span: bool,
    tolerances: bool,
    save_times: bool,
    open_end: bool = False,
) -> RESULTS | None:
    """The checks of values that were traced at call time, as a result (``None``: all
    inputs were checked at call time, nothing to do at run time). Per ``vmap`` member.
    ``open_end``: ``t1`` may be ``+-inf`` (see :func:`checked_times`)."""
    result = None
    if span:
        t1_ok = (jnp.isfinite(t1) | jnp.isinf(t1)) if open_end else jnp.isfinite(t1)
        ok = jnp.isfinite(t0) & t1_ok & (t0 != t1)
        result = RESULTS.where(ok, RESULTS.successful, RESULTS.invalid_t_span)
    if tolerances:
        ok = (rtol >= 0) & (atol >= 0) & ((rtol > 0) | (atol > 0))  # False for NaN too
        bad = RESULTS.where(ok, RESULTS.successful, RESULTS.invalid_tolerance)
        result = bad if result is None else RESULTS.where(result == RESULTS.successful, bad, result)
    if save_times:
        d = jnp.where(t1 >= t0, 1, -1).astype(t_eval.dtype)
        s = d * t_eval
        ok = jnp.all(jnp.diff(s) > 0) & jnp.all((s >= d * t0) & (s <= d * t1))  # NaN: False
        ok = ok & jnp.all(jnp.isfinite(s))  # t1 = inf: save times stay finite
        bad = RESULTS.where(ok, RESULTS.successful, RESULTS.invalid_t_eval)
        result = bad if result is None else RESULTS.where(result == RESULTS.successful, bad, result)
    return result
