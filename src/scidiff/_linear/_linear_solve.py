"""``scidiff.linear_solve``: one entry point for dense and matrix-free linear systems."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Int, PyTree

from .._results import RESULTS, AbstractSolution, check_tolerances, raise_if_failed
from ._bicgstab import bicgstab
from ._cg import cg
from ._dense import cholesky_solvers, lu_solvers, materialise
from ._gmres import gmres
from ._operator import FlatProblem, flatten_problem

__all__ = ["linear_solve", "LinearSolution", "METHODS"]

METHODS = ("auto", "lu", "cholesky", "cg", "gmres", "bicgstab")
_ASSUME = (None, "general", "symmetric", "spd")


class LinearSolution(AbstractSolution):
    """The result of :func:`linear_solve`.

    Attributes:
        x: the solution, a pytree with the structure of ``b``.
        result: ``RESULTS.successful``, ``RESULTS.nonconvergence`` (iterative methods
            that reached ``maxiter``), ``RESULTS.breakdown`` (a Krylov method broke
            down: singular or, for CG, indefinite operator), ``RESULTS.singular`` (LU)
            or ``RESULTS.not_positive_definite`` (Cholesky).
        stats: ``{"num_iterations", "num_restarts"}`` (int32; zero for direct methods).
            ``num_restarts`` counts GMRES restarts, and for CG/BiCGSTAB the restarts
            after the true residual missed the tolerance that the recursive one met.
        ok: ``result == RESULTS.successful`` (batched under ``vmap``).
    """

    x: PyTree[Array]
    result: RESULTS
    stats: dict[str, Int[Array, ""]]


def _pick_method(method: str, dense: bool, assume: str | None) -> str:
    if method != "auto":
        return method
    if dense:
        return "cholesky" if assume == "spd" else "lu"
    return "cg" if assume == "spd" else "gmres"


def _transposed_precond(prob: FlatProblem) -> Callable[[Array], Array] | None:
    """``M^T`` for the transposed solve: the matrix transpose, ``jax.linear_transpose`` of
    a callable ``M``, or -- if ``M`` is not transposable (not linear to JAX) -- ``M``
    itself, which is still a valid, if weaker, preconditioner for ``A^T``."""
    if prob.precond is None:
        return None
    if prob.M_matrix is not None:
        Mt = prob.M_matrix.T
        return lambda v: jnp.reshape(Mt @ jnp.reshape(v, (-1,)), v.shape)
    example = jax.ShapeDtypeStruct(prob.b.shape, prob.b.dtype)
    try:
        transposed = jax.linear_transpose(prob.precond, example)
        jax.eval_shape(transposed, example)
    except Exception:  # noqa: BLE001 -- any tracing failure means "not transposable"
        return prob.precond
    return lambda v: transposed(v)[0]


def linear_solve(
    A: Array | Callable[[PyTree], PyTree],
    b: PyTree[Array],
    *,
    method: str = "auto",
    M: Array | Callable[[PyTree], PyTree] | None = None,
    x0: PyTree[Array] | None = None,
    rtol: float | Array = 1e-6,
    atol: float | Array = 0.0,
    maxiter: int | None = None,
    restart: int = 20,
    assume: str | None = None,
    throw: bool = True,
) -> LinearSolution:
    r"""Solve the linear system ``A x = b``, differentiably.

    ``A`` is a dense ``(n, n)`` array or a matrix-free linear callable ``x -> A x`` on
    pytrees shaped like ``b``. Iterative methods stop when
    ``||b - A x||_2 <= max(rtol ||b||_2, atol)`` (the 2-norm over all leaves of ``b``).

    Gradients (forward and reverse mode) flow to ``b`` and to everything ``A`` closes
    over by implicit differentiation (``lax.custom_linear_solve``), never through the
    iterations: from ``A x = b``, ``dx = A^{-1}(db - dA x)``; reverse mode solves the
    transposed system ``A^T \bar b = \bar x`` with the same method (the transpose of a
    callable ``A`` comes from ``jax.linear_transpose``) and gives ``\bar A = -\bar b x^T``.

    Args:
        A: dense square matrix, or a linear callable ``x -> A @ x``.
        b: right-hand side; any pytree of arrays for a callable ``A``, a ``(n,)`` array
            for a dense one. Use ``vmap`` for several right-hand sides.
        method: ``"auto"`` (dense -> ``"lu"``, or ``"cholesky"`` with ``assume="spd"``;
            callable -> ``"gmres"``, or ``"cg"`` with ``assume="spd"``), ``"lu"``,
            ``"cholesky"`` (these two materialise a callable ``A``), ``"cg"`` (``A``
            symmetric positive definite), ``"gmres"`` (restarted, any nonsingular ``A``),
            ``"bicgstab"`` (any nonsingular ``A``, short recurrences).
        M: preconditioner approximating ``A^{-1}`` (matrix or callable, as scipy and
            ``jax.scipy``); GMRES and BiCGSTAB apply it on the right, so the stopping
            test always uses the true residual. Ignored by direct methods.
        x0: initial guess (iterative methods), shaped like ``b``. Also used as the first
            guess of the tangent solves of forward-mode derivatives.
        rtol, atol: tolerances of iterative methods (traced: sweeping them does not
            recompile).
        maxiter: iteration cap (static); default ``10 n``. For GMRES it counts inner
            iterations over all restarts.
        restart: GMRES cycle length (Krylov basis size, static), capped at ``n``.
        assume: structural hint, static: ``None``/``"general"``, ``"symmetric"`` (the
            transposed solve reuses ``A``) or ``"spd"`` (symmetric positive definite:
            "auto" picks Cholesky/CG). A wrong hint gives wrong gradients.
        throw: raise (under ``jit`` too) if the solve failed; with ``False`` check
            ``sol.result``/``sol.ok`` instead (also under ``vmap``).

    Returns:
        :class:`LinearSolution` with ``.x``, ``.result``, ``.ok`` and ``.stats``.

    Raises:
        ValueError: unknown ``method``/``assume``; non-square dense ``A``; ``b``, ``x0``,
            ``M`` or ``A(b)`` not matching in structure and shapes; negative tolerances;
            ``maxiter``/``restart`` not a positive integer.
        TypeError: ``A`` neither an array nor a callable.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> A = jnp.array([[4.0, 1.0], [1.0, 3.0]])
        >>> sol = scidiff.linear_solve(A, jnp.array([1.0, 2.0]), method="cg")
        >>> bool(jnp.allclose(A @ sol.x, jnp.array([1.0, 2.0]), atol=1e-5))
        True
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    if assume not in _ASSUME:
        raise ValueError(
            f"unknown assume={assume!r}: choose None, 'general', 'symmetric' or 'spd'."
        )
    for name, value in (("maxiter", maxiter), ("restart", restart)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(
                f"`{name}` must be a positive Python int (it is static), got {value!r}."
            )
    check_tolerances(rtol, atol)

    dense = not (callable(A) and not hasattr(A, "shape"))
    method = _pick_method(method, dense, assume)
    prob = flatten_problem(A, b, M, x0, flatten=method not in ("cg", "bicgstab"))
    symmetric = method in ("cg", "cholesky") or assume in ("symmetric", "spd")
    maxiter = 10 * prob.n if maxiter is None else maxiter

    if method in ("lu", "cholesky"):
        matrix = prob.matrix
        if matrix is None:
            matrix = materialise(prob.matvec, prob.n, prob.b.dtype)
        solve, transpose_solve = (lu_solvers if method == "lu" else cholesky_solvers)(matrix)
    else:

        def run(matvec, rhs, guess, precond):
            if method == "cg":
                return cg(matvec, rhs, guess, precond, rtol, atol, maxiter)
            if method == "bicgstab":
                return bicgstab(matvec, rhs, guess, precond, rtol, atol, maxiter)
            return gmres(matvec, rhs, guess, precond, rtol, atol, maxiter, restart)

        def solve(matvec, rhs):
            x, result, stats = run(matvec, rhs, prob.x0, prob.precond)
            return x, (result, stats)

        def transpose_solve(vecmat, rhs):
            # The adjoint system A^T y = xbar: no warm start, preconditioned by M^T.
            precond_t = prob.precond if symmetric else _transposed_precond(prob)
            x, result, stats = run(vecmat, rhs, None, precond_t)
            return x, (result, stats)

    x_flat, (result, stats) = lax.custom_linear_solve(
        prob.matvec, prob.b, solve, transpose_solve, symmetric=symmetric, has_aux=True
    )
    x = prob.unravel(x_flat)
    x = raise_if_failed(x, result, throw)
    return LinearSolution(x=x, result=result, stats=stats)
