"""BiCGSTAB (van der Vorst, 1992) with right preconditioning, for general square ``A``.

With ``r_0 = b - A x_0``, shadow residual ``r^ = r_0``, ``rho_0 = alpha = omega = 1``,
``v = p = 0``, each iteration (two products with ``A`` and two with ``M``) is

    rho_k = <r^, r_{k-1}>,    beta = (rho_k / rho_{k-1}) (alpha / omega)
    p = r_{k-1} + beta (p - omega v),    p^ = M p,    v = A p^
    alpha = rho_k / <r^, v>,  s = r_{k-1} - alpha v
    s^ = M s,  t = A s^,      omega = <t, s> / <t, t>
    x_k = x_{k-1} + alpha p^ + omega s^,  r_k = s - omega t

stopping when ``||r_k|| <= max(rtol ||b||, atol)`` (also after the half step, when
``||s||`` is small enough), confirmed with the true residual ``b - A x_k`` (restarting
from ``x_k`` if the recursive residual has drifted; counted in ``num_restarts``). ``rho_k = 0``, ``<r^, v> = 0`` or ``omega = 0`` before
convergence is a breakdown of the method: ``RESULTS.breakdown``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from .._results import RESULTS
from ._operator import krylov_result, norm

__all__ = ["bicgstab"]


def _safe_div(a: Array, b: Array) -> Array:
    return a / jnp.where(b == 0, 1, b)


def bicgstab(
    matvec: Callable[[Array], Array],
    b: Array,
    x0: Array | None,
    precond: Callable[[Array], Array] | None,
    rtol: float | Array,
    atol: float | Array,
    maxiter: int,
) -> tuple[Array, RESULTS, dict[str, Array]]:
    """Solve ``A x = b`` by BiCGSTAB on flat vectors. Returns ``(x, result, stats)``."""
    dtype = b.dtype
    real = jnp.finfo(dtype).dtype
    rtol = jnp.asarray(rtol, real)
    atol = jnp.asarray(atol, real)
    tol = jnp.maximum(rtol * norm(b), atol)
    M = (lambda v: v) if precond is None else precond

    one = jnp.ones((), dtype)
    zero = jnp.zeros((), jnp.int32)

    def cond(state):
        *_, rnorm, k, broke = state
        return (rnorm > tol) & (k < maxiter) & ~broke

    def run_bicgstab(x, r, k):
        rhat = r

        def body(state):
            x, r, p, v, rho, alpha, omega, _, k, _ = state
            rho_new = jnp.vdot(rhat, r)
            beta = _safe_div(rho_new, rho) * _safe_div(alpha, omega)
            p = r + beta * (p - omega * v)
            phat = M(p)
            v = matvec(phat)
            rv = jnp.vdot(rhat, v)
            alpha = _safe_div(rho_new, rv)
            s = r - alpha * v
            s_done = norm(s) <= tol
            shat = M(s)
            t = matvec(shat)
            tt = jnp.vdot(t, t)
            omega = jnp.where(s_done, 0, _safe_div(jnp.vdot(t, s), tt)).astype(dtype)
            x = x + alpha * phat + omega * shat
            r = s - omega * t
            rnorm = norm(r)
            bad = (rho_new == 0) | (rv == 0) | (omega == 0) | ~jnp.isfinite(rnorm)
            return x, r, p, v, rho_new, alpha, omega, rnorm, k + 1, ~s_done & bad

        zeros = jnp.zeros_like(b)
        init = (x, r, zeros, zeros, one, one, one, norm(r), k, jnp.array(False))
        x, _, _, _, _, _, _, _, k, broke = lax.while_loop(cond, body, init)
        return x, k, broke

    # Confirm convergence with the true residual b - A x (the recursive one drifts on
    # ill-conditioned systems); restart from x if it misses the tolerance.
    def outer_body(state):
        x, r, _, k, broke, cycles = state
        x, k, broke = run_bicgstab(x, r, k)
        r = b - matvec(x)
        return x, r, norm(r), k, broke, cycles + 1

    def outer_cond(state):
        _, _, rnorm, k, broke, _ = state
        return (rnorm > tol) & (k < maxiter) & ~broke

    x = jnp.zeros_like(b) if x0 is None else x0
    r = b if x0 is None else b - matvec(x)
    init = (x, r, norm(r), zero, jnp.array(False), zero)
    x, _, rnorm, k, broke, cycles = lax.while_loop(outer_cond, outer_body, init)
    result = krylov_result(rnorm <= tol, broke, rnorm)
    stats = {"num_iterations": k, "num_restarts": jnp.maximum(cycles - 1, 0)}
    return x, result, stats
