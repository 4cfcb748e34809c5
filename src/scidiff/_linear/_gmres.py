"""Restarted GMRES(m) with right preconditioning, Givens rotations and CGS2 Arnoldi.

Right preconditioning solves ``A M y = b`` and returns ``x = M y``, so the residual the
iteration monitors is the true residual ``b - A x`` (not ``M (b - A x)``), and the
stopping rule ``||b - A x|| <= max(rtol ||b||, atol)`` means the same for every method.

One cycle from ``x``: with ``r = b - A x``, ``beta = ||r||`` and ``v_0 = r / beta``,
the Arnoldi process builds an orthonormal basis ``V_k`` of the Krylov space
``K_k(A M, r)`` and the Hessenberg matrix ``H_k`` with ``A M V_k = V_{k+1} H_k``
(classical Gram--Schmidt applied twice, which is as stable as modified Gram--Schmidt
and is two matrix--vector products with ``V``). Givens rotations ``G_j`` reduce ``H_k`` to
upper-triangular ``R_k`` as it grows; the same rotations applied to ``beta e_1`` give
``g``, and ``|g_k|`` is the residual norm of the least-squares solution
``y = argmin ||beta e_1 - H_k y||`` without forming it. After ``m`` steps, or when
``|g_k|`` is below tolerance, ``R_k y = g_{:k}`` is solved and ``x += M V_k y``;
the true residual is recomputed and the next cycle (a restart) begins.

A zero subdiagonal ``h_{k+1,k} = 0`` with a nonzero rotated diagonal is a "lucky"
breakdown (the Krylov space is invariant: the solution is exact). A rotated diagonal
``|rho_k| <= eps ||h_k||`` means the new column is dependent on the previous ones to
working precision, i.e. ``A M`` is singular on the Krylov space: ``RESULTS.breakdown``
(the last direction is dropped, ``x`` keeps the least-squares update of the others).
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array

from .._results import RESULTS
from ._operator import krylov_result, norm

__all__ = ["gmres"]


def _givens(a: Array, b: Array) -> tuple[Array, Array, Array]:
    """``(c, s, rho)`` with ``[[c, s], [-conj(s), c]] @ [a, b] = [rho, 0]``, ``c`` real."""
    abs_a = jnp.abs(a)
    denom = jnp.sqrt(abs_a**2 + jnp.abs(b) ** 2)
    safe_denom = jnp.where(denom == 0, 1, denom)
    phase = jnp.where(abs_a == 0, jnp.ones_like(a), a / jnp.where(abs_a == 0, 1, abs_a))
    c = abs_a / safe_denom
    s = phase * jnp.conj(b) / safe_denom
    return c.astype(a.dtype), s, phase * denom


def gmres(
    matvec: Callable[[Array], Array],
    b: Array,
    x0: Array | None,
    precond: Callable[[Array], Array] | None,
    rtol: float | Array,
    atol: float | Array,
    maxiter: int,
    restart: int,
) -> tuple[Array, RESULTS, dict[str, Array]]:
    """Solve ``A x = b`` by restarted GMRES on flat vectors. Returns ``(x, result, stats)``.

    ``maxiter`` counts inner (Arnoldi) iterations over all cycles; ``restart`` is the
    cycle length ``m`` (capped at ``n``).
    """
    n = b.shape[0]
    if n == 0:  # no unknowns (e.g. an ODE step of an empty state): x = b, solved exactly
        zero = jnp.zeros((), jnp.int32)
        return b, RESULTS.successful, {"num_iterations": zero, "num_restarts": zero}
    m = min(restart, n)
    dtype = b.dtype
    real = jnp.finfo(dtype).dtype
    eps = jnp.finfo(dtype).eps
    rtol = jnp.asarray(rtol, real)
    atol = jnp.asarray(atol, real)
    tol = jnp.maximum(rtol * norm(b), atol)
    M = (lambda v: v) if precond is None else precond
    zero = jnp.zeros((), jnp.int32)

    def cycle(x, r, beta, total):
        """One GMRES(m) cycle from ``x`` with residual ``r``; returns the update."""
        V = jnp.zeros((m + 1, n), dtype).at[0].set(r / jnp.where(beta == 0, 1, beta))
        R = jnp.zeros((m + 1, m), dtype)
        cs = jnp.zeros((m,), dtype)
        sn = jnp.zeros((m,), dtype)
        g = jnp.zeros((m + 1,), dtype).at[0].set(beta.astype(dtype))

        def cond(state):
            V, R, cs, sn, g, k, broke = state
            return (k < m) & (jnp.abs(g[k]) > tol) & (total + k < maxiter) & ~broke

        def body(state):
            V, R, cs, sn, g, k, _ = state
            w = matvec(M(V[k]))
            # CGS2: rows of V beyond k are zero, so they contribute nothing.
            h = jnp.conj(V) @ w
            w = w - V.T @ h
            h2 = jnp.conj(V) @ w
            w = w - V.T @ h2
            h = h + h2
            hn = norm(w)
            V = V.at[k + 1].set(jnp.where(hn > 0, w / jnp.where(hn > 0, hn, 1), 0))
            col = h.at[k + 1].set(hn.astype(dtype))

            def rotate(j, col):  # apply G_j for j < k
                a, c2 = col[j], col[j + 1]
                new_a = cs[j] * a + sn[j] * c2
                new_b = -jnp.conj(sn[j]) * a + cs[j] * c2
                keep = j < k
                col = col.at[j].set(jnp.where(keep, new_a, a))
                return col.at[j + 1].set(jnp.where(keep, new_b, c2))

            col = lax.fori_loop(0, m, rotate, col)
            c, s, rho = _givens(col[k], col[k + 1])
            col = col.at[k].set(rho).at[k + 1].set(0)
            R = R.at[:, k].set(col)
            cs = cs.at[k].set(c)
            sn = sn.at[k].set(s)
            gk = g[k]
            g = g.at[k].set(c * gk).at[k + 1].set(-jnp.conj(s) * gk)
            # The new column of A M V is in the span of the previous ones to working
            # precision: A M is singular on the Krylov space (NaN also lands here).
            broke = ~(jnp.abs(rho) > eps * norm(col))
            return V, R, cs, sn, g, k + 1, broke

        V, R, cs, sn, g, k, broke = lax.while_loop(
            cond, body, (V, R, cs, sn, g, zero, jnp.array(False))
        )
        # Solve R[:k, :k] y = g[:k]: the unused part (and, after a breakdown, the
        # singular last direction) is padded with the identity and a zero right side.
        idx = jnp.arange(m)
        used = idx < k
        pad = ~used | (broke & (idx == k - 1))
        Rm = jnp.where(used[None, :] & used[:, None], R[:m], 0) + jnp.diag(pad.astype(dtype))
        gm = jnp.where(pad, 0, g[:m])
        y = solve_triangular(Rm, gm, lower=False)
        x = x + M(V[:m].T @ y)
        return x, k, broke

    x = jnp.zeros_like(b) if x0 is None else x0
    r = b if x0 is None else b - matvec(x)
    beta = norm(r)

    def outer_cond(state):
        _, _, beta, total, _, broke = state
        return (beta > tol) & (total < maxiter) & ~broke

    def outer_body(state):
        x, r, beta, total, cycles, _ = state
        x, k, broke = cycle(x, r, beta, total)
        r = b - matvec(x)
        return x, r, norm(r), total + k, cycles + 1, broke

    x, _, beta, total, cycles, broke = lax.while_loop(
        outer_cond, outer_body, (x, r, beta, zero, zero, jnp.array(False))
    )
    result = krylov_result(beta <= tol, broke, beta)
    stats = {"num_iterations": total, "num_restarts": jnp.maximum(cycles - 1, 0)}
    return x, result, stats
