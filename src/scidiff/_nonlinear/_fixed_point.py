"""Fixed points ``x = g(x)``: plain (Picard) iteration and Anderson acceleration.

Plain iteration ``x_{k+1} = g(x_k)`` converges linearly for a contraction. Anderson
acceleration (type II, Walker & Ni 2011) with memory ``m`` keeps the last ``m``
differences of residuals ``f_i = g(x_i) - x_i`` and of ``g_i = g(x_i)``,

    gamma = argmin_gamma || f_k - dF gamma ||_2,     x_{k+1} = g_k - dG gamma

(a least-squares problem of ``m`` columns, solved by SVD, so rank-deficient histories are
harmless); it often turns linear convergence into much faster convergence and can
converge where plain iteration does not.

Convergence: ``g(x)`` finite and, for all ``i``,

    |g(x)_i - x_i| <= atol + rtol min(|g(x)_i|, S),     S = max(|x0|_inf, |g(x0)|_inf, 1).

The relative part is measured against the iterate but capped by the scale ``S`` of the
starting data, so a run that blows up (``x = exp(x)``, ``x = x**2 + 1``) cannot loosen the
test until a large residual passes; it ends as ``nonfinite`` or ``nonconvergence``
instead. A point farther than ``S / sqrt(eps)`` from ``x0`` is not accepted either:
there ``x + c`` rounds to ``x`` (``x = x + 0.1`` "converges" at ``1e15`` in float64), and
a genuine fixed point that far away would have a condition number beyond
``1 / sqrt(eps)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, PyTree

from .._results import RESULTS
from ._common import (
    RootSolution,
    as_real,
    check_static,
    finalize,
    flatten_function,
    implicit_solve,
    result_from,
)

__all__ = ["iterate", "anderson", "fixed_point", "FIXED_POINT_METHODS"]


def _scale(x0: Array, g0: Array) -> Array:
    """``S = max(|x0|_inf, |g(x0)|_inf, 1)``: the cap of the relative test."""
    return jnp.maximum(jnp.maximum(jnp.max(jnp.abs(x0)), jnp.max(jnp.abs(g0))), 1).real


def _converged(
    x0: Array, x: Array, gx: Array, scale: Array, rtol: Array, atol: Array
) -> Array:
    """The fixed-point test of the module docstring (``False`` for non-finite ``g(x)`` or
    a point that ran away from ``x0``)."""
    # rtol floored at 2 eps, as in root's step test: the default 1e-8 is below float32's
    # resolution, where |g(x) - x| cannot get under an ulp.
    rtol = jnp.maximum(rtol, 2 * jnp.finfo(gx.dtype).eps)
    bound = atol + rtol * jnp.minimum(jnp.abs(gx), scale)
    near = jnp.max(jnp.abs(gx - x0)) <= scale / jnp.sqrt(jnp.finfo(gx.dtype).eps)
    return jnp.all(jnp.isfinite(gx)) & jnp.all(jnp.abs(gx - x) <= bound) & near


def iterate(
    g: Callable[[Array], Array], x0: Array, rtol: Array, atol: Array, maxiter: int
) -> tuple[Array, tuple[RESULTS, dict[str, Array]]]:
    """Plain fixed-point iteration; returns ``(g(x_k), (result, stats))``."""
    g0 = g(x0)
    scale = _scale(x0, g0)

    def cond(s):
        x, gx, k = s
        return ~_converged(x0, x, gx, scale, rtol, atol) & (k < maxiter) & jnp.all(jnp.isfinite(gx))

    def body(s):
        _, gx, k = s
        return gx, g(gx), k + 1

    x, gx, k = lax.while_loop(cond, body, (x0, g0, jnp.zeros((), jnp.int32)))
    converged = _converged(x0, x, gx, scale, rtol, atol)
    result = result_from(converged, RESULTS.nonconvergence, jnp.all(jnp.isfinite(gx)))
    return gx, (result, {"num_iterations": k, "num_fevals": k + 1})


def anderson(
    g: Callable[[Array], Array],
    x0: Array,
    rtol: Array,
    atol: Array,
    maxiter: int,
    memory: int,
) -> tuple[Array, tuple[RESULTS, dict[str, Array]]]:
    """Anderson-accelerated fixed-point iteration; returns ``(g(x_k), (result, stats))``."""
    n = x0.shape[0]
    m = memory
    g0 = g(x0)
    scale = _scale(x0, g0)
    dF = jnp.zeros((n, m), x0.dtype)
    dG = jnp.zeros((n, m), x0.dtype)

    def cond(s):
        x, gx, *_, k = s
        return ~_converged(x0, x, gx, scale, rtol, atol) & (k < maxiter) & jnp.all(jnp.isfinite(gx))

    def body(s):
        x, gx, f_prev, g_prev, dF, dG, k = s
        f = gx - x
        slot = (k - 1) % m
        # Record the newest differences (none at k = 0).
        dF = jnp.where(k > 0, dF.at[:, slot].set(f - f_prev), dF)
        dG = jnp.where(k > 0, dG.at[:, slot].set(gx - g_prev), dG)
        gamma = jnp.linalg.lstsq(dF, f)[0]
        x_new = gx - dG @ gamma
        x_new = jnp.where(jnp.all(jnp.isfinite(x_new)), x_new, gx)
        return x_new, g(x_new), f, gx, dF, dG, k + 1

    init = (x0, g0, jnp.zeros_like(x0), jnp.zeros_like(x0), dF, dG, jnp.zeros((), jnp.int32))
    x, gx, *_, k = lax.while_loop(cond, body, init)
    converged = _converged(x0, x, gx, scale, rtol, atol)
    result = result_from(converged, RESULTS.nonconvergence, jnp.all(jnp.isfinite(gx)))
    return gx, (result, {"num_iterations": k, "num_fevals": k + 1})


FIXED_POINT_METHODS = ("iteration", "anderson")


def fixed_point(
    g: Callable[[PyTree, Any], PyTree],
    x0: PyTree[Array],
    *,
    args: Any = None,
    method: str = "iteration",
    rtol: float | Array = 1e-8,
    atol: float | Array = 1e-8,
    maxiter: int = 1000,
    memory: int = 5,
    throw: bool = True,
) -> RootSolution:
    r"""Find ``x = g(x, args)``.

    ``method="iteration"`` iterates ``x <- g(x, args)`` (converges for contractions);
    ``method="anderson"`` adds Anderson acceleration with the last ``memory`` iterates.
    Convergence: ``g(x)`` finite and ``|g(x)_i - x_i| <= atol + rtol min(|g(x)_i|, S)``
    for all ``i``, with ``S = max(|x0|_inf, |g(x0)|_inf, 1)`` (so an iteration that blows
    up cannot pass the relative test); the returned ``x`` is the last ``g(x)``. A run
    that overflows is ``RESULTS.nonfinite``, one that wanders is ``nonconvergence``.

    Gradients with respect to ``args`` by the implicit function theorem applied to
    ``r(x) = g(x, args) - x = 0``: ``dx*/dargs = (I - ∂g/∂x)^{-1} ∂g/∂args`` (a linear
    solve; dense LU up to 400 unknowns, GMRES beyond), never through the iterations.

    Args:
        g: ``g(x, args)`` returning a pytree shaped like ``x``.
        x0: initial guess (any pytree of arrays).
        args: pytree passed to ``g`` (traced).
        method: ``"iteration"`` or ``"anderson"``.
        rtol, atol: tolerances (traced).
        maxiter: iteration cap (static).
        memory: Anderson history length (static, ``>= 1``).
        throw: raise on failure; with ``False`` inspect ``sol.result``.

    Returns:
        :class:`RootSolution` with ``.x``, ``.result``, ``.ok``, ``.stats``
        (``num_iterations``, ``num_fevals``).

    Raises:
        ValueError: unknown method, ``g(x0, args)`` not shaped like ``x0``, bad
            ``maxiter``/``memory``, negative tolerances.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.fixed_point(lambda x, a: jnp.cos(x), jnp.array(1.0), method="anderson")
        >>> bool(jnp.isclose(sol.x, jnp.cos(sol.x)))
        True
    """
    check_static(rtol, atol, maxiter, method, FIXED_POINT_METHODS)
    if isinstance(memory, bool) or not isinstance(memory, int) or memory < 1:
        raise ValueError(f"`memory` must be a positive Python int, got {memory!r}.")
    g_flat, x0_flat, unravel = flatten_function(g, x0, args, name="g")
    rtol_, atol_ = as_real(rtol, x0_flat.dtype), as_real(atol, x0_flat.dtype)

    def solver(r, v0):
        # The solve runs on g itself (closed over); r = g - I is only for the IFT.
        gv = lambda v: g_flat(v, args)
        if method == "anderson":
            return anderson(gv, v0, rtol_, atol_, maxiter, memory)
        return iterate(gv, v0, rtol_, atol_, maxiter)

    x, (result, stats) = implicit_solve(lambda v: g_flat(v, args) - v, x0_flat, solver)
    return finalize(x, result, unravel, throw, **stats)
