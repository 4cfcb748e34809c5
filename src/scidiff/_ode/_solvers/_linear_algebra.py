"""Linear algebra inside the implicit solvers is a choice: dense LU or matrix-free GMRES.

Every implicit method of scidiff (ESDIRK, Rosenbrock, BDF) needs solutions of

.. math::  (I - c\\,J)\\,x = b, \\qquad J = \\partial f/\\partial y\\,(t_J, y_J),

with ``c`` a multiple of the step size. How that is done is a small strategy object
passed as the ``linear_solver`` field of the solver:

* :class:`DenseLU` (default): the Jacobian is materialised with ``jax.jacfwd`` (``n``
  Jacobian--vector products, batched) and ``I - cJ`` is LU-factorised once per step and
  reused for every Newton iteration and stage. Cost ``O(n^3)`` per factorisation,
  ``O(n^2)`` memory: right for up to a few thousand unknowns.
* :class:`NewtonKrylov`: nothing is materialised. ``J v`` is a ``jax.linearize``
  Jacobian--vector product at the linearisation point and ``I - cJ`` is solved by
  restarted GMRES (optionally preconditioned). Cost ``O(n)`` memory and a few ``f``-JVPs
  per Krylov iteration: right for method-of-lines PDEs where a dense ``J`` does not fit.

The solvers work on flat vectors (``jax.flatten_util.ravel_pytree``); these objects see
``fn(t, y, args) -> dy/dt`` on flat ``y``.

Two uses, two differentiation rules:

* Newton iterations (ESDIRK, BDF, implicit Euler) only need an *approximate* solve; the
  Newton solution is differentiated by the implicit function theorem (``lax.custom_root``)
  whose tangent system uses :meth:`tangent_solve` -- an exact solve with the linearised
  residual, transposable for reverse mode.
* Rosenbrock methods (Rodas5) use the solve *in the formula*, so the solve is
  differentiated as is: ``lu_solve`` is differentiable, and GMRES goes through
  ``lax.custom_linear_solve`` (implicit differentiation, no unrolled iterations).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import jax.scipy.sparse.linalg as jspl
from jax import lax
from jaxtyping import Array, PyTree

__all__ = ["AbstractLinearSolver", "DenseLU", "NewtonKrylov"]

FlatField = Callable[[Array, Array, Any], Array]


class AbstractLinearSolver(eqx.Module):
    """Strategy for solving ``(I - c J) x = b`` inside an implicit step.

    ``linearise`` returns arrays (carried in the solver state between steps, so a
    Jacobian can be reused); ``factorise`` turns them into a short-lived object with a
    ``solve(b)`` method, used within one step.
    """

    @abc.abstractmethod
    def linearise(self, fn: FlatField, t: Array, y: Array, args: Any) -> PyTree:
        """The linearisation of ``fn`` at ``(t, y)`` that will be carried in the state."""

    @abc.abstractmethod
    def factorise(self, fn: FlatField, args: Any, jac: PyTree, c: Array) -> _Factorisation:
        """Prepare solves with ``I - c J`` (``J`` from :meth:`linearise`)."""

    @abc.abstractmethod
    def tangent_solve(self, g: Callable[[Array], Array], b: Array) -> Array:
        """Solve ``g(x) = b`` for a *linear* ``g`` (the tangent system of a Newton solve)."""

    def jacobian_cost(self, n: int) -> int:
        """Evaluations of ``f`` (or JVPs) one :meth:`linearise` costs, for ``num_fevals``."""
        del n
        return 1


class _Factorisation(eqx.Module):
    @abc.abstractmethod
    def solve(self, b: Array) -> Array: ...


class _LUFactor(_Factorisation):
    lu: Array
    piv: Array

    def solve(self, b: Array) -> Array:
        return jsl.lu_solve((self.lu, self.piv), b)


class DenseLU(AbstractLinearSolver):
    """Dense Jacobian (``jax.jacfwd``) and LU factorisation of ``I - cJ`` (the default).

    Example:
        >>> import scidiff
        >>> solver = scidiff.Kvaerno5(linear_solver=scidiff.DenseLU())
    """

    def linearise(self, fn, t, y, args):
        return jax.jacfwd(lambda x: fn(t, x, args))(y)

    def jacobian_cost(self, n):
        return n

    def factorise(self, fn, args, jac, c):
        del fn, args
        n = jac.shape[0]
        lu, piv = jsl.lu_factor(jnp.eye(n, dtype=jac.dtype) - c * jac)
        return _LUFactor(lu, piv)

    def tangent_solve(self, g, b):
        # g is linear: its Jacobian is the matrix of the tangent system.
        return jnp.linalg.solve(jax.jacfwd(g)(b), b)


def _gmres(matvec, b, *, rtol, restart, maxiter, precond=None):
    """Restarted GMRES for ``matvec(x) = b`` with implicit differentiation.

    ``lax.custom_linear_solve`` differentiates the solution, never the iterations:
    ``dx = A^{-1}(db - dA x)``, and the transpose (reverse mode) solves with ``A^T``,
    whose action JAX derives from ``matvec`` (itself solved by GMRES).
    """

    def solve(mv, rhs):
        x, _ = jspl.gmres(
            mv,
            rhs,
            tol=rtol,
            atol=0.0,
            restart=restart,
            maxiter=maxiter,
            M=precond,
            solve_method="batched",
        )
        return x

    def transpose_solve(vm, rhs):  # no preconditioner for the transposed system
        x, _ = jspl.gmres(
            vm, rhs, tol=rtol, atol=0.0, restart=restart, maxiter=maxiter, solve_method="batched"
        )
        return x

    return lax.custom_linear_solve(matvec, b, solve=solve, transpose_solve=transpose_solve)


class _KrylovFactor(_Factorisation):
    matvec: Callable[[Array], Array]
    precond: Callable[[Array], Array] | None
    rtol: float
    restart: int
    maxiter: int

    def solve(self, b: Array) -> Array:
        return _gmres(
            self.matvec,
            b,
            rtol=self.rtol,
            restart=self.restart,
            maxiter=self.maxiter,
            precond=self.precond,
        )


class NewtonKrylov(AbstractLinearSolver):
    """Matrix-free: Jacobian--vector products and restarted GMRES on ``I - cJ``.

    The Jacobian is never formed; ``J v`` is ``jax.linearize(f)`` at the linearisation
    point (reused across Newton iterations and stages, and across steps while the Newton
    iteration keeps converging fast).

    Arguments:
        preconditioner: ``None`` or ``preconditioner(t, y, args, c) -> (v -> P v)`` with
            ``P ~= (I - cJ)^{-1}`` (e.g. a diagonal or a fast Poisson solve); called once
            per step at the linearisation point.
        rtol: relative residual tolerance of GMRES (Newton corrects the rest).
        restart: Krylov subspace dimension between restarts.
        maxiter: maximum number of restarts.

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
        if self.preconditioner is not None and not callable(self.preconditioner):
            raise TypeError(
                "NewtonKrylov(preconditioner=...) must be None or a callable "
                "(t, y, args, c) -> (v -> P v)."
            )

    def linearise(self, fn, t, y, args):
        del fn, args
        return (t, y)

    def factorise(self, fn, args, jac, c):
        t_j, y_j = jac
        _, jvp = jax.linearize(lambda x: fn(t_j, x, args), y_j)
        precond = None
        if self.preconditioner is not None:
            precond = self.preconditioner(t_j, y_j, args, c)
        return _KrylovFactor(
            matvec=lambda v: v - c * jvp(v),
            precond=precond,
            rtol=self.rtol,
            restart=self.restart,
            maxiter=self.maxiter,
        )

    def tangent_solve(self, g, b):
        return _gmres(g, b, rtol=self.rtol, restart=self.restart, maxiter=self.maxiter)
