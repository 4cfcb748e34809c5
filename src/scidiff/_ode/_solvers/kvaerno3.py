"""Kvaerno's 3(2) ESDIRK method: 4 stages, stiffly accurate, L-stable."""

from __future__ import annotations

from typing import ClassVar

from ._esdirk import AbstractESDIRK, ESDIRKTableau

__all__ = ["Kvaerno3"]

# A. Kvaerno, "Singly diagonally implicit Runge-Kutta methods with an explicit first
# stage", BIT 44 (2004) 489-502. Stage predictors as in diffrax.
_g = 0.43586652150
_a31 = (-4 * _g**2 + 6 * _g - 1) / (4 * _g)
_a32 = (-2 * _g + 1) / (4 * _g)
_a41 = (6 * _g - 1) / (12 * _g)
_a42 = -1 / ((24 * _g - 12) * _g)
_a43 = (-6 * _g**2 + 6 * _g - 1) / (6 * _g - 3)
_th = 1 / (2 * _g)

_tableau = ESDIRKTableau(
    a=[
        [0, 0, 0, 0],
        [_g, _g, 0, 0],
        [_a31, _a32, _g, 0],
        [_a41, _a42, _a43, _g],
    ],
    # b = a[3] (3rd order), b_hat = a[2] (2nd order).
    b_error=[_a41 - _a31, _a42 - _a32, _a43 - _g, _g],
    predictor=[
        [0, 0, 0, 0],
        [1.0, 0, 0, 0],
        [1.0 - _th, _th, 0, 0],
        [_a31, _a32, _g, 0],
    ],
)


class Kvaerno3(AbstractESDIRK):
    """Kvaerno's 3(2) method: L-stable, stiffly accurate ESDIRK with 4 stages (FSAL).

    Embedded second-order error estimate; cubic Hermite dense output (third order).

    Complex states (complex or mixed real/complex pytree leaves) are solved on their real
    ``2n`` form (real and imaginary parts): the Jacobian is the real one, so any ``f``,
    holomorphic or not (``jnp.conj``, ``jnp.abs``), is handled exactly; error norms
    use ``|y|``; time and tolerances stay real.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.solve_ivp(lambda t, y, a: -50.0 * y, (0.0, 1.0), jnp.ones(2),
        ...                         solver=scidiff.Kvaerno3())
    """

    tableau: ClassVar[ESDIRKTableau] = _tableau
    order: ClassVar[int] = 3
    error_order: ClassVar[int] = 3
