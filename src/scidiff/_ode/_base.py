"""The interface every ODE solver implements; the integration loop only talks to this.

A solver is a small immutable object (an ``equinox.Module``) that knows how to take
*one* step ``t0 -> t1`` and how to interpolate inside it. Everything else -- step-size
control, saving at ``t_eval``, dense output over the whole interval, events, adjoints,
error reporting -- lives in the integration loop (``_loop.py``) and is shared by all
solvers, explicit and implicit alike.

The contract, for a right-hand side ``f(t, y, args) -> dy/dt`` (``y`` any pytree):

``init(f, t0, t1, y0, args) -> state``
    Anything the solver carries between steps: the first-same-as-last stage of an
    FSAL Runge--Kutta method, a cached Jacobian and its factorisation, a BDF history
    array. ``None`` if nothing. Must have a fixed structure/shape for the whole solve.

``step(f, t0, t1, y0, args, state) -> StepOutput``
    Attempt the step. The loop accepts or rejects it; on rejection the loop calls
    ``state_after_reject`` (default: keep the old state) and retries with a smaller step.

``interpolate(t0, t1, dense_info, t) -> y(t)``
    Continuous extension on ``[t0, t1]`` from the ``dense_info`` the step returned
    (each method's own interpolant where it has one; otherwise cubic Hermite).

Class variables:

``order``
    Convergence order of the method (global error ``O(h**order)``).
``error_order``
    The exponent the step-size controller uses: ``q + 1`` where ``q`` is the lower
    of the two orders of the embedded pair. ``None`` for methods without an error
    estimate: these run with the fixed step ``dt0`` only.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Int, PyTree, Scalar

from .._results import RESULTS

__all__ = ["AbstractODESolver", "StepOutput", "hermite_interpolate", "tree_where"]

VectorField = Callable[[Scalar, PyTree, Any], PyTree]


class StepOutput(NamedTuple):
    """What one attempted step returns.

    Attributes:
        y1: the proposed solution at ``t1``.
        y_error: local error estimate, same structure as ``y1``; ``None`` for methods
            without one (fixed step).
        dense_info: pytree consumed by ``interpolate`` (fixed structure for all steps).
        state: solver state to carry forward if the step is accepted.
        result: ``RESULTS.successful``, or a *recoverable* failure such as
            ``RESULTS.newton_nonconvergence`` (the loop rejects and shrinks the step).
        num_fevals: number of evaluations of ``f`` this step used (int array).
    """

    y1: PyTree
    y_error: PyTree | None
    dense_info: PyTree
    state: PyTree
    result: RESULTS
    num_fevals: Int[Array, ""]


class AbstractODESolver(eqx.Module):
    """Base of all ODE solvers (explicit, implicit, symplectic). See the module docstring."""

    order: ClassVar[int]
    error_order: ClassVar[int | None]

    @abc.abstractmethod
    def init(self, f: VectorField, t0: Scalar, t1: Scalar, y0: PyTree, args: Any) -> PyTree:
        """Initial solver state."""

    @abc.abstractmethod
    def step(
        self, f: VectorField, t0: Scalar, t1: Scalar, y0: PyTree, args: Any, state: PyTree
    ) -> StepOutput:
        """Attempt one step from ``t0`` to ``t1``."""

    @abc.abstractmethod
    def interpolate(self, t0: Scalar, t1: Scalar, dense_info: PyTree, t: Scalar) -> PyTree:
        """Evaluate the step's continuous extension at ``t`` in ``[t0, t1]``."""

    def state_after_reject(self, old_state: PyTree, output: StepOutput) -> PyTree:
        """State to carry after a rejected step. Default: the state before the step.

        Implicit solvers may override this to keep work that stays valid (a freshly
        computed Jacobian, say) even when the step is rejected.
        """
        del output
        return old_state

    def step_size_factor(self, state: PyTree, controller_factor: Scalar) -> Scalar:
        """Final say on the factor ``dt_next / dt``. Default: the controller's factor.

        Solvers that choose their own step (variable-order BDF) may override this,
        reading whatever they need from ``state``.
        """
        del state
        return controller_factor

    @property
    def chooses_step_size(self) -> bool:
        """Whether this solver overrides :meth:`step_size_factor` (then the loop asks it for
        every next step, bounded by the controller's ``bound_step``). Static."""
        return type(self).step_size_factor is not AbstractODESolver.step_size_factor

    def with_tolerances(self, rtol: Scalar, atol: Scalar) -> AbstractODESolver:
        """Return the solver to use for a solve with these (traced) tolerances.

        The loop calls this once, inside ``jit``, before ``init``. Default: ``self``.
        Implicit solvers override it to inherit ``solve_ivp``'s ``rtol``/``atol`` for their
        Newton convergence test (and BDF for its order selection) unless set explicitly.
        """
        del rtol, atol
        return self

    def dense_info_placeholder(
        self, f: VectorField, t0: Scalar, y0: PyTree, args: Any, state: PyTree
    ) -> PyTree:
        """Finite values laid out like the ``dense_info`` that :meth:`step` returns: the
        loop's placeholder before the first step (never interpolated). Default: zeros,
        from an abstract evaluation of :meth:`step`. Solvers that know their layout
        override it, reusing ``y0`` where they can (no trace, no new arrays).
        """
        shapes = jax.eval_shape(lambda: self.step(f, t0, t0 + 1, y0, args, state).dense_info)
        return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def for_reverse_pass(self) -> AbstractODESolver:
        """The solver :class:`~scidiff.RecursiveCheckpoint`'s reverse pass steps with.

        It must take the same steps as ``self``; it may trade run time for a smaller
        program (explicit Runge--Kutta methods loop over their stages). Default: ``self``.
        """
        return self

    @property
    def adaptive(self) -> bool:
        return self.error_order is not None


def tree_where(pred: Bool[Array, ""], a: PyTree, b: PyTree) -> PyTree:
    """``jnp.where`` leaf by leaf over two pytrees of the same structure."""
    return jax.tree_util.tree_map(lambda x, y: jnp.where(pred, x, y), a, b)


def hermite_interpolate(t0, t1, y0, y1, f0, f1, t) -> PyTree:
    """Cubic Hermite interpolation from values and derivatives at both ends (order 3)."""
    h = t1 - t0
    s = (t - t0) / h
    h00 = (1 + 2 * s) * (1 - s) ** 2
    h10 = s * (1 - s) ** 2
    h01 = s**2 * (3 - 2 * s)
    h11 = s**2 * (s - 1)
    return jax.tree_util.tree_map(
        lambda a, b, da, db: (h00 * a + h01 * b + h * (h10 * da + h11 * db)).astype(a.dtype),
        y0,
        y1,
        f0,
        f1,
    )
