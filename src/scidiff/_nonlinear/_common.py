"""Pieces shared by the nonlinear solvers: flattening, the solution object, convergence
tests, a backtracking line search and implicit differentiation through ``lax.custom_root``.

Every solver works on flat vectors: ``x0`` (any pytree) is raveled once, the user's
``F(x, args)`` is wrapped as ``v -> ravel(F(unravel(v), args))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Int, PyTree

from .._linear._differentiable import derivative_solve
from .._linear._operator import ravel_fns, solve_dtype
from .._linear._solver import GMRES, LU
from .._results import RESULTS, AbstractSolution, check_tolerances, raise_if_failed

__all__ = [
    "RootSolution",
    "flatten_function",
    "check_static",
    "step_converged",
    "backtrack",
    "implicit_solve",
    "DENSE_MAX",
    "finalize",
    "result_from",
    "as_real",
]

# Tangent systems of the implicit function theorem are solved by a dense LU up to this
# many unknowns, by matrix-free GMRES beyond.
DENSE_MAX = 400


class RootSolution(AbstractSolution):
    """The result of :func:`scidiff.root` and :func:`scidiff.fixed_point`.

    Attributes:
        x: the root (fixed point), a pytree shaped like ``x0``.
        result: ``RESULTS.successful`` or the failure (``nonconvergence``,
            ``line_search_failed``, ``singular``, ``bracket_invalid``, ``nonfinite``).
        stats: ``{"num_iterations", "num_fevals"}`` (int32 arrays).
        ok: ``result == RESULTS.successful``.
    """

    x: PyTree[Array]
    result: RESULTS
    stats: dict[str, Int[Array, ""]]


def check_static(rtol: Any, atol: Any, maxiter: Any, method: str, methods: tuple) -> None:
    """Raise ``ValueError`` for an unknown method, a bad ``maxiter`` or negative tolerances."""
    if not isinstance(method, str) or method not in methods:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(methods)}.")
    if isinstance(maxiter, bool) or not isinstance(maxiter, int) or maxiter < 1:
        raise ValueError(
            f"`maxiter` must be a positive Python int (it is static), got {maxiter!r}."
        )
    check_tolerances(rtol, atol)


def flatten_function(
    F: Callable, x0: PyTree, args: Any, name: str = "F", same_structure: bool = True
) -> tuple[Callable[[Array, Any], Array], Array, Callable[[Array], PyTree]]:
    """Return ``(f_flat(v, args), x0_flat, unravel)``; check ``F(x0, args)`` statically.

    Raises:
        ValueError: ``x0`` empty; ``F`` fails on ``x0``; with ``same_structure``, the output
            of ``F`` not shaped like ``x0`` (square systems).
    """
    leaves = jax.tree_util.tree_leaves(x0)
    if not leaves:
        raise ValueError("`x0` is empty: it must contain at least one array.")
    try:
        out = jax.eval_shape(F, x0, args)
    except Exception as err:
        raise ValueError(
            f"calling `{name}(x0, args)` failed ({type(err).__name__}: {err}); `{name}` must be "
            f"a function `{name}(x, args)` of a pytree shaped like `x0`."
        ) from err
    out_leaves, out_def = jax.tree_util.tree_flatten(out)
    x_def = jax.tree_util.tree_structure(x0)
    if same_structure and (
        out_def != x_def or [o.shape for o in out_leaves] != [jnp.shape(leaf) for leaf in leaves]
    ):
        raise ValueError(
            f"`x0` does not match `{name}(x0, args)`: the system must be square, with "
            f"{name}(x, args) shaped like x. Got x0 = "
            f"{jax.tree_util.tree_map(lambda v: jnp.shape(v), x0)} and {name}(x0, args) = "
            f"{jax.tree_util.tree_map(lambda v: v.shape, out)}."
        )
    dtype = solve_dtype(*[jnp.result_type(leaf) for leaf in leaves])
    ravel_x, unravel = ravel_fns(x0, dtype)
    out_dtype = solve_dtype(dtype, *[o.dtype for o in out_leaves])
    ravel_out, _ = ravel_fns(out, out_dtype)

    def f_flat(v, a):
        return ravel_out(F(unravel(v), a))

    return f_flat, ravel_x(x0), unravel


def step_converged(dx: Array, x: Array, rtol: Array, atol: Array) -> Array:
    """``|dx_i| <= atol + rtol |x_i|`` for every component, with ``rtol`` floored at
    ``2 eps`` of the dtype: a step below the resolution of ``x`` cannot change it, so
    e.g. the default ``rtol = 1e-8`` still terminates in float32."""
    rtol = jnp.maximum(rtol, 2 * jnp.finfo(x.dtype).eps)
    return jnp.all(jnp.abs(dx) <= atol + rtol * jnp.abs(x))


def backtrack(
    f: Callable[[Array], Array], x: Array, fx: Array, dx: Array, max_halvings: int = 30
) -> tuple[Array, Array, Array, Array, Array, Array]:
    """Armijo backtracking on the merit ``phi = ||F||^2 / 2`` along a Newton-like ``dx``.

    For a Newton direction ``phi'(0) = -||F||^2 = -2 phi(0)``, so the sufficient-decrease
    test is ``phi(x + a dx) <= (1 - 2 c a) phi(x)`` with ``c = 1e-4``; ``a`` halves from 1.

    Returns ``(alpha, x_new, f_new, num_fevals, ok, f_full)`` with ``f_full = F(x + dx)``
    (the full step's residual, the first value tried).
    """
    c = 1e-4
    phi0 = 0.5 * jnp.sum(jnp.abs(fx) ** 2)

    def phi(v):
        return 0.5 * jnp.sum(jnp.abs(v) ** 2)

    def accept(alpha, fnew):
        good = phi(fnew) <= (1 - 2 * c * alpha) * phi0
        return good & jnp.all(jnp.isfinite(fnew))

    x1 = x + dx
    f1 = f(x1)
    init = (jnp.ones((), fx.real.dtype), x1, f1, jnp.ones((), jnp.int32), accept(1.0, f1))

    def cond(s):
        alpha, _, _, j, good = s
        return ~good & (j <= max_halvings)

    def body(s):
        alpha, _, _, j, _ = s
        alpha = alpha / 2
        xn = x + alpha.astype(x.dtype) * dx
        fn = f(xn)
        return alpha, xn, fn, j + 1, accept(alpha, fn)

    alpha, xn, fn, nfev, good = lax.while_loop(cond, body, init)
    return alpha, xn, fn, nfev, good, f1


def implicit_solve(
    residual: Callable[[Array], Array],
    x0: Array,
    solver: Callable[[Callable, Array], tuple[Array, Any]],
) -> tuple[Array, Any]:
    r"""Run ``solver(residual, x0) -> (x, aux)`` with derivatives from the implicit function
    theorem (``lax.custom_root``): gradients never go through the solver's iterations.

    If ``residual(x; theta) = 0`` at the solution ``x*(theta)`` (``theta`` = whatever
    ``residual`` closes over, e.g. ``args``), differentiating gives
    ``∂_x r · dx* + ∂_theta r · dtheta = 0``, so ``dx* = -(∂_x r)^{-1} ∂_theta r dtheta``.
    ``custom_root`` computes ``∂_theta r dtheta`` by a JVP and calls the tangent solve below
    with ``g = ∂_x r`` (a linear callable); reverse mode transposes that solve (the LU
    factors are reused; GMRES solves with ``(∂_x r)^T`` from ``jax.linear_transpose``).
    A derivative has no result object, so a failed tangent or transposed solve (e.g. a
    singular Jacobian at the solution) raises an error that names the cause.
    """
    n = x0.shape[0]
    real = jnp.finfo(x0.dtype).dtype
    context = (
        "the implicit-function-theorem linear solve in the derivative of a nonlinear "
        "solve (with the Jacobian dF/dx at the solution)"
    )

    def tangent_solve(g, y):
        if n <= DENSE_MAX:
            solver = LU()
        else:
            tol = 1e-10 if jnp.finfo(y.dtype).bits == 64 else 1e-5
            solver = GMRES(rtol=tol, atol=0.0)
        return derivative_solve(g, y, solver, context)

    # custom_root gives integer auxiliary outputs integer (not float0) tangents, which
    # JAX then rejects; so (result, stats) travel as one float vector and are decoded.
    keys: list[str] = []

    def encoded_solver(f, v0):
        x, (result, stats) = solver(f, v0)
        keys[:] = sorted(stats)
        code = sum(jnp.where(result == item, i, 0) for i, item in enumerate(_CODES))
        return x, jnp.stack([code, *(stats[k] for k in keys)]).astype(real)

    x, aux = lax.custom_root(residual, x0, encoded_solver, tangent_solve, has_aux=True)
    aux = lax.stop_gradient(aux).astype(jnp.int32)
    result = RESULTS.successful
    for i, item in enumerate(_CODES):
        result = RESULTS.where(aux[0] == i, item, result)
    return x, (result, {k: aux[i + 1] for i, k in enumerate(keys)})


# The outcomes a nonlinear solver can report (see implicit_solve).
_CODES = (
    RESULTS.successful,
    RESULTS.nonconvergence,
    RESULTS.line_search_failed,
    RESULTS.singular,
    RESULTS.bracket_invalid,
    RESULTS.nonfinite,
    RESULTS.breakdown,
)


def finalize(x: Array, result: RESULTS, unravel: Callable, throw: bool, **stats) -> RootSolution:
    """Unravel ``x``, apply ``throw`` and build the :class:`RootSolution`."""
    xt = unravel(x)
    xt = raise_if_failed(xt, result, throw)
    stats = {k: jnp.asarray(v, jnp.int32) for k, v in stats.items()}
    return RootSolution(x=xt, result=result, stats=stats)


def result_from(converged: Array, failure: RESULTS, fx_finite: Array) -> RESULTS:
    """Success if converged; else ``nonfinite`` if ``F`` blew up; else ``failure``."""
    return RESULTS.where(
        converged, RESULTS.successful, RESULTS.where(fx_finite, failure, RESULTS.nonfinite)
    )


def as_real(x: Any, dtype) -> Array:
    """A tolerance as an array of the real dtype matching ``dtype``."""
    return jnp.asarray(x, jnp.finfo(dtype).dtype)
