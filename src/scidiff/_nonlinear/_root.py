"""``scidiff.root``: solve ``F(x, args) = 0`` (Newton, Broyden, bisection)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from ._bisection import bisection
from ._broyden import broyden
from ._common import RootSolution, as_real, check_static, finalize, flatten_function, implicit_solve
from ._newton import newton

__all__ = ["root", "ROOT_METHODS"]

ROOT_METHODS = ("newton", "broyden", "bisection")
_LINEAR = ("lu", "gmres", "bicgstab")


def root(
    F: Callable[[PyTree, Any], PyTree],
    x0: PyTree[Array] | tuple[Any, Any],
    *,
    args: Any = None,
    method: str = "newton",
    rtol: float | Array = 1e-8,
    atol: float | Array = 1e-8,
    maxiter: int = 100,
    linear_method: str = "lu",
    throw: bool = True,
) -> RootSolution:
    r"""Find ``x`` with ``F(x, args) = 0``.

    Methods:

    * ``"newton"``: damped Newton (Armijo backtracking on ``||F||^2/2``), Jacobian by
      ``jax.jacfwd`` and LU, or matrix-free Newton--Krylov with ``linear_method="gmres"``
      or ``"bicgstab"`` (Jacobian-vector products only: large systems).
    * ``"broyden"``: Broyden's rank-one quasi-Newton method, same damping; one Jacobian
      at ``x0``, then one ``F`` per iteration.
    * ``"bisection"``: scalar ``F``, bracket ``x0=(lo, hi)`` with a sign change.

    Convergence: ``max |F(x)| <= atol``, or a full (quasi-)Newton step with
    ``|dx_i| <= atol + rtol |x_i|``; bisection: bracket half-width ``<= atol + rtol |x|``.

    Gradients of the root with respect to ``args`` (everything ``F`` depends on) come from
    the implicit function theorem, ``dx*/dargs = -(∂F/∂x)^{-1} ∂F/∂args`` at the root
    (``lax.custom_root``), never from the iterations; also for bisection.

    Args:
        F: ``F(x, args)``, ``x`` any pytree; the output must be shaped like ``x``.
        x0: initial guess (pytree), or ``(lo, hi)`` for bisection.
        args: any pytree passed to ``F`` (traced: sweeping it does not recompile).
        method: ``"newton"``, ``"broyden"`` or ``"bisection"``.
        rtol, atol: tolerances (traced).
        maxiter: iteration cap (static).
        linear_method: Newton's linear solver: ``"lu"`` (dense), ``"gmres"``, ``"bicgstab"``.
        throw: raise on failure; with ``False`` inspect ``sol.result`` (works under ``vmap``).

    Returns:
        :class:`RootSolution`: ``.x``, ``.result``, ``.ok``, ``.stats`` (``num_iterations``,
        ``num_fevals``: evaluations of ``F``, not counting Jacobian products).

    Raises:
        ValueError: unknown method; ``F(x0, args)`` not shaped like ``x0`` or failing;
            bad ``maxiter``; negative tolerances; bisection with ``x0`` not a pair of
            scalars, non-scalar ``F``, or (when the values are concrete) a bracket without
            a sign change (under ``jit`` this is ``RESULTS.bracket_invalid`` instead).

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.root(lambda x, a: x**2 - a, jnp.array(1.0), args=2.0)
        >>> bool(jnp.isclose(sol.x, jnp.sqrt(2.0)))
        True
    """
    check_static(rtol, atol, maxiter, method, ROOT_METHODS)
    if linear_method not in _LINEAR:
        raise ValueError(f"unknown linear_method {linear_method!r}: choose one of {_LINEAR}.")
    if method == "bisection":
        return _root_bisection(F, x0, args, rtol, atol, maxiter, throw)

    f_flat, x0_flat, unravel = flatten_function(F, x0, args)
    rtol_, atol_ = as_real(rtol, x0_flat.dtype), as_real(atol, x0_flat.dtype)

    def solver(f, v0):
        if method == "newton":
            return newton(f, v0, rtol_, atol_, maxiter, linear_method)
        return broyden(f, v0, rtol_, atol_, maxiter)

    x, (result, stats) = implicit_solve(lambda v: f_flat(v, args), x0_flat, solver)
    return finalize(x, result, unravel, throw, **stats)


def _root_bisection(F, x0, args, rtol, atol, maxiter, throw) -> RootSolution:
    if not (isinstance(x0, (tuple, list)) and len(x0) == 2):
        raise ValueError(
            "method='bisection' needs the bracket as x0=(lo, hi), a pair of scalars; "
            f"got {type(x0).__name__}."
        )
    lo, hi = (jnp.asarray(v) for v in x0)
    if lo.shape != () or hi.shape != ():
        raise ValueError(
            f"method='bisection' is for scalar equations: lo and hi must be scalars, got "
            f"shapes {lo.shape} and {hi.shape}."
        )
    dtype = jnp.result_type(lo, hi, float)
    lo, hi = lo.astype(dtype), hi.astype(dtype)
    out = jax.eval_shape(F, lo, args)
    if out.shape != ():
        raise ValueError(f"method='bisection' needs a scalar F(x, args), got shape {out.shape}.")
    try:  # concrete bracket and args: check the sign change now
        flo, fhi = F(lo, args), F(hi, args)
        same_sign = bool(jnp.sign(flo) * jnp.sign(fhi) > 0)
    except jax.errors.ConcretizationTypeError:
        same_sign = False  # traced: reported as RESULTS.bracket_invalid at run time
    if same_sign:
        raise ValueError(
            f"the bracket (lo, hi) = ({float(lo)}, {float(hi)}) has no sign change: "
            f"F(lo) = {float(flo)} and F(hi) = {float(fhi)} have the same sign. Choose a "
            "bracket whose endpoints give F values of opposite signs."
        )
    rtol_, atol_ = as_real(rtol, dtype), as_real(atol, dtype)

    def solver(f, v0):
        scalar_f = lambda x: f(x[None])[0]
        x, aux = bisection(scalar_f, lo, hi, rtol_, atol_, maxiter)
        return x[None], aux

    guess = (0.5 * (lo + hi))[None]
    x, (result, stats) = implicit_solve(lambda v: F(v[0], args)[None], guess, solver)
    return finalize(x, result, lambda v: v[0], throw, **stats)
