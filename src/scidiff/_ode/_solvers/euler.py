r"""The explicit (forward) Euler method."""

from __future__ import annotations

from typing import ClassVar

from ._runge_kutta import AbstractExplicitRK, ButcherTableau

__all__ = ["Euler"]

_euler_tableau = ButcherTableau(a=(), b=(1.0,), c=())


class Euler(AbstractExplicitRK):
    r"""Explicit Euler, order 1, fixed step: :math:`y_1 = y_0 + h f(t_0, y_0)`.

    One evaluation of ``f`` per step (``f(t1, y1)`` is carried into the next step).
    No error estimate (``error_order = None``): runs with the fixed step ``dt0``.
    Dense output: cubic Hermite from the end values and derivatives.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> out = scidiff.Euler().step(lambda t, y, a: -y, 0.0, 0.1, jnp.ones(2), None,
        ...                            jnp.full(2, -1.0))
        >>> out.y1.tolist()
        [0.9, 0.9]
    """

    tableau: ClassVar[ButcherTableau] = _euler_tableau
    order: ClassVar[int] = 1
    error_order: ClassVar[int | None] = None
