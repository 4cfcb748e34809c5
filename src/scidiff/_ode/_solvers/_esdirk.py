"""Generic ESDIRK step (explicit first stage, singly diagonally implicit Runge--Kutta).

For the tableau ``(a, b, c)`` with ``a_11 = 0`` and ``a_ii = gamma`` for ``i >= 2``, one
step of size ``h`` from ``(t_0, y_0)`` is

.. math::
    k_1 = f(t_0, y_0), \\qquad
    Y_i = \\underbrace{y_0 + h \\sum_{j<i} a_{ij} k_j}_{b_i} + h\\gamma\\, f(t_0 + c_i h, Y_i),
    \\qquad k_i = (Y_i - b_i) / (h\\gamma),

and ``y_1 = y_0 + h sum_i b_i k_i``; all methods here are *stiffly accurate*
(``b = a_s``), so ``y_1 = Y_s`` and ``k_s = f(t_1, y_1)`` is reused as the next step's
``k_1`` (FSAL). Each implicit stage is solved for ``z = Y_i - b_i`` by the simplified
Newton iteration of :mod:`scidiff._nonlinear._newton` with the single iteration matrix
``I - h gamma J``
(one factorisation per step, shared by all stages), started from the method's stage
predictor. ``k_i`` is recovered from ``z`` rather than by evaluating ``f`` again (the
evaluation would amplify the Newton error by the stiffness).

Error estimate ``h sum_i (b_i - \\hat b_i) k_i`` from the embedded method. Dense output:
cubic Hermite from ``y_0, y_1, k_1, k_s`` (the Kvaerno methods have no published
continuous extension; the interpolant is third order).

Jacobian reuse: ``J`` is kept in the solver state and recomputed at the start of a step
only after a Newton failure (or a failed linear solve) with an old ``J`` or after slow
convergence (contraction rate above ``jacobian_rate``).
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, PyTree

from ..._results import RESULTS
from .._base import StepOutput, hermite_interpolate
from ._newton import AbstractImplicitSolver, flat_weights, flatten_field, newton_solve

__all__ = ["ESDIRKTableau", "AbstractESDIRK"]


class ESDIRKTableau:
    """Coefficients of a stiffly accurate ESDIRK method, validated at construction.

    Arguments:
        a: ``(s, s)`` lower-triangular matrix with ``a[0] = 0`` and constant diagonal
            ``gamma`` from the second stage on.
        b_error: ``(s,)`` weights ``b - b_hat`` of the error estimate.
        predictor: ``(s, s)`` strictly lower-triangular weights of the stage predictors
            ``Y_i^0 = y_0 + h sum_j predictor[i, j] k_j``.
    """

    def __init__(self, a, b_error, predictor):
        a = np.asarray(a, dtype=np.float64)
        s = a.shape[0]
        if a.shape != (s, s) or np.any(np.triu(a, 1) != 0):
            raise ValueError("ESDIRK tableau: `a` must be a square lower-triangular matrix.")
        if np.any(a[0] != 0):
            raise ValueError("ESDIRK tableau: the first stage must be explicit (a[0] == 0).")
        gamma = a[1, 1]
        if not np.allclose(np.diag(a)[1:], gamma) or gamma <= 0:
            raise ValueError("ESDIRK tableau: the diagonal a[i, i] (i >= 1) must be one gamma > 0.")
        if not np.isclose(a[-1].sum(), 1.0):
            raise ValueError("ESDIRK tableau: weights b = a[-1] must sum to 1.")
        b_error = np.asarray(b_error, dtype=np.float64)
        if b_error.shape != (s,) or not np.isclose(b_error.sum(), 0.0, atol=1e-12):
            raise ValueError("ESDIRK tableau: `b_error` must have s entries summing to 0.")
        predictor = np.asarray(predictor, dtype=np.float64)
        if predictor.shape != (s, s) or np.any(np.triu(predictor) != 0):
            raise ValueError("ESDIRK tableau: `predictor` must be strictly lower-triangular.")
        self.a = a
        self.c = a.sum(axis=1)
        self.gamma = float(gamma)
        self.b_error = b_error
        self.predictor = predictor
        self.num_stages = s


class _ESDIRKState(eqx.Module):
    f0: Array  # f(t0, y0), flat (FSAL)
    jac: PyTree  # linearisation carried between steps (matrix, or point for Krylov)
    stale: Bool[Array, ""]  # recompute the Jacobian at the start of the next step
    fresh: Bool[Array, ""]  # the Jacobian in `jac` was computed at this step's (t0, y0)


class AbstractESDIRK(AbstractImplicitSolver):
    """Stiffly accurate ESDIRK methods with FSAL, embedded error and Hermite dense output.

    Fields (all optional): ``linear_solver`` (:class:`DenseLU`, :class:`NewtonKrylov`,
    another iteration-matrix strategy, or a linear-solver object such as ``scidiff.LU()``),
    ``rtol``/``atol`` for the Newton test (default: ``solve_ivp``'s), ``kappa`` (Newton
    tolerance as a fraction of the step tolerance), ``max_newton_iters``,
    ``jacobian_rate`` (contraction rate above which the Jacobian is refreshed).
    """

    tableau: ClassVar[ESDIRKTableau]
    kappa: float = 1e-2
    max_newton_iters: int = eqx.field(default=10, static=True)
    jacobian_rate: float = 1e-2

    def init(self, f, t0, t1, y0, args):
        del t1
        y, _, fn = flatten_field(f, y0, args)
        jac_shape = jax.eval_shape(lambda: self.iteration_matrix.linearise(fn, t0, y, args))
        jac = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jac_shape)
        return _ESDIRKState(
            f0=fn(t0, y, args), jac=jac, stale=jnp.array(True), fresh=jnp.array(False)
        )

    def step(self, f, t0, t1, y0, args, state):
        tab = self.tableau
        y0f, unravel, fn = flatten_field(f, y0, args)
        dtype = y0f.dtype
        rtol, atol = self._tolerances(jnp.finfo(dtype).dtype, y0)
        h = jnp.asarray(t1 - t0).astype(dtype)
        n = y0f.shape[0]
        strategy = self.iteration_matrix

        jac = lax.cond(
            state.stale,
            lambda: lax.stop_gradient(strategy.linearise(fn, t0, y0f, args)),
            lambda: lax.stop_gradient(state.jac),
        )
        c = h * jnp.asarray(tab.gamma, dtype)
        factor = strategy.factorise(fn, args, jac, c)
        scale = flat_weights(y0, y0f, atol, rtol)
        kappa = jnp.asarray(self.kappa, dtype)

        # One scan over the implicit stages (one traced Newton solve, not s - 1 of them:
        # much faster to compile, and to differentiate).
        s = tab.num_stages
        a_strict = jnp.asarray(np.tril(tab.a, -1)[1:], dtype)
        pred = jnp.asarray(tab.predictor[1:], dtype)
        c_nodes = jnp.asarray(tab.c[1:], dtype)
        ks0 = jnp.zeros((s, n), dtype).at[0].set(state.f0)

        def stage(carry, xs):
            ks, converged, num_iters, max_rate, result = carry
            i, a_row, p_row, c_i = xs
            base = y0f + h * (a_row @ ks)
            predicted = y0f + h * (p_row @ ks)
            t_i = t0 + c_i * (t1 - t0)

            def residual(z):
                return z - c * fn(t_i, base + z, args)

            z, info = newton_solve(
                residual,
                predicted - base,
                factor.solve,
                strategy.tangent_solve,
                scale,
                kappa=kappa,
                max_iters=self.max_newton_iters,
            )
            ks = ks.at[i].set(z / c)
            carry = (
                ks,
                converged & info.converged,
                num_iters + info.num_iters,
                jnp.maximum(max_rate, info.rate),
                RESULTS.where(converged, info.result, result),  # the first failure
            )
            return carry, None

        init = (
            ks0,
            jnp.array(True),
            jnp.array(0, jnp.int32),
            jnp.zeros((), dtype),
            RESULTS.successful,
        )
        xs = (jnp.arange(1, s), a_strict, pred, c_nodes)
        (ks, converged, num_iters, max_rate, stage_result), _ = lax.scan(stage, init, xs)
        # Stiffly accurate: y1 = Y_s = y0 + h sum_j a_sj k_j.
        y1 = y0f + h * (jnp.asarray(tab.a[-1], dtype) @ ks)
        y_error = h * (jnp.asarray(tab.b_error, dtype) @ ks)
        f1 = ks[-1]
        result = RESULTS.where(converged, RESULTS.successful, stage_result)
        y1 = jnp.where(converged, y1, y0f)
        # (left as computed: finite, and an exact zero would make the norm non-differentiable)
        f1 = jnp.where(converged, f1, state.f0)
        new_state = _ESDIRKState(
            f0=f1,
            jac=jac,
            stale=jnp.logical_not(converged) | (max_rate > self.jacobian_rate),
            fresh=state.stale,
        )
        jac_evals = jnp.where(state.stale, strategy.jacobian_cost(n), 0)
        dense_info = (y0, unravel(y1), unravel(state.f0), unravel(f1))
        return StepOutput(
            y1=unravel(y1),
            y_error=unravel(y_error),
            dense_info=dense_info,
            state=new_state,
            result=result,
            num_fevals=(num_iters + jac_evals).astype(jnp.int32),
        )

    def state_after_reject(self, old_state, output):
        # A retry starts from the same (t0, y0): a Jacobian computed at this step stays
        # exact; an old one is refreshed only if Newton (or a linear solve) failed with it.
        new = output.state
        newton_failed = output.result != RESULTS.successful
        return _ESDIRKState(
            f0=old_state.f0,
            jac=new.jac,
            stale=newton_failed & jnp.logical_not(new.fresh),
            fresh=new.fresh,
        )

    def interpolate(self, t0, t1, dense_info, t):
        y0, y1, f0, f1 = dense_info
        return hermite_interpolate(t0, t1, y0, y1, f0, f1, t)
