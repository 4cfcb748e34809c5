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

Convergence: ``max |g| <= atol``, or a step with ``|h_i| <= atol + rtol |x_i|`` at a
point that is stationary to working precision, ``max |g| <= atol + sqrt(eps) max|J| ||r||``.
A tiny step elsewhere (the damping grew because no step decreases ``C``: a kink, or the
edge of a region where ``r`` is NaN) is a failure: ``nonfinite`` when the rejected trial
points gave a non-finite residual, ``line_search_failed`` otherwise.
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
    result_from,
    step_converged,
)
from .._results import RESULTS, AbstractSolution, raise_if_failed
from ._implicit import implicit_argmin

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


def jacobian_function(res: Callable[[Array], Array], x0: Array) -> Callable[[Array], Array]:
    """``jax.jacfwd`` (``m >= n``) or ``jax.jacrev`` (``m < n``), or the other one where the
    residual refuses the first (``solve_ivp``'s reverse-only adjoints refuse ``jacfwd``,
    ``ForwardMode()`` refuses ``jacrev``): probed on shapes, nothing is computed."""
    m = jax.eval_shape(res, x0).shape[0]
    modes = (jax.jacfwd, jax.jacrev) if m >= x0.shape[0] else (jax.jacrev, jax.jacfwd)
    for mode in modes[:-1]:
        try:
            jax.eval_shape(mode(res), x0)
            return mode(res)
        except (ValueError, TypeError, NotImplementedError):
            pass
    return modes[-1](res)


def _stationary(g: Array, J: Array, r: Array, atol: Array) -> Array:
    """``max |g| <= atol + sqrt(eps) max|J| ||r||``: ``g = J^T r`` is zero to the
    precision it can be computed with."""
    eps = jnp.finfo(g.dtype).eps
    bound = atol + jnp.sqrt(eps) * jnp.max(jnp.abs(J)) * jnp.linalg.norm(r)
    return jnp.max(jnp.abs(g)) <= bound


def _finish(g, J, r, cost, small, stopped, atol, bad_trial, k, nfev):
    """Classify the end of an LM/GN run (see the module docstring): success for a small
    gradient, or a small step at a stationary point; a run that stopped elsewhere failed
    (``nonfinite`` if the trials it rejected had a non-finite residual)."""
    finite = jnp.isfinite(cost) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(J))
    converged = (jnp.max(jnp.abs(g)) <= atol) | (small & _stationary(g, J, r, atol))
    stuck = RESULTS.where(bad_trial, RESULTS.nonfinite, RESULTS.line_search_failed)
    failure = RESULTS.where(stopped, stuck, RESULTS.nonconvergence)
    result = result_from(converged & finite, failure, finite)
    return result, {"num_iterations": k, "num_fevals": nfev}


def _levenberg_marquardt(res, jac, x0, rtol, atol, maxiter):
    def linearise(x):
        r = res(x)
        J = jac(x)
        return r, J, J.T @ r, J.T @ J

    r0, J0, g0, A0 = linearise(x0)
    mu0 = 1e-3 * jnp.max(jnp.diag(A0))
    mu0 = jnp.where(mu0 > 0, mu0, 1e-3)
    cost0 = 0.5 * r0 @ r0
    zero = jnp.zeros((), jnp.int32)
    no = jnp.array(False)
    init = (x0, r0, J0, cost0, g0, A0, mu0, 2.0 * jnp.ones_like(mu0), zero, zero + 1, no, no)

    def cond(s):
        x, r, J, cost, g, A, mu, nu, k, nfev, done, _ = s
        ok = jnp.isfinite(cost) & jnp.isfinite(mu)
        return ~done & (k < maxiter) & ok & (jnp.max(jnp.abs(g)) > atol)

    def body(s):
        x, r, J, cost, g, A, mu, nu, k, nfev, _, bad_trial = s
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
            _, J_new, g_new, A_new = linearise(x_new)
            factor = jnp.maximum(1 / 3, 1 - (2 * rho - 1) ** 3)
            return x_new, r_new, J_new, cost_new, g_new, A_new, mu * factor, 2.0 * jnp.ones_like(nu)

        def rejected():
            return x, r, J, cost, g, A, mu * nu, 2 * nu

        x, r, J, cost, g, A, mu, nu = lax.cond(accept, accepted, rejected)
        # A step below the resolution of x ends the iteration (accepted or not: at
        # round-off level the gain ratio is noise); _finish then asks for stationarity.
        done = step_converged(h, x + h, rtol, atol)
        # Whether the rejections since the last accepted step met a non-finite residual.
        bad_trial = ~accept & (bad_trial | ~jnp.isfinite(cost_new))
        return x, r, J, cost, g, A, mu, nu, k + 1, nfev + 1, done, bad_trial

    x, r, J, cost, g, _, mu, _, k, nfev, done, bad_trial = lax.while_loop(cond, body, init)
    stopped = done | ~jnp.isfinite(mu)
    result, stats = _finish(g, J, r, cost, done, stopped, atol, bad_trial, k, nfev)
    return x, (result, stats)


def _gauss_newton(res, jac, x0, rtol, atol, maxiter, max_halvings=30):
    r0 = res(x0)
    J0 = jac(x0)
    zero = jnp.zeros((), jnp.int32)
    no = jnp.array(False)
    init = (x0, r0, J0, zero, zero + 1, no, no, no)

    def cond(s):
        x, r, J, k, nfev, done, failed, _ = s
        return ~done & ~failed & (k < maxiter) & (jnp.max(jnp.abs(J.T @ r)) > atol)

    def body(s):
        x, r, J, k, nfev, _, _, _ = s
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
        r_out = jnp.where(good, r_new, r)
        J_new = lax.cond(good, lambda: jac(x_new), lambda: J)
        small = step_converged(h, x + h, rtol, atol)
        bad_trial = ~good & ~jnp.isfinite(cost_new)
        return x_new, r_out, J_new, k + 1, nfev + nls, small, ~good & ~small, bad_trial

    x, r, J, k, nfev, small, failed, bad_trial = lax.while_loop(cond, body, init)
    g = J.T @ r
    result, stats = _finish(g, J, r, 0.5 * r @ r, small, small | failed, atol, bad_trial, k, nfev)
    return x, (result, stats)


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
    tol = (lax.stop_gradient(rtol_), lax.stop_gradient(atol_))

    def solver(res, v0, hyper):
        jac = jacobian_function(res, v0)
        rtol_h, atol_h = hyper
        if method == "lm":
            return _levenberg_marquardt(res, jac, v0, rtol_h, atol_h, maxiter)
        return _gauss_newton(res, jac, v0, rtol_h, atol_h, maxiter)

    def cost(r):
        return 0.5 * r @ r

    x, value, (result, stats) = implicit_argmin(
        r_flat, x0_flat, args, solver, tol, objective_of=cost
    )
    x_tree = raise_if_failed(unravel(x), result, throw)
    return LeastSquaresSolution(x=x_tree, cost=value, result=result, stats=stats)
