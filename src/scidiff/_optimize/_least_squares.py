"""``scidiff.least_squares``: minimise ``||r(x, args)||^2 / 2`` (Levenberg--Marquardt,
Gauss--Newton), with argmin gradients by the implicit function theorem.

With ``J`` the Jacobian of the residual (``jax.jacfwd``), ``g = J^T r`` the gradient of
the cost ``C = ||r||^2 / 2`` and ``A = J^T J`` its Gauss--Newton Hessian:

* **Levenberg--Marquardt** solves ``(A + mu D) h = -g`` with Marquardt's scaling
  ``D = diag(A)`` (floored), accepts ``x + h`` when the gain ratio
  ``rho = (C(x) - C(x + h)) / (h^T (mu D h - g) / 2)`` is positive, and updates the
  damping as Nielsen (1999): ``mu *= max(1/3, 1 - (2 rho - 1)^3)`` on success,
  ``mu *= nu, nu *= 2`` on failure. ``mu_0 = 1e-3 max diag(A)``.
* **Gauss--Newton** takes the least-squares step ``h = argmin ||J h + r||`` (SVD, so
  rank-deficient ``J`` gives the minimum-norm step) with Armijo backtracking on ``C``.

Convergence: ``max |g| <= atol``, or an accepted step with ``|h_i| <= atol + rtol |x_i|``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Int, PyTree, Scalar

from .._nonlinear._common import (
    as_real,
    check_static,
    flatten_function,
    implicit_solve,
    result_from,
    step_converged,
)
from .._results import RESULTS, AbstractSolution, raise_if_failed

__all__ = ["least_squares", "LeastSquaresSolution"]

_METHODS = ("lm", "gauss-newton")


class LeastSquaresSolution(AbstractSolution):
    """The result of :func:`least_squares`.

    Attributes:
        x: the minimiser, a pytree shaped like ``x0``.
        cost: ``||r(x, args)||^2 / 2`` at ``x``.
        result: ``RESULTS.successful``, ``nonconvergence`` (``maxiter`` reached),
            ``line_search_failed`` (no decrease possible) or ``nonfinite``.
        stats: ``{"num_iterations", "num_fevals"}`` (``num_fevals``: residual
            evaluations, Jacobians not counted).
    """

    x: PyTree[Array]
    cost: Scalar
    result: RESULTS
    stats: dict[str, Int[Array, ""]]


def _levenberg_marquardt(res, x0, rtol, atol, maxiter):
    def linearise(x):
        r = res(x)
        J = jax.jacfwd(res)(x)
        return r, J.T @ r, J.T @ J

    r0, g0, A0 = linearise(x0)
    mu0 = 1e-3 * jnp.max(jnp.diag(A0))
    mu0 = jnp.where(mu0 > 0, mu0, 1e-3)
    cost0 = 0.5 * r0 @ r0
    zero = jnp.zeros((), jnp.int32)
    init = (x0, cost0, g0, A0, mu0, 2.0 * jnp.ones_like(mu0), zero, zero + 1, jnp.array(False))

    def cond(s):
        x, cost, g, A, mu, nu, k, nfev, done = s
        ok = jnp.isfinite(cost) & jnp.isfinite(mu)
        return ~done & (k < maxiter) & ok & (jnp.max(jnp.abs(g)) > atol)

    def body(s):
        x, cost, g, A, mu, nu, k, nfev, _ = s
        d = jnp.diag(A)
        D = jnp.maximum(d, jnp.finfo(d.dtype).eps * jnp.max(d))
        D = jnp.where(D > 0, D, 1)
        h = jnp.linalg.solve(A + mu * jnp.diag(D), -g)
        x_new = x + h
        r_new = res(x_new)
        cost_new = 0.5 * r_new @ r_new
        predicted = 0.5 * h @ (mu * D * h - g)
        rho = (cost - cost_new) / jnp.where(predicted > 0, predicted, 1)
        accept = (rho > 0) & jnp.isfinite(cost_new) & (predicted > 0)

        def accepted():
            _, g_new, A_new = linearise(x_new)
            factor = jnp.maximum(1 / 3, 1 - (2 * rho - 1) ** 3)
            small = step_converged(h, x_new, rtol, atol)
            return x_new, cost_new, g_new, A_new, mu * factor, 2.0 * jnp.ones_like(nu), small

        def rejected():
            return x, cost, g, A, mu * nu, 2 * nu, jnp.array(False)

        x, cost, g, A, mu, nu, done = lax.cond(accept, accepted, rejected)
        # A step below the resolution of x ends the iteration even if rejected (at
        # round-off level the gain ratio is noise).
        done = done | step_converged(h, x + h, rtol, atol)
        return x, cost, g, A, mu, nu, k + 1, nfev + 1, done

    x, cost, g, _, mu, _, k, nfev, done = lax.while_loop(cond, body, init)
    converged = done | (jnp.max(jnp.abs(g)) <= atol)
    failure = RESULTS.where(jnp.isfinite(mu), RESULTS.nonconvergence, RESULTS.line_search_failed)
    result = result_from(converged, failure, jnp.isfinite(cost) & jnp.all(jnp.isfinite(g)))
    return x, (result, {"num_iterations": k, "num_fevals": nfev})


def _gauss_newton(res, x0, rtol, atol, maxiter, max_halvings=30):
    r0 = res(x0)
    J0 = jax.jacfwd(res)(x0)
    zero = jnp.zeros((), jnp.int32)
    init = (x0, r0, J0, zero, zero + 1, jnp.array(False), jnp.array(False))

    def cond(s):
        x, r, J, k, nfev, done, failed = s
        return ~done & ~failed & (k < maxiter) & (jnp.max(jnp.abs(J.T @ r)) > atol)

    def body(s):
        x, r, J, k, nfev, _, _ = s
        h = jnp.linalg.lstsq(J, -r)[0]
        cost = 0.5 * r @ r
        slope = (J.T @ r) @ h  # directional derivative of the cost, < 0 unless g = 0

        def ls_cond(t):
            alpha, _, cost_t, j = t
            bad = ~(cost_t <= cost + 1e-4 * alpha * slope)
            return bad & (j <= max_halvings)

        def ls_body(t):
            alpha, _, _, j = t
            alpha = alpha / 2
            r_t = res(x + alpha * h)
            return alpha, r_t, 0.5 * r_t @ r_t, j + 1

        r1 = res(x + h)
        alpha, r_new, cost_new, nls = lax.while_loop(
            ls_cond, ls_body, (jnp.ones((), x.dtype), r1, 0.5 * r1 @ r1, zero + 1)
        )
        good = (cost_new <= cost + 1e-4 * alpha * slope) & jnp.isfinite(cost_new)
        x_new = jnp.where(good, x + alpha * h, x)
        r_new = jnp.where(good, r_new, r)
        J_new = lax.cond(good, lambda: jax.jacfwd(res)(x_new), lambda: J)
        small = step_converged(h, x + h, rtol, atol)
        return x_new, r_new, J_new, k + 1, nfev + nls, small, ~good & ~small

    x, r, J, k, nfev, done, failed = lax.while_loop(cond, body, init)
    converged = done | (jnp.max(jnp.abs(J.T @ r)) <= atol)
    failure = RESULTS.where(failed, RESULTS.line_search_failed, RESULTS.nonconvergence)
    result = result_from(converged, failure, jnp.all(jnp.isfinite(r)))
    return x, (result, {"num_iterations": k, "num_fevals": nfev})


def least_squares(
    residual: Callable[[PyTree, Any], PyTree],
    x0: PyTree[Array],
    *,
    args: Any = None,
    method: str = "lm",
    rtol: float | Array = 1e-8,
    atol: float | Array = 1e-8,
    maxiter: int = 100,
    throw: bool = True,
) -> LeastSquaresSolution:
    r"""Minimise ``||residual(x, args)||^2 / 2`` (nonlinear least squares, real dtypes).

    ``method="lm"`` (Levenberg--Marquardt, robust from poor starts) or
    ``"gauss-newton"`` (line-searched, fast near a small-residual solution). The residual
    may be any pytree, of any size (over- or under-determined). Convergence:
    ``max |J^T r| <= atol`` or an accepted step with ``|h_i| <= atol + rtol |x_i|``.

    Gradients of the minimiser with respect to ``args`` use the implicit function theorem
    on the optimality condition ``J(x*)^T r(x*, args) = 0`` with the exact Hessian of the
    cost (second-order residual terms included), not through the iterations.

    Args:
        residual: ``residual(x, args)`` -> pytree of arrays.
        x0: starting point, any pytree of arrays.
        args: pytree passed to ``residual`` (traced).
        method: ``"lm"`` or ``"gauss-newton"``.
        rtol, atol: tolerances (traced).
        maxiter: iteration cap (static).
        throw: raise on failure; with ``False`` inspect ``sol.result``.

    Returns:
        :class:`LeastSquaresSolution` with ``.x``, ``.cost``, ``.result``, ``.ok``, ``.stats``.

    Raises:
        ValueError: unknown method, ``residual`` failing on ``x0``, bad ``maxiter``,
            negative tolerances.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> t = jnp.linspace(0.0, 1.0, 20)
        >>> y = 2.0 * jnp.exp(-1.5 * t)
        >>> fit = lambda p, data: p[0] * jnp.exp(-p[1] * t) - data
        >>> sol = scidiff.least_squares(fit, jnp.array([1.0, 1.0]), args=y)
        >>> bool(jnp.allclose(sol.x, jnp.array([2.0, 1.5]), atol=1e-6))
        True
    """
    check_static(rtol, atol, maxiter, method, _METHODS)
    r_flat, x0_flat, unravel = flatten_function(
        residual, x0, args, name="residual", same_structure=False
    )
    rtol_, atol_ = as_real(rtol, x0_flat.dtype), as_real(atol, x0_flat.dtype)

    def res(v):
        return r_flat(v, args)

    def cost(v):
        r = res(v)
        return 0.5 * r @ r

    def solver(_grad, v0):
        if method == "lm":
            return _levenberg_marquardt(res, v0, rtol_, atol_, maxiter)
        return _gauss_newton(res, v0, rtol_, atol_, maxiter)

    x, (result, stats) = implicit_solve(jax.grad(cost), x0_flat, solver)
    value = cost(x)
    x_tree = raise_if_failed(unravel(x), result, throw)
    return LeastSquaresSolution(x=x_tree, cost=value, result=result, stats=stats)
