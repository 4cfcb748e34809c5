"""``scidiff.minimize``: unconstrained minimisation built on optax, with argmin gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import lax
from jaxtyping import Array, Int, PyTree, Scalar

from .._nonlinear._common import as_real, flatten_function, implicit_solve, result_from
from .._results import RESULTS, AbstractSolution, check_tolerances, raise_if_failed
from ._bfgs import bfgs

__all__ = ["minimize", "MinimizeSolution"]

_LINESEARCH_STATES = (optax.ScaleByZoomLinesearchState, optax.ScaleByBacktrackingLinesearchState)


class MinimizeSolution(AbstractSolution):
    """The result of :func:`minimize`.

    Attributes:
        x: the minimiser, a pytree shaped like ``x0``.
        fun: ``fun(x, args)`` at the minimiser.
        result: ``RESULTS.successful`` (``max |grad| <= gtol``), ``nonconvergence``
            (``maxiter`` reached), ``line_search_failed`` (no decrease: often ``gtol``
            below what the dtype can resolve) or ``nonfinite``.
        stats: ``{"num_iterations", "num_fevals"}`` (``num_fevals`` counts evaluations of
            ``fun`` and its gradient, line-search trials included).
    """

    x: PyTree[Array]
    fun: Scalar
    result: RESULTS
    stats: dict[str, Int[Array, ""]]


def _linesearch_state(state: Any) -> Any:
    found = [
        s
        for s in jax.tree_util.tree_leaves(
            state, is_leaf=lambda s: isinstance(s, _LINESEARCH_STATES)
        )
        if isinstance(s, _LINESEARCH_STATES)
    ]
    return found[-1] if found else None


def _optimise(
    f: Callable[[Array], Array],
    x0: Array,
    opt: optax.GradientTransformation,
    gtol: Array,
    maxiter: int,
) -> tuple[Array, tuple[RESULTS, dict[str, Array]]]:
    """Run ``opt`` on ``f`` until ``max |grad| <= gtol``; returns ``(x, (result, stats))``."""
    extra_args = isinstance(opt, optax.GradientTransformationExtraArgs)
    state0 = opt.init(x0)
    uses_linesearch = _linesearch_state(state0) is not None
    value0, grad0 = jax.value_and_grad(f)(x0)

    def converged(grad):
        return jnp.max(jnp.abs(grad)) <= gtol

    def cond(s):
        _, _, value, grad, k, _, stalled = s
        finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
        return ~converged(grad) & (k < maxiter) & ~stalled & finite

    def body(s):
        x, state, value, grad, k, nfev, _ = s
        if extra_args:
            updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        else:
            updates, state = opt.update(grad, state, x)
        x_new = optax.apply_updates(x, updates)
        ls = _linesearch_state(state)
        if ls is not None and ls.grad is not None:
            # optax's line search already evaluated f and its gradient at x_new.
            new_value, new_grad = ls.value, ls.grad
            nfev = nfev + ls.info.num_linesearch_steps.astype(jnp.int32)
        else:
            new_value, new_grad = jax.value_and_grad(f)(x_new)
            nfev = nfev + 1
        # A line-search method that cannot decrease f any more has stalled.
        stalled = uses_linesearch & ~(new_value < value) & ~converged(new_grad)
        return x_new, state, new_value, new_grad, k + 1, nfev, stalled

    one = jnp.ones((), jnp.int32)
    init = (x0, state0, value0, grad0, 0 * one, one, jnp.array(False))
    x, _, value, grad, k, nfev, stalled = lax.while_loop(cond, body, init)
    finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
    failure = RESULTS.where(stalled, RESULTS.line_search_failed, RESULTS.nonconvergence)
    result = result_from(converged(grad), failure, finite)
    return x, (result, {"num_iterations": k, "num_fevals": nfev})


def minimize(
    fun: Callable[[PyTree, Any], Scalar],
    x0: PyTree[Array],
    *,
    args: Any = None,
    method: str | optax.GradientTransformation = "lbfgs",
    maxiter: int = 1000,
    gtol: float | Array = 1e-6,
    throw: bool = True,
) -> MinimizeSolution:
    r"""Minimise ``fun(x, args)`` over ``x`` (unconstrained, smooth).

    Methods (all on optax):

    * ``"lbfgs"``: ``optax.lbfgs()`` -- limited-memory BFGS (memory 10) with optax's zoom
      line search (strong Wolfe conditions); gradients recycled from the line search.
    * ``"bfgs"``: dense inverse-Hessian BFGS update (``O(n^2)`` memory) chained with the
      same zoom line search.
    * any ``optax.GradientTransformation`` (e.g. ``optax.adam(1e-2)``): its updates are
      applied as given; transformations that take ``value``/``grad``/``value_fn`` extra
      arguments (line searches) get them.

    Stops when ``max_i |∂fun/∂x_i| <= gtol`` (the infinity norm, as scipy's ``gtol``).

    Gradients of the minimiser with respect to ``args`` come from the implicit function
    theorem on the optimality condition ``∇_x fun(x*, args) = 0``:
    ``dx*/dargs = -(∇²_xx fun)^{-1} ∇²_{x,args} fun`` (Hessian-vector products; dense LU
    up to 400 unknowns, GMRES beyond) -- never through the optimiser's iterations. The
    Hessian at ``x*`` must be nonsingular (a strict local minimum).

    Args:
        fun: scalar objective ``fun(x, args)``; ``x`` any pytree of arrays.
        x0: starting point.
        args: pytree passed to ``fun`` (traced: sweeping it does not recompile).
        method: ``"lbfgs"``, ``"bfgs"`` or an ``optax.GradientTransformation``.
        maxiter: iteration cap (static).
        gtol: gradient tolerance (traced).
        throw: raise on failure; with ``False`` inspect ``sol.result`` (also under vmap).

    Returns:
        :class:`MinimizeSolution` with ``.x``, ``.fun``, ``.result``, ``.ok``, ``.stats``.

    Raises:
        ValueError: unknown method string, non-scalar ``fun``, ``fun`` failing on ``x0``,
            bad ``maxiter``, negative ``gtol``.
        TypeError: ``method`` neither a string nor an optax transformation.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> f = lambda x, c: jnp.sum((x - c) ** 2)
        >>> sol = scidiff.minimize(f, jnp.zeros(3), args=jnp.array([1.0, 2.0, 3.0]))
        >>> bool(jnp.allclose(sol.x, jnp.array([1.0, 2.0, 3.0]), atol=1e-5))
        True
    """
    if isinstance(method, str):
        if method not in ("lbfgs", "bfgs"):
            raise ValueError(
                f"unknown method {method!r}: choose 'lbfgs', 'bfgs' or pass an "
                "optax.GradientTransformation."
            )
    elif not isinstance(method, optax.GradientTransformation):
        raise TypeError(
            "`method` must be 'lbfgs', 'bfgs' or an optax.GradientTransformation, got "
            f"{type(method).__name__}."
        )
    if isinstance(maxiter, bool) or not isinstance(maxiter, int) or maxiter < 1:
        raise ValueError(
            f"`maxiter` must be a positive Python int (it is static), got {maxiter!r}."
        )
    try:
        check_tolerances(gtol, 0.0)
    except ValueError:
        raise ValueError(f"`gtol` must be non-negative, got {gtol!r}.") from None
    f_flat, x0_flat, unravel = flatten_function(fun, x0, args, name="fun", same_structure=False)
    out = jax.eval_shape(fun, x0, args)
    if not (hasattr(out, "shape") and out.shape == ()):
        raise ValueError(
            f"`fun(x, args)` must return a scalar, got {jax.tree_util.tree_map(lambda o: o.shape, out)}."
        )
    if method == "lbfgs":
        opt = optax.lbfgs()
    elif method == "bfgs":
        opt = bfgs()
    else:
        opt = method
    gtol_ = as_real(gtol, x0_flat.dtype)

    def objective(v):
        return f_flat(v, args)[0]

    def solver(_grad, v0):
        return _optimise(objective, v0, opt, gtol_, maxiter)

    x, (result, stats) = implicit_solve(jax.grad(objective), x0_flat, solver)
    value = objective(x)
    x_tree = raise_if_failed(unravel(x), result, throw)
    return MinimizeSolution(x=x_tree, fun=value, result=result, stats=stats)
