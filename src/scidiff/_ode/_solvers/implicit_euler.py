"""Implicit (backward) Euler: ``y_1 = y_0 + h f(t_1, y_1)``. Order 1, L-stable."""

from __future__ import annotations

from typing import ClassVar

from ._esdirk import AbstractESDIRK, ESDIRKTableau

__all__ = ["ImplicitEuler"]

# Written as a two-stage ESDIRK (explicit first stage k_1 = f(t_0, y_0) shared by FSAL):
# Y_2 = y_0 + h f(t_1, Y_2). The error estimate (h/2)(k_2 - k_1) is the leading local
# error term -(h^2/2) y''; explicit Euler predicts the stage.
_tableau = ESDIRKTableau(
    a=[[0.0, 0.0], [0.0, 1.0]],
    b_error=[-0.5, 0.5],
    predictor=[[0.0, 0.0], [1.0, 0.0]],
)


class ImplicitEuler(AbstractESDIRK):
    """Implicit Euler, ``y_1 = y_0 + h f(t_1, y_1)``: first order, L-stable.

    Adaptive with the error estimate ``(h/2)(f(t_1, y_1) - f(t_0, y_0))``; cubic Hermite
    dense output. The stage is solved by simplified Newton (see ``linear_solver``).

    Complex states (complex or mixed real/complex pytree leaves) are solved on their real
    ``2n`` form (real and imaginary parts): the Jacobian is the real one, so any ``f``,
    holomorphic or not (``jnp.conj``, ``jnp.abs``), is handled exactly; error norms
    use ``|y|``; time and tolerances stay real.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.solve_ivp(lambda t, y, a: -50.0 * y, (0.0, 1.0), jnp.ones(2),
        ...                         solver=scidiff.ImplicitEuler(), rtol=1e-4, atol=1e-8)
    """

    tableau: ClassVar[ESDIRKTableau] = _tableau
    order: ClassVar[int] = 1
    error_order: ClassVar[int] = 2
