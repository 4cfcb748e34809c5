r"""A linear solve with the implicit differentiation rule, failing loudly in derivatives.

Every differentiated linear solve in scidiff (``linear_solve``, Newton steps of the
implicit ODE solvers, the tangent systems of the implicit function theorem) goes
through :func:`solve_implicit`, a ``lax.custom_linear_solve`` around a solver object:

* forward mode: from ``A x = b``, ``dx = A^{-1} (db - dA x)``: a second solve with the
  same state (factorisation);
* reverse mode: ``\bar b = A^{-T} \bar x`` (the transposed solve, with
  ``solver.transpose``), and ``\bar A = -\bar b x^T`` through the products with ``A``.

The iterations are never differentiated.

Transposes. For a real symmetric (Hermitian) operator the transposed solve reuses
everything. Otherwise JAX needs the transpose of ``v -> A v``; it can be formed for a
matrix and for any callable built of linear JAX operations, but not for an operator
containing a ``lax.while_loop`` (for instance a forward-mode JVP through an ODE solve
or an iterative solver: exactly the tangent map of ``root`` on such a function). There
``lax.custom_linear_solve`` would fail at once, even without any differentiation
("Reverse-mode differentiation does not work for lax.while_loop"). Here instead:
a direct method uses its materialised matrix (transposable), and an iterative one
solves the primal and forward-mode problems normally; a reverse pass (which runs only
if one is asked for) materialises ``A`` by ``n`` forward-mode products and solves with
its transpose, up to ``MATERIALISE_MAX`` unknowns, and beyond that refuses with a
message that says what to do. (Derivatives wrt what such an ``A`` closes over still
need reverse mode through ``A`` itself, which JAX cannot do: use forward mode.)

Failures in derivatives. A backward pass has no result object to carry a status, so a
transposed solve that fails (singular, breakdown, non-convergence) raises an
``equinox`` runtime error naming the cause, instead of returning a wrong gradient. The
same holds in the forward direction for solves that exist only for a derivative
(``forward_context``). A zero right-hand side (the cotangent of an output that does
not matter, e.g. of a rejected ODE step) has the exact solution zero and never fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from .._results import RESULTS
from ._dense import materialise, zero_stats
from ._solver import LU, AbstractLinearSolver, FlatOperator

__all__ = ["solve_implicit", "derivative_solve", "raise_on_failure", "BACKWARD", "MATERIALISE_MAX"]

# Largest non-transposable iterative system whose transposed solve materialises A.
MATERIALISE_MAX = 4096

BACKWARD = "the transposed linear solve in a reverse-mode derivative of linear_solve"

_NOT_TRANSPOSABLE = (
    "reverse-mode differentiation through linear_solve needs the transpose of the operator "
    "`A`, which JAX cannot form for this callable (it is not built of linear JAX operations: "
    "e.g. it contains a lax.while_loop, or a forward-mode JVP through an ODE or iterative "
    f"solve), and the system is too large (> {MATERIALISE_MAX} unknowns) to materialise. Fix: pass assume='symmetric' if A is symmetric, use a direct method "
    "(method='lu' materialises A, whose transpose is known), or use forward mode "
    "(jax.jvp / jax.jacfwd)."
)


def _messages(context: str) -> list[str]:
    msgs = list(RESULTS._index_to_message)
    return [""] + [f"{context} failed: {m}" for m in msgs[1:]]


def raise_on_failure(x: Array, result: RESULTS, rhs: Array, context: str) -> Array:
    """``x`` (exactly zero where ``rhs`` is zero); raise if the solve of a nonzero, finite
    ``rhs`` failed, with a message that starts with ``context``."""
    nonzero = jnp.any(rhs != 0)
    live = nonzero & jnp.all(jnp.isfinite(rhs))
    failed = live & (result != RESULTS.successful)
    index = jnp.where(failed, result._value, 0)
    x = jnp.where(nonzero, x, jnp.zeros_like(x))
    return eqx.branched_error_if(x, index > 0, index, _messages(context))


def _transposable(matvec: Callable[[Array], Array], b: Array) -> bool:
    example = jax.ShapeDtypeStruct(b.shape, b.dtype)
    try:
        jax.eval_shape(jax.linear_transpose(matvec, example), example)
    except Exception:  # noqa: BLE001 -- any tracing failure means "not transposable"
        return False
    return True


def solve_implicit(
    solver: AbstractLinearSolver,
    operator: FlatOperator,
    b: Array,
    *,
    x0: Array | None = None,
    precond: Callable[[Array], Array] | None = None,
    precond_t: Callable[[Array], Array] | None = None,
    symmetric: bool = False,
    state=None,
    forward_context: str | None = None,
    backward_context: str = BACKWARD,
    status_outside: bool = False,
) -> tuple[Array, RESULTS, dict[str, Any]]:
    """Solve ``A x = b`` with ``solver``, differentiable by the implicit rule.

    Args:
        solver: the method.
        operator: ``A``; a direct method materialises it if ``operator.matrix`` is None.
        b: right-hand side (flat, or the one leaf's shape for CG/BiCGSTAB).
        x0: initial guess of the primal solve (iterative methods).
        precond, precond_t: preconditioners for ``A`` and ``A^T``.
        symmetric: ``A`` is symmetric (Hermitian); the transposed solve reuses the state.
        state: ``solver.init(operator)`` if already computed (reused factorisation).
        forward_context: if given, a failed primal/tangent solve raises (a solve that
            exists only for a derivative) with this description.
        backward_context: the description in the error of a failed transposed solve.
        status_outside: take ``(result, stats)`` from a second, non-differentiated
            ``solver.compute`` instead of the auxiliary outputs of
            ``lax.custom_linear_solve``, which ``jax.jacfwd`` wrongly batches (so a
            primal output that depends on the status, e.g. a step rejected on failure,
            would be "batched" and ``jacfwd`` fails). Costs a second solve.

    Returns:
        ``(x, result, stats)`` of the primal solve.
    """
    if solver.needs_matrix and operator.matrix is None:
        operator = operator._replace(matrix=operator.as_matrix())
    if state is None:
        state = solver.init(operator)
    hermitian = symmetric or solver.hermitian
    real = not jnp.issubdtype(operator.dtype, jnp.complexfloating)
    matvec = operator.matvec
    if hermitian and real:
        mode = "symmetric"
    elif _transposable(matvec, b):
        mode = "transpose"
    elif operator.matrix is not None:
        matrix = operator.matrix
        matvec, mode = (lambda v: matrix @ v), "transpose"
    elif operator.n <= MATERIALISE_MAX:
        mode = "materialise"
    else:
        mode = "refuse"

    def solve(_matvec, rhs):
        x, result, stats = solver.compute(state, rhs, x0=x0, precond=precond)
        if forward_context is not None:
            x = raise_on_failure(x, result, rhs, forward_context)
        return x, (result, stats)

    def transpose_solve(vecmat, rhs):
        if mode == "refuse":
            x = eqx.error_if(jnp.zeros_like(rhs), jnp.any(rhs != 0), _NOT_TRANSPOSABLE)
            return x, (RESULTS.successful, zero_stats())
        if mode == "materialise":  # A^T from n forward-mode products, only when run
            shape = rhs.shape

            def flat_matvec(v):
                return jnp.reshape(operator.matvec(jnp.reshape(v, shape)), (-1,))

            matrix_t = materialise(flat_matvec, operator.n, operator.dtype).T
            op_t = FlatOperator(
                lambda v: jnp.reshape(matrix_t @ jnp.reshape(v, (-1,)), v.shape),
                operator.n,
                operator.dtype,
                matrix_t,
            )
            x, result, stats = solver.compute(solver.init(op_t), rhs, precond=precond_t)
            x = raise_on_failure(x, result, rhs, backward_context)
            return x, (result, stats)
        if hermitian:  # A^T y = r  <=>  A conj(y) = conj(r)
            x, result, stats = solver.compute(state, jnp.conj(rhs), precond=precond)
            x = jnp.conj(x)
        else:
            matrix_t = None if operator.matrix is None else operator.matrix.T
            state_t = solver.transpose(
                state, FlatOperator(vecmat, operator.n, operator.dtype, matrix_t)
            )
            x, result, stats = solver.compute(state_t, rhs, precond=precond_t)
        x = raise_on_failure(x, result, rhs, backward_context)
        return x, (result, stats)

    # "materialise"/"refuse": keeps JAX from transposing matvec eagerly (it cannot); our
    # transpose_solve does not use the vecmat it is handed.
    sym = mode in ("symmetric", "materialise", "refuse")
    if status_outside:
        x = lax.custom_linear_solve(
            matvec,
            b,
            lambda mv, rhs: solve(mv, rhs)[0],
            lambda vm, rhs: transpose_solve(vm, rhs)[0],
            symmetric=sym,
        )
        if isinstance(solver, LU):  # the status is in the factors: no second solve
            bad = state.singular | ~jnp.all(jnp.isfinite(x))
            return x, RESULTS.where(bad, RESULTS.singular, RESULTS.successful), zero_stats()
        _, result, stats = solver.compute(state, lax.stop_gradient(b), x0=x0, precond=precond)
        return x, result, stats
    x, (result, stats) = lax.custom_linear_solve(
        matvec, b, solve, transpose_solve, symmetric=sym, has_aux=True
    )
    return x, result, stats


def derivative_solve(
    g: Callable[[Array], Array], rhs: Array, solver: AbstractLinearSolver, context: str
) -> Array:
    """Solve ``g(x) = rhs`` for a linear ``g`` (a tangent system of the implicit function
    theorem); a failure raises in either direction, naming ``context``."""
    op = FlatOperator(g, rhs.size, rhs.dtype)
    x, _, _ = solve_implicit(solver, op, rhs, forward_context=context, backward_context=context)
    return x
