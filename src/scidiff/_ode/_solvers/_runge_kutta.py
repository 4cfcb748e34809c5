r"""Explicit Runge--Kutta methods as data: a validated Butcher tableau and one generic step.

An explicit ``s``-stage Runge--Kutta method advances ``y' = f(t, y)`` by ``h = t1 - t0``:

.. math::

    k_1 = f(t_0, y_0), \qquad
    k_i = f\Big(t_0 + c_i h,\; y_0 + h \sum_{j<i} a_{ij} k_j\Big), \qquad
    y_1 = y_0 + h \sum_i b_i k_i,

and, for an embedded pair, the local error estimate
``y_error = h * sum_i (b_i - \hat b_i) k_i`` (``b_error`` stores the difference).

Every method here carries ``f(t0, y0)`` as its solver state. For a *first-same-as-last*
(FSAL) tableau -- last row of ``a`` equal to ``b``, ``c_s = 1`` -- the last stage *is*
``f(t1, y1)``. For the other tableaux the step evaluates ``f(t1, y1)`` once at the end.
Either way the next step starts from a known ``k_1``, so an accepted step costs ``s - 1``
(FSAL) or ``s`` evaluations and the derivative at both ends of the step is available for
cubic Hermite dense output at no extra cost.

Stages are combined with one fused multiply-add chain per leaf with Python-float
coefficients (weakly typed: a float32 state stays float32) and zero coefficients
skipped, so XLA sees a single elementwise fusion per stage.

Unrolled or looped stages. Unrolled stages (one copy of ``f`` per stage in the program)
run fastest, but the program, and with it XLA's compile time, grows with the number of
stages; reverse mode doubles that again. :func:`rk_step` with ``stage_loop=True`` runs
stages ``2..s`` in one ``lax.scan`` over the rows of the tableau instead (one copy of
``f``). The solvers choose per pass through ``scan_stages`` (see
:class:`AbstractExplicitRK`): by default the forward solve is unrolled and the reverse
pass of :class:`~scidiff.RecursiveCheckpoint` is looped.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree, Scalar

from ..._results import RESULTS
from .._base import AbstractODESolver, StepOutput, VectorField, hermite_interpolate

__all__ = [
    "ButcherTableau",
    "AbstractExplicitRK",
    "linear_combination",
    "rk_step",
]

_TOL = 1e-12


def _as_floats(name: str, values: Sequence[Any]) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError) as e:
        raise TypeError(f"`{name}` must be a sequence of real numbers, got {values!r}.") from e


@dataclasses.dataclass(frozen=True)
class ButcherTableau:
    r"""Coefficients of an explicit Runge--Kutta method, checked at construction.

    Arguments:
        a: strictly lower triangle, one row per stage after the first: ``a[i]`` has
            ``i + 1`` entries (the coefficients of stage ``i + 2``).
        b: ``s`` solution weights; must sum to 1 (consistency).
        c: ``s - 1`` nodes of stages ``2..s`` (``c_1 = 0``); each must equal the sum of
            its row of ``a`` (the stages then integrate ``t`` exactly).
        b_error: optional ``s`` weights ``b - b_hat`` of the embedded error estimate;
            must sum to 0 (both solutions are consistent).

    Raises:
        ValueError: on any inconsistency, naming the offending row and the fix.
        TypeError: on non-numeric entries.

    Example:
        >>> heun = ButcherTableau(a=((1.0,),), b=(0.5, 0.5), c=(1.0,), b_error=(-0.5, 0.5))
        >>> heun.num_stages, heun.fsal
        (2, False)
    """

    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    b_error: tuple[float, ...] | None = None

    def __post_init__(self):
        a = tuple(_as_floats(f"a[{i}]", row) for i, row in enumerate(self.a))
        b = _as_floats("b", self.b)
        c = _as_floats("c", self.c)
        b_error = None if self.b_error is None else _as_floats("b_error", self.b_error)
        s = len(b)
        if s < 1:
            raise ValueError("`b` must have at least one weight (one stage).")
        if len(a) != s - 1:
            raise ValueError(
                f"`a` must have one row per stage after the first: {s - 1} rows for {s} "
                f"weights in `b`, got {len(a)}."
            )
        for i, row in enumerate(a):
            if len(row) != i + 1:
                raise ValueError(
                    f"row {i} of `a` (stage {i + 2}) must have {i + 1} entries (explicit "
                    f"methods are strictly lower triangular), got {len(row)}."
                )
        if len(c) != s - 1:
            raise ValueError(
                f"`c` must list the nodes of stages 2..{s} ({s - 1} values; c_1 = 0 is "
                f"implicit), got {len(c)}."
            )
        if not math.isclose(math.fsum(b), 1.0, rel_tol=0.0, abs_tol=_TOL):
            raise ValueError(f"the weights `b` must sum to 1 (consistency), got {math.fsum(b)!r}.")
        for i, (row, ci) in enumerate(zip(a, c)):
            if not math.isclose(math.fsum(row), ci, rel_tol=0.0, abs_tol=_TOL):
                raise ValueError(
                    f"c[{i}] (stage {i + 2}) must equal the sum of row {i} of `a`: "
                    f"got c = {ci!r}, row sum {math.fsum(row)!r}."
                )
        if b_error is not None:
            if len(b_error) != s:
                raise ValueError(
                    f"`b_error` must have one weight per stage ({s}), got {len(b_error)}."
                )
            if not math.isclose(math.fsum(b_error), 0.0, rel_tol=0.0, abs_tol=_TOL):
                raise ValueError(
                    "`b_error` holds b - b_hat of the embedded pair and must sum to 0, got "
                    f"{math.fsum(b_error)!r}."
                )
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "b_error", b_error)

    @property
    def num_stages(self) -> int:
        return len(self.b)

    @property
    def fsal(self) -> bool:
        """Whether the last stage is evaluated at ``(t1, y1)`` (first same as last)."""
        return (
            self.num_stages > 1
            and self.c[-1] == 1.0
            and self.b[-1] == 0.0
            and all(math.isclose(x, y, abs_tol=_TOL) for x, y in zip(self.a[-1], self.b))
        )


def linear_combination(
    y0: PyTree | None, h: Scalar, coeffs: Sequence[float], ks: Sequence[PyTree]
) -> PyTree:
    """``y0 + h * sum_i coeffs[i] * ks[i]`` leaf by leaf (``y0=None``: without ``y0``).

    Zero coefficients are skipped; coefficients are Python floats (weakly typed) and ``h``
    is cast to each leaf's dtype, so the result has the dtype of ``y0`` (or of ``ks``).
    """
    terms = [(float(ci), k) for ci, k in zip(coeffs, ks) if ci != 0.0]
    if not terms:
        terms = [(0.0, ks[0])]
    cs = [ci for ci, _ in terms]
    k_trees = [k for _, k in terms]

    def leaf(y, *kl):
        acc = kl[0] if cs[0] == 1.0 else cs[0] * kl[0]
        for ci, k in zip(cs[1:], kl[1:]):
            acc = acc + (k if ci == 1.0 else ci * k)
        dtype = acc.dtype if y is None else y.dtype
        inc = (jnp.asarray(h, dtype=dtype) * acc).astype(dtype)
        return inc if y is None else y + inc

    if y0 is None:
        return jax.tree_util.tree_map(lambda *kl: leaf(None, *kl), *k_trees)
    return jax.tree_util.tree_map(leaf, y0, *k_trees)


def rk_step(
    tableau: ButcherTableau,
    f: VectorField,
    t0: Scalar,
    t1: Scalar,
    y0: PyTree,
    args: Any,
    f0: PyTree,
    stage_loop: bool = False,
) -> tuple[PyTree, list[PyTree], PyTree, int]:
    """One explicit RK step. Returns ``(y1, ks, f1, num_fevals)``.

    ``ks`` are the stage derivatives ``k_1..k_s`` (``k_1 = f0``); ``f1 = f(t1, y1)`` (the
    FSAL stage, or one extra evaluation for non-FSAL tableaux). ``stage_loop=True``
    evaluates stages ``2..s`` in a ``lax.scan`` (same formulas, possibly another rounding
    order; smaller program).
    """
    if stage_loop and len(tableau.a) > 1:
        return _rk_step_looped(tableau, f, t0, t1, y0, args, f0)
    h = t1 - t0
    ks = [f0]
    fsal = tableau.fsal
    n_rows = len(tableau.a)
    for i, (row, ci) in enumerate(zip(tableau.a, tableau.c)):
        yi = linear_combination(y0, h, row, ks)
        if fsal and i == n_rows - 1:
            ks.append(f(t1, yi, args))  # the FSAL stage: yi is y1, evaluated at exactly t1
            return yi, ks, ks[-1], n_rows
        ks.append(f(t0 + ci * h, yi, args))
    y1 = linear_combination(y0, h, tableau.b, ks)
    f1 = f(t1, y1, args)
    return y1, ks, f1, n_rows + 1


def _rk_step_looped(tableau, f, t0, t1, y0, args, f0):
    """:func:`rk_step` with stages ``2..s`` in one ``lax.scan`` over the tableau's rows.

    The stage derivatives live in one ``(s, ...)`` buffer per leaf; row ``i`` of ``a``
    (zero-padded to ``s``) combines them in one contraction. Reverse mode through the
    scan keeps per stage only the combination's row and ``f``'s inputs (``f`` is
    rematerialised): a few stacked residuals instead of one per intermediate of ``f``.
    """
    h = t1 - t0
    s = tableau.num_stages
    n_rows = len(tableau.a)
    a = np.zeros((n_rows, s))
    for i, row in enumerate(tableau.a):
        a[i, : len(row)] = row
    fsal = tableau.fsal
    y_leaves, treedef = jax.tree_util.tree_flatten(y0)
    k_buf0 = [
        jnp.zeros((s,) + jnp.shape(y), jnp.result_type(k)).at[0].set(k)
        for y, k in zip(y_leaves, treedef.flatten_up_to(f0))
    ]

    def stage(carry, row):
        k_buf, _ = carry
        i, a_row, c_i = row
        yi = []
        for y, kb in zip(y_leaves, k_buf):
            acc = jnp.tensordot(a_row.astype(kb.dtype), kb, axes=1)
            yi.append(y + (jnp.asarray(h, y.dtype) * acc).astype(y.dtype))
        t_i = t0 + c_i.astype(jnp.result_type(t0, h)) * h
        if fsal:  # the last stage is f(t1, y1), evaluated at exactly t1
            t_i = jnp.where(i == n_rows - 1, t1, t_i)
        k_i = treedef.flatten_up_to(
            jax.checkpoint(f)(t_i, jax.tree_util.tree_unflatten(treedef, yi), args)
        )
        k_buf = [kb.at[i + 1].set(k.astype(kb.dtype)) for kb, k in zip(k_buf, k_i)]
        return (k_buf, yi), None

    rows = (np.arange(n_rows), a, np.asarray(tableau.c))  # constants, not traced ops
    (k_buf, y_last), _ = jax.lax.scan(stage, (k_buf0, y_leaves), rows)
    ks = [jax.tree_util.tree_unflatten(treedef, [kb[j] for kb in k_buf]) for j in range(s)]
    if fsal:
        return jax.tree_util.tree_unflatten(treedef, y_last), ks, ks[-1], n_rows
    y1 = linear_combination(y0, h, tableau.b, ks)
    return y1, ks, f(t1, y1, args), n_rows + 1


class AbstractExplicitRK(AbstractODESolver):
    """Base of the explicit Runge--Kutta solvers: a tableau plus (optionally) an interpolant.

    State: ``f(t0, y0)``. ``dense_info`` default: ``(y0, y1, f0, f1)`` for cubic Hermite
    interpolation (order 3); methods with their own continuous extension override
    :meth:`dense_info` and :meth:`interpolate`.

    Class variables: ``tableau`` (:class:`ButcherTableau`), ``order``, ``error_order``
    (``None`` for fixed-step methods, whose tableau has no ``b_error``), ``init_fevals``
    (evaluations of ``f`` made by :meth:`init`: 1; the loop adds it to ``num_fevals``)
    and ``extra_fevals`` (evaluations made by :meth:`dense_info`: 3 for Dopri8).

    Arguments (keyword only, every explicit RK solver):
        scan_stages: ``None`` (default): stages unrolled in the forward solve and looped
            (``lax.scan``) in :class:`~scidiff.RecursiveCheckpoint`'s reverse pass;
            ``True``: looped in both (smallest program, fastest compile); ``False``:
            unrolled in both (fastest gradient, slowest compile). Same steps either way.
    """

    tableau: ClassVar[ButcherTableau]
    init_fevals: ClassVar[int] = 1
    extra_fevals: ClassVar[int] = 0
    scan_stages: bool | None = eqx.field(default=None, static=True, kw_only=True)

    def __check_init__(self):
        if self.scan_stages not in (None, True, False):
            raise TypeError(f"`scan_stages` must be None, True or False, got {self.scan_stages!r}.")

    def for_reverse_pass(self) -> AbstractExplicitRK:
        if self.scan_stages is None:
            return dataclasses.replace(self, scan_stages=True)
        return self

    def init(self, f: VectorField, t0: Scalar, t1: Scalar, y0: PyTree, args: Any) -> PyTree:
        del t1
        return f(t0, y0, args)

    def step(
        self, f: VectorField, t0: Scalar, t1: Scalar, y0: PyTree, args: Any, state: PyTree
    ) -> StepOutput:
        y1, ks, f1, n = rk_step(
            self.tableau, f, t0, t1, y0, args, state, stage_loop=bool(self.scan_stages)
        )
        y_error = self.error_estimate(t1 - t0, ks)
        dense_info = self.dense_info(f, t0, t1, y0, y1, args, ks, f1)
        return StepOutput(
            y1=y1,
            y_error=y_error,
            dense_info=dense_info,
            state=f1,
            result=RESULTS.successful,
            num_fevals=jnp.asarray(n + self.extra_fevals, dtype=jnp.int32),
        )

    # hooks for subclasses ------------------------------------------------------------
    def error_estimate(self, h: Scalar, ks: list[PyTree]) -> PyTree | None:
        """``h * sum_i b_error_i k_i``, or ``None`` for a fixed-step tableau."""
        if self.tableau.b_error is None:
            return None
        return linear_combination(None, h, self.tableau.b_error, ks)

    def dense_info(self, f, t0, t1, y0, y1, args, ks, f1) -> PyTree:
        del f, t0, t1, args
        return (y0, y1, ks[0], f1)

    def interpolate(self, t0: Scalar, t1: Scalar, dense_info: PyTree, t: Scalar) -> PyTree:
        y0, y1, f0, f1 = dense_info
        return hermite_interpolate(t0, t1, y0, y1, f0, f1, t)

    def dense_info_placeholder(self, f, t0, y0, args, state) -> PyTree:
        return (y0, y0, y0, y0)


class AbstractPolynomialDenseRK(AbstractExplicitRK):
    """An explicit RK method whose continuous extension is a combination of its stages,

    .. math:: y(t_0 + s h) = y_0 + h \\sum_i b_i(s)\\, k_i,

    with polynomial weights :math:`b_i(s)` given by :meth:`dense_weights` (Dopri5, Tsit5).
    """

    @abc.abstractmethod
    def dense_weights(self, s: Scalar) -> Any:
        """The weights :math:`b_i(s)`, one per stage, at the step fraction ``s``."""

    def dense_info(self, f, t0, t1, y0, y1, args, ks, f1) -> PyTree:
        # The stages stacked per leaf, (s, ...): interpolation is then one small matrix
        # product (and its reverse mode one outer product) instead of s separate terms.
        del f, t0, t1, y1, args, f1
        return (y0, jax.tree_util.tree_map(lambda *k: jnp.stack(k), *ks))

    def dense_info_placeholder(self, f, t0, y0, args, state) -> PyTree:
        s = self.tableau.num_stages
        return (y0, jax.tree_util.tree_map(lambda y: jnp.zeros((s,) + jnp.shape(y), y.dtype), y0))

    def interpolate(self, t0: Scalar, t1: Scalar, dense_info: PyTree, t: Scalar) -> PyTree:
        y0, k_stack = dense_info
        h = t1 - t0
        weights = jnp.stack(self.dense_weights((t - t0) / h))

        def leaf(y, k):
            w = (jnp.asarray(h, y.dtype) * weights.astype(y.dtype)).astype(k.dtype)
            return y + jnp.tensordot(w, k, axes=1).astype(y.dtype)

        return jax.tree_util.tree_map(leaf, y0, k_stack)
