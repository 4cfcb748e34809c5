r"""Verner's "most efficient" Runge--Kutta pairs: coefficients as data, one dense-output rule.

J. H. Verner, "Numerically optimal Runge--Kutta pairs with interpolants", Numer.
Algorithms 53 (2010) 383--396, and the coefficient files on his website. Each pair
(:class:`~scidiff.Vern6`, :class:`~scidiff.Vern7`, :class:`~scidiff.Vern9`) is
declared in its own module as a :class:`VernerCoefficients`: the stages of the step, the
weights ``b`` (order ``p``) and ``b_hat`` (order ``p - 1``), the extra stages of the
interpolant and its weight polynomials. Coefficients are decimal strings (Verner's exact
values rounded to 30 significant digits), so the tests can check the order conditions
in exact rational arithmetic as well as in float64.

Stages are numbered as Verner numbers them: ``1..s`` for the step, then -- for a tableau
that is not first-same-as-last -- stage ``s + 1`` is ``f(t1, y1)`` (the step computes it
anyway: it is the next step's first stage), then the extra stages. The continuous
extension is

.. math::

    y(t_0 + \theta h) = y_0 + h \sum_i b_i(\theta)\, k_i,
    \qquad b_i(\theta) = \sum_{j=1}^{q} r_{ij}\,\theta^j,

with :math:`b_i(1) = b_i`. The step stores ``y0``, ``y1`` and the stages that have a
weight polynomial; :meth:`AbstractVerner.interpolate` forms the weights in the time dtype
and ends exactly at ``y1``. The weights are
large (up to ~1e5 for Vern6, ~1e4 for Vern9, ~1e3 for Vern7) and nearly cancel, so the
dense output carries rounding errors of about ``max|r| * eps * h|f|``: negligible in
float64, visible in float32 (the methods are meant for tight tolerances in float64).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import ClassVar, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree, Scalar

from ._runge_kutta import AbstractExplicitRK, ButcherTableau, linear_combination

__all__ = ["VernerCoefficients", "AbstractVerner"]

Row = Mapping[int, str]  # 1-based stage index j -> a_ij (or a weight), as a decimal string
Stage = tuple[str, Row]  # (c_i, row i of a)
N = TypeVar("N", float, Fraction)


@dataclasses.dataclass(frozen=True)
class VernerCoefficients:
    """A Verner pair with its interpolant, coefficients as decimal strings.

    Arguments:
        stages: ``(c_i, {j: a_ij})`` for stages ``2..s`` of the step.
        b: ``{j: b_j}``, the weights of the order-``p`` solution (zeros omitted).
        b_hat: the weights of the embedded order-``p - 1`` solution.
        extra_stages: ``(c_i, {j: a_ij})`` for the interpolation stages that follow
            ``f(t1, y1)``.
        r: ``{i: (r_i1, ..., r_iq)}``, the weight polynomials
            :math:`b_i(\\theta) = \\sum_j r_{ij} \\theta^j` of the interpolant.
    """

    stages: tuple[Stage, ...]
    b: Row
    b_hat: Row
    extra_stages: tuple[Stage, ...]
    r: Mapping[int, tuple[str, ...]]

    @property
    def num_stages(self) -> int:
        """Stages of the step (``s``; ``f(t1, y1)`` included for FSAL pairs)."""
        return len(self.stages) + 1

    @property
    def fsal(self) -> bool:
        c_last, a_last = self.stages[-1]
        return Fraction(c_last) == 1 and dict(a_last) == dict(self.b)

    @property
    def num_all_stages(self) -> int:
        """Every stage the interpolant uses: the step's, ``f(t1, y1)``, the extra ones."""
        return self.num_stages + (0 if self.fsal else 1) + len(self.extra_stages)

    def all_stages(self, number: Callable[[str], N] = Fraction) -> tuple[
        list[list[N]], list[N], list[N], list[N], list[list[N]]
    ]:
        """``(A, c, b, b_hat, R)`` over all stages, in ``number`` (``Fraction`` or ``float``).

        ``A`` is ``n x n`` (strictly lower triangular), ``c``, ``b``, ``b_hat`` have ``n``
        entries (``b`` and ``b_hat`` zero beyond the step's stages), and ``R`` is
        ``n x q`` with ``R[i][j-1] = r_ij``.
        """
        n, zero = self.num_all_stages, number("0")
        step_rows = list(self.stages)
        if not self.fsal:
            step_rows.append(("1", self.b))  # f(t1, y1)
        A = [[zero] * n for _ in range(n)]
        c = [zero] * n
        for i, (ci, row) in enumerate(step_rows + list(self.extra_stages), start=1):
            c[i] = number(ci)
            for j, v in row.items():
                if not 1 <= j <= i:
                    raise ValueError(f"stage {i + 1} refers to stage {j}: not explicit.")
                A[i][j - 1] = number(v)
        b = [number(self.b.get(j, "0")) for j in range(1, n + 1)]
        b_hat = [number(self.b_hat.get(j, "0")) for j in range(1, n + 1)]
        q = len(next(iter(self.r.values())))
        R = [[number(v) for v in self.r.get(i, ("0",) * q)] for i in range(1, n + 1)]
        return A, c, b, b_hat, R

    def tableau(self) -> ButcherTableau:
        """The step's Butcher tableau in float64, ``b_error = b - b_hat`` rounded once."""
        s = self.num_stages
        A, c, b, b_hat, _ = self.all_stages(Fraction)
        return ButcherTableau(
            a=tuple(tuple(float(x) for x in A[i][:i]) for i in range(1, s)),
            b=tuple(float(x) for x in b[:s]),
            c=tuple(float(x) for x in c[1:s]),
            b_error=tuple(float(x - y) for x, y in zip(b[:s], b_hat[:s])),
        )

    def interpolant(self) -> VernerInterpolant:
        A, c, _, _, R = self.all_stages(float)
        first = self.num_stages + (0 if self.fsal else 1)  # stages before the extra ones
        R = np.asarray(R)
        used = tuple(int(i) for i in np.flatnonzero(np.any(R != 0.0, axis=1)))
        return VernerInterpolant(
            rows=tuple(tuple(A[i][:i]) for i in range(first, len(c))),
            nodes=tuple(c[first:]),
            used=used,
            weights=R[list(used)].T.copy(),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class VernerInterpolant:
    """Float data of the continuous extension: the extra stages and ``R``.

    ``rows[i]``/``nodes[i]``: coefficients over all earlier stages and node of extra
    stage ``i``; ``used``: the (0-based) stages with a nonzero weight polynomial;
    ``weights``: ``R`` restricted to them and transposed, shape ``(q, len(used))``.
    """

    rows: tuple[tuple[float, ...], ...]
    nodes: tuple[float, ...]
    used: tuple[int, ...]
    weights: np.ndarray

    @property
    def degree(self) -> int:
        return self.weights.shape[0]


def _extra_stages_looped(f, t0, h, y0, args, ks, rows, nodes):
    """The extra stages in one ``lax.scan`` (one copy of ``f`` in the program); returns the
    stages stacked per leaf, ``(n, ...)``. Same formulas as the unrolled loop."""
    m, n = len(ks), len(ks) + len(rows)
    a = np.zeros((len(rows), n))
    for i, row in enumerate(rows):
        a[i, : len(row)] = row
    y_leaves, treedef = jax.tree_util.tree_flatten(y0)
    k_leaves = [treedef.flatten_up_to(k) for k in ks]
    bufs = []
    for j in range(len(y_leaves)):
        stacked = jnp.stack([kl[j] for kl in k_leaves])
        pad = jnp.zeros((n - m,) + stacked.shape[1:], stacked.dtype)
        bufs.append(jnp.concatenate([stacked, pad]))

    def stage(bufs, row):
        i, a_row, c_i = row
        yi = [
            y + (jnp.asarray(h, y.dtype) * jnp.tensordot(a_row.astype(kb.dtype), kb, axes=1)).astype(y.dtype)
            for y, kb in zip(y_leaves, bufs)
        ]
        t_i = t0 + c_i.astype(jnp.result_type(t0, h)) * h
        k_i = treedef.flatten_up_to(
            jax.checkpoint(f)(t_i, jax.tree_util.tree_unflatten(treedef, yi), args)
        )
        return [kb.at[m + i].set(k.astype(kb.dtype)) for kb, k in zip(bufs, k_i)], None

    xs = (np.arange(len(rows)), a, np.asarray(nodes))  # constants, not traced ops
    bufs, _ = jax.lax.scan(stage, bufs, xs)
    return jax.tree_util.tree_unflatten(treedef, bufs)


class AbstractVerner(AbstractExplicitRK):
    """Base of the Verner pairs: the tableau's step plus Verner's own interpolant.

    Subclasses set ``coefficients`` (their :class:`VernerCoefficients`), ``tableau``
    and ``interpolant`` (built from it), ``order``, ``error_order``, ``interpolant_order`` and
    ``extra_fevals`` (the extra stages, made in :meth:`dense_info` every step).
    """

    coefficients: ClassVar[VernerCoefficients]
    interpolant: ClassVar[VernerInterpolant]
    interpolant_order: ClassVar[int]

    def dense_info(self, f, t0, t1, y0, y1, args, ks, f1) -> PyTree:
        # The stages with a weight polynomial, stacked per leaf (n_used, ...). Not the
        # monomial coefficients F_j = h sum_i r_ij k_i: the weights r_ij reach 1e5
        # (Vern6), so F_j would be small differences of large terms, rounded in the
        # state's dtype; the stages are well conditioned and the weights b_i(theta) are
        # formed in the time dtype at interpolation.
        d = self.interpolant
        h = t1 - t0
        ks = list(ks) if self.tableau.fsal else [*ks, f1]
        if self.scan_stages:
            k_all = _extra_stages_looped(f, t0, h, y0, args, ks, d.rows, d.nodes)
            k_used = jax.tree_util.tree_map(lambda k: k[np.asarray(d.used)], k_all)
        else:
            for row, ci in zip(d.rows, d.nodes):
                ks.append(f(t0 + ci * h, linear_combination(y0, h, row, ks), args))
            k_used = jax.tree_util.tree_map(lambda *k: jnp.stack(k), *[ks[i] for i in d.used])
        return (y0, y1, k_used)

    def dense_info_placeholder(self, f, t0, y0, args, state) -> PyTree:
        n = len(self.interpolant.used)
        zeros = jax.tree_util.tree_map(lambda y: jnp.zeros((n,) + jnp.shape(y), y.dtype), y0)
        return (y0, y0, zeros)

    def interpolate(self, t0: Scalar, t1: Scalar, dense_info: PyTree, t: Scalar) -> PyTree:
        r""":math:`y = y_0 + h \sum_i b_i(\theta) k_i + \theta^q \delta`, :math:`\theta = (t -
        t_0)/h`, :math:`b_i(\theta) = \theta(r_{i1} + \theta(r_{i2} + \dots))` (Horner), with
        :math:`\delta = y_1 - y_0 - h \sum_i b_i(1) k_i`: zero in exact arithmetic
        (:math:`b_i(1) = b_i`), in floating point the rounding of the large weights; with
        it the interpolant ends exactly at ``y1`` and the dense output is continuous."""
        y0, y1, k_stack = dense_info
        h = t1 - t0
        x = (t - t0) / h
        R = self.interpolant.weights  # (q, n_used)

        def weights(x):
            w = jnp.zeros(R.shape[1], jnp.result_type(x))
            for j in range(R.shape[0] - 1, -1, -1):
                w = (w + R[j].astype(w.dtype)) * x
            return w

        w, w1 = weights(x), weights(jnp.ones_like(x))
        xq = x ** R.shape[0]

        def leaf(y_start, y_end, k):
            def combine(wv):
                wl = (jnp.asarray(h, y_start.dtype) * wv.astype(y_start.dtype)).astype(k.dtype)
                return jnp.tensordot(wl, k, axes=1).astype(y_start.dtype)

            delta = (y_end - y_start) - combine(w1)
            return y_start + combine(w) + jnp.asarray(xq, y_start.dtype) * delta

        return jax.tree_util.tree_map(leaf, y0, y1, k_stack)
