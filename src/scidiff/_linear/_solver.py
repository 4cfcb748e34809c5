"""Linear-solver objects: one interface for every way scidiff solves ``A x = b``.

:func:`scidiff.linear_solve`, Newton's method in :func:`scidiff.root`, the implicit
function theorem behind every derivative of a solve, and the implicit ODE solvers
(ESDIRK, BDF, Rosenbrock) all solve their linear systems through these objects, so a
user-written solver (a subclass of :class:`AbstractLinearSolver`) plugs into all of them.

A solver sees a :class:`FlatOperator` -- ``A`` as a linear map on flat vectors, with its
dense matrix when one is at hand -- and works in two phases, as lineax does:

* ``state = solver.init(operator)``: the work that depends on ``A`` only (an LU
  factorisation; nothing for a Krylov method), done once and reused for every
  right-hand side (Newton iterations, the stages of a step, the transposed solve);
* ``x, result, stats = solver.compute(state, b, x0=..., precond=...)``: one solve.
  ``result`` is a :class:`scidiff.RESULTS` value (never an exception: this runs under
  ``jit``) and ``stats`` a dict of int32 arrays (``num_iterations``, ``num_restarts``).

``solver.transpose(state, operator_t)`` gives the state for ``A^T`` (reverse-mode
derivatives need it): a factorisation is reused, a Krylov method starts over on
``operator_t``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
from jaxtyping import Array

from .._results import RESULTS
from ._bicgstab import bicgstab
from ._cg import cg
from ._dense import cholesky_compute, cholesky_factor, lu_compute, lu_factor, materialise
from ._gmres import gmres

__all__ = ["FlatOperator", "AbstractLinearSolver", "LU", "Cholesky", "CG", "GMRES", "BiCGSTAB"]


class FlatOperator(NamedTuple):
    """A square linear operator on flat vectors of length ``n``.

    Attributes:
        matvec: ``v -> A v`` for ``v`` of shape ``(n,)`` (CG and BiCGSTAB also accept
            the shape of a single-leaf right-hand side).
        n: the number of unknowns.
        dtype: the dtype of the solve.
        matrix: the dense ``(n, n)`` matrix when it is known, else ``None``.
    """

    matvec: Callable[[Array], Array]
    n: int
    dtype: Any
    matrix: Array | None = None

    def as_matrix(self) -> Array:
        """The dense matrix (materialised by ``n`` products with ``A`` if not known)."""
        if self.matrix is not None:
            return self.matrix
        return materialise(self.matvec, self.n, self.dtype)

    @staticmethod
    def from_matrix(matrix: Array) -> FlatOperator:
        """The operator ``v -> matrix @ v``."""
        return FlatOperator(lambda v: matrix @ v, matrix.shape[0], matrix.dtype, matrix)


class AbstractLinearSolver(eqx.Module):
    """Base of every linear solver: ``init`` (factorise) then ``compute`` (solve).

    Subclass it to plug your own method into :func:`scidiff.linear_solve` (as
    ``method=``), :func:`scidiff.root` or an implicit ODE solver (as
    ``linear_solver=``); see the module docstring for the two phases. Class variables:

    * ``needs_matrix``: the method works on the dense matrix (``operator.matrix`` is
      then always set: a matrix-free ``A`` is materialised first);
    * ``hermitian``: the method assumes ``A = A^H`` (Cholesky, CG); the transposed
      solve then reuses the state (``A^T y = r`` is ``A conj(y) = conj(r)``).

    Banded and sparse solvers fit the same interface: ``init`` takes what it needs from
    the operator (a future ``FlatOperator`` may carry a band or a sparsity pattern).

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> class Jacobi(scidiff.AbstractLinearSolver):  # one sweep: exact for diagonal A
        ...     needs_matrix = True
        ...     def init(self, operator):
        ...         return jnp.diagonal(operator.matrix)
        ...     def compute(self, state, b, *, x0=None, precond=None):
        ...         zero = jnp.zeros((), jnp.int32)
        ...         stats = {"num_iterations": zero, "num_restarts": zero}
        ...         return b / state, scidiff.RESULTS.successful, stats
        >>> sol = scidiff.linear_solve(jnp.diag(jnp.array([2.0, 4.0])), jnp.ones(2),
        ...                            method=Jacobi())
        >>> sol.x.tolist()
        [0.5, 0.25]
    """

    needs_matrix: ClassVar[bool] = False
    hermitian: ClassVar[bool] = False

    @abc.abstractmethod
    def init(self, operator: FlatOperator) -> Any:
        """The state (factorisation) for solves with ``operator``; a pytree or any object
        that :meth:`compute` understands."""

    @abc.abstractmethod
    def compute(
        self,
        state: Any,
        b: Array,
        *,
        x0: Array | None = None,
        precond: Callable[[Array], Array] | None = None,
    ) -> tuple[Array, RESULTS, dict[str, Array]]:
        """Solve ``A x = b``; returns ``(x, result, stats)``. ``x0`` (initial guess) and
        ``precond`` (``v -> M v`` with ``M ~ A^{-1}``) may be ignored by direct methods."""

    def transpose(self, state: Any, operator_t: FlatOperator) -> Any:
        """The state for solves with ``A^T`` (``operator_t``); by default a fresh
        :meth:`init`."""
        return self.init(operator_t)


def _check_iterations(name: str, maxiter: Any, restart: Any = 1) -> None:
    for what, value in (("maxiter", maxiter), ("restart", restart)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(
                f"{name}(`{what}`) must be a positive Python int (it is static), got {value!r}."
            )


class _LUState(eqx.Module):
    lu: Array
    piv: Array
    singular: Array
    trans: int = eqx.field(static=True, default=0)


class LU(AbstractLinearSolver):
    """Dense LU with partial pivoting (``jax.scipy.linalg.lu_factor``), any nonsingular A.

    ``RESULTS.singular`` when ``min |u_ii| <= eps max |u_ii|``. The transposed solve
    reuses the factors (``lu_solve(..., trans=1)``).

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.linear_solve(jnp.array([[2.0, 1.0], [0.0, 1.0]]),
        ...                            jnp.array([3.0, 1.0]), method=scidiff.LU())
        >>> sol.x.tolist()
        [1.0, 1.0]
    """

    needs_matrix: ClassVar[bool] = True

    def init(self, operator):
        return _LUState(*lu_factor(operator.as_matrix()))

    def compute(self, state, b, *, x0=None, precond=None):
        del x0, precond
        return lu_compute(state.lu, state.piv, state.singular, b, state.trans)

    def transpose(self, state, operator_t):
        del operator_t
        return _LUState(state.lu, state.piv, state.singular, 1 - state.trans)


class Cholesky(AbstractLinearSolver):
    """Dense Cholesky ``A = L L^H`` for Hermitian positive definite ``A``.

    ``RESULTS.not_positive_definite`` when the factorisation fails or ``A`` is not
    Hermitian to working precision (Cholesky reads one triangle only).

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.linear_solve(jnp.array([[4.0, 2.0], [2.0, 3.0]]),
        ...                            jnp.array([6.0, 5.0]), method=scidiff.Cholesky())
        >>> [round(v, 6) for v in sol.x.tolist()]
        [1.0, 1.0]
    """

    needs_matrix: ClassVar[bool] = True
    hermitian: ClassVar[bool] = True

    def init(self, operator):
        return cholesky_factor(operator.as_matrix())

    def compute(self, state, b, *, x0=None, precond=None):
        del x0, precond
        factor, bad = state
        return cholesky_compute(factor, bad, b)


class _Krylov(AbstractLinearSolver):
    """Shared fields of the Krylov methods (stopping rule ``||b - A x|| <= max(rtol
    ||b||, atol)``; ``maxiter`` ``None`` means ``10 n``)."""

    rtol: float | Array = 1e-6
    atol: float | Array = 0.0
    maxiter: int | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        _check_iterations(type(self).__name__, self.maxiter)

    def init(self, operator):
        return operator

    def _maxiter(self, operator: FlatOperator) -> int:
        return 10 * operator.n if self.maxiter is None else self.maxiter


class CG(_Krylov):
    """Preconditioned conjugate gradients, for Hermitian positive definite ``A``.

    Args:
        rtol, atol: stop when ``||b - A x||_2 <= max(rtol ||b||_2, atol)`` (traced).
        maxiter: iteration cap (static); ``None`` means ``10 n``.

    ``RESULTS.breakdown`` when ``<p, A p> <= 0`` (``A`` or the preconditioner is not
    positive definite), ``RESULTS.nonconvergence`` at ``maxiter``.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> A = jnp.array([[4.0, 1.0], [1.0, 3.0]])
        >>> sol = scidiff.linear_solve(A, jnp.ones(2), method=scidiff.CG(rtol=1e-10))
        >>> bool(jnp.allclose(A @ sol.x, 1.0))
        True
    """

    hermitian: ClassVar[bool] = True

    def compute(self, state, b, *, x0=None, precond=None):
        return cg(state.matvec, b, x0, precond, self.rtol, self.atol, self._maxiter(state))


class GMRES(_Krylov):
    """Restarted GMRES(m) with right preconditioning, for any nonsingular ``A``.

    Args:
        rtol, atol: stop when ``||b - A x||_2 <= max(rtol ||b||_2, atol)`` (traced).
        maxiter: cap on inner (Arnoldi) iterations over all cycles (static); ``None``
            means ``10 n``.
        restart: the cycle length ``m`` (static), capped at ``n``.

    ``RESULTS.breakdown`` when ``A M`` is singular on the Krylov space,
    ``RESULTS.nonconvergence`` at ``maxiter``.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> A = jnp.array([[3.0, 1.0], [-1.0, 2.0]])
        >>> sol = scidiff.linear_solve(A, jnp.ones(2), method=scidiff.GMRES(rtol=1e-10))
        >>> bool(jnp.allclose(A @ sol.x, 1.0))
        True
    """

    restart: int = eqx.field(default=20, static=True)

    def __check_init__(self):
        _check_iterations("GMRES", self.maxiter, self.restart)

    def compute(self, state, b, *, x0=None, precond=None):
        maxiter = self._maxiter(state)
        return gmres(state.matvec, b, x0, precond, self.rtol, self.atol, maxiter, self.restart)


class BiCGSTAB(_Krylov):
    """BiCGSTAB with right preconditioning, for any nonsingular ``A`` (short recurrences).

    Args:
        rtol, atol: stop when ``||b - A x||_2 <= max(rtol ||b||_2, atol)`` (traced).
        maxiter: iteration cap (static); ``None`` means ``10 n``.

    ``RESULTS.breakdown`` on a zero inner product, ``RESULTS.nonconvergence`` at
    ``maxiter``.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> A = jnp.array([[3.0, 1.0], [-1.0, 2.0]])
        >>> sol = scidiff.linear_solve(A, jnp.ones(2), method=scidiff.BiCGSTAB(rtol=1e-10))
        >>> bool(jnp.allclose(A @ sol.x, 1.0))
        True
    """

    def compute(self, state, b, *, x0=None, precond=None):
        return bicgstab(state.matvec, b, x0, precond, self.rtol, self.atol, self._maxiter(state))
