r"""Simplified Newton iteration for the implicit stages of ODE solvers, differentiable by
the implicit function theorem.

Solves ``r(z) = 0`` for stage equations of the form

.. math::  r(z) = z - c\,f(t, b + z) - \psi = 0,

with a *frozen* iteration matrix ``W = M - cJ`` (``J`` possibly from an earlier step):

.. math::  z_{k+1} = z_k - W^{-1} r(z_k).

Convergence test (Hairer & Wanner, *Solving ODEs II*, IV.8): with the scaled RMS norm
``||.||`` (weights ``atol + rtol |y|``, so ``1`` means "at the tolerance") and the
observed contraction rate ``theta_k = ||dz_k|| / ||dz_{k-1}||``, the remaining error is
bounded by ``eta_k ||dz_k||`` with ``eta_k = theta_k / (1 - theta_k)``. We stop with
success when ``eta_k ||dz_k|| <= kappa``, and with failure when ``theta_k >= 1``, when a
value is not finite, when even at rate ``theta_k`` the remaining iterations cannot
reach ``kappa`` (``theta^(kmax-k) / (1-theta) ||dz_k|| > kappa``), or when a linear
solve with ``W`` fails (singular ``W``, Krylov breakdown or non-convergence: the failure
is reported as that result). A failure is recoverable: the step reports it and the loop
retries with a smaller step (and the solver refreshes its Jacobian).

Differentiation. The iteration is a ``lax.while_loop`` and is never differentiated.
``lax.custom_root`` attaches the implicit-function-theorem rule instead: the solution
``z*(p)`` of ``r(z, p) = 0`` (``p`` = everything ``r`` closes over: ``y0``, ``args``,
earlier stages, the step size) satisfies

.. math::  \partial_z r\, \dot z + \partial_p r\, \dot p = 0
           \;\Rightarrow\; \dot z = -(\partial_z r)^{-1} \partial_p r\, \dot p,

where ``\partial_z r = M - c\,\partial f/\partial y(b + z*)`` is the *exact* Jacobian at
the solution (not the frozen ``W``); that system is solved by ``tangent_solve``
(:func:`scidiff._linear._differentiable.derivative_solve` with the stage's linear
solver), which JAX transposes for reverse mode and which raises, naming the cause, if
it fails in a derivative. The frozen ``W`` and the iteration count carry no derivative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Int

from .._linear._operator import rms_norm
from .._results import RESULTS

__all__ = ["NewtonInfo", "newton_solve", "STAGE_RESULTS"]

# What a stage solve can report: success, Newton non-convergence, or the failure of a
# linear solve with the iteration matrix.
STAGE_RESULTS = (
    RESULTS.successful,
    RESULTS.newton_nonconvergence,
    RESULTS.singular,
    RESULTS.breakdown,
    RESULTS.nonconvergence,
    RESULTS.not_positive_definite,
)


class NewtonInfo(NamedTuple):
    converged: Bool[Array, ""]
    num_iters: Int[Array, ""]
    rate: Array  # last observed contraction rate (0 if one iteration sufficed)
    result: RESULTS  # successful, newton_nonconvergence, or the linear solve's failure


def _encode(result: RESULTS, dtype) -> Array:
    codes = [jnp.where(result == item, i, 0) for i, item in enumerate(STAGE_RESULTS)]
    return jnp.sum(jnp.stack(codes)).astype(dtype)


def _decode(code: Array) -> RESULTS:
    code = jnp.round(code).astype(jnp.int32)
    result = RESULTS.successful
    for i, item in enumerate(STAGE_RESULTS):
        result = RESULTS.where(code == i, item, result)
    return result


def newton_solve(
    residual: Callable[[Array], Array],
    z0: Array,
    linear_solve: Callable[[Array], tuple[Array, RESULTS]],
    tangent_solve: Callable[[Callable[[Array], Array], Array], Array],
    scale: Array,
    *,
    kappa: float | Array,
    max_iters: int,
) -> tuple[Array, NewtonInfo]:
    """Simplified Newton for ``residual(z) = 0`` from ``z0``; see the module docstring.

    Arguments:
        residual: ``z -> r(z)`` (flat vectors), closes over the differentiated inputs.
        z0: predictor.
        linear_solve: ``b -> (W^{-1} b, result)`` with the frozen iteration matrix.
        tangent_solve: ``(g, b) -> x`` with ``g(x) = b`` for linear ``g`` (exact solve).
        scale: weights of the norm (``atol + rtol |y|``).
        kappa: convergence tolerance in the scaled norm.
        max_iters: static maximum number of iterations.

    Returns:
        ``(z, NewtonInfo)``; ``z`` is differentiable by the implicit function theorem.
    """
    scale = lax.stop_gradient(scale)
    dtype = z0.dtype

    def _solve(res, z_init):
        def cond(carry):
            _, k, _, _, done, _, _ = carry
            return (k < max_iters) & jnp.logical_not(done)

        def body(carry):
            z, k, dz_norm_prev, _, _, _, _ = carry
            r = res(z)
            dz, linear_result = linear_solve(-r)
            # A zero residual is solved exactly by dz = 0, whatever W is.
            linear_failed = (linear_result != RESULTS.successful) & jnp.any(r != 0)
            dz = jnp.where(jnp.any(r != 0), dz, jnp.zeros_like(dz))
            z = z + dz
            dz_norm = rms_norm(dz / scale)
            first = k == 0
            rate = jnp.where(first, jnp.zeros((), dtype), dz_norm / dz_norm_prev)
            finite = jnp.isfinite(dz_norm)
            # First iteration: no rate yet, accept only an already tiny correction.
            eta = jnp.where(first, jnp.ones((), dtype), rate / (1 - rate))
            converged = (
                finite & ~linear_failed & (rate < 1) & ((eta * dz_norm <= kappa) | (dz_norm == 0))
            )
            remaining = max_iters - 1 - k
            hopeless = jnp.logical_not(first) & (
                (rate >= 1) | (rate**remaining / (1 - rate) * dz_norm > kappa)
            )
            failed = ~finite | linear_failed | (hopeless & ~converged)
            failure = RESULTS.where(linear_failed, linear_result, RESULTS.newton_nonconvergence)
            code = _encode(failure, dtype)
            return z, k + 1, dz_norm, rate, converged | failed, converged, code

        init = (
            z_init,
            jnp.array(0, jnp.int32),
            jnp.ones((), dtype),
            jnp.zeros((), dtype),
            jnp.array(False),
            jnp.array(False),
            _encode(RESULTS.newton_nonconvergence, dtype),
        )
        z, k, _, rate, _, converged, code = lax.while_loop(cond, body, init)
        # A diverged iterate would put NaN into the tangent system at the "solution"
        # (and NaN * 0 cotangents into gradients through rejected steps): fall back to
        # the predictor, which is finite; the caller rejects the step anyway.
        z = jnp.where(jnp.all(jnp.isfinite(z)), z, z_init)
        # Auxiliary outputs as floats: custom_root gives aux zero tangents of the primal
        # dtype, which JAX rejects for bool/int (they need float0).
        return z, (converged.astype(dtype), k.astype(dtype), rate, code)

    z, aux = lax.custom_root(residual, z0, _solve, tangent_solve, has_aux=True)
    converged, k, rate, code = lax.stop_gradient(aux)
    converged = converged > 0.5
    result = RESULTS.where(converged, RESULTS.successful, _decode(code))
    return z, NewtonInfo(converged, k.astype(jnp.int32), rate, result)
