"""What every implicit ODE solver shares: flat vectors, the linear-algebra strategy and
the Newton tolerances inherited from ``solve_ivp``.

The stage Newton iteration itself lives with root's Newton in
:mod:`scidiff._nonlinear._newton` (one Newton, one linear-algebra layer); it is
re-exported here for the solvers.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from ..._linear._operator import rms_norm
from ..._linear._solver import AbstractLinearSolver
from ..._nonlinear._newton import NewtonInfo, newton_solve
from .._base import AbstractODESolver
from .._tolerance import flat_tolerance
from ._flat_state import FlatLayout, flat_weights
from ._linear_algebra import (
    AbstractIterationMatrix,
    DenseLU,
    as_iteration_matrix,
    check_linear_solver,
)

__all__ = [
    "NewtonInfo", "newton_solve", "rms_norm", "flatten_field", "flat_weights",
    "AbstractImplicitSolver",
]  # fmt: skip


def flatten_field(f, y0, args) -> tuple[Array, Callable, Callable]:
    """``(y0_flat, unravel, fn)`` with ``fn(t, y_flat, args)`` the flat vector field.

    The output of ``f`` is cast to ``y0``'s dtype (dtype follows the state). A state with
    complex leaves is flattened to a real vector (real and imaginary parts, see
    :mod:`._flat_state`): the solvers then work on the real ``2n`` system, right for any
    ``f`` (holomorphic or not)."""
    del args
    layout = FlatLayout(y0)
    y_flat = layout.ravel(y0)

    def fn(t, y, args):
        out = layout.ravel(f(t, layout.unravel(y), args), "the output of `f`")
        return out.astype(y.dtype)

    return y_flat, layout.unravel, fn


class AbstractImplicitSolver(AbstractODESolver):
    """Base of the implicit solvers: a linear-algebra strategy and Newton tolerances.

    ``linear_solver`` is an iteration-matrix strategy (:class:`DenseLU` by default,
    :class:`NewtonKrylov`, ``DenseJacobian(...)``, ``MatrixFreeJacobian(...)``) or a bare
    linear-solver object (``scidiff.LU()``, ``scidiff.GMRES(...)``, your own subclass of
    ``scidiff.AbstractLinearSolver``).

    Complex states: the solvers work on a real flat vector in which a complex leaf is
    its real and imaginary parts (:mod:`._flat_state`), so Newton, the Jacobian and the
    linear solver see the real ``2n`` system, exact for holomorphic and non-holomorphic
    ``f`` alike.

    ``rtol``/``atol`` (Newton convergence test, and BDF's order selection) default to
    ``None``: inherited from ``solve_ivp``'s tolerances through ``with_tolerances``.
    """

    linear_solver: AbstractIterationMatrix | AbstractLinearSolver = DenseLU()
    rtol: float | Array | None = None
    atol: float | Array | None = None

    def __check_init__(self):
        check_linear_solver(self.linear_solver)

    @property
    def iteration_matrix(self) -> AbstractIterationMatrix:
        """``linear_solver`` as an iteration-matrix strategy."""
        return as_iteration_matrix(self.linear_solver)

    def with_tolerances(self, rtol, atol):
        new = self
        if self.rtol is None:
            new = eqx.tree_at(lambda s: s.rtol, new, rtol, is_leaf=lambda x: x is None)
        if self.atol is None:
            new = eqx.tree_at(lambda s: s.atol, new, atol, is_leaf=lambda x: x is None)
        return new

    def _tolerances(self, dtype, y0=None) -> tuple[Array, Array]:
        """``(rtol, atol)`` for the flat state ``ravel_pytree(y0)``: scalars, or vectors
        when ``solve_ivp`` was given per-component tolerances (see ``_tolerance.py``)."""
        if self.rtol is None or self.atol is None:
            raise ValueError(
                f"{type(self).__name__}: the Newton tolerances are unset; they are inherited "
                "from solve_ivp(rtol=..., atol=...) (call the solver through solve_ivp), or "
                "set them on the solver, e.g. Kvaerno5(rtol=1e-6, atol=1e-9)."
            )
        if y0 is None:
            return jnp.asarray(self.rtol, dtype), jnp.asarray(self.atol, dtype)
        return flat_tolerance(self.rtol, y0, dtype), flat_tolerance(self.atol, y0, dtype)
