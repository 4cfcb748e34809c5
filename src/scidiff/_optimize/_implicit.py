r"""Derivatives of a minimiser by the implicit function theorem, asked for only when the
minimiser is differentiated.

At a strict local minimum ``x*(theta)`` of ``f(x, theta)`` the gradient vanishes,
``∇_x f(x*, theta) = 0``. Differentiating that identity,

.. math::

    H\,\dot x = -B\,\dot\theta, \qquad H = \nabla^2_{xx} f, \quad B = \nabla^2_{x\theta} f,

so a forward-mode tangent costs one solve with the (symmetric) Hessian ``H`` and one
mixed product ``B θ̇``; reverse mode transposes it: ``λ = H^{-1} x̄``, ``θ̄ = -B^T λ``.

:func:`implicit_argmin` wraps the optimiser in a ``jax.custom_jvp`` whose rule does exactly
this, so the primal solve needs first derivatives of ``f`` only -- the optimiser's own
gradient. This matters for objectives whose gradient is not itself linearisable, e.g.
anything containing ``solve_ivp``: its adjoints are ``custom_vjp`` rules whose backward
pass runs a ``while_loop``. JAX can push a tangent *forward* through such a backward pass
(``jax.jvp`` of ``jax.grad``: forward-over-reverse), but cannot transpose that tangent
(``linearize``/``vjp`` of it fails with "Reverse-mode differentiation does not work for
lax.while_loop"). Hence:

* ``H v`` is always a forward-over-reverse product ``jvp(∇_x f)(v)``, and the solve with
  ``H`` is a ``lax.custom_linear_solve`` marked symmetric, whose transpose is the same
  solve: nothing ever transposes ``H v``. Up to ``DENSE_MAX`` unknowns ``H`` is formed
  (``n`` products) and LU-factored from primal values, so a singular Hessian is detected
  and reported as ``RESULTS.singular``; beyond, conjugate gradients (``H`` is symmetric
  positive definite at a strict minimum).
* ``B θ̇`` is the forward-over-reverse product ``jvp_θ(∇_x f)(θ̇)`` when that product can be
  transposed (probed at trace time); otherwise (ODE objectives differentiated in reverse
  mode) ``B`` is formed column by column from the primal values, ``B = jacfwd_θ ∇_x f``,
  and ``B θ̇`` is a plain contraction, transposable always. That costs ``size(θ)``
  Hessian-vector products, so keep the differentiated ``args`` small there.

Because the rule calls the wrapped solve for its primal, higher derivatives
(``jax.hessian``) apply the same rule again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from .._results import RESULTS

__all__ = ["implicit_argmin", "value_and_gradient", "DENSE_MAX"]

# Hessian systems are solved by a dense LU up to this many unknowns, by CG beyond.
DENSE_MAX = 400

# What JAX raises when a transformation is not available for a function (reverse mode
# through a while_loop, forward mode through a custom_vjp, no transpose rule).
_TRACE_ERRORS = (ValueError, TypeError, NotImplementedError)

Aux = TypeVar("Aux", bound=tuple)


def value_and_gradient(f: Callable[[Any], Array], x: Any) -> tuple[Array, Any, bool]:
    """``(f(x), ∇f(x), reverse)``: reverse mode, or forward mode (``jacfwd``) where ``f``
    refuses reverse mode (e.g. ``solve_ivp`` with ``adjoint=ForwardMode()``)."""
    try:
        value, grad = jax.value_and_grad(f)(x)
        return value, grad, True
    except _TRACE_ERRORS:
        return f(x), jax.jacfwd(f)(x), False


def gradient_of(f: Callable[[Any], Array], reverse: bool) -> Callable[[Any], Any]:
    """``∇f`` in the mode :func:`value_and_gradient` found to work."""
    return jax.grad(f) if reverse else jax.jacfwd(f)


def _abstract(tree: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), tree
    )


def _zero_tangent(leaf: Any) -> Any:
    if eqx.is_inexact_array(leaf):
        return jnp.zeros_like(leaf)
    return np.zeros(np.shape(leaf), dtype=jax.dtypes.float0)


def implicit_argmin(
    fn: Callable[[Array, Any], Any],
    x0: Array,
    args: Any,
    solver: Callable[[Callable[[Array], Any], Array, Any], tuple[Array, Aux]],
    hyper: Any = None,
    objective_of: Callable[[Any], Array] = lambda out: out,
) -> tuple[Array, Array, Aux]:
    r"""Minimise ``objective_of(fn(x, args))`` with ``solver(fn(·, args), x0, hyper) ->
    (x*, aux)``; returns ``(x*, objective(x*), aux)``, differentiable in ``args`` (and in
    whatever ``fn`` closes over) by the implicit function theorem.

    ``fn`` is the objective itself (``minimize``) or the residual (``least_squares``,
    ``objective_of = ||r||^2 / 2``). ``aux = (result, ...)`` (status, statistics, history)
    is not differentiated: its tangents are zero; ``hyper`` (tolerances) and ``x0`` get
    zero derivatives. When the minimiser is differentiated and the Hessian at it is
    singular, ``result`` becomes ``RESULTS.singular`` (the caller's ``throw`` raises).
    """
    diff, static = eqx.partition(args, eqx.is_inexact_array)

    def split_fn(v, d):
        return fn(v, eqx.combine(d, static))

    # Hoist closed-over traced values (e.g. a differentiated array the user's function
    # closes over) into explicit inputs: custom_jvp only differentiates its arguments.
    converted, consts = jax.closure_convert(split_fn, x0, diff)
    theta = (diff, tuple(consts))

    def fn_th(v, th):
        # The converted function is a traced program, strict in dtypes: optax may hand
        # the line search a promoted point (e.g. float64 for float32 x0).
        return converted(v.astype(x0.dtype), th[0], *th[1])

    def f(v, th):
        return objective_of(fn_th(v, th))

    @jax.custom_jvp
    def argmin(th, guess, hyp):
        x, aux = solver(lambda v: fn_th(v, th), guess, hyp)
        return x, f(x, th), aux

    @argmin.defjvp  # pyright: ignore[reportArgumentType]  (aux is rebuilt as a tuple)
    def argmin_jvp(primals, tangents):
        th, guess, hyp = primals
        th_dot = tangents[0]
        x, value, (result, *rest) = argmin(th, guess, hyp)
        # d f(x*, θ) = ∇_x f · ẋ + ∇_θ f · θ̇ from first derivatives (no JVP of f, which
        # a reverse-only adjoint inside f refuses); ∇_x f ≈ 0 at the minimiser. One
        # reverse pass over (x, θ) jointly: under an outer forward-mode derivative
        # (jax.hessian = jacfwd of jacrev) x carries a tangent, and a gradient in θ alone
        # would push it forward through a custom_vjp adjoint, which JAX refuses.
        _, (g_x, g_th), reverse = value_and_gradient(lambda z: f(*z), (x, th))
        x_dot, singular = _ift_tangent(f, x, th, th_dot, reverse)
        # The derivative needs a nonsingular Hessian: say so on the primal result.
        result = RESULTS.where(singular & (result == RESULTS.successful), RESULTS.singular, result)
        aux = (result, *rest)
        leaves = zip(jax.tree_util.tree_leaves(g_th), jax.tree_util.tree_leaves(th_dot))
        value_dot = jnp.vdot(g_x, x_dot) + sum(
            (jnp.vdot(a, b) for a, b in leaves), jnp.zeros((), value.dtype)
        )
        tangent_aux = jax.tree_util.tree_map(_zero_tangent, aux)
        return (x, value, aux), (x_dot, value_dot.astype(value.dtype), tangent_aux)

    return argmin(theta, x0, hyper)


def _ift_tangent(
    f: Callable[[Array, PyTree], Array], x: Array, th: PyTree, th_dot: PyTree, reverse: bool
) -> tuple[Array, Array]:
    """``(ẋ, singular)``: ``ẋ = -H^{-1} B θ̇`` at the minimiser ``x`` (see the module
    docstring); ``singular`` (from primal values only) flags a Hessian that cannot be
    solved with, so that the failure can be reported on the primal result."""

    def grad_x(v, t):
        return gradient_of(lambda w: f(w, t), reverse)(v)

    def mixed(v, t, t_dot):
        return jax.jvp(lambda t_: grad_x(v, t_), (t,), (t_dot,))[1]

    def transpose_mixed(v, t, t_dot):
        return jax.linear_transpose(lambda d: mixed(v, t, d), t_dot)(v)

    try:  # traced on shapes only (explicit arguments: no closed-over tracers)
        jax.eval_shape(transpose_mixed, *_abstract((x, th, th_dot)))
        transposable = True
    except _TRACE_ERRORS:
        transposable = False

    def hvp(v):
        return jax.jvp(lambda w: grad_x(w, th), (x,), (v,))[1]

    n = x.shape[0]
    dense = n <= DENSE_MAX
    # H (dense path) and B (when B θ̇ cannot be transposed) are columns of one Jacobian of
    # ∇_x f in (x, θ): a single batch of forward-over-reverse products, from primal
    # values only (one program to trace and compile, not two).
    H = B = None
    if dense and not transposable:
        H, B = jax.jacfwd(grad_x, argnums=(0, 1))(x, th)
    elif dense:
        H = jax.jacfwd(lambda w: grad_x(w, th))(x)
    elif not transposable:
        B = jax.jacfwd(lambda t: grad_x(x, t))(th)
    if transposable:
        rhs = mixed(x, th, th_dot)
    else:
        # B = ∂_θ ∇_x f, one product per entry of θ; B θ̇ is a contraction (transposable).
        contract = jax.tree_util.tree_map(lambda b, d: jnp.tensordot(b, d, axes=d.ndim), B, th_dot)
        rhs = sum(jax.tree_util.tree_leaves(contract), jnp.zeros_like(x))

    eps = jnp.finfo(x.dtype).eps
    if H is not None:
        # H from n forward-over-reverse products, symmetrised, LU-factored once; the
        # status depends on H only (primal values), never on the linear right-hand side.
        H = 0.5 * (H + H.T)
        lu, piv = jax.scipy.linalg.lu_factor(H)
        pivots = jnp.abs(jnp.diag(lu))
        singular = ~jnp.all(jnp.isfinite(lu)) | (jnp.min(pivots) <= n * eps * jnp.max(jnp.abs(H)))

        def dense_solve(_matvec: Callable[[Array], Array], b: Array) -> Array:
            return jax.scipy.linalg.lu_solve((lu, piv), b)

        solve = dense_solve

    else:
        # Matrix-free: H is symmetric positive definite at a strict minimum.
        singular = jnp.array(False)
        tol = 1e-10 if jnp.finfo(x.dtype).bits == 64 else 1e-5

        def cg_solve(matvec: Callable[[Array], Array], b: Array) -> Array:
            return jax.scipy.sparse.linalg.cg(matvec, b, tol=tol, maxiter=10 * n)[0]

        solve = cg_solve

    # symmetric=True: the transposed solve (reverse mode) is the same solve, so H v is
    # never transposed.
    x_dot = jax.lax.custom_linear_solve(hvp, -rhs, solve, symmetric=True)
    return x_dot, singular
