r"""Initial-condition generators on a :class:`~scidiff.kernels.Grid`.

All are pure functions of a PRNG key (where random) and traced parameters, so they can be
``vmap``-ed over keys to build ensembles. Fields are periodic on the grid's box unless
stated otherwise; ``dtype`` defaults to the default float type.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._grid import Grid

__all__ = [
    "random_fourier_series",
    "gaussian_random_field",
    "gaussian_bump",
    "gaussian_vortices",
    "taylor_green_vortex",
]


def _dtype(dtype):
    return jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)


def _wavenumbers(grid: Grid, dtype, real_last: bool):
    """Angular wavenumbers ``2 pi m / L`` per axis (last axis halved when ``real_last``)."""
    ks = []
    for a, (n, ext) in enumerate(zip(grid.shape, grid.extent)):
        h = ext / n  # the periodic spacing (cell grid)
        if real_last and a == grid.ndim - 1:
            ks.append(2 * np.pi * np.fft.rfftfreq(n, d=h))
        else:
            ks.append(2 * np.pi * np.fft.fftfreq(n, d=h))
    mesh = np.meshgrid(*ks, indexing="ij")
    return [jnp.asarray(k, dtype) for k in mesh]


def random_fourier_series(
    key, grid: Grid, *, max_wavenumber: int = 5, decay: float = 1.0, offset=0.0, dtype=None
):
    r"""A random band-limited periodic field

    .. math::
        u(x) = c + \sum_{0 < |m|_\infty \le M} \frac{a_m \cos(k_m\cdot x) + b_m \sin(k_m\cdot x)}
        {(1 + |m|^2)^{\mathrm{decay}/2}},\qquad k_m = 2\pi m / L,

    with :math:`a_m, b_m \sim \mathcal N(0,1)`, normalised to unit maximum amplitude.

    Arguments:
        key: ``jax.random`` key.
        grid: the grid (its box is the period).
        max_wavenumber: ``M``, the largest integer mode per axis (static).
        decay: spectral decay exponent (larger is smoother; traced).
        offset: constant ``c`` added after normalisation (traced).
        dtype: output dtype.

    Example:
        >>> import jax
        >>> from scidiff.kernels import Grid, random_fourier_series
        >>> u0 = random_fourier_series(jax.random.key(0), Grid(128), max_wavenumber=3)
    """
    dtype = _dtype(dtype)
    if int(max_wavenumber) < 1:
        raise ValueError(f"`max_wavenumber` must be >= 1, got {max_wavenumber}.")
    m1 = np.arange(-max_wavenumber, max_wavenumber + 1)
    modes = np.stack(np.meshgrid(*([m1] * grid.ndim), indexing="ij"), -1).reshape(-1, grid.ndim)
    modes = modes[np.abs(modes).max(-1) > 0]
    ka, kb = jax.random.split(key)
    a = jax.random.normal(ka, (len(modes),), dtype)
    b = jax.random.normal(kb, (len(modes),), dtype)
    weight = (1.0 + jnp.asarray((modes**2).sum(-1), dtype)) ** (-jnp.asarray(decay, dtype) / 2)
    x = grid.meshgrid(dtype)
    phase = sum(
        jnp.asarray(2 * np.pi * modes[:, d] / grid.extent[d], dtype)[:, None]
        * (x[d].reshape(1, -1) - grid.lower[d])
        for d in range(grid.ndim)
    )
    u = jnp.sum(weight[:, None] * (a[:, None] * jnp.cos(phase) + b[:, None] * jnp.sin(phase)), 0)
    u = u.reshape(grid.shape)
    return u / jnp.max(jnp.abs(u)) + jnp.asarray(offset, dtype)


def gaussian_random_field(
    key, grid: Grid, *, length_scale=0.1, smoothness: float = 2.0, dtype=None
):
    r"""A periodic Gaussian random field with a Matérn-like spectrum, zero mean, unit variance.

    The power spectrum is :math:`P(k) \propto (1 + (\ell k)^2)^{-(\nu + d/2)}` with
    :math:`\ell` = ``length_scale`` (as a fraction of nothing: in the grid's units) and
    :math:`\nu` = ``smoothness``; white noise is filtered in Fourier space and the result
    normalised to unit sample variance.

    Example:
        >>> import jax
        >>> from scidiff.kernels import Grid, gaussian_random_field
        >>> u0 = gaussian_random_field(jax.random.key(1), Grid((64, 64)), length_scale=0.05)
    """
    dtype = _dtype(dtype)
    ks = _wavenumbers(grid, dtype, real_last=True)
    k2 = sum(k**2 for k in ks)
    ell = jnp.asarray(length_scale, dtype)
    amp = (1 + ell**2 * k2) ** (-(jnp.asarray(smoothness, dtype) + grid.ndim / 2) / 2)
    amp = amp.at[(0,) * grid.ndim].set(0.0)  # zero mean
    noise = jax.random.normal(key, grid.shape, dtype)
    u = jnp.fft.irfftn(jnp.fft.rfftn(noise) * amp, s=grid.shape, axes=tuple(range(grid.ndim)))
    u = u - jnp.mean(u)
    return (u / jnp.sqrt(jnp.mean(u**2))).astype(dtype)


def gaussian_bump(grid: Grid, center, width, *, amplitude=1.0, dtype=None):
    r"""A Gaussian :math:`A \exp(-|x - x_0|^2 / (2 w^2))` (not periodised).

    Example:
        >>> from scidiff.kernels import Grid, gaussian_bump
        >>> u0 = gaussian_bump(Grid((32, 32)), center=(0.5, 0.5), width=0.1)
    """
    dtype = _dtype(dtype)
    x = grid.meshgrid(dtype)
    c = jnp.broadcast_to(jnp.asarray(center, dtype), (grid.ndim,))
    r2 = sum((x[d] - c[d]) ** 2 for d in range(grid.ndim))
    w = jnp.asarray(width, dtype)
    return jnp.asarray(amplitude, dtype) * jnp.exp(-r2 / (2 * w**2))


def gaussian_vortices(grid: Grid, centers, strengths, radii, *, dtype=None):
    r"""Vorticity of a sum of Gaussian (Lamb--Oseen-like) vortices on a 2D periodic box,

    .. math:: \omega(x) = \sum_j \frac{\Gamma_j}{\pi r_j^2}\exp(-|x - c_j|^2 / r_j^2),

    each vortex periodised over the 3x3 neighbouring images (so the field is periodic when
    ``r_j`` is small compared to the box). ``\Gamma_j`` is the circulation of vortex ``j``.

    Arguments:
        centers: ``(J, 2)``; strengths: ``(J,)`` circulations; radii: ``(J,)`` core radii.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, gaussian_vortices
        >>> w0 = gaussian_vortices(Grid((64, 64), 2 * jnp.pi), [[2.0, 3.14], [4.3, 3.14]],
        ...                        [1.0, 1.0], [0.4, 0.4])
    """
    if grid.ndim != 2:
        raise ValueError(f"Vortices need a 2D grid, got {grid.ndim}D.")
    dtype = _dtype(dtype)
    c = jnp.asarray(centers, dtype).reshape(-1, 2)
    s = jnp.broadcast_to(jnp.asarray(strengths, dtype), (c.shape[0],))
    r = jnp.broadcast_to(jnp.asarray(radii, dtype), (c.shape[0],))
    X, Y = grid.meshgrid(dtype)
    Lx, Ly = grid.extent
    w = jnp.zeros(grid.shape, dtype)
    for ix in (-1, 0, 1):
        for iy in (-1, 0, 1):
            dx = X[None] - c[:, 0, None, None] + ix * Lx
            dy = Y[None] - c[:, 1, None, None] + iy * Ly
            rr = r[:, None, None]
            w = w + jnp.sum(
                s[:, None, None] / (jnp.pi * rr**2) * jnp.exp(-(dx**2 + dy**2) / rr**2), 0
            )
    return w


def taylor_green_vortex(grid: Grid, *, wavenumber: int = 1, amplitude=1.0, dtype=None):
    r"""Taylor--Green vorticity :math:`\omega = 2 A k \cos(k x)\cos(k y)` on a 2D box,
    with :math:`k = 2\pi m / L` (velocity :math:`u = -A\cos(kx)\sin(ky)`,
    :math:`v = A\sin(kx)\cos(ky)`, so :math:`\omega = v_x - u_y`); under viscosity
    :math:`\nu` it decays as
    :math:`e^{-2\nu k^2 t}`.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, taylor_green_vortex
        >>> w0 = taylor_green_vortex(Grid((64, 64), 2 * jnp.pi))
    """
    if grid.ndim != 2:
        raise ValueError(f"The Taylor-Green vortex needs a 2D grid, got {grid.ndim}D.")
    if grid.extent[0] != grid.extent[1]:
        raise ValueError(f"The Taylor-Green vortex needs a square box, got {grid.extent}.")
    dtype = _dtype(dtype)
    X, Y = grid.meshgrid(dtype)
    k = 2 * np.pi * wavenumber / grid.extent[0]
    A = jnp.asarray(amplitude, dtype)
    return 2 * A * k * jnp.cos(k * (X - grid.lower[0])) * jnp.cos(k * (Y - grid.lower[1]))
