"""``scidiff.linear_solve``: one entry point for dense and matrix-free linear systems."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Int, PyTree, Shaped

from .._results import RESULTS, AbstractSolution, check_tolerances, raise_if_failed
from ._dense import hermitian_defect
from ._differentiable import solve_implicit
from ._operator import FlatProblem, flatten_problem
from ._solver import CG, GMRES, LU, AbstractLinearSolver, BiCGSTAB, Cholesky, FlatOperator

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


def _solver_of(method: str, rtol, atol, maxiter, restart) -> AbstractLinearSolver:
    if method == "lu":
        return LU()
    if method == "cholesky":
        return Cholesky()
    if method == "cg":
        return CG(rtol=rtol, atol=atol, maxiter=maxiter)
    if method == "bicgstab":
        return BiCGSTAB(rtol=rtol, atol=atol, maxiter=maxiter)
    return GMRES(rtol=rtol, atol=atol, maxiter=maxiter, restart=restart)


def _check_nan_tolerances(rtol, atol) -> None:
    for name, tol in (("rtol", rtol), ("atol", atol)):
        try:
            bad = bool(jnp.any(jnp.isnan(jnp.asarray(tol))))
        except jax.errors.ConcretizationTypeError:  # traced: a NaN then never converges
            continue
        if bad:
            raise ValueError(f"`{name}` must be a number, got {tol!r} (NaN).")


def _check_cholesky_symmetric(matrix) -> None:
    """Refuse a concretely non-Hermitian matrix for Cholesky (it reads one triangle only:
    the answer would be the solution of another system). Traced matrices are checked at
    run time (``RESULTS.not_positive_definite``)."""
    try:
        bad = bool(hermitian_defect(matrix))
    except jax.errors.ConcretizationTypeError:
        return
    if bad:
        raise ValueError(
            "method='cholesky' needs a symmetric (Hermitian) positive definite matrix, but "
            "`A` is not symmetric: use method='lu' (or 'gmres'/'bicgstab' for a callable)."
        )


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
    A: Shaped[ArrayLike, "n n"] | Callable[[PyTree], PyTree],
    b: PyTree[Array],
    *,
    method: str | AbstractLinearSolver = "auto",
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
    A transposed solve that fails in a backward pass (where there is no result object)
    raises an error naming the cause. For a callable ``A`` that JAX cannot transpose
    (one containing a ``lax.while_loop``), direct methods use the materialised matrix and
    iterative ones refuse reverse mode with a message (forward mode works).

    Args:
        A: dense square matrix, or a linear callable ``x -> A @ x``.
        b: right-hand side; any pytree of arrays for a callable ``A``, a ``(n,)`` array
            for a dense one. Use ``vmap`` for several right-hand sides.
        method: a solver object (:class:`scidiff.LU`, :class:`scidiff.Cholesky`,
            :class:`scidiff.CG`, :class:`scidiff.GMRES`, :class:`scidiff.BiCGSTAB`, or
            your own :class:`scidiff.AbstractLinearSolver`; it carries its own
            tolerances, so ``rtol``/``atol``/``maxiter``/``restart`` must then be left
            at their defaults), or a name: ``"auto"`` (dense -> ``"lu"``, or ``"cholesky"`` with ``assume="spd"``;
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
            ``M`` or ``A(b)`` not matching in structure and shapes; an empty system;
            negative or NaN tolerances; ``maxiter``/``restart`` not a positive integer;
            ``method="cholesky"`` with a (concrete) non-symmetric matrix; tolerance
            arguments given together with a solver object.
        TypeError: ``A`` neither an array nor a callable.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> A = jnp.array([[4.0, 1.0], [1.0, 3.0]])
        >>> sol = scidiff.linear_solve(A, jnp.array([1.0, 2.0]), method="cg")
        >>> bool(jnp.allclose(A @ sol.x, jnp.array([1.0, 2.0]), atol=1e-5))
        True
    """
    if isinstance(method, AbstractLinearSolver):
        given = [
            name
            for name, value, default in (
                ("rtol", rtol, _DEFAULTS["rtol"]),
                ("atol", atol, _DEFAULTS["atol"]),
                ("maxiter", maxiter, None),
                ("restart", restart, _DEFAULTS["restart"]),
            )
            if value is not default
        ]
        if given:
            raise ValueError(
                f"{', '.join(given)} given together with the solver object "
                f"{type(method).__name__}: set them on the object instead, e.g. "
                "method=scidiff.GMRES(rtol=1e-8)."
            )
    elif not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"unknown method {method!r}: choose one of {', '.join(METHODS)}, or pass a "
            "solver object (an instance of scidiff.AbstractLinearSolver)."
        )
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
    _check_nan_tolerances(rtol, atol)

    dense = not (callable(A) and not hasattr(A, "shape"))
    if isinstance(method, AbstractLinearSolver):
        solver = method
        flatten = solver.needs_matrix or not isinstance(solver, (CG, BiCGSTAB))
    else:
        name = _pick_method(method, dense, assume)
        solver = _solver_of(name, rtol, atol, maxiter, restart)
        flatten = name not in ("cg", "bicgstab")
    prob = flatten_problem(A, b, M, x0, flatten=flatten)
    if isinstance(solver, Cholesky) and prob.matrix is not None:
        _check_cholesky_symmetric(prob.matrix)
    symmetric = solver.hermitian or assume in ("symmetric", "spd")
    operator = FlatOperator(prob.matvec, prob.n, prob.b.dtype, prob.matrix)
    precond_t = prob.precond if symmetric else _transposed_precond(prob)
    x_flat, result, stats = solve_implicit(
        solver,
        operator,
        prob.b,
        x0=prob.x0,
        precond=prob.precond,
        precond_t=precond_t,
        symmetric=symmetric,
    )
    x = prob.unravel(x_flat)
    x = raise_if_failed(x, result, throw)
    stats = {k: jnp.asarray(v, jnp.int32) for k, v in stats.items()}  # NumPy zeros of direct methods
    return LinearSolution(x=x, result=result, stats=stats)


_DEFAULTS = {
    k: v.default
    for k, v in inspect.signature(linear_solve).parameters.items()
    if k in ("rtol", "atol", "restart")
}
