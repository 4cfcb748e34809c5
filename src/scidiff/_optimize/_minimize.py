"""``scidiff.minimize``: unconstrained minimisation built on optax, with argmin gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax
from jaxtyping import Array, Float, Int, PyTree, Scalar

from .._nonlinear._common import as_real, flatten_function, result_from
from .._results import RESULTS, AbstractSolution, check_tolerances, raise_if_failed
from ._bfgs import bfgs
from ._implicit import implicit_argmin, value_and_gradient

__all__ = ["minimize", "MinimizeSolution"]

_LINESEARCH_STATES = (optax.ScaleByZoomLinesearchState, optax.ScaleByBacktrackingLinesearchState)


class MinimizeSolution(AbstractSolution):
    """The result of :func:`minimize`.

    Attributes:
        x: the minimiser, a pytree shaped like ``x0``.
        fun: ``fun(x, args)`` at the minimiser.
        result: ``RESULTS.successful`` (``max |grad| <= gtol``, or the ``ftol``/``xtol``
            test), ``nonconvergence`` (``maxiter`` reached), ``line_search_failed`` (no
            decrease: often ``gtol`` below what the dtype can resolve) or ``nonfinite``.
        stats: ``{"num_iterations", "num_fevals"}`` (``num_fevals`` counts evaluations of
            ``fun`` and its gradient, line-search trials included).
        history: ``(maxiter + 1,)`` array, ``history[k] = fun(x_k, args)`` for
            ``k = 0 .. num_iterations`` (``x_0 = x0``), NaN after: the loss curve is
            ``history[: stats["num_iterations"] + 1]``. Not differentiated.
    """

    x: PyTree[Array]
    fun: Scalar
    result: RESULTS
    stats: dict[str, Int[Array, ""]]
    history: Float[Array, " maxiter_plus_1"]


def _linesearch_state(state: Any) -> Any:
    found = [
        s
        for s in jax.tree_util.tree_leaves(
            state, is_leaf=lambda s: isinstance(s, _LINESEARCH_STATES)
        )
        if isinstance(s, _LINESEARCH_STATES)
    ]
    return found[-1] if found else None


class _Tolerances(NamedTuple):
    gtol: Array
    ftol: Array
    xtol: Array


def _optimise(
    f: Callable[[Array], Array],
    x0: Array,
    opt: optax.GradientTransformation,
    tol: _Tolerances,
    maxiter: int,
    callback: Callable[[Array, Array, Array], None] | None = None,
) -> tuple[Array, tuple[RESULTS, dict[str, Array], Array]]:
    """Run ``opt`` on ``f`` until a stopping test holds; returns
    ``(x, (result, stats, history))`` with ``history[k] = f(x_k)`` (NaN past the end)."""
    state0 = opt.init(x0)
    uses_linesearch = _linesearch_state(state0) is not None
    value0, grad0, reverse = value_and_gradient(f, x0)

    def value_and_grad(x):
        if reverse:
            return jax.value_and_grad(f)(x)
        return f(x), jax.jacfwd(f)(x)

    def converged(grad):
        return jnp.max(jnp.abs(grad)) <= tol.gtol

    def cond(s):
        _, _, value, grad, k, _, stalled, small, _ = s
        finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
        return ~converged(grad) & (k < maxiter) & ~stalled & ~small & finite

    def body(s):
        x, state, value, grad, k, nfev, _, _, history = s
        if isinstance(opt, optax.GradientTransformationExtraArgs):
            updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        else:
            updates, state = opt.update(grad, state, x)
        x_new = jnp.asarray(optax.apply_updates(x, updates))
        ls = _linesearch_state(state)
        if ls is not None and ls.grad is not None:
            # optax's line search already evaluated f and its gradient at x_new.
            new_value, new_grad = ls.value, ls.grad
            nfev = nfev + ls.info.num_linesearch_steps.astype(jnp.int32)
        else:
            new_value, new_grad = value_and_grad(x_new)
            nfev = nfev + 1
        # ftol / xtol (off at 0): a relative change of f, or a step, below tolerance.
        scale_f = jnp.maximum(jnp.maximum(jnp.abs(value), jnp.abs(new_value)), 1)
        f_small = (tol.ftol > 0) & (jnp.abs(value - new_value) <= tol.ftol * scale_f)
        x_small = (tol.xtol > 0) & jnp.all(jnp.abs(x_new - x) <= tol.xtol * (1 + jnp.abs(x_new)))
        small = (f_small | x_small) & jnp.isfinite(new_value)
        # A line-search method that cannot decrease f any more has stalled.
        stalled = uses_linesearch & ~(new_value < value) & ~converged(new_grad) & ~small
        history = history.at[k + 1].set(new_value.astype(history.dtype))
        if callback is not None:
            jax.debug.callback(callback, k + 1, x_new, new_value)
        return x_new, state, new_value, new_grad, k + 1, nfev, stalled, small, history

    one = jnp.ones((), jnp.int32)
    real = jnp.finfo(x0.dtype).dtype
    history0 = jnp.full((maxiter + 1,), jnp.nan, real).at[0].set(value0.astype(real))
    no = jnp.array(False)
    init = (x0, state0, value0, grad0, 0 * one, one, no, no, history0)
    x, _, value, grad, k, nfev, stalled, small, history = lax.while_loop(cond, body, init)
    finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
    failure = RESULTS.where(stalled, RESULTS.line_search_failed, RESULTS.nonconvergence)
    result = result_from(converged(grad) | small, failure, finite)
    return x, (result, {"num_iterations": k, "num_fevals": nfev}, history)


def minimize(
    fun: Callable[[PyTree, Any], Scalar],
    x0: PyTree[Array],
    *,
    args: Any = None,
    method: str | optax.GradientTransformation = "lbfgs",
    maxiter: int = 1000,
    gtol: float | Array = 1e-6,
    ftol: float | Array = 0.0,
    xtol: float | Array = 0.0,
    callback: Callable[[Array, PyTree, Array], Any] | None = None,
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

    Stops with success when ``max_i |∂fun/∂x_i| <= gtol`` (the infinity norm, as scipy's
    ``gtol``), or -- when enabled (``> 0``) -- when an iteration changes ``fun`` by
    ``|f_k - f_{k+1}| <= ftol · max(|f_k|, |f_{k+1}|, 1)`` (scipy's L-BFGS-B ``ftol``) or
    moves ``x`` by ``|x_{k+1,i} - x_{k,i}| <= xtol · (1 + |x_{k+1,i}|)`` for all ``i``.

    The objective only needs first derivatives: ``fun`` may contain ``solve_ivp`` (any
    solver; the default adjoint ``RecursiveCheckpoint()`` or ``Backsolve()`` for
    reverse-mode gradients, ``ForwardMode()`` with a first-order optax method, the
    gradient then coming from forward mode).

    Gradients of the minimiser with respect to ``args`` come from the implicit function
    theorem on the optimality condition ``∇_x fun(x*, args) = 0``:
    ``dx*/dargs = -(∇²_xx fun)^{-1} ∇²_{x,args} fun``, worked out only when the result is
    differentiated, never through the optimiser's iterations. The Hessian products are
    forward-over-reverse (``jax.jvp`` of the gradient), which ``solve_ivp``'s adjoints
    support; dense LU up to 400 unknowns, conjugate gradients beyond. ``jax.jvp``/
    ``jax.jacfwd``, ``jax.grad`` and ``jax.hessian`` (``jacfwd`` of ``jacrev``: the rule
    applied to itself, third derivatives of ``fun`` by forward-over-reverse) of the
    minimiser all work, also through a ``solve_ivp`` objective with ``RecursiveCheckpoint``
    or ``Backsolve`` (there reverse mode forms ``∇²_{x,args} fun`` column by column:
    ``size(args)`` Hessian-vector products; see :class:`RecursiveCheckpoint` for which
    higher derivatives a solve allows). The Hessian at ``x*`` must be nonsingular (a
    strict local minimum).

    Args:
        fun: scalar objective ``fun(x, args)``; ``x`` any pytree of arrays.
        x0: starting point.
        args: pytree passed to ``fun`` (traced: sweeping it does not recompile).
        method: ``"lbfgs"``, ``"bfgs"`` or an ``optax.GradientTransformation``.
        maxiter: iteration cap (static).
        gtol: gradient tolerance (traced).
        ftol: relative tolerance on the change of ``fun`` per iteration; ``0`` (the
            default) disables the test (traced).
        xtol: tolerance on the step, relative to ``1 + |x|``; ``0`` disables it (traced).
        callback: ``callback(k, x, value)`` called on the host after iteration ``k``
            (``k = 1, 2, ...``; ``x`` shaped like ``x0``), also under ``jit`` (through
            ``jax.debug.callback``); its return value is ignored. For a record that
            stays on the device use ``sol.history``.
        throw: raise on failure; with ``False`` inspect ``sol.result`` (also under vmap).

    Returns:
        :class:`MinimizeSolution` with ``.x``, ``.fun``, ``.result``, ``.ok``, ``.stats``
        and ``.history`` (the loss at every iterate).

    Raises:
        ValueError: unknown method string, non-scalar ``fun``, ``fun`` failing on ``x0``,
            bad ``maxiter``, negative ``gtol``/``ftol``/``xtol``, ``callback`` not callable.
        TypeError: ``method`` neither a string nor an optax transformation.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> f = lambda x, c: jnp.sum((x - c) ** 2)
        >>> sol = scidiff.minimize(f, jnp.zeros(3), args=jnp.array([1.0, 2.0, 3.0]))
        >>> bool(jnp.allclose(sol.x, jnp.array([1.0, 2.0, 3.0]), atol=1e-5))
        True
        >>> losses = sol.history[: int(sol.stats["num_iterations"]) + 1]
        >>> bool(losses[0] == 14.0) and bool(losses[-1] < 1e-10)
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
    for name, value in (("gtol", gtol), ("ftol", ftol), ("xtol", xtol)):
        try:
            check_tolerances(value, 0.0)
        except ValueError:
            raise ValueError(f"`{name}` must be non-negative, got {value!r}.") from None
    if callback is not None and not callable(callback):
        raise ValueError(
            f"`callback` must be a function callback(k, x, value) or None, got "
            f"{type(callback).__name__}."
        )
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
    real = jnp.finfo(x0_flat.dtype).dtype
    tol = _Tolerances(*(lax.stop_gradient(as_real(t, real)) for t in (gtol, ftol, xtol)))

    host_callback: Callable[[Array, Array, Array], None] | None = None
    if callback is not None:
        user_callback = callback

        def call_user(k: Array, v: Array, value: Array) -> None:
            user_callback(k, unravel(v), value)

        host_callback = call_user

    def objective(v, a):
        return f_flat(v, a)[0]

    def solver(f, v0, hyper):
        return _optimise(f, v0, opt, hyper, maxiter, host_callback)

    x, value, (result, stats, history) = implicit_argmin(objective, x0_flat, args, solver, tol)
    x_tree = raise_if_failed(unravel(x), result, throw)
    return MinimizeSolution(x=x_tree, fun=value, result=result, stats=stats, history=history)
