r"""The Radau IIA (order 5) coefficients and the linear system of its Newton iteration.

Radau IIA with ``s = 3`` stages is the collocation method at the nodes
``c = ((4 - sqrt 6)/10, (4 + sqrt 6)/10, 1)``. For the stage increments
``Z = (Z_1, Z_2, Z_3)``, ``Z_i = Y_i - y_0``, a step solves

.. math::  r(Z) = (I_3 \otimes M)\,Z - h\,(A \otimes I_n)\,F(Z) = 0, \qquad
           F(Z)_i = f(t_0 + c_i h,\; y_0 + Z_i),

with ``M = I`` (a constant mass matrix ``M`` enters here and nowhere else in the stage
equations). The simplified Newton iteration needs solves with the ``3n x 3n`` matrix
``I_3 \otimes M - h A \otimes J``. Two ways to do that, both through the linear-solver
objects of :mod:`scidiff._linear` (the strategy's ``factorise`` of ``M - cJ``):

* **eigen-split** (Hairer & Wanner, *Solving ODEs II*, IV.8): ``A`` has one real
  eigenvalue ``1/gamma`` and a complex pair ``1/mu, 1/conj(mu)``. With
  ``A = T \Lambda T^{-1}`` (``\Lambda`` block diagonal: ``1/gamma`` and the real 2x2 form
  of multiplication by ``1/mu``), the system decouples in ``W = (T^{-1} \otimes I) Z``
  into one real ``n x n`` system with ``M - (h/gamma) J`` and one complex ``n x n``
  system with ``M - (h/mu) J`` acting on ``W_2 + i W_3``. Two factorisations of size
  ``n`` (one of them complex) instead of one of size ``3n``.
* **full**: the ``3n`` real system itself, as a dense matrix ``I_3 \otimes M - A \otimes
  hJ`` for a direct solver, or as the product ``v -> (I_3 \otimes M) v - (A \otimes hJ) v``
  for a Krylov solver (three Jacobian--vector products per product, batched over the
  stages), preconditioned stage by stage with the strategy's preconditioner at
  ``c = h/gamma``.

In both forms ``hJ v`` is read from the real iteration matrix ``W_1 = M - (h/gamma) J``
(``hJ v = gamma (M v - W_1 v)``), which the step needs anyway for its error estimate,
so every strategy (dense, matrix-free, user-written) works unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..._linear._solver import FlatOperator
from ..._results import RESULTS
from ._linear_algebra import AbstractIterationMatrix, IterationMatrix

__all__ = ["C", "A", "T", "T_INV", "GAMMA", "MU", "E", "P", "StageSystem"]

_S6 = 6**0.5

# The Radau IIA tableau (order 5, stage order 3).
C = np.array([(4 - _S6) / 10, (4 + _S6) / 10, 1.0])
A = np.array(
    [
        [(88 - 7 * _S6) / 360, (296 - 169 * _S6) / 1800, (-2 + 3 * _S6) / 225],
        [(296 + 169 * _S6) / 1800, (88 + 7 * _S6) / 360, (-2 - 3 * _S6) / 225],
        [(16 - _S6) / 36, (16 + _S6) / 36, 1 / 9],
    ]
)
# Eigenvalues of A^{-1}: gamma (real) and the pair mu, conj(mu); with T below,
# T^{-1} A^{-1} T = [[gamma, 0, 0], [0, Re mu, -Im mu], [0, Im mu, Re mu]].
GAMMA = 3 + 3 ** (2 / 3) - 3 ** (1 / 3)
MU = complex(3 + 0.5 * (3 ** (1 / 3) - 3 ** (2 / 3)), -0.5 * (3 ** (5 / 6) + 3 ** (7 / 6)))
# Transformation matrices (Hairer & Wanner's RADAU5, as in scipy's Radau).
T = np.array(
    [
        [0.09443876248897524, -0.14125529502095421, 0.03002919410514742],
        [0.25021312296533332, 0.20412935229379994, -0.38294211275726192],
        [1.0, 1.0, 0.0],
    ]
)
T_INV = np.array(
    [
        [4.17871859155190428, 0.32768282076106237, 0.52337644549944951],
        [-4.17871859155190428, -0.32768282076106237, 0.47662355450055044],
        [0.50287263494578682, -2.57192694985560522, 0.59603920482822492],
    ]
)
# Error estimate: err = (M - (h/gamma) J)^{-1} (h/gamma f(t0, y0) + sum_i E_i Z_i). Before
# the filter this is h times the difference of an embedded order-3 quadrature, weights
# 1/gamma on f(t0, y0) and b + E A on the stages, and the method's b = A[-1].
E = np.array([-13 - 7 * _S6, -13 + 7 * _S6, -1.0]) / (3 * GAMMA)
# Dense output: the collocation polynomial y0 + sum_k x^(k+1) q_k, q = P^T Z, x in [0, 1]
# (P = V^{-T} for the Vandermonde matrix V_ik = c_i^(k+1)).
P = np.array(
    [
        [13 / 3 + 7 * _S6 / 3, -23 / 3 - 22 * _S6 / 3, 10 / 3 + 5 * _S6],
        [13 / 3 - 7 * _S6 / 3, -23 / 3 + 22 * _S6 / 3, 10 / 3 - 5 * _S6],
        [1 / 3, -8 / 3, 10 / 3],
    ]
)


def _first_failure(a: RESULTS, b: RESULTS) -> RESULTS:
    return RESULTS.where(a == RESULTS.successful, b, a)


class StageSystem:
    """Solves with ``I_3 (x) M - h A (x) J`` for one step (short-lived, never carried).

    Arguments:
        strategy: the solver's iteration-matrix strategy.
        fn, args, jac: the flat field, its arguments, the strategy's linearisation.
        h: the step size; ``n``: the number of unknowns.
        split: the eigen-split form (the strategy's solver must take complex matrices:
            scidiff's ``LU`` does); otherwise the full ``3n`` form.

    Attributes:
        real: ``W_1 = M - (h/gamma) J`` (used by the error estimate too).
    """

    def __init__(
        self,
        strategy: AbstractIterationMatrix,
        fn,
        args,
        jac,
        h: Array,
        n: int,
        split: bool,
    ):
        dtype = h.dtype
        self.n = n
        self.split = split
        self.real: IterationMatrix = strategy.factorise(fn, args, jac, h / GAMMA)
        if split:
            cdtype = jnp.result_type(dtype, jnp.complex64)
            c = h.astype(cdtype) * jnp.asarray(1 / MU, cdtype)
            self.complex: IterationMatrix = strategy.factorise(fn, args, jac, c)
        else:
            self.full = self._full(strategy, dtype)

    def _full(self, strategy: AbstractIterationMatrix, dtype) -> IterationMatrix:
        n, real = self.n, self.real
        a = jnp.asarray(A, dtype)
        gamma = jnp.asarray(GAMMA, dtype)
        if real.operator.matrix is not None:
            w1 = real.operator.matrix
            hj = gamma * (jnp.eye(n, dtype=dtype) - w1)
            op = FlatOperator.from_matrix(jnp.eye(3 * n, dtype=dtype) - jnp.kron(a, hj))
        else:

            def matvec(v):
                vs = v.reshape(3, n)
                hjv = gamma * (vs - jax.vmap(real.operator.matvec)(vs))
                return (vs - a @ hjv).reshape(-1)

            op = FlatOperator(matvec, 3 * n, dtype)
        precond = None
        if real.precond is not None:
            p1 = real.precond

            def precond_stages(v):
                return jax.vmap(p1)(v.reshape(3, n)).reshape(-1)

            precond = precond_stages

        solver = strategy.linear_solver_for(3 * n)
        return IterationMatrix(solver, op, solver.init(op), precond)

    def solve(self, b: Array) -> tuple[Array, RESULTS]:
        """``(x, result)`` with ``(I_3 (x) M - h A (x) J) x = b`` (flat ``3n`` vectors)."""
        if not self.split:
            return self.full.solve(b)
        n = self.n
        t = jnp.asarray(T, b.dtype)
        v = jnp.asarray(T_INV, b.dtype) @ b.reshape(3, n)
        w1, r1 = self.real.solve(v[0])
        w2, r2 = self.complex.solve(v[1] + 1j * v[2])
        w = jnp.stack([w1, jnp.real(w2), jnp.imag(w2)]).astype(b.dtype)
        return (t @ w).reshape(-1), _first_failure(r1, r2)
