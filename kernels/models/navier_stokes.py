r"""Two-dimensional incompressible Navier--Stokes in vorticity form, periodic, pseudo-spectral.

.. math::
    \omega_t + \mathbf u\cdot\nabla\omega = \nu\,\Delta\omega - \alpha\,\omega + F,
    \qquad \mathbf u = (\partial_y\psi, -\partial_x\psi), \qquad -\Delta\psi = \omega,

on the box :math:`[0, L_x)\times[0, L_y)` (axis 0 is :math:`x`, axis 1 is :math:`y`).
:math:`\omega = \partial_x v - \partial_y u` is the vorticity, :math:`\psi` the stream
function (zero mean), :math:`\mathbf u = (u, v)` the divergence-free velocity,
:math:`\nu` the kinematic viscosity (``viscosity``), :math:`\alpha \ge 0` a linear
(Ekman) drag (``drag``) and :math:`F` the optional Kolmogorov forcing: the body force
:math:`\gamma\sin(k_f y)\,\mathbf e_x` with :math:`k_f = 2\pi n_f / L_y`, whose curl is
:math:`F = -\gamma k_f\cos(k_f y)` (``forcing_amplitude`` :math:`\gamma`,
``forcing_wavenumber`` :math:`n_f`). With :math:`L = 2\pi`, :math:`\nu = 10^{-3}`,
:math:`\alpha = 0.1`, :math:`\gamma = 1`, :math:`n_f = 4` this is the Kolmogorov flow
benchmark of jax-cfd (Kochkov et al. 2021):
``NavierStokes2D((n, n), viscosity=1e-3, drag=0.1, forcing_wavenumber=4)``.

Fourier symbol :math:`L_k = -\nu|k|^2 - \alpha`. The advection is evaluated in
Basdevant's (1983) form, which needs four FFTs instead of five: since
:math:`\nabla\cdot\mathbf u = 0` and :math:`\omega = v_x - u_y`,

.. math::
    \mathbf u\cdot\nabla\omega = \nabla\cdot(\mathbf u\,\omega)
    = (\partial_x^2 - \partial_y^2)(uv) + \partial_x\partial_y(v^2 - u^2),

an identity that holds exactly for the de-aliased trigonometric polynomials, so the
result equals the usual :math:`u\omega_x + v\omega_y` evaluation to round-off.
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

__all__ = ["NavierStokes2D"]


class NavierStokes2D(AbstractSemilinearModel):
    r"""2D incompressible Navier--Stokes for the vorticity :math:`\omega(x, y, t)`.

    :math:`\omega_t + \mathbf u\cdot\nabla\omega = \nu\Delta\omega - \alpha\omega + F`
    (see the module docstring for every symbol).

    Arguments:
        shape: ``(Nx, Ny)``, even sizes.
        extent: box sides (scalar or ``(Lx, Ly)``), default :math:`2\pi` (differentiable).
        viscosity: :math:`\nu` (differentiable).
        drag: :math:`\alpha` (differentiable).
        forcing_amplitude: :math:`\gamma` of the Kolmogorov forcing (differentiable).
        forcing_wavenumber: :math:`n_f`, an integer mode number along ``y`` (static), or
            ``None`` (default) for no forcing.
        order: ETDRK order for ``step``/``rollout`` (1--4).
        dealias: Orszag truncation fraction (default 2/3).
        boundary: only ``"periodic"``.

    Raises:
        ValueError: a shape that is not 2D or has odd sizes, a forcing mode that is not
            resolved, a non-periodic boundary, a bad order or de-aliasing fraction.

    Example:
        >>> from scidiff.kernels import NavierStokes2D
        >>> import jax.numpy as jnp
        >>> model = NavierStokes2D((32, 32), viscosity=0.01)
        >>> x = jnp.arange(32) * 2 * jnp.pi / 32
        >>> w0 = 2 * jnp.sin(x)[:, None] * jnp.sin(x)[None, :]  # Taylor-Green
        >>> w1 = model.rollout(w0, dt=0.01, num_steps=20, save_every=20)[-1]
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    extent: tuple[Any, ...]
    viscosity: Any
    drag: Any
    forcing_amplitude: Any
    forcing_wavenumber: int | None = eqx.field(static=True)
    order: int = eqx.field(static=True)
    dealias: float = eqx.field(static=True)

    def __init__(
        self,
        shape: Sequence[int],
        extent: Any = 2 * math.pi,
        *,
        viscosity: Any = 1e-3,
        drag: Any = 0.0,
        forcing_amplitude: Any = 1.0,
        forcing_wavenumber: int | None = None,
        order: int = 4,
        dealias: float = 2 / 3,
        boundary: str = "periodic",
    ):
        if np.ndim(shape) == 0 or len(shape) != 2:
            raise ValueError(f"NavierStokes2D needs a 2D shape (Nx, Ny); got {shape!r}.")
        self.shape, self.extent = normalize_geometry(shape, extent, boundary)
        nf = forcing_wavenumber
        if nf is not None and (
            isinstance(nf, bool) or int(nf) != nf or not 0 < int(nf) < self.shape[1] // 2
        ):
            raise ValueError(
                f"`forcing_wavenumber` must be None (no forcing) or an integer in [1, Ny/2) = "
                f"[1, {self.shape[1] // 2}); got {forcing_wavenumber!r}."
            )
        coefficient(viscosity, "viscosity", "NavierStokes2D", sign="nonnegative")
        coefficient(drag, "drag", "NavierStokes2D", sign="nonnegative")
        self.viscosity = viscosity
        self.drag = drag
        self.forcing_amplitude = forcing_amplitude
        self.forcing_wavenumber = None if nf is None else int(nf)
        self.order = check_etdrk_order(order)
        self.dealias = check_dealias(dealias)

    def linear_symbol(self, dtype: Any) -> Array:
        kx, ky = self.wavenumbers(dtype)
        nu, alpha = jnp.asarray(self.viscosity, dtype), jnp.asarray(self.drag, dtype)
        return -nu * (kx * kx + ky * ky) - alpha

    def stream_function_hat(self, w_hat: Array) -> Array:
        r""":math:`\hat\psi = \hat\omega / |k|^2` (zero mean)."""
        dtype = jnp.finfo(w_hat.dtype).dtype
        kx, ky = self.wavenumbers(dtype)
        k2 = kx * kx + ky * ky
        return jnp.where(k2 == 0, 0.0, 1.0 / jnp.where(k2 == 0, 1.0, k2)) * w_hat

    def velocity(self, w: Any) -> Array:
        r"""The velocity :math:`(u, v)` of a vorticity field, shape ``(2, Nx, Ny)``."""
        w = self.check_state(w, "w")
        kx, ky = self.wavenumbers(w.dtype, zero_nyquist=True)
        psi_hat = self.stream_function_hat(self.fft(w))
        return self.ifft(jnp.stack([1j * ky * psi_hat, -1j * kx * psi_hat])).astype(w.dtype)

    def advection_speed(self, u: Array, args: Any) -> tuple[Array, Array]:
        vel = self.velocity(u)
        return jnp.max(jnp.abs(vel[0])), jnp.max(jnp.abs(vel[1]))

    def forcing_hat(self, dtype: Any) -> Array:
        r"""Fourier coefficients of :math:`F = -\gamma k_f\cos(k_f y)` (a broadcast product
        of one-hot factors: mode :math:`(0, n_f)` holds :math:`-\gamma k_f N_xN_y/2`)."""
        nx, ny = self.shape
        nf = self.forcing_wavenumber
        if nf is None:
            return jnp.zeros((), dtype)
        kf = 2 * jnp.pi * nf / jnp.asarray(self.extent[1], dtype)
        gamma = jnp.asarray(self.forcing_amplitude, dtype)
        onehot_x = jnp.asarray((np.arange(nx) == 0)[:, None], dtype)
        onehot_y = jnp.asarray((np.arange(ny // 2 + 1) == nf)[None, :], dtype)
        return (-gamma * kf * nx * ny / 2) * onehot_x * onehot_y

    def nonlinear_term(self, t: Any, u_hat: Array, args: Any) -> Array:
        dtype = jnp.finfo(u_hat.dtype).dtype
        kx, ky = self.wavenumbers(dtype, zero_nyquist=True)
        psi_hat = self.stream_function_hat(u_hat) * self.input_mask(dtype)
        u, v = self.ifft(jnp.stack([1j * ky * psi_hat, -1j * kx * psi_hat]))
        uv_hat, vvuu_hat = self.fft(jnp.stack([u * v, v * v - u * u]))
        advection = (ky * ky - kx * kx) * uv_hat - kx * ky * vvuu_hat
        if self.forcing_wavenumber is None:
            return -advection
        return self.forcing_hat(dtype) - advection
