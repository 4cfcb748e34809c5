r"""The Dormand--Prince 5(4) pair with Hairer's fourth-order continuous extension."""

from __future__ import annotations

from typing import ClassVar

from jaxtyping import Scalar

from ._runge_kutta import AbstractPolynomialDenseRK, ButcherTableau

__all__ = ["Dopri5"]

# J. R. Dormand and P. J. Prince, "A family of embedded Runge--Kutta formulae",
# J. Comput. Appl. Math. 6 (1980) 19--26.
_b = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_b_hat = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
_dopri5_tableau = ButcherTableau(
    a=(
        (1 / 5,),
        (3 / 40, 9 / 40),
        (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
        _b[:6],
    ),
    b=_b,
    c=(1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0),
    b_error=tuple(x - y for x, y in zip(_b, _b_hat)),
)

# Dense-output coefficients d_i of Hairer's DOPRI5 code (Hairer, Norsett and Wanner,
# "Solving ODEs I", section II.6).
_d = (
    -12715105075 / 11282082432,
    0.0,
    87487479700 / 32700410799,
    -10690763975 / 1880347072,
    701980252875 / 199316789632,
    -1453857185 / 822651844,
    69997945 / 29380423,
)


def _dopri5_weights(s):
    r"""Weights :math:`w_i(\theta)` with ``y(t0 + theta h) = y0 + h sum_i w_i k_i``.

    Hairer's form, with :math:`\Delta = y_1 - y_0 = h\sum b_i k_i`, :math:`u = 1 - \theta`:

    .. math::

        y(\theta) = y_0 + \theta\big(\Delta + u\,(h k_1 - \Delta
            + \theta\,(2\Delta - h k_1 - h k_7 + u\, h \textstyle\sum_i d_i k_i))\big),

    which expands to :math:`w_i = b_i(\theta - \theta u + 2\theta^2 u)
    + [i=1]\,\theta u(1 - \theta) - [i=7]\,\theta^2 u + \theta^2 u^2 d_i`.
    """
    u = 1.0 - s
    on_delta = s - s * u + 2.0 * s * s * u
    quartic = s * s * u * u
    ws = [bi * on_delta + di * quartic for bi, di in zip(_b, _d)]
    ws[0] = ws[0] + s * u * u
    ws[6] = ws[6] - s * s * u
    return ws


class Dopri5(AbstractPolynomialDenseRK):
    r"""Dormand--Prince 5(4): adaptive, order 5 with an embedded order-4 estimate.

    Seven stages, first-same-as-last: six evaluations of ``f`` per accepted step (the
    method of scipy's ``RK45`` and MATLAB's ``ode45``). Dense output: Hairer's
    fourth-order continuous extension (the one in his ``DOPRI5`` code), free of extra
    evaluations.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> out = scidiff.Dopri5().step(lambda t, y, a: -y, 0.0, 0.1, jnp.ones(()), None,
        ...                             -jnp.ones(()))
        >>> bool(abs(out.y1 - jnp.exp(-0.1)) < 1e-8)
        True
    """

    tableau: ClassVar[ButcherTableau] = _dopri5_tableau
    order: ClassVar[int] = 5
    error_order: ClassVar[int | None] = 5

    def dense_weights(self, s: Scalar):
        return _dopri5_weights(s)
