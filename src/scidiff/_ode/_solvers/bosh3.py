r"""The Bogacki--Shampine 3(2) pair."""

from __future__ import annotations

from typing import ClassVar

from ._runge_kutta import AbstractExplicitRK, ButcherTableau

__all__ = ["Bosh3"]

# P. Bogacki and L. F. Shampine, "A 3(2) pair of Runge--Kutta formulas", Appl. Math. Lett.
# 2 (1989) 321--325. Embedded b_hat = (7/24, 1/4, 1/3, 1/8).
_b = (2 / 9, 1 / 3, 4 / 9, 0.0)
_b_hat = (7 / 24, 1 / 4, 1 / 3, 1 / 8)
_bosh3_tableau = ButcherTableau(
    a=((0.5,), (0.0, 0.75), (2 / 9, 1 / 3, 4 / 9)),
    b=_b,
    c=(0.5, 0.75, 1.0),
    b_error=tuple(x - y for x, y in zip(_b, _b_hat)),
)


class Bosh3(AbstractExplicitRK):
    r"""Bogacki--Shampine 3(2): adaptive, order 3 with an embedded order-2 estimate.

    Four stages, first-same-as-last: three evaluations of ``f`` per accepted step (the
    method of MATLAB's ``ode23`` and scipy's ``RK23``). Dense output: cubic Hermite with
    the FSAL derivatives (order 3, matching the method).

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> out = scidiff.Bosh3().step(lambda t, y, a: -y, 0.0, 0.1, jnp.ones(()), None,
        ...                            -jnp.ones(()))
        >>> bool(abs(out.y1 - jnp.exp(-0.1)) < 1e-5)
        True
    """

    tableau: ClassVar[ButcherTableau] = _bosh3_tableau
    order: ClassVar[int] = 3
    error_order: ClassVar[int | None] = 3
