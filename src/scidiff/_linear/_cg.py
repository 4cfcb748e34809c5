"""Preconditioned conjugate gradients for symmetric (Hermitian) positive definite ``A``.

With ``r_0 = b - A x_0``, ``z_0 = M r_0``, ``p_0 = z_0`` the iteration is

    alpha_k = <r_k, z_k> / <p_k, A p_k>
    x_{k+1} = x_k + alpha_k p_k,        r_{k+1} = r_k - alpha_k A p_k
    z_{k+1} = M r_{k+1},                beta_k = <r_{k+1}, z_{k+1}> / <r_k, z_k>
    p_{k+1} = z_{k+1} + beta_k p_k

and stops when ``||r_k|| <= max(rtol ||b||, atol)``. The recursive ``r_k`` drifts from
the true residual on ill-conditioned systems, so convergence is confirmed with
``b - A x_k`` (one extra product); if that misses the tolerance CG restarts from
``x_k`` (counted in ``num_restarts``) rather than report a false success.
``<p, A p> <= 0`` (or non-finite) means ``A`` (or ``M``) is not positive definite: the
iteration stops with ``RESULTS.breakdown``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from .._results import RESULTS
from ._operator import krylov_result, vdot_real

__all__ = ["cg"]


def cg(
    matvec: Callable[[Array], Array],
    b: Array,
    x0: Array | None,
    precond: Callable[[Array], Array] | None,
    rtol: float | Array,
    atol: float | Array,
    maxiter: int,
) -> tuple[Array, RESULTS, dict[str, Array]]:
    """Solve ``A x = b`` by PCG on flat vectors. Returns ``(x, result, stats)``."""
    real = jnp.finfo(b.dtype).dtype
    rtol = jnp.asarray(rtol, real)
    atol = jnp.asarray(atol, real)
    tol2 = jnp.maximum(rtol**2 * vdot_real(b, b), atol**2)
    M = (lambda v: v) if precond is None else precond

    zero = jnp.zeros((), jnp.int32)

    def cond(state):
        *_, rr, k, broke = state
        return (rr > tol2) & (k < maxiter) & jnp.logical_not(broke)

    def body(state):
        x, r, p, gamma, _, k, _ = state
        Ap = matvec(p)
        pAp = vdot_real(p, Ap)
        broke = jnp.logical_not(pAp > 0)  # also catches NaN
        alpha = jnp.where(broke, 0, gamma / jnp.where(broke, 1, pAp)).astype(b.dtype)
        x = x + alpha * p
        r = r - alpha * Ap
        z = M(r)
        gamma_new = vdot_real(r, z)
        beta = (gamma_new / jnp.where(gamma == 0, 1, gamma)).astype(b.dtype)
        # A non-finite x poisons p, so the next <p, A p> reports a breakdown. The data
        # dependency also orders the x update before the p update, which lets XLA update
        # p in place instead of copying it every iteration (~10% of the memory traffic).
        if b.size:
            beta = jnp.where(jnp.isfinite(x[0]), beta, jnp.nan)
        p = z + beta * p
        rr = gamma_new if precond is None else vdot_real(r, r)
        return x, r, p, gamma_new, rr, k + 1, broke

    def run_cg(x, r, k):
        z = M(r)
        gamma = vdot_real(r, z)
        rr = gamma if precond is None else vdot_real(r, r)
        x, _, _, _, _, k, broke = lax.while_loop(
            cond, body, (x, r, z, gamma, rr, k, jnp.array(False))
        )
        return x, k, broke

    # The recursively updated residual can drift from the true one (ill-conditioned A):
    # on apparent convergence, recompute b - A x and restart CG from x if it misses.
    def outer_cond(state):
        _, _, rr, k, broke, _ = state
        return (rr > tol2) & (k < maxiter) & jnp.logical_not(broke)

    def outer_body(state):
        x, r, _, k, _, cycles = state
        x, k, broke = run_cg(x, r, k)
        r = b - matvec(x)
        return x, r, vdot_real(r, r), k, broke, cycles + 1

    x = jnp.zeros_like(b) if x0 is None else x0
    r = b if x0 is None else b - matvec(x)
    init = (x, r, vdot_real(r, r), zero, jnp.array(False), zero)
    x, _, rr, k, broke, cycles = lax.while_loop(outer_cond, outer_body, init)
    result = krylov_result(rr <= tol2, broke, rr)
    return x, result, {"num_iterations": k, "num_restarts": jnp.maximum(cycles - 1, 0)}
