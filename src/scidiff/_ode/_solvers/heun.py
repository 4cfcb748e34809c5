r"""Heun's method (explicit trapezoidal rule) with an embedded Euler error estimate."""

from __future__ import annotations

from typing import ClassVar

from ._runge_kutta import AbstractExplicitRK, ButcherTableau

__all__ = ["Heun"]

# b = (1/2, 1/2); embedded Euler b_hat = (1, 0); b_error = b - b_hat.
_heun_tableau = ButcherTableau(a=((1.0,),), b=(0.5, 0.5), c=(1.0,), b_error=(-0.5, 0.5))


class Heun(AbstractExplicitRK):
    r"""Heun's 2(1) method: adaptive, order 2 with an embedded order-1 (Euler) estimate.

    .. math::

        k_1 = f(t_0, y_0),\quad k_2 = f(t_0 + h, y_0 + h k_1),\quad
        y_1 = y_0 + \tfrac{h}{2}(k_1 + k_2),\quad
        \text{err} = \tfrac{h}{2}(k_2 - k_1).

    Two evaluations of ``f`` per step (one stage plus ``f(t1, y1)``, carried into the
    next step). Dense output: cubic Hermite.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> out = scidiff.Heun().step(lambda t, y, a: -y, 0.0, 0.1, jnp.ones(()), None,
        ...                           -jnp.ones(()))
        >>> round(float(out.y1), 6)  # exp(-0.1) = 0.904837...
        0.905
    """

    tableau: ClassVar[ButcherTableau] = _heun_tableau
    order: ClassVar[int] = 2
    error_order: ClassVar[int | None] = 2
