"""Newton's method, the one module for it: damped Newton for ``root`` (with the loop it
shares with Broyden) and the simplified Newton of the implicit ODE stages
(:func:`newton_solve`, in :mod:`._stage_newton`, re-exported here). Both solve their
linear systems with the solver objects of :mod:`scidiff._linear`.

Each iteration computes a direction ``d`` (Newton: ``J(x) d = -F(x)`` with the Jacobian
from ``jax.jacfwd`` and a dense LU, or matrix-free with Jacobian-vector products and a
Krylov solver) and takes the longest step ``x + a d``, ``a = 1, 1/2, 1/4, ...``, that
decreases the merit ``||F||^2 / 2`` sufficiently (Armijo). Far from a root this keeps
Newton from diverging; near a simple root ``a = 1`` is accepted and convergence is
quadratic.

Convergence: ``max_i |F_i(x)| <= atol``, or a (quasi-)Newton step with
``|d_i| <= atol + rtol |x_i|`` for all ``i`` (``rtol`` floored at ``2 eps``) *that also
leaves a small residual*, ``max_i |F_i(x + d)| <= max(atol, sqrt(eps) max_i |F_i(x_0)|)``:
near a root the residual is then at round-off level, where the Armijo test cannot see
progress; a tiny step with a large residual (a steep ``F`` with no root, e.g.
``arctan(1e10 x) + 2``) is no convergence. Failures: ``RESULTS.singular`` (singular
Jacobian), ``RESULTS.line_search_failed`` (no decrease along ``d``: a local minimum of
``||F||`` that is not a root, or a wrong Jacobian), ``RESULTS.nonconvergence``
(``maxiter`` reached), ``RESULTS.nonfinite`` (``F`` returned NaN/Inf).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from .._linear._solver import GMRES, LU, BiCGSTAB, FlatOperator
from .._results import RESULTS
from ._common import backtrack, result_from, step_converged
from ._stage_newton import NewtonInfo, newton_solve

__all__ = ["newton", "quasi_newton_loop", "newton_solve", "NewtonInfo"]

Direction = Callable[[Callable, Array, Array, Any], tuple[Array, Array]]
Update = Callable[[Any, Array, Array, Array, Array], Any]


def quasi_newton_loop(
    f: Callable[[Array], Array],
    x0: Array,
    rtol: Array,
    atol: Array,
    maxiter: int,
    direction: Direction,
    update: Update,
    state0: Any,
    fevals_per_direction: int = 0,
) -> tuple[Array, tuple[RESULTS, dict[str, Array]]]:
    """The damped (quasi-)Newton iteration; ``direction(f, x, fx, state) -> (d, bad)``
    (``bad``: the linear step failed, e.g. singular) and ``update(state, x, fx, x_new,
    f_new) -> state``. Returns ``(x, (result, stats))`` for ``lax.custom_root``."""
    f0 = f(x0)
    conv0 = jnp.max(jnp.abs(f0)) <= atol
    eps = jnp.finfo(f0.dtype).eps
    small_residual = jnp.maximum(atol, jnp.sqrt(eps) * jnp.max(jnp.abs(f0)))
    zero = jnp.zeros((), jnp.int32)
    init = (x0, f0, state0, zero, jnp.ones((), jnp.int32), conv0, RESULTS.nonconvergence)

    def cond(s):
        _, _, _, k, _, done, _ = s
        return ~done & (k < maxiter)

    def body(s):
        x, fx, state, k, nfev, _, failure = s
        d, bad_linear = direction(f, x, fx, state)
        # A full step below tolerance that leaves a small residual ends the iteration
        # (taken as is): at round-off level the Armijo test cannot see progress, and |d|
        # estimates the distance to the root. A tiny step alone is not enough: a steep F
        # without a root also gives tiny Newton steps.
        alpha, xn, fn, nls, good, f_full = backtrack(f, x, fx, d)
        small = (
            ~bad_linear
            & step_converged(d, x + d, rtol, atol)
            & (jnp.max(jnp.abs(f_full)) <= small_residual)
        )
        good = good & ~bad_linear
        converged = small | (good & (jnp.max(jnp.abs(fn)) <= atol))
        state = lax.cond(good, lambda: update(state, x, fx, xn, fn), lambda: state)
        x = jnp.where(small, x + d, jnp.where(good, xn, x))
        fx = jnp.where(small, f_full, jnp.where(good, fn, fx))
        failure = RESULTS.where(
            bad_linear,
            RESULTS.singular,
            RESULTS.where(good | small, RESULTS.nonconvergence, RESULTS.line_search_failed),
        )
        stop = converged | ~(good | small)
        return x, fx, state, k + 1, nfev + nls + fevals_per_direction, stop, failure

    x, fx, _, k, nfev, done, failure = lax.while_loop(cond, body, init)
    converged = jnp.max(jnp.abs(fx)) <= atol
    converged = converged | (done & (failure == RESULTS.nonconvergence))
    result = result_from(converged, failure, jnp.all(jnp.isfinite(fx)))
    return x, (result, {"num_iterations": k, "num_fevals": nfev})


def newton(
    f: Callable[[Array], Array],
    x0: Array,
    rtol: Array,
    atol: Array,
    maxiter: int,
    linear_method: str = "lu",
) -> tuple[Array, tuple[RESULTS, dict[str, Array]]]:
    """Damped Newton on flat vectors. ``linear_method``: ``"lu"`` (dense Jacobian by
    ``jacfwd``, ``n`` JVPs per iteration) or ``"gmres"``/``"bicgstab"`` (matrix-free
    Newton--Krylov, forcing term ``1e-3``)."""

    # The solvers' compute is called directly (not through linear_solve): nothing here is
    # differentiated (custom_root differentiates the solution), and a nested
    # custom_linear_solve would batch its diagnostics under jacfwd's vmap.
    n = x0.shape[0]
    krylov = {"gmres": GMRES, "bicgstab": BiCGSTAB}

    def direction(f, x, fx, state):
        if linear_method == "lu":
            solver = LU()
            op = FlatOperator.from_matrix(jax.jacfwd(f)(x))
        else:  # forcing term 1e-3: Newton corrects the rest
            solver = krylov[linear_method](rtol=1e-3, atol=0.0, maxiter=10 * n)
            op = FlatOperator(lambda v: jax.jvp(f, (x,), (v,))[1], n, x.dtype)
        d, result, _ = solver.compute(solver.init(op), -fx)
        bad = (result == RESULTS.singular) | (result == RESULTS.breakdown)
        return d, bad | ~jnp.all(jnp.isfinite(d))

    return quasi_newton_loop(
        f, x0, rtol, atol, maxiter, direction, lambda s, *_: s, None, fevals_per_direction=0
    )
