r"""Diffusion :math:`\nabla\cdot(D\,\nabla u)` with a constant or a spatially varying
diffusivity, any boundary condition.

A scalar :math:`D` gives :math:`D\,\Delta u` (the order-2 or order-4 Laplacian of
:mod:`scidiff.kernels._fd`). A field :math:`D(x)` (one value per grid point) gives the
conservative, second-order flux form: along each axis, with :math:`h` the spacing,

.. math::
    \big(\partial_a (D\,\partial_a u)\big)_i \approx
    \frac{F_{i+1/2} - F_{i-1/2}}{h}, \qquad
    F_{i+1/2} = D_{i+1/2}\,\frac{u_{i+1} - u_i}{h}, \qquad
    D_{i+1/2} = \tfrac12 (D_i + D_{i+1}).

Ghost values of :math:`u` come from the boundary conditions
(:func:`~scidiff.kernels.pad_axis`); the face diffusivity on a wall is extrapolated
linearly, :math:`D_{-1/2} = \tfrac32 D_0 - \tfrac12 D_1` (second order; on periodic axes
the wrap-around face averages the two end values). The scheme is conservative: with
periodic boundaries the sum of the tendency is zero to rounding, and with walls the
boundary fluxes are exactly :math:`D_\mathrm{wall}\,\partial_n u` of the Neumann data.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike

from ._boundary import Periodic, normalize_bcs, pad_pairs_axis
from ._fd import laplacian
from ._grid import Grid, check_field

__all__ = ["diffusion", "face_diffusivity"]


def face_diffusivity(d: Array, grid: Grid, periodic: bool, axis: int) -> Array:
    """The ``n + 1`` face values :math:`D_{-1/2}, \\dots, D_{n-1/2}` along grid ``axis``
    of a diffusivity field ``d`` of shape ``grid.shape`` (see the module docstring)."""
    n = d.shape[axis]
    take = lambda lo, hi: lax.slice_in_dim(d, lo, hi, axis=axis)
    interior = 0.5 * (take(0, n - 1) + take(1, n))
    if periodic:
        wrap = 0.5 * (take(0, 1) + take(n - 1, n))
        lower = upper = wrap
    elif n >= 2:
        lower = 1.5 * take(0, 1) - 0.5 * take(1, 2)
        upper = 1.5 * take(n - 1, n) - 0.5 * take(n - 2, n - 1)
    else:
        lower = upper = take(0, 1)
    return jnp.concatenate([lower, interior, upper], axis=axis)


def diffusion(
    u: ArrayLike, diffusivity: ArrayLike, grid: Grid, bcs: Any, *, order: int = 2
) -> Array:
    r"""Diffusion tendency :math:`\nabla\cdot(D\nabla u)` for a scalar or field :math:`D`.

    Arguments:
        u: field ``(..., *grid.shape)`` (leading axes are channels, diffused alike).
        diffusivity: a scalar :math:`D` (then :math:`D\,\Delta u` with the order-``order``
            Laplacian) or a field of shape ``grid.shape`` (the conservative second-order
            flux form of the module docstring). Traced and differentiable.
        grid, bcs: the grid and the boundary conditions of ``u``.
        order: 2 or 4 for a scalar :math:`D`; a field needs 2.

    Returns:
        Array like ``u``.

    Raises:
        ValueError: a diffusivity of another shape, or ``order=4`` with a field.

    Example:
        >>> import scidiff
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Periodic, diffusion
        >>> g = Grid(64)
        >>> (x,) = g.coordinates()
        >>> d = 1.0 + 0.5 * jnp.sin(2 * jnp.pi * x)
        >>> du = diffusion(jnp.cos(2 * jnp.pi * x), d, g, Periodic())
        >>> abs(float(jnp.sum(du))) < 1e-4   # conservative
        True
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"`grid` must be a scidiff.kernels.Grid, got {type(grid).__name__}.")
    shape = tuple(np.shape(diffusivity))
    if shape == ():
        return jnp.asarray(diffusivity, jnp.result_type(u, float)) * laplacian(
            u, grid, bcs, order=order
        )
    if shape != grid.shape:
        raise ValueError(
            f"`diffusivity` must be a scalar or a field of the grid's shape {grid.shape}; "
            f"got shape {shape}."
        )
    if order != 2:
        raise ValueError(
            f"A diffusivity field is discretised in flux form at order 2 only; got order={order!r}."
        )
    check_field(u, grid)
    u = jnp.asarray(u)
    if not jnp.issubdtype(u.dtype, jnp.inexact):
        u = u.astype(jnp.result_type(float))
    pairs = normalize_bcs(bcs, grid)
    d = jnp.asarray(diffusivity, u.dtype)
    out = jnp.zeros_like(u)
    for a in range(grid.ndim):
        ax = u.ndim - grid.ndim + a
        n = u.shape[ax]
        inv_h = jnp.asarray(1.0 / grid.spacing[a], u.dtype)
        up = pad_pairs_axis(u, grid, pairs, a, 1, 1)
        grad = lax.slice_in_dim(up, 1, n + 2, axis=ax) - lax.slice_in_dim(up, 0, n + 1, axis=ax)
        flux = face_diffusivity(d, grid, isinstance(pairs[a][0], Periodic), a) * grad
        dflux = lax.slice_in_dim(flux, 1, n + 1, axis=ax) - lax.slice_in_dim(flux, 0, n, axis=ax)
        out = out + dflux * (inv_h * inv_h)
    return out
