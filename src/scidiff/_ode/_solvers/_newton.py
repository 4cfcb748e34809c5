"""Simplified Newton iteration for the implicit stages, differentiable by the IFT.

Solves ``r(z) = 0`` for stage equations of the form

.. math::  r(z) = z - c\\,f(t, b + z) - \\psi = 0,

with a *frozen* iteration matrix ``W = I - cJ`` (``J`` possibly from an earlier step):

.. math::  z_{k+1} = z_k - W^{-1} r(z_k).

Convergence test (Hairer & Wanner, *Solving ODEs II*, IV.8): with the scaled RMS norm
``||.||`` (weights ``atol + rtol |y|``, so ``1`` means "at the tolerance") and the
observed contraction rate ``theta_k = ||dz_k|| / ||dz_{k-1}||``, the remaining error is
bounded by ``eta_k ||dz_k||`` with ``eta_k = theta_k / (1 - theta_k)``. We stop with
success when ``eta_k ||dz_k|| <= kappa``, and with failure when ``theta_k >= 1``, when a
value is not finite, or when even at rate ``theta_k`` the remaining iterations cannot
reach ``kappa`` (``theta^(kmax-k) / (1-theta) ||dz_k|| > kappa``). A failure is
recoverable: the step reports ``RESULTS.newton_nonconvergence`` and the loop retries with
a smaller step (and the solver refreshes its Jacobian).

Differentiation. The iteration is a ``lax.while_loop`` and is never differentiated.
``lax.custom_root`` attaches the implicit-function-theorem rule instead: the solution
``z*(p)`` of ``r(z, p) = 0`` (``p`` = everything ``r`` closes over: ``y0``, ``args``,
earlier stages, the step size) satisfies

.. math::  \\partial_z r\\, \\dot z + \\partial_p r\\, \\dot p = 0
           \\;\\Rightarrow\\; \\dot z = -(\\partial_z r)^{-1} \\partial_p r\\, \\dot p,

where ``\\partial_z r = I - c\\,\\partial f/\\partial y(b + z*)`` is the *exact* Jacobian
at the solution (not the frozen ``W``); that linear system is solved by the linear
solver's ``tangent_solve`` (dense solve, or GMRES through ``custom_linear_solve``), which
JAX transposes for reverse mode. The frozen ``W`` and the iteration count carry no
derivative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Bool, Int

from .._base import AbstractODESolver
from ._linear_algebra import AbstractLinearSolver, DenseLU

__all__ = ["NewtonInfo", "newton_solve", "rms_norm", "flatten_field", "AbstractImplicitSolver"]


class NewtonInfo(NamedTuple):
    converged: Bool[Array, ""]
    num_iters: Int[Array, ""]
    rate: Array  # last observed contraction rate (0 if one iteration sufficed)


def rms_norm(x: Array) -> Array:
    return jnp.sqrt(jnp.mean(jnp.square(x)))


def newton_solve(
    residual: Callable[[Array], Array],
    z0: Array,
    linear_solve: Callable[[Array], Array],
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
        linear_solve: ``b -> W^{-1} b`` with the frozen iteration matrix.
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
            _, k, _, _, done, _ = carry
            return (k < max_iters) & jnp.logical_not(done)

        def body(carry):
            z, k, dz_norm_prev, _, _, _ = carry
            dz = -linear_solve(res(z))
            z = z + dz
            dz_norm = rms_norm(dz / scale)
            first = k == 0
            rate = jnp.where(first, jnp.zeros((), dtype), dz_norm / dz_norm_prev)
            finite = jnp.isfinite(dz_norm)
            # First iteration: no rate yet, accept only an already tiny correction.
            eta = jnp.where(first, jnp.ones((), dtype), rate / (1 - rate))
            converged = finite & (rate < 1) & ((eta * dz_norm <= kappa) | (dz_norm == 0))
            remaining = max_iters - 1 - k
            hopeless = jnp.logical_not(first) & (
                (rate >= 1) | (rate**remaining / (1 - rate) * dz_norm > kappa)
            )
            failed = jnp.logical_not(finite) | (hopeless & jnp.logical_not(converged))
            return z, k + 1, dz_norm, rate, converged | failed, converged

        init = (
            z_init,
            jnp.array(0, jnp.int32),
            jnp.ones((), dtype),
            jnp.zeros((), dtype),
            jnp.array(False),
            jnp.array(False),
        )
        z, k, _, rate, _, converged = lax.while_loop(cond, body, init)
        # A diverged iterate would put NaN into the tangent system at the "solution"
        # (and NaN * 0 cotangents into gradients through rejected steps): fall back to
        # the predictor, which is finite; the caller rejects the step anyway.
        z = jnp.where(jnp.all(jnp.isfinite(z)), z, z_init)
        # Auxiliary outputs as floats: custom_root gives aux zero tangents of the primal
        # dtype, which JAX rejects for bool/int (they need float0).
        return z, (converged.astype(dtype), k.astype(dtype), rate)

    z, (converged, k, rate) = lax.custom_root(residual, z0, _solve, tangent_solve, has_aux=True)
    converged, k, rate = lax.stop_gradient((converged, k, rate))
    return z, NewtonInfo(converged > 0.5, k.astype(jnp.int32), rate)


# ---------------------------------------------------------------------------------------
# Shared by every implicit solver: flat vectors and inherited tolerances.
# ---------------------------------------------------------------------------------------


def flatten_field(f, y0, args) -> tuple[Array, Callable, Callable]:
    """``(y0_flat, unravel, fn)`` with ``fn(t, y_flat, args)`` the flat vector field.

    The output of ``f`` is cast to ``y0``'s dtype (dtype follows the state)."""
    del args
    y_flat, unravel = ravel_pytree(y0)

    def fn(t, y, args):
        out, _ = ravel_pytree(f(t, unravel(y), args))
        return out.astype(y.dtype)

    return y_flat, unravel, fn


class AbstractImplicitSolver(AbstractODESolver):
    """Base of the implicit solvers: a linear-algebra strategy and Newton tolerances.

    ``rtol``/``atol`` (Newton convergence test, and BDF's order selection) default to
    ``None``: inherited from ``solve_ivp``'s tolerances through ``with_tolerances``.
    """

    linear_solver: AbstractLinearSolver = DenseLU()
    rtol: float | Array | None = None
    atol: float | Array | None = None

    def __check_init__(self):
        if not isinstance(self.linear_solver, AbstractLinearSolver):
            raise TypeError(
                f"`linear_solver` must be scidiff.DenseLU() or scidiff.NewtonKrylov(...), "
                f"got {type(self.linear_solver).__name__}."
            )

    def with_tolerances(self, rtol, atol):
        new = self
        if self.rtol is None:
            new = eqx.tree_at(lambda s: s.rtol, new, rtol, is_leaf=lambda x: x is None)
        if self.atol is None:
            new = eqx.tree_at(lambda s: s.atol, new, atol, is_leaf=lambda x: x is None)
        return new

    def _tolerances(self, dtype) -> tuple[Array, Array]:
        rtol = 1e-6 if self.rtol is None else self.rtol
        atol = 1e-9 if self.atol is None else self.atol
        return jnp.asarray(rtol, dtype), jnp.asarray(atol, dtype)
