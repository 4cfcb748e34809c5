"""Variable-order (1--5), variable-step BDF in the NDF form of scipy's ``BDF``.

Backward differentiation formulas in quasi-constant step-size form (Shampine & Reichelt,
"The MATLAB ODE suite", SIAM J. Sci. Comput. 18, 1997; scipy.integrate.BDF). The history
is kept as a backward-difference array ``D`` (``D[0] = y_n``, ``D[j] = nabla^j y_n``)
scaled to the current step ``h``; changing ``h`` by ``rho`` re-expresses it through the
matrix ``R(rho) U`` (``change_D``). A step of order ``k`` solves for ``d``

.. math::
    y_{n+1} = \\underbrace{\\textstyle\\sum_{j=0}^{k} D_j}_{\\text{predictor}} + d, \\qquad
    d - \\frac{h}{\\alpha_k} f(t_{n+1}, y_{n+1}) + \\psi = 0, \\qquad
    \\psi = \\frac{1}{\\alpha_k}\\sum_{j=1}^{k} \\gamma_j D_j,

with ``alpha_k = (1 - kappa_k) gamma_k``, ``gamma_k = sum_{i<=k} 1/i`` and the NDF
coefficients ``kappa = (0, -0.185, -1/9, -0.0823, -0.0415)``. Local error estimate
``(kappa_k gamma_k + 1/(k+1)) d``. After ``k + 1`` steps of equal size the method
compares error estimates at orders ``k - 1``, ``k`` and ``k + 1`` and moves to the order
allowing the largest step (it returns that factor through ``step_size_factor``).

Linear algebra: ``J`` is kept across steps and recomputed only when the Newton
iteration fails with an old ``J`` (then the same step is retried at once); ``I - (h /
alpha_k) J`` is re-factorised every step (cheap for the dense sizes this targets; with
:class:`NewtonKrylov` nothing is factorised). Dense output is the interpolating
polynomial held in ``D``.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Int, PyTree

from ..._results import RESULTS
from .._base import StepOutput
from .._tolerance import min_tolerance
from ._flat_state import FlatLayout
from ._newton import (
    AbstractImplicitSolver,
    flat_weights,
    flatten_field,
    newton_solve,
    rms_norm,
)

__all__ = ["BDF"]

MAX_ORDER = 5
NEWTON_MAXITER = 4
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0

_KAPPA = np.array([0, -0.1850, -1 / 9, -0.0823, -0.0415, 0])
_GAMMA = np.hstack((0, np.cumsum(1 / np.arange(1, MAX_ORDER + 1))))
_ALPHA = (1 - _KAPPA) * _GAMMA
_ERROR_CONST = _KAPPA * _GAMMA + 1 / np.arange(1, MAX_ORDER + 2)


def _change_d(D: Array, order: Array, factor: Array) -> Array:
    """Re-express the first ``order + 1`` rows of ``D`` for a step changed by ``factor``."""
    m = MAX_ORDER + 1
    idx = jnp.arange(m)
    i = idx[:, None].astype(D.dtype)
    j = idx[None, :].astype(D.dtype)
    inside = (idx[:, None] <= order) & (idx[None, :] <= order)

    def compute_r(fac):
        M = jnp.where((idx[:, None] >= 1) & (idx[None, :] >= 1), (i - 1 - fac * j) / i, 0.0)
        M = jnp.where(idx[:, None] == 0, 1.0, M)
        return jnp.where(inside, jnp.cumprod(M, axis=0), 0.0)

    RU = compute_r(factor) @ compute_r(jnp.ones_like(factor))
    RU = jnp.where(inside, RU, jnp.eye(m, dtype=D.dtype))
    return D.at[:m].set(RU.T @ D[:m])


class _BDFState(eqx.Module):
    D: Array  # (MAX_ORDER + 3, n) differences, scaled to step h_D
    h_D: Array
    order: Int[Array, ""]
    n_equal_steps: Int[Array, ""]
    factor: Array  # proposed dt_next / dt (read by step_size_factor)
    jac: PyTree
    jac_valid: Bool[Array, ""]
    jac_current: Bool[Array, ""]  # computed during the current (possibly retried) step
    # What a retry of a rejected step needs (read by state_after_reject):
    retry_factor: Array
    retry_jac_current: Bool[Array, ""]


class BDF(AbstractImplicitSolver):
    """Variable-order (1--5) variable-step BDF/NDF with Jacobian reuse (scipy's ``BDF``).

    Chooses its own order and step (the step-size controller's proposal is replaced by
    the BDF order/step selection). Best at tight tolerances on large stiff systems (one
    Newton solve per step). Dense output from its difference array.

    Fields: ``linear_solver`` (:class:`DenseLU` default, :class:`NewtonKrylov`, another
    iteration-matrix strategy, or a linear-solver object such as ``scidiff.LU()``),
    ``rtol``/``atol`` (default: ``solve_ivp``'s; used by the Newton test and the order
    selection), ``max_order`` (1--5, static).

    Complex states (complex or mixed real/complex pytree leaves) are solved on their real
    ``2n`` form (real and imaginary parts): the Jacobian is the real one, so any ``f``,
    holomorphic or not (``jnp.conj``, ``jnp.abs``), is handled exactly; error norms
    use ``|y|``; time and tolerances stay real.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.solve_ivp(lambda t, y, a: -50.0 * y, (0.0, 1.0), jnp.ones(2),
        ...                         solver=scidiff.BDF())
        >>> sol = scidiff.solve_ivp(lambda t, y, a: (-50.0 + 5j) * y, (0.0, 1.0),
        ...                         jnp.array([1.0 + 1.0j]), solver=scidiff.BDF())
        >>> sol.ys.dtype == jnp.array(1j).dtype
        True
    """

    max_order: int = eqx.field(default=MAX_ORDER, static=True)
    order: ClassVar[int] = 1  # order varies 1..5 at run time; 1 is the guaranteed minimum
    error_order: ClassVar[int] = 2

    def __check_init__(self):
        super().__check_init__()
        if not (isinstance(self.max_order, int) and 1 <= self.max_order <= MAX_ORDER):
            raise ValueError(f"BDF(max_order=...) must be an int in 1..5, got {self.max_order!r}.")

    def init(self, f, t0, t1, y0, args):
        del t1
        y, _, fn = flatten_field(f, y0, args)
        dtype = y.dtype
        D = jnp.zeros((MAX_ORDER + 3, y.shape[0]), dtype)
        # D[1] = h * f0 once the first step size h is known: stored for h_D = 1.
        D = D.at[0].set(y).at[1].set(fn(t0, y, args))
        jac_shape = jax.eval_shape(lambda: self.iteration_matrix.linearise(fn, t0, y, args))
        jac = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jac_shape)
        return _BDFState(
            D=D,
            h_D=jnp.ones((), dtype),
            order=jnp.array(1, jnp.int32),
            n_equal_steps=jnp.array(0, jnp.int32),
            factor=jnp.ones((), dtype),
            jac=jac,
            jac_valid=jnp.array(False),
            jac_current=jnp.array(False),
            retry_factor=jnp.ones((), dtype),
            retry_jac_current=jnp.array(False),
        )

    def step(self, f, t0, t1, y0, args, state):
        y0f, unravel, fn = flatten_field(f, y0, args)
        dtype = y0f.dtype
        eps = jnp.finfo(dtype).eps
        rtol, atol = self._tolerances(jnp.finfo(dtype).dtype, y0)
        h = jnp.asarray(t1 - t0).astype(dtype)
        order = state.order
        rows = jnp.arange(MAX_ORDER + 3)

        rho = h / state.h_D
        same = jnp.abs(rho - 1) <= 100 * eps
        D = lax.cond(same, lambda: state.D, lambda: _change_d(state.D, order, rho))
        n_equal = jnp.where(same, state.n_equal_steps, 0)

        gamma = jnp.asarray(_GAMMA, dtype)
        alpha_k = jnp.asarray(_ALPHA, dtype)[order]
        upto_k = (rows <= order)[:, None]
        y_predict = jnp.sum(jnp.where(upto_k, D, 0), axis=0)
        weights = jnp.where((rows >= 1) & (rows <= order), jnp.pad(gamma, (0, 2))[rows], 0)
        psi = (weights @ D) / alpha_k
        c = h / alpha_k
        scale = flat_weights(y0, y_predict, atol, rtol)
        # scipy's rule for a scalar rtol; per-component tolerances use the tightest entry.
        rtol_min = rtol if rtol.ndim == 0 else min_tolerance(rtol).astype(dtype)
        newton_tol = jnp.maximum(10 * eps / rtol_min, jnp.minimum(0.03, jnp.sqrt(rtol_min)))

        strategy = self.iteration_matrix

        def residual(d):
            return d - c * fn(t1, y_predict + d, args) + psi

        def attempt(jac):
            factor = strategy.factorise(fn, args, jac, c)
            return newton_solve(
                residual,
                jnp.zeros_like(y0f),
                factor.solve,
                strategy.tangent_solve,
                scale,
                kappa=newton_tol,
                max_iters=NEWTON_MAXITER,
            )

        def new_jac():
            return lax.stop_gradient(strategy.linearise(fn, t1, y_predict, args))

        # At most two Newton attempts: with the carried Jacobian, then (if that failed and
        # the Jacobian was not fresh) with a new one at the predictor -- scipy's retry at
        # the same step. One scan of length 2, so the Newton solve is traced once.
        first_new = jnp.logical_not(state.jac_valid)

        def try_once(carry, k):
            _, conv, _, _, jac, current, n_jac, _ = carry
            run = (k == 0) | (jnp.logical_not(conv) & jnp.logical_not(current))
            need_new = jnp.where(k == 0, first_new, True)

            def go():
                j = lax.cond(need_new, new_jac, lambda: jac)
                d, info = attempt(j)
                return (
                    d,
                    info.converged,
                    carry[2] + info.num_iters,
                    info.num_iters,
                    j,
                    current | need_new,
                    n_jac + need_new.astype(jnp.int32),
                    info.result,
                )

            return lax.cond(run, go, lambda: carry), None

        zero = jnp.array(0, jnp.int32)
        init = (
            jnp.zeros_like(y0f),
            jnp.array(False),
            zero,
            zero,
            lax.stop_gradient(state.jac),
            state.jac_current,
            zero,
            RESULTS.newton_nonconvergence,
        )
        (d, converged, num_iters, last_iters, jac, current, n_jac, newton_result), _ = lax.scan(
            try_once, init, jnp.arange(2)
        )
        n = y0f.shape[0]
        jac_evals = n_jac * strategy.jacobian_cost(n)

        y_new = y_predict + d
        safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + last_iters)
        scale_new = flat_weights(y0, y_new, atol, rtol)
        error_const = jnp.asarray(_ERROR_CONST, dtype)
        error = error_const[order] * d
        error_norm = rms_norm(error / scale_new)
        reject_factor = jnp.where(
            converged,
            jnp.clip(safety * error_norm ** (-1.0 / (order + 1).astype(dtype)), MIN_FACTOR, 0.9),
            0.5,
        )

        # Accepted-step update of the differences.
        D_acc = D.at[order + 2].set(d - D[order + 1]).at[order + 1].set(d)
        for i in reversed(range(MAX_ORDER + 1)):
            D_acc = D_acc.at[i].set(jnp.where(i <= order, D_acc[i] + D_acc[i + 1], D_acc[i]))
        n_equal_acc = n_equal + 1

        # Order and step selection (after order + 1 steps of equal size).
        big = jnp.asarray(jnp.inf, dtype)
        err_m = jnp.where(
            order > 1,
            rms_norm(error_const[jnp.maximum(order - 1, 0)] * D_acc[order] / scale_new),
            big,
        )
        err_p = jnp.where(
            order < self.max_order,
            rms_norm(error_const[jnp.minimum(order + 1, MAX_ORDER)] * D_acc[order + 2] / scale_new),
            big,
        )
        norms = jnp.stack([err_m, error_norm, err_p])
        expo = (order + jnp.arange(3)).astype(dtype)
        with jax.numpy_dtype_promotion("standard"):
            factors = jnp.where(norms == 0, big, norms ** (-1.0 / expo))
        factors = jnp.where(jnp.isnan(factors), 0.0, factors)
        delta = jnp.argmax(factors).astype(jnp.int32) - 1
        change = n_equal_acc >= order + 1
        new_order = jnp.where(change, order + delta, order)
        acc_factor = jnp.where(change, jnp.minimum(MAX_FACTOR, safety * jnp.max(factors)), 1.0)
        n_equal_acc = jnp.where(change, 0, n_equal_acc)

        new_state = _BDFState(
            D=D_acc,
            h_D=h,
            order=new_order.astype(jnp.int32),
            n_equal_steps=n_equal_acc.astype(jnp.int32),
            factor=acc_factor.astype(dtype),
            jac=jac,
            jac_valid=jnp.array(True),
            jac_current=jnp.array(False),
            retry_factor=reject_factor.astype(dtype),
            retry_jac_current=current,
        )
        result = RESULTS.where(converged, RESULTS.successful, newton_result)
        y1 = jnp.where(converged, y_new, y0f)
        y_error = error
        dense_info = (D_acc[: MAX_ORDER + 1], order, h, unravel(y1))
        return StepOutput(
            y1=unravel(y1),
            y_error=unravel(y_error),
            dense_info=dense_info,
            state=new_state,
            result=result,
            num_fevals=(num_iters + jac_evals).astype(jnp.int32),
        )

    def state_after_reject(self, old_state, output):
        # Old history; the Jacobian computed during the attempt; the retry factor.
        new = output.state
        return eqx.tree_at(
            lambda s: (s.factor, s.jac, s.jac_valid, s.jac_current),
            old_state,
            (new.retry_factor, new.jac, new.jac_valid, new.retry_jac_current),
        )

    def interpolate(self, t0, t1, dense_info, t):
        # y(t) = D_0 + sum_{j<k} D_{j+1} prod_{i<=j} (t - (t1 - i h)) / ((i + 1) h)
        del t0
        D, order, h, like = dense_info
        dtype = D.dtype
        j = jnp.arange(MAX_ORDER)
        x = (jnp.asarray(t - t1).astype(dtype) + j * h) / ((j + 1) * h)
        p = jnp.where(j < order, jnp.cumprod(x), 0.0)
        y = D[0] + p @ D[1:]
        return FlatLayout(like).unravel(y)

    def step_size_factor(self, state, controller_factor):
        del controller_factor
        return state.factor
