r"""The explicit midpoint method."""

from __future__ import annotations

from typing import ClassVar

from ._runge_kutta import AbstractExplicitRK, ButcherTableau

__all__ = ["Midpoint"]

_midpoint_tableau = ButcherTableau(a=((0.5,),), b=(0.0, 1.0), c=(0.5,))


class Midpoint(AbstractExplicitRK):
    r"""Explicit midpoint rule, order 2, fixed step.

    .. math::

        k_1 = f(t_0, y_0),\quad k_2 = f(t_0 + h/2,\ y_0 + \tfrac{h}{2} k_1),\quad
        y_1 = y_0 + h k_2.

    Two evaluations of ``f`` per step (one stage plus ``f(t1, y1)``, carried into the next
    step). No error estimate: runs with the fixed step ``dt0``. Dense output: cubic Hermite.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> out = scidiff.Midpoint().step(lambda t, y, a: -y, 0.0, 0.1, jnp.ones(()), None,
        ...                               -jnp.ones(()))
        >>> round(float(out.y1), 6)  # 1 - 0.1 + 0.1**2 / 2
        0.905
    """

    tableau: ClassVar[ButcherTableau] = _midpoint_tableau
    order: ClassVar[int] = 2
    error_order: ClassVar[int | None] = None
