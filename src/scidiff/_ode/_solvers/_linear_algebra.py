r"""The iteration matrix of the implicit solvers: which Jacobian, and which linear solver.

Every implicit method of scidiff (ESDIRK, Rosenbrock, BDF) needs solutions of

.. math::  W x = b, \qquad W = M - c\,J, \qquad J = \partial f/\partial y\,(t_J, y_J),

with ``c`` a multiple of the step size and ``M = I`` (a mass matrix ``M`` is accepted
by :meth:`AbstractIterationMatrix.factorise` for the differential-algebraic solvers to
come). An *iteration-matrix strategy* decides how ``J`` is obtained and hands ``W`` to
a linear-solver object of :mod:`scidiff._linear` (the same objects as
:func:`scidiff.linear_solve`):

* :class:`DenseJacobian` (``linear_solver=LU()`` by default, i.e. :class:`DenseLU`):
  ``J`` is materialised with ``jax.jacfwd`` (``n`` Jacobian--vector products, batched)
  and ``W`` is factorised once per step and reused for every Newton iteration and stage.
  ``O(n^3)`` per factorisation, ``O(n^2)`` memory: right for up to a few thousand
  unknowns.
* :class:`MatrixFreeJacobian` (``linear_solver=GMRES(...)``; :class:`NewtonKrylov` is
  its classic spelling): nothing is materialised; ``J v`` is a ``jax.linearize``
  Jacobian--vector product at the linearisation point, and ``W`` is solved by a Krylov
  method (optionally preconditioned). ``O(n)`` memory: method-of-lines PDEs.

A solver's ``linear_solver`` field also takes a bare linear-solver object (one of
scidiff's or a subclass of :class:`scidiff.AbstractLinearSolver`): it gets a dense
Jacobian if it ``needs_matrix``, else Jacobian--vector products.

Every solve reports its status: a failed solve inside a step (singular ``W``, Krylov
breakdown or non-convergence) rejects the step with that result (the step is retried
smaller; if the step size underflows, the solve ends with that result). The solves of
derivatives (tangent and transposed) raise an error naming the cause, since a backward
pass has no result object.

The solvers work on flat real vectors (``jax.flatten_util.ravel_pytree``; a complex leaf
as its real and imaginary parts, see :mod:`._flat_state`); these objects see
``fn(t, y, args) -> dy/dt`` on flat ``y``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from ..._linear._differentiable import derivative_solve, solve_implicit
from ..._linear._solver import GMRES, LU, AbstractLinearSolver, FlatOperator
from ..._results import RESULTS

__all__ = [
    "AbstractIterationMatrix",
    "DenseJacobian",
    "MatrixFreeJacobian",
    "DenseLU",
    "NewtonKrylov",
    "IterationMatrix",
    "as_iteration_matrix",
    "check_linear_solver",
]

FlatField = Callable[[Array, Array, Any], Array]

_TANGENT = (
    "the linear solve in a derivative (tangent or reverse-mode pass) of an implicit ODE "
    "stage, with the exact iteration matrix M - c df/dy at the stage solution"
)
_BACKWARD = (
    "the transposed linear solve in the reverse-mode pass of an implicit ODE step "
    "(with the iteration matrix M - c df/dy)"
)


class IterationMatrix(eqx.Module):
    """``W = M - cJ`` ready for solves within one step (short-lived, never carried)."""

    solver: AbstractLinearSolver
    operator: FlatOperator
    state: Any
    precond: Callable[[Array], Array] | None = None

    def solve(self, b: Array) -> tuple[Array, RESULTS]:
        """``(W^{-1} b, result)``, not differentiated (Newton iterations)."""
        x, result, _ = self.solver.compute(self.state, b, precond=self.precond)
        return x, result

    def solve_differentiable(self, b: Array) -> tuple[Array, RESULTS]:
        """``(W^{-1} b, result)`` with the implicit rule (Rosenbrock stages, where the
        solve is part of the formula); a failed transposed solve raises."""
        x, result, _ = solve_implicit(
            self.solver,
            self.operator,
            b,
            precond=self.precond,
            state=self.state,
            backward_context=_BACKWARD,
            status_outside=True,
        )
        return x, result


def _operator(matvec, n: int, dtype, mass: Array | None, c: Array, jac: Array | None):
    """``W = M - cJ`` as a flat operator (dense when ``jac`` is a matrix)."""
    if jac is not None:
        m = jnp.eye(n, dtype=dtype) if mass is None else jnp.asarray(mass, dtype)
        return FlatOperator.from_matrix(m - c * jac)
    if mass is None:
        return FlatOperator(lambda v: v - c * matvec(v), n, dtype)
    m = jnp.asarray(mass, dtype)
    return FlatOperator(lambda v: m @ v - c * matvec(v), n, dtype)


class AbstractIterationMatrix(eqx.Module):
    """Strategy for ``W = M - cJ`` inside an implicit step: the Jacobian and the solver.

    ``linearise`` returns arrays (carried in the solver state between steps, so a
    Jacobian can be reused); ``factorise`` turns them into an :class:`IterationMatrix`
    used within one step; ``tangent_solve`` solves the exact tangent systems of the
    implicit function theorem.
    """

    @abc.abstractmethod
    def linear_solver_for(self, n: int) -> AbstractLinearSolver:
        """The linear-solver object used for ``W`` (and for the tangent systems)."""

    @abc.abstractmethod
    def linearise(self, fn: FlatField, t: Array, y: Array, args: Any) -> PyTree:
        """The linearisation of ``fn`` at ``(t, y)`` that will be carried in the state."""

    @abc.abstractmethod
    def factorise(
        self, fn: FlatField, args: Any, jac: PyTree, c: Array, mass: Array | None = None
    ) -> IterationMatrix:
        """Prepare solves with ``M - c J`` (``J`` from :meth:`linearise`; ``M = I`` when
        ``mass`` is None)."""

    def tangent_solve(self, g: Callable[[Array], Array], b: Array) -> Array:
        """Solve ``g(x) = b`` for a *linear* ``g`` (the tangent system of a Newton
        solve); raises, naming the cause, if the solve fails."""
        return derivative_solve(g, b, self.linear_solver_for(b.size), _TANGENT)

    def jacobian_cost(self, n: int) -> int:
        """Evaluations of ``f`` (or JVPs) one :meth:`linearise` costs, for ``num_fevals``."""
        del n
        return 1


class DenseJacobian(AbstractIterationMatrix):
    """Dense Jacobian (``jax.jacfwd``) and a direct solver on ``W = M - cJ``.

    Arguments:
        linear_solver: any :class:`scidiff.AbstractLinearSolver` (default
            :class:`scidiff.LU`); it is given the dense matrix ``W``.

    Example:
        >>> import scidiff
        >>> solver = scidiff.Kvaerno5(linear_solver=scidiff.DenseJacobian(scidiff.LU()))
    """

    linear_solver: AbstractLinearSolver = LU()

    def linear_solver_for(self, n):
        del n
        return self.linear_solver

    def linearise(self, fn, t, y, args):
        return jax.jacfwd(lambda x: fn(t, x, args))(y)

    def jacobian_cost(self, n):
        return n

    def factorise(self, fn, args, jac, c, mass=None):
        del fn, args
        n = jac.shape[0]
        op = _operator(None, n, jac.dtype, mass, c, jac)
        solver = self.linear_solver
        return IterationMatrix(solver, op, solver.init(op))


class DenseLU(DenseJacobian):
    """Dense Jacobian (``jax.jacfwd``) and LU factorisation of ``I - cJ`` (the default).

    The same as ``DenseJacobian(scidiff.LU())``.

    Example:
        >>> import scidiff
        >>> solver = scidiff.Kvaerno5(linear_solver=scidiff.DenseLU())
    """


class _MatrixFree(AbstractIterationMatrix):
    """Shared by the matrix-free strategies: ``J v`` by ``jax.linearize``."""

    @abc.abstractmethod
    def preconditioner_at(self, t, y, args, c) -> Callable[[Array], Array] | None:
        """``v -> P v`` at the linearisation point, or ``None``."""

    def linearise(self, fn, t, y, args):
        del fn, args
        return (t, y)

    def factorise(self, fn, args, jac, c, mass=None):
        t_j, y_j = jac
        _, jvp = jax.linearize(lambda x: fn(t_j, x, args), y_j)
        op = _operator(jvp, y_j.shape[0], y_j.dtype, mass, c, None)
        precond = self.preconditioner_at(t_j, y_j, args, c)
        solver = self.linear_solver_for(y_j.shape[0])
        return IterationMatrix(solver, op, solver.init(op), precond)


def _preconditioner_at(preconditioner, t, y, args, c):
    return None if preconditioner is None else preconditioner(t, y, args, c)


def _check_preconditioner(name: str, preconditioner: Any) -> None:
    if preconditioner is not None and not callable(preconditioner):
        raise TypeError(
            f"{name}(preconditioner=...) must be None or a callable (t, y, args, c) -> (v -> P v)."
        )


class MatrixFreeJacobian(_MatrixFree):
    """Jacobian--vector products and a Krylov solver on ``W = M - cJ``; nothing dense.

    The Jacobian is never formed; ``J v`` is ``jax.linearize(f)`` at the linearisation
    point (reused across Newton iterations and stages, and across steps while the Newton
    iteration keeps converging fast).

    Arguments:
        linear_solver: any :class:`scidiff.AbstractLinearSolver` that works with
            products only (default ``scidiff.GMRES(rtol=1e-8, maxiter=200)``).
        preconditioner: ``None`` or ``preconditioner(t, y, args, c) -> (v -> P v)`` with
            ``P ~= (I - cJ)^{-1}`` (e.g. a diagonal or a fast Poisson solve); called once
            per step at the linearisation point.

    Example:
        >>> import scidiff
        >>> strategy = scidiff.MatrixFreeJacobian(scidiff.BiCGSTAB(rtol=1e-8))
        >>> solver = scidiff.Kvaerno5(linear_solver=strategy)
    """

    linear_solver: AbstractLinearSolver = GMRES(rtol=1e-8, maxiter=200)
    preconditioner: Callable[..., Callable[[Array], Array]] | None = None

    def __check_init__(self):
        _check_preconditioner("MatrixFreeJacobian", self.preconditioner)

    def preconditioner_at(self, t, y, args, c):
        return _preconditioner_at(self.preconditioner, t, y, args, c)

    def linear_solver_for(self, n):
        del n
        return self.linear_solver


class NewtonKrylov(_MatrixFree):
    """Matrix-free: Jacobian--vector products and restarted GMRES on ``I - cJ``.

    The same as ``MatrixFreeJacobian(scidiff.GMRES(rtol=rtol, restart=restart,
    maxiter=maxiter * restart), preconditioner)``: scidiff's own GMRES, whose status is
    reported (a failed solve rejects the step; in a derivative it raises).

    Arguments:
        preconditioner: ``None`` or ``preconditioner(t, y, args, c) -> (v -> P v)`` with
            ``P ~= (I - cJ)^{-1}`` (e.g. a diagonal or a fast Poisson solve); called once
            per step at the linearisation point.
        rtol: relative residual tolerance of GMRES (Newton corrects the rest).
        restart: Krylov subspace dimension between restarts.
        maxiter: maximum number of restart cycles.

    Example:
        >>> import scidiff
        >>> solver = scidiff.Kvaerno5(linear_solver=scidiff.NewtonKrylov(rtol=1e-8))
    """

    preconditioner: Callable[..., Callable[[Array], Array]] | None = None
    rtol: float = 1e-8
    restart: int = eqx.field(default=20, static=True)
    maxiter: int = eqx.field(default=10, static=True)

    def __check_init__(self):
        if self.restart < 1 or self.maxiter < 1:
            raise ValueError(
                f"NewtonKrylov needs restart >= 1 and maxiter >= 1, got restart={self.restart}, "
                f"maxiter={self.maxiter}."
            )
        _check_preconditioner("NewtonKrylov", self.preconditioner)

    def preconditioner_at(self, t, y, args, c):
        return _preconditioner_at(self.preconditioner, t, y, args, c)

    def linear_solver_for(self, n):
        del n
        return GMRES(
            rtol=self.rtol, atol=0.0, restart=self.restart, maxiter=self.maxiter * self.restart
        )


def as_iteration_matrix(obj: Any) -> AbstractIterationMatrix:
    """The strategy for a solver's ``linear_solver`` field: a strategy as is, a bare
    linear-solver object with a dense Jacobian (``needs_matrix``) or with JVPs."""
    if isinstance(obj, AbstractIterationMatrix):
        return obj
    if obj.needs_matrix:
        return DenseJacobian(obj)
    return MatrixFreeJacobian(obj)


def check_linear_solver(obj: Any) -> None:
    """Raise ``TypeError`` unless ``obj`` can be a solver's ``linear_solver``."""
    if not isinstance(obj, (AbstractIterationMatrix, AbstractLinearSolver)):
        raise TypeError(
            "`linear_solver` must be scidiff.DenseLU(), scidiff.NewtonKrylov(...), another "
            "iteration-matrix strategy (scidiff.DenseJacobian / scidiff.MatrixFreeJacobian) "
            "or a linear-solver object (scidiff.LU(), scidiff.GMRES(...), or a subclass of "
            f"scidiff.AbstractLinearSolver), got {type(obj).__name__}."
        )
