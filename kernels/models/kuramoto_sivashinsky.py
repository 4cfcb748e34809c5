r"""The Kuramoto--Sivashinsky equation on a periodic box (1D, 2D or 3D), pseudo-spectral.

Two forms:

* ``form="gradient"`` (the combustion or flame-front form, any dimension):

  .. math:: u_t + \tfrac12 |\nabla u|^2 + \Delta u + \nu\,\Delta^2 u = 0 ;

* ``form="conservative"`` (the fluid form, 1D only; the x-derivative of the former):

  .. math:: u_t + u\,u_x + u_{xx} + \nu\,u_{xxxx} = 0 .

:math:`u(x, t)` is the scalar field on :math:`[0, L_1)\times\dots` (periodic),
:math:`\Delta` the Laplacian, :math:`\Delta^2` the (isotropic) bi-Laplacian, and
:math:`\nu > 0` the hyper-viscosity (``viscosity``; 1 in the classical scaling, where the
box size :math:`L` alone sets the dynamics: chaos sets in for :math:`L \gtrsim 20` in 1D).
The :math:`\Delta u` term injects energy at long wavelengths (:math:`|k| < 1/\sqrt\nu`),
the :math:`\Delta^2` term removes it at short ones, and the nonlinearity carries it
between them. In Fourier space :math:`L_k = |k|^2 - \nu|k|^4` and
:math:`\hat N = -\tfrac12\widehat{|\nabla u|^2}` (resp. :math:`-\tfrac12 ik\,\widehat{u^2}`).

In the gradient form the spatial mean of the nonlinear term is discarded (the mean of
:math:`u` would otherwise drift like :math:`-\tfrac12\langle|\nabla u|^2\rangle t` without
affecting the dynamics), so the mean of :math:`u` is conserved in both forms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._etdrk import check_etdrk_order
from ._fd_common import coefficient
from ._semilinear import AbstractSemilinearModel, check_dealias, normalize_geometry

__all__ = ["KuramotoSivashinsky"]

_FORMS = ("gradient", "conservative")


class KuramotoSivashinsky(AbstractSemilinearModel):
    r"""Kuramoto--Sivashinsky: :math:`u_t + \tfrac12|\nabla u|^2 + \Delta u + \nu\Delta^2 u = 0`.

    See the module docstring for the equation, both forms and every symbol.

    Arguments:
        shape: grid points per axis (even), e.g. ``128`` or ``(128, 128)``.
        extent: box side(s) :math:`L` (scalar or per axis; differentiable).
        viscosity: hyper-viscosity :math:`\nu` of the fourth-order term (differentiable).
        form: ``"gradient"`` (any dimension) or ``"conservative"`` (1D only).
        order: ETDRK order used by ``step``/``rollout`` (1--4).
        dealias: Orszag truncation fraction (default 2/3).
        boundary: only ``"periodic"``.

    Raises:
        ValueError: odd sizes, >3 axes, unknown form, conservative form outside 1D,
            non-periodic boundary, bad order or de-aliasing fraction.

    Example:
        >>> from scidiff.kernels import KuramotoSivashinsky
        >>> import jax.numpy as jnp
        >>> model = KuramotoSivashinsky(128, 32 * jnp.pi, form="conservative")
        >>> x = jnp.arange(128) * 32 * jnp.pi / 128
        >>> u0 = jnp.cos(x / 16) * (1 + jnp.sin(x / 16))
        >>> traj = model.rollout(u0, dt=0.25, num_steps=40, save_every=10)
        >>> traj.shape
        (4, 128)
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    extent: tuple[Any, ...]
    viscosity: Any
    form: str = eqx.field(static=True)
    order: int = eqx.field(static=True)
    dealias: float = eqx.field(static=True)

    def __init__(
        self,
        shape: int | Sequence[int],
        extent: Any = 2 * math.pi,
        *,
        viscosity: Any = 1.0,
        form: str = "gradient",
        order: int = 4,
        dealias: float = 2 / 3,
        boundary: str = "periodic",
    ):
        self.shape, self.extent = normalize_geometry(shape, extent, boundary)
        if form not in _FORMS:
            raise ValueError(f"Unknown KS `form` {form!r}: use 'gradient' or 'conservative'.")
        if form == "conservative" and len(self.shape) != 1:
            raise ValueError(
                "form='conservative' (u_t + u u_x + ...) is one-dimensional; use "
                f"form='gradient' for a {len(self.shape)}D grid."
            )
        coefficient(viscosity, "viscosity", "KuramotoSivashinsky", sign="positive")
        self.viscosity = viscosity
        self.form = form
        self.order = check_etdrk_order(order)
        self.dealias = check_dealias(dealias)

    def linear_symbol(self, dtype: Any) -> Array:
        k2 = sum(k * k for k in self.wavenumbers(dtype))
        return k2 - jnp.asarray(self.viscosity, dtype) * k2 * k2

    def output_mask(self) -> np.ndarray:
        mask = super().output_mask().copy()
        mask[(0,) * mask.ndim] = False  # discard the mean of the nonlinear term
        return mask

    def nonlinear_term(self, t: Any, u_hat: Array, args: Any) -> Array:
        dtype = jnp.finfo(u_hat.dtype).dtype
        ks = self.wavenumbers(dtype, zero_nyquist=True)
        pre = self.input_mask(dtype)
        if self.form == "conservative":
            u = self.ifft(pre * u_hat)
            return -0.5j * ks[0] * self.fft(u * u)
        grads = self.ifft(jnp.stack([1j * (k * pre) * u_hat for k in ks]))
        return -0.5 * self.fft(jnp.sum(grads * grads, axis=0))
