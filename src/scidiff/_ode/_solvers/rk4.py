r"""The classical fourth-order Runge--Kutta method."""

from __future__ import annotations

from typing import ClassVar

from ._runge_kutta import AbstractExplicitRK, ButcherTableau

__all__ = ["RK4"]

_rk4_tableau = ButcherTableau(
    a=((0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
    c=(0.5, 0.5, 1.0),
)


class RK4(AbstractExplicitRK):
    r"""The classical Runge--Kutta method, order 4, fixed step.

    .. math::

        k_1 = f(t_0, y_0),\ k_2 = f(t_0 + \tfrac h2, y_0 + \tfrac h2 k_1),\
        k_3 = f(t_0 + \tfrac h2, y_0 + \tfrac h2 k_2),\ k_4 = f(t_0 + h, y_0 + h k_3),

        y_1 = y_0 + \tfrac h6 (k_1 + 2k_2 + 2k_3 + k_4).

    Four evaluations of ``f`` per step (three stages plus ``f(t1, y1)``, carried into the
    next step as its ``k_1``). No error estimate: runs with the fixed step ``dt0``. Dense
    output: cubic Hermite (order 3 between steps).

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> out = scidiff.RK4().step(lambda t, y, a: -y, 0.0, 0.1, jnp.ones(()), None,
        ...                          -jnp.ones(()))
        >>> bool(abs(out.y1 - jnp.exp(-0.1)) < 1e-7)
        True
    """

    tableau: ClassVar[ButcherTableau] = _rk4_tableau
    order: ClassVar[int] = 4
    error_order: ClassVar[int | None] = None
