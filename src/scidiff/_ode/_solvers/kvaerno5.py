"""Kvaerno's 5(4) ESDIRK method: 7 stages, stiffly accurate, L-stable."""

from __future__ import annotations

from typing import ClassVar

from ._esdirk import AbstractESDIRK, ESDIRKTableau

__all__ = ["Kvaerno5"]

# A. Kvaerno, BIT 44 (2004) 489-502 (coefficients as published; predictors as in diffrax).
_g = 0.26
_A = [
    [0, 0, 0, 0, 0, 0, 0],
    [_g, _g, 0, 0, 0, 0, 0],
    [0.13, 0.84033320996790809, _g, 0, 0, 0, 0],
    [0.22371961478320505, 0.47675532319799699, -0.06470895363112615, _g, 0, 0, 0],
    [0.16648564323248321, 0.10450018841591720, 0.03631482272098715, -0.13090704451073998, _g, 0, 0],
    [0.13855640231268224, 0, -0.04245337201752043, 0.02446657898003141, 0.61943039072480676, _g, 0],
    [
        0.13659751177640291,
        0,
        -0.05496908796538376,
        -0.04118626728321046,
        0.62993304899016403,
        0.06962479448202728,
        _g,
    ],
]
_P = [
    [0, 0, 0, 0, 0, 0, 0],
    [1.0, 0, 0, 0, 0, 0, 0],
    [-1.366025403784441, 2.3660254037844357, 0, 0, 0, 0, 0],
    [-0.19650552613122207, 0.8113579546496623, 0.38514757148155954, 0, 0, 0, 0],
    [0.10375304369958693, 0.937994698066431, -0.04174774176601781, 0, 0, 0, 0],
    [-0.17281112873898072, 0.6235784481025847, 0.5492326806363959, 0, 0, 0, 0],
    _A[5][:6] + [0],
]
_P[6][5] = _g

_tableau = ESDIRKTableau(
    a=_A,
    # b = a[6] (5th order), b_hat = a[5] (4th order).
    b_error=[_A[6][j] - _A[5][j] for j in range(7)],
    predictor=_P,
)


class Kvaerno5(AbstractESDIRK):
    """Kvaerno's 5(4) method: L-stable, stiffly accurate ESDIRK with 7 stages (FSAL).

    Embedded fourth-order error estimate; cubic Hermite dense output (third order, the
    method has no published continuous extension).

    Complex states (complex or mixed real/complex pytree leaves) are solved on their real
    ``2n`` form (real and imaginary parts): the Jacobian is the real one, so any ``f``,
    holomorphic or not (``jnp.conj``, ``jnp.abs``), is handled exactly; error norms
    use ``|y|``; time and tolerances stay real.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.solve_ivp(lambda t, y, a: -50.0 * y, (0.0, 1.0), jnp.ones(2),
        ...                         solver=scidiff.Kvaerno5())
    """

    tableau: ClassVar[ESDIRKTableau] = _tableau
    order: ClassVar[int] = 5
    error_order: ClassVar[int] = 5
