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
from ._tolerance import is_scalar_tolerance, tol_map

__all__ = [
    "concrete",
    "checked_state",
    "default_tolerances",
    "checked_tolerances",
    "checked_times",
    "checked_save_times",
    "checked_jump_times",
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

    Raises for an empty pytree, non-floating leaves and NaN in a concrete state (zero-size
    leaves are fine: they hold no components, and a state of only those is solved at
    once); warns when float64 NumPy data is narrowed because x64 is off.
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


def _tolerance_like(name: str, tol: Any, time_dtype: Any, y0: PyTree) -> Any:
    """One tolerance as a scalar array, or a pytree with ``y0``'s structure whose leaves
    broadcast to ``y0``'s (an array that broadcasts to every leaf is spread over them)."""
    y_def = jax.tree_util.tree_structure(y0)
    y_leaves = jax.tree_util.tree_leaves(y0)
    t_def = jax.tree_util.tree_structure(tol)
    if jax.tree_util.treedef_is_leaf(t_def) or (
        jax.tree_util.treedef_is_leaf(y_def) and t_def != y_def
    ):
        # One array-like (a nested list of numbers too, when y0 is one array).
        try:
            arr = jnp.asarray(tol, time_dtype)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"`{name}` must be a number, an array that broadcasts to y0's leaves, or a "
                f"pytree with y0's structure; got {tol!r} ({err})."
            ) from None
        if arr.ndim == 0:
            return arr
        leaves = [arr] * len(y_leaves)
    elif t_def == y_def:
        leaves = [jnp.asarray(t, time_dtype) for t in jax.tree_util.tree_leaves(tol)]
    else:
        raise ValueError(
            f"`{name}` must be a number, an array that broadcasts to each leaf of y0, or a "
            f"pytree with y0's structure: y0 is {y_def}, `{name}` is {t_def}."
        )
    for i, (t, y) in enumerate(zip(leaves, y_leaves)):
        try:
            ok = jnp.broadcast_shapes(t.shape, y.shape) == y.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"`{name}` must broadcast to y0's leaves: its entry for leaf {i} has shape "
                f"{t.shape}, which does not broadcast to that leaf's shape {y.shape} (pass one "
                "value per component, or a scalar)."
            )
    return jax.tree_util.tree_unflatten(y_def, leaves)


def _tolerance_entries(tol: Any) -> list[np.ndarray] | None:
    """The concrete entries of a tolerance, leaf by leaf (``None`` if any is traced)."""
    out = []
    for leaf in jax.tree_util.tree_leaves(tol):
        c = concrete(leaf)
        if c is None:
            return None
        out.append(c)
    return out


def checked_tolerances(rtol: Any, atol: Any, time_dtype: Any, y0: PyTree) -> tuple[Any, Any, bool]:
    """``(rtol, atol, traced)``: each a scalar array or a pytree like ``y0`` whose leaves
    broadcast to ``y0``'s (per-component tolerances, see ``_tolerance.py``); ``traced``:
    some value is only known at run time (then :func:`runtime_input_result` checks it)."""
    d_rtol, d_atol = default_tolerances(time_dtype)
    rtol = _tolerance_like("rtol", d_rtol if rtol is None else rtol, time_dtype, y0)
    atol = _tolerance_like("atol", d_atol if atol is None else atol, time_dtype, y0)
    crt, cat = _tolerance_entries(rtol), _tolerance_entries(atol)
    for name, cs in (("rtol", crt), ("atol", cat)):
        for c in cs or ():
            if c.size and (_has_nan(c) or np.any(c < 0)):
                bad = c[np.isnan(c) | (c < 0)].ravel()[0]
                raise ValueError(f"`{name}` must be non-negative (and not NaN), got {float(bad)}.")
    if crt is None or cat is None:
        return rtol, atol, True
    scalar = is_scalar_tolerance(rtol) and is_scalar_tolerance(atol)
    if scalar:
        crt0, cat0 = float(crt[0]), float(cat[0])
        if crt0 == 0 and cat0 == 0:
            raise ValueError(
                "`rtol` and `atol` are both zero: no error is acceptable; set one > 0."
            )
    # Per leaf: the entries of rtol/atol for that leaf, and its size |y| (the largest
    # entry of a concrete leaf, or 1).
    y_leaves = jax.tree_util.tree_leaves(y0)
    r_leaves = _per_leaf(rtol, y0)
    a_leaves = _per_leaf(atol, y0)
    eps = float(jnp.finfo(time_dtype).eps)
    worst = None
    for i, (y, r, a) in enumerate(zip(y_leaves, r_leaves, a_leaves)):
        r, a = np.asarray(r), np.asarray(a)
        if not scalar and np.any((r == 0) & (a == 0)):
            raise ValueError(
                f"`rtol` and `atol` are both zero for a component of y0 leaf {i}: no error "
                "is acceptable there; set one of them > 0 for every component."
            )
        c = concrete(y)
        scale = float(np.max(np.abs(c))) if c is not None and c.size else 1.0
        scale = scale if scale > 0 else 1.0
        short = a + r * scale < eps * scale
        if np.any(short) and worst is None:
            rr, aa = np.broadcast_to(r, short.shape), np.broadcast_to(a, short.shape)
            k = np.unravel_index(np.argmax(short), short.shape) if short.ndim else ()
            worst = (i, float(rr[k]), float(aa[k]), scale)
    if worst is not None:
        i, r0, a0, scale = worst
        name = jnp.dtype(time_dtype).name
        where = "" if scalar else f" (for a component of y0 leaf {i})"
        warnings.warn(
            f"tolerance unreachable in {name}: rtol={r0:.3g}, atol={a0:.3g}{where} ask "
            f"for less error than {name} resolves (machine epsilon {eps:.2g} relative to "
            f"|y| ~ {scale:.3g}); the solve will likely stop with a step-size underflow or "
            f"max_steps. Use rtol >= {10 * eps:.2g} (default {default_tolerances(time_dtype)[0]:.2g}), "
            'or float64 (jax.config.update("jax_enable_x64", True)).',
            UserWarning,
            stacklevel=3,
        )
    return rtol, atol, False


def _per_leaf(tol: Any, y0: PyTree) -> list[Any]:
    """The tolerance entry for each leaf of ``y0`` (not broadcast)."""
    return jax.tree_util.tree_leaves(tol_map(lambda t, v: t, tol, y0))


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


def checked_jump_times(
    jump_ts: Any, time_dtype: Any, span: tuple[float, float] | None
) -> tuple[Any, bool]:
    """``(jump_ts, traced)``: validated known discontinuities of ``f`` (or ``None``);
    ``traced``: checked at run time instead (traced values, or a traced ``t_span``).

    Jump times must be finite, sorted (increasing, or decreasing; duplicates allowed) and
    inside the closed ``t_span``; an empty array is the same as ``None``.
    """
    if jump_ts is None:
        return None, False
    jump_ts = jnp.asarray(jump_ts, time_dtype)
    if jump_ts.ndim != 1:
        raise ValueError(f"`jump_ts` must be a 1-D array of times, got shape {jump_ts.shape}.")
    if jump_ts.shape[0] == 0:
        return None, False
    cj = concrete(jump_ts)
    if cj is not None and not np.all(np.isfinite(cj)):
        raise ValueError("`jump_ts` holds NaN or Inf: jump times must be finite numbers.")
    if cj is None or span is None:
        return jump_ts, True
    steps = np.diff(cj)
    if not (np.all(steps >= 0) or np.all(steps <= 0)):
        raise ValueError(
            "`jump_ts` must be sorted (increasing or decreasing): got "
            f"{np.array2string(cj, threshold=8)}; pass e.g. jnp.sort(jump_ts)."
        )
    lo, hi = min(span), max(span)
    if np.any(cj < lo) or np.any(cj > hi):
        raise ValueError(
            f"`jump_ts` must lie inside t_span [{lo}, {hi}]; got values in "
            f"[{float(cj.min())}, {float(cj.max())}] (drop the jump times outside the span)."
        )
    return jump_ts, False


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
    jump_ts: Any = None,
    y0: PyTree = None,
) -> RESULTS | None:
    """The checks of values that were traced at call time, as a result (``None``: all
    inputs were checked at call time, nothing to do at run time). Per ``vmap`` member.
    ``open_end``: ``t1`` may be ``+-inf`` (see :func:`checked_times`); ``jump_ts``: the
    jump times to check (``None``: none, or checked at call time); ``y0``: the state, to
    pair per-component tolerances with."""
    result = None

    def worse(result, ok, failure):
        bad = RESULTS.where(ok, RESULTS.successful, failure)
        return bad if result is None else RESULTS.where(result == RESULTS.successful, bad, result)

    if span:
        t1_ok = (jnp.isfinite(t1) | jnp.isinf(t1)) if open_end else jnp.isfinite(t1)
        result = worse(result, jnp.isfinite(t0) & t1_ok, RESULTS.invalid_t_span)
    if tolerances:
        if is_scalar_tolerance(rtol) and is_scalar_tolerance(atol):
            pairs = [(rtol, atol)]
        else:
            pairs = list(zip(_per_leaf(rtol, y0), _per_leaf(atol, y0)))
        ok = jnp.asarray(True)
        for r, a in pairs:  # False for NaN too
            ok = ok & jnp.all((r >= 0) & (a >= 0) & ((r > 0) | (a > 0)))
        result = worse(result, ok, RESULTS.invalid_tolerance)
    if save_times:
        d = jnp.where(t1 >= t0, 1, -1).astype(t_eval.dtype)
        s = d * t_eval
        ok = jnp.all(jnp.diff(s) > 0) & jnp.all((s >= d * t0) & (s <= d * t1))  # NaN: False
        ok = ok & jnp.all(jnp.isfinite(s))  # t1 = inf: save times stay finite
        result = worse(result, ok, RESULTS.invalid_t_eval)
    if jump_ts is not None:
        steps = jnp.diff(jump_ts)
        lo, hi = jnp.minimum(t0, t1), jnp.maximum(t0, t1)
        ok = (jnp.all(steps >= 0) | jnp.all(steps <= 0)) & jnp.all(
            (jump_ts >= lo) & (jump_ts <= hi)
        )  # NaN: False
        result = worse(result, ok, RESULTS.invalid_jump_ts)
    return result
