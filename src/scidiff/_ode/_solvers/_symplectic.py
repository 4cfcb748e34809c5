r"""Shared pieces of the symplectic (splitting) integrators for separable Hamiltonians.

The state is a pair ``y = (q, p)`` (each any pytree) and the right-hand side returns
``f(t, (q, p), args) = (dq/dt, dp/dt)`` with ``dq/dt = G(p)`` depending on ``p`` only and
``dp/dt = F(q)`` on ``q`` only -- Hamilton's equations for
:math:`H(q, p) = T(p) + V(q)`: :math:`G = \partial T/\partial p`,
:math:`F = -\partial V/\partial q`. Splitting methods alternate exact "drifts"
``q += c h G(p)`` and "kicks" ``p += d h F(q)``; each is the exact flow of half the
Hamiltonian, so their composition is symplectic: no secular energy drift over long runs.
The methods do not check separability (they cannot); a non-separable ``f`` gives a
method that is neither symplectic nor of the stated order.
"""

from __future__ import annotations

from typing import Any, ClassVar

from jaxtyping import PyTree, Scalar

from .._base import AbstractODESolver

__all__ = ["AbstractSymplectic", "split_state", "join_state", "call_pair"]


def split_state(solver: str, y: PyTree) -> tuple[PyTree, PyTree]:
    """``(q, p)`` from ``y``; ``TypeError`` with the fix if ``y`` is not a pair."""
    if not isinstance(y, (tuple, list)) or len(y) != 2:
        raise TypeError(
            f"{solver} integrates separable Hamiltonian systems: `y0` must be a pair "
            f"`(q, p)` (a tuple or list of two pytrees), got {type(y).__name__}"
            + (f" of length {len(y)}" if isinstance(y, (tuple, list)) else "")
            + ". For a general ODE use an explicit Runge--Kutta solver such as Tsit5. (If "
            "`y0` is a pair and this comes from a gradient: `adjoint=Backsolve()` integrates "
            "an augmented state that is not a (q, p) pair; use RecursiveCheckpoint() or "
            "ForwardMode() with symplectic solvers.)"
        )
    return y[0], y[1]


def join_state(like: PyTree, q: PyTree, p: PyTree) -> PyTree:
    """Rebuild a state of the same container type as ``like`` (tuple or list)."""
    return [q, p] if isinstance(like, list) else (q, p)


def call_pair(solver: str, f, t: Scalar, q: PyTree, p: PyTree, args: Any, like: PyTree):
    """``f(t, (q, p), args)`` checked to be a pair ``(dq/dt, dp/dt)``."""
    out = f(t, join_state(like, q, p), args)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(
            f"{solver}: `f(t, (q, p), args)` must return the pair `(dq/dt, dp/dt)`, got "
            f"{type(out).__name__}."
        )
    return out[0], out[1]


class AbstractSymplectic(AbstractODESolver):
    """Base of the fixed-step splitting methods (``error_order = None``)."""

    error_order: ClassVar[int | None] = None
    init_fevals: ClassVar[int] = 1
