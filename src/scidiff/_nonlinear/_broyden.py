"""Broyden's ("good") method: a quasi-Newton root finder with one ``F`` per iteration.

Starting from the exact inverse Jacobian at ``x0`` (one ``jacfwd``; the identity if that
Jacobian is singular), the inverse approximation ``H ~ J^{-1}`` gets the rank-one
secant update (Sherman--Morrison form of Broyden's update of ``J``) after each step
``s = x_{k+1} - x_k`` with ``y = F(x_{k+1}) - F(x_k)``:

    H <- H + (s - H y) (s^T H) / (s^T H y)

which makes ``H y = s``. The direction ``d = -H F(x)`` is damped by the same Armijo
backtracking as Newton's method; the update is skipped when ``s^T H y`` vanishes.
Convergence and failures as for Newton (see ``_newton.py``). Real dtypes.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._results import RESULTS
from ._newton import quasi_newton_loop

__all__ = ["broyden"]


def broyden(
    f: Callable[[Array], Array],
    x0: Array,
    rtol: Array,
    atol: Array,
    maxiter: int,
) -> tuple[Array, tuple[RESULTS, dict[str, Array]]]:
    """Broyden's method on flat vectors; returns ``(x, (result, stats))``."""
    n = x0.shape[0]
    J0 = jax.jacfwd(f)(x0)
    H0 = jnp.linalg.solve(J0, jnp.eye(n, dtype=x0.dtype))
    H0 = jnp.where(jnp.all(jnp.isfinite(H0)), H0, jnp.eye(n, dtype=x0.dtype))

    def direction(f, x, fx, H):
        d = -(H @ fx)
        return d, ~jnp.all(jnp.isfinite(d))

    def update(H, x, fx, xn, fn):
        s = xn - x
        y = fn - fx
        Hy = H @ y
        denom = s @ Hy
        tiny = jnp.finfo(x.dtype).tiny ** 0.5
        ok = jnp.abs(denom) > tiny * jnp.maximum(jnp.linalg.norm(s) * jnp.linalg.norm(Hy), 1)
        new = H + jnp.outer(s - Hy, s @ H) / jnp.where(ok, denom, 1)
        return jnp.where(ok, new, H)

    return quasi_newton_loop(f, x0, rtol, atol, maxiter, direction, update, H0)
