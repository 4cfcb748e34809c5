"""Rodas5: Rosenbrock method of order 5(4) with its own order-4 dense output.

A Rosenbrock (linearly implicit) method needs no Newton iteration: each of its 8
stages is one linear solve with ``I - h gamma J``, ``J = df/dy (t_0, y_0)`` exact. In the
transformed form of Hairer & Wanner (*Solving ODEs II*, IV.7), with ``gamma = 0.19``,

.. math::
    u_i = y_0 + \\sum_{j<i} a_{ij} k_j, \\qquad
    \\Big(\\tfrac{1}{h\\gamma} I - J\\Big) k_i
      = f(t_0 + c_i h, u_i) + h d_i\\, \\partial_t f(t_0, y_0) + \\sum_{j<i} \\tfrac{C_{ij}}{h} k_j,

and ``y_1 = u_8 + k_8``. The method is stiffly accurate; ``k_8`` is the embedded error
estimate (the difference to the order-4 solution ``u_8``). Dense output (order 4):

.. math::  y(t_0 + \\theta h) = (1-\\theta) y_0 + \\theta\\big(y_1 + (1-\\theta)(K_1 + \\theta(K_2 + \\theta K_3))\\big),
           \\quad K_r = \\sum_j h_{rj} k_j.

Coefficients: G. Di Marzo, *RODAS5(4) -- Méthodes de Rosenbrock d'ordre 5(4) adaptées
aux problèmes différentiels-algébriques*, Univ. Geneva 1993; dense-output coefficients
as tabulated in OrdinaryDiffEq.jl. The formula *is* the differentiated computation
(no iteration): reverse mode goes through it, each stage's solve by the implicit rule
(the transposed solve reuses the LU factors, or runs GMRES on ``W^T`` with
:class:`NewtonKrylov`; ``J`` by ``jax.jacfwd``). A failed stage solve (singular ``W``,
Krylov breakdown or non-convergence) rejects the step with that result; in a backward
pass it raises, naming the cause.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..._linear._solver import AbstractLinearSolver
from ..._results import RESULTS
from .._base import AbstractODESolver, StepOutput
from ._linear_algebra import (
    AbstractIterationMatrix,
    DenseLU,
    as_iteration_matrix,
    check_linear_solver,
)
from ._newton import flatten_field

__all__ = ["Rodas5"]

_GAMMA = 0.19
_a6 = [-14.09640773051259, 6.925207756232704, -41.47510893210728, 2.343771018586405,
       24.13215229196062]  # fmt: skip
_A = np.zeros((8, 8))
_A[1, :1] = [2.0]
_A[2, :2] = [3.040894194418781, 1.041747909077569]
_A[3, :3] = [2.576417536461461, 1.622083060776640, -0.9089668560264532]
_A[4, :4] = [2.760842080225597, 1.446624659844071, -0.3036980084553738, 0.2877498600325443]
_A[5, :5] = _a6
_A[6, :6] = _a6 + [1.0]
_A[7, :7] = _a6 + [1.0, 1.0]
_B = np.array(_a6 + [1.0, 1.0, 1.0])

_C = np.zeros((8, 8))
_C[1, :1] = [-10.31323885133993]
_C[2, :2] = [-21.04823117650003, -7.234992135176716]
_C[3, :3] = [32.22751541853323, -4.943732386540191, 19.44922031041879]
_C[4, :4] = [-20.69865579590063, -8.816374604402768, 1.260436877740897, -0.7495647613787146]
_C[5, :5] = [-46.22004352711257, -17.49534862857472, -289.6389582892057, 93.60855400400906,
             318.3822534212147]  # fmt: skip
_C[6, :6] = [34.20013733472935, -14.15535402717690, 57.82335640988400, 25.83362985412365,
             1.408950972071624, -6.551835421242162]  # fmt: skip
_C[7, :7] = [42.57076742291101, -13.80770672017997, 93.98938432427124, 18.77919633714503,
             -31.58359187223370, -6.685968952921985, -5.810979938412932]  # fmt: skip
_c = np.array([0.0, 0.38, 0.3878509998321533, 0.4839718937873840, 0.4570477008819580, 1, 1, 1])
_d = np.array([_GAMMA, -0.1823079225333714636, -0.319231832186874912, 0.3449828624725343,
               -0.377417564392089818, 0, 0, 0])  # fmt: skip
_H = np.array(
    [
        [27.354592673333357, -6.925207756232857, 26.40037733258859, 0.5635230501052979,
         -4.699151156849391, -1.6008677469422725, -1.5306074446748028, -1.3929872940716344],
        [44.19024239501722, 1.3677947663381929e-13, 202.93261852171622, -35.5669339789154,
         -181.91095152160645, 3.4116351403665033, 2.5793540257308067, 2.2435122582734066],
        [-44.0988150021747, -5.755396159656812e-13, -181.26175034586677, 56.99302194811676,
         183.21182741427398, -7.480257918273637, -5.792426076169686, -5.32503859794143],
    ]
)  # fmt: skip


def _weighted(weights, ks, like):
    acc = jnp.zeros_like(like)
    for w, k in zip(weights, ks):
        if w != 0.0:
            acc = acc + jnp.asarray(float(w), k.dtype) * k
    return acc


class Rodas5(AbstractODESolver):
    """Rodas5: 8-stage Rosenbrock method, order 5 with embedded order 4, L-stable.

    Exact Jacobian every step (``jax.jacfwd`` with :class:`DenseLU`; with
    :class:`NewtonKrylov`, exact Jacobian--vector products and GMRES, so each stage's
    solve is only as accurate as GMRES's ``rtol``). Own fourth-order dense output.
    Best for small-to-medium stiff systems at moderate tolerances; no Newton iteration,
    so it never reports ``newton_nonconvergence``.

    Complex states (complex or mixed real/complex pytree leaves) are solved on their real
    ``2n`` form (real and imaginary parts): the Jacobian is the real one, so any ``f``,
    holomorphic or not (``jnp.conj``, ``jnp.abs``), is handled exactly; error norms
    use ``|y|``; time and tolerances stay real.

    Arguments:
        linear_solver: :class:`DenseLU` (default), :class:`NewtonKrylov`, another
            iteration-matrix strategy, or a linear-solver object (``scidiff.LU()``, ...).

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.solve_ivp(lambda t, y, a: -50.0 * y, (0.0, 1.0), jnp.ones(2),
        ...                         solver=scidiff.Rodas5())
    """

    linear_solver: AbstractIterationMatrix | AbstractLinearSolver = DenseLU()
    order: ClassVar[int] = 5
    error_order: ClassVar[int] = 5

    def __check_init__(self):
        check_linear_solver(self.linear_solver)

    def init(self, f, t0, t1, y0, args):
        return None

    def step(self, f, t0, t1, y0, args, state):
        y0f, unravel, fn = flatten_field(f, y0, args)
        dtype = y0f.dtype
        h = jnp.asarray(t1 - t0).astype(dtype)
        c = h * jnp.asarray(_GAMMA, dtype)
        strategy = as_iteration_matrix(self.linear_solver)
        jac = strategy.linearise(fn, t0, y0f, args)
        factor = strategy.factorise(fn, args, jac, c)
        # df/dt at (t0, y0) for non-autonomous problems.
        f0, dfdt = jax.jvp(lambda t: fn(t, y0f, args), (t0,), (jnp.ones_like(t0),))
        dfdt = dfdt.astype(dtype)
        # The 8 stages in one lax.scan: one traced linear solve (compile time).
        a_mat = jnp.asarray(_A, dtype)
        c_mat = jnp.asarray(_C, dtype)
        nodes = jnp.asarray(_c, dtype)
        d_vec = jnp.asarray(_d, dtype)
        ks0 = jnp.zeros((8, y0f.shape[0]), dtype)

        def stage(carry, xs):
            ks, result = carry
            i, a_row, c_row, c_i, d_i = xs
            u = y0f + a_row @ ks
            fu = lax.cond(
                i == 0, lambda: f0, lambda: fn(t0 + c_i * (t1 - t0), u, args).astype(dtype)
            )
            rhs = fu + (c_row @ ks) / h + (h * d_i) * dfdt
            # (I/(h gamma) - J) k = rhs  <=>  (I - h gamma J) k = h gamma rhs
            k, stage_result = factor.solve_differentiable(c * rhs)
            result = RESULTS.where(result == RESULTS.successful, stage_result, result)
            return (ks.at[i].set(k), result), None

        xs = (jnp.arange(8), a_mat, c_mat, nodes, d_vec)
        (ks, result), _ = lax.scan(stage, (ks0, RESULTS.successful), xs)
        ok = result == RESULTS.successful
        ks = list(ks)
        y1 = y0f + _weighted(_B, ks, y0f)
        # A failed solve: keep y0 and a finite error, so that the loop rejects the step
        # with the solver's result (a non-finite error would be reported as `nonfinite`).
        y1 = jnp.where(ok, y1, y0f)
        y_error = jnp.where(ok, ks[-1], jnp.ones_like(y0f))
        dense = tuple(_weighted(_H[r], ks, y0f) for r in range(3))
        n = y0f.shape[0]
        jac_cost = strategy.jacobian_cost(n)
        return StepOutput(
            y1=unravel(y1),
            y_error=unravel(y_error),
            dense_info=(y0, unravel(y1), *(unravel(k) for k in dense)),
            state=None,
            result=result,
            num_fevals=jnp.array(8 + 1 + jac_cost, jnp.int32),
        )

    def interpolate(self, t0, t1, dense_info, t):
        y0, y1, k1, k2, k3 = dense_info
        s = jnp.asarray((t - t0) / (t1 - t0))

        def one(a, b, d1, d2, d3):
            s_ = s.astype(a.dtype)
            return (1 - s_) * a + s_ * (b + (1 - s_) * (d1 + s_ * (d2 + s_ * d3)))

        return jax.tree_util.tree_map(one, y0, y1, k1, k2, k3)
