r"""The Korteweg--de Vries equation on a periodic interval, pseudo-spectral.

.. math::
    u_t + a\,u\,u_x + b\,u_{xxx} = \nu\,u_{xx},

for the wave amplitude :math:`u(x, t)` on :math:`[0, L)`: :math:`a` is the nonlinear
steepening coefficient (``nonlinearity``, 6 in the usual soliton scaling), :math:`b` the
dispersion coefficient (``dispersion``) and :math:`\nu \ge 0` an optional viscosity
(``viscosity``, 0 for the conservative KdV). With :math:`a = 6`, :math:`b = 1`,
:math:`\nu = 0`, the soliton

.. math:: u(x, t) = \tfrac c2\,\mathrm{sech}^2\!\big(\tfrac{\sqrt c}{2}(x - x_0 - ct)\big)

travels at speed :math:`c` without changing shape. Fourier symbol
:math:`L_k = i b k^3 - \nu k^2` (purely imaginary without viscosity: the ETDRK
coefficients are then complex and use the full contour), nonlinear term
:math:`\hat N = -\tfrac a2\, i k\,\widehat{u^2}` (the conservative form of
:math:`-a u u_x`, so the mean of :math:`u` is conserved exactly).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._etdrk import check_etdrk_order
from ._fd_common import coefficient
from ._semilinear import AbstractSemilinearModel, check_dealias, normalize_geometry

__all__ = ["KortewegDeVries"]


class KortewegDeVries(AbstractSemilinearModel):
    r"""KdV: :math:`u_t + a u u_x + b u_{xxx} = \nu u_{xx}` on a periodic interval.

    Arguments:
        shape: number of grid points (even).
        extent: interval length :math:`L` (differentiable).
        nonlinearity: :math:`a` (differentiable).
        dispersion: :math:`b` (differentiable).
        viscosity: :math:`\nu` (differentiable).
        order: ETDRK order for ``step``/``rollout`` (1--4).
        dealias: Orszag truncation fraction (default 2/3).
        boundary: only ``"periodic"``.

    Raises:
        ValueError: a shape that is not 1D or is odd, a non-periodic boundary, a bad order
            or de-aliasing fraction.

    Example:
        >>> from scidiff.kernels import KortewegDeVries
        >>> import jax.numpy as jnp
        >>> model = KortewegDeVries(128, 40.0)
        >>> x = jnp.arange(128) * 40.0 / 128
        >>> u0 = 0.5 / jnp.cosh(0.5 * (x - 10.0)) ** 2  # soliton of speed 1
        >>> u = model.rollout(u0, dt=0.01, num_steps=100, save_every=100)[-1]  # moved by 1
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    extent: tuple[Any, ...]
    nonlinearity: Any
    dispersion: Any
    viscosity: Any
    order: int = eqx.field(static=True)
    dealias: float = eqx.field(static=True)

    def __init__(
        self,
        shape: Any,
        extent: Any,
        *,
        nonlinearity: Any = 6.0,
        dispersion: Any = 1.0,
        viscosity: Any = 0.0,
        order: int = 4,
        dealias: float = 2 / 3,
        boundary: str = "periodic",
    ):
        if np.ndim(shape) != 0 and len(shape) != 1:
            raise ValueError(f"KortewegDeVries is one-dimensional; got shape {shape!r}.")
        self.shape, self.extent = normalize_geometry(shape, extent, boundary)
        self.nonlinearity = nonlinearity
        self.dispersion = dispersion
        coefficient(viscosity, "viscosity", "KortewegDeVries", sign="nonnegative")
        self.viscosity = viscosity
        self.order = check_etdrk_order(order)
        self.dealias = check_dealias(dealias)

    def linear_symbol(self, dtype: Any) -> Array:
        (k,) = self.wavenumbers(dtype)
        (k_odd,) = self.wavenumbers(dtype, zero_nyquist=True)  # u_xxx is an odd derivative
        b, nu = jnp.asarray(self.dispersion, dtype), jnp.asarray(self.viscosity, dtype)
        return 1j * b * k_odd**3 - nu * k * k

    def nonlinear_term(self, t: Any, u_hat: Array, args: Any) -> Array:
        dtype = jnp.finfo(u_hat.dtype).dtype
        (k,) = self.wavenumbers(dtype, zero_nyquist=True)
        u = self.ifft(self.input_mask(dtype) * u_hat)
        a = jnp.asarray(self.nonlinearity, dtype)
        return (-0.5j * a) * k * self.fft(u * u)
