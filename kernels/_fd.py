r"""Finite-difference operators on uniform grids, any dimension, any boundary condition.

Each operator pads the field with ghost points (:func:`~scidiff.kernels.pad_axis`, the one
place boundary conditions are applied) and combines shifted copies of the field built from zero-padded pieces: no ``roll`` and no
concatenation, so XLA fuses ghosts + stencil into a single loop over the grid.

Central stencils (``h`` the spacing along the axis):

.. math::
    \partial u &\approx \frac{u_{i+1} - u_{i-1}}{2h}
      &&\text{(order 2)},\qquad
    \frac{-u_{i+2} + 8u_{i+1} - 8u_{i-1} + u_{i-2}}{12h} &&\text{(order 4)},\\
    \partial^2 u &\approx \frac{u_{i+1} - 2u_i + u_{i-1}}{h^2}
      &&\text{(order 2)},\qquad
    \frac{-u_{i+2} + 16u_{i+1} - 30u_i + 16u_{i-1} - u_{i-2}}{12h^2} &&\text{(order 4)}.

The interior order is the stencil's; near Dirichlet/Neumann boundaries the reflected
ghosts (see :mod:`scidiff.kernels._boundary`) keep it for solutions with the matching
parity at the wall (e.g. diffusion problems), and lower it otherwise.
"""

from __future__ import annotations

import jax.numpy as jnp

from ._boundary import normalize_bcs, shifted_along
from ._grid import Grid, check_field

__all__ = ["derivative", "gradient", "divergence", "laplacian"]

# Stencil weights (offset -> weight), times 1/h (first) or 1/h^2 (second derivative).
_FIRST = {2: {-1: -0.5, 1: 0.5}, 4: {-2: 1 / 12, -1: -8 / 12, 1: 8 / 12, 2: -1 / 12}}
_SECOND = {
    2: {-1: 1.0, 0: -2.0, 1: 1.0},
    4: {-2: -1 / 12, -1: 16 / 12, 0: -30 / 12, 1: 16 / 12, 2: -1 / 12},
}


def _check_order(order: int) -> None:
    if order not in (2, 4):
        raise ValueError(f"`order` must be 2 or 4, got {order!r}.")


def _apply(u, grid: Grid, pairs, axis: int, weights: dict[int, float], scale: float):
    """``scale * sum_k w_k u_{i+k}`` along grid ``axis`` with ghosts from the BCs."""
    return _combine(u, _stencil_terms(u, grid, pairs, axis, weights, scale))


def _stencil_terms(u, grid: Grid, pairs, axis: int, weights: dict[int, float], scale: float):
    """``(centre weight, [(weight, shifted array), ...])`` for one axis."""
    shifted = shifted_along(u, grid, pairs, axis, sorted(weights))
    terms = [(w * scale, shifted[k]) for k, w in sorted(weights.items(), reverse=True) if k]
    return weights.get(0, 0.0) * scale, terms


def _combine(u, *parts):
    """``centre * u + sum(weight * shifted)`` over the axes' terms, as one left-to-right chain.

    Weights are taken relative to the first term's, so the common case (a Laplacian on
    equal spacings) has no multiply per term, only one at the end. The association
    matters on CPU: XLA's fused loop over ``pad`` pieces vectorises well for a chain
    ``((c u + s_1) + s_2) + ...`` started with the ``+k`` shift of the leading axis, and is
    2-4x slower when shifted arrays are first added pairwise or the chain starts from a
    minor axis (measured with jaxlib 0.10; see ``benchmarks/stencil.py``).
    """
    terms = [t for _, ts in parts for t in ts]
    ref = terms[0][0]
    centre = sum(c for c, _ in parts) / ref
    out = u * jnp.asarray(centre, u.dtype) if centre else None
    for wgt, arr in terms:
        term = arr if wgt == ref else arr * jnp.asarray(wgt / ref, u.dtype)
        out = term if out is None else out + term
    assert out is not None  # there is at least one term
    return out * jnp.asarray(ref, u.dtype)


def _prepare(u, grid: Grid, bcs, order: int, name: str = "u"):
    if not isinstance(grid, Grid):
        raise TypeError(f"`grid` must be a scidiff.kernels.Grid, got {type(grid).__name__}.")
    _check_order(order)
    check_field(u, grid, name)
    u = jnp.asarray(u)
    if not jnp.issubdtype(u.dtype, jnp.inexact):
        u = u.astype(jnp.result_type(float))
    return u, normalize_bcs(bcs, grid)


def derivative(u, grid: Grid, bcs, axis: int, *, order: int = 2):
    r"""Central first derivative :math:`\partial u/\partial x_{\mathrm{axis}}`.

    Arguments:
        u: field ``(..., *grid.shape)`` (leading axes are channels).
        grid, bcs: the grid and its boundary conditions.
        axis: grid axis (``0 .. grid.ndim - 1``, negative counts from the end).
        order: 2 or 4.

    Returns:
        Array like ``u``.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Periodic, derivative
        >>> g = Grid(64, 2 * jnp.pi)
        >>> (x,) = g.coordinates()
        >>> du = derivative(jnp.sin(x), g, Periodic(), 0, order=4)   # ~ cos(x)
    """
    u, pairs = _prepare(u, grid, bcs, order)
    if not -grid.ndim <= axis < grid.ndim:
        raise ValueError(f"`axis` {axis} is out of range for a {grid.ndim}D grid.")
    axis %= grid.ndim
    return _apply(u, grid, pairs, axis, _FIRST[order], 1.0 / grid.spacing[axis])


def gradient(u, grid: Grid, bcs, *, order: int = 2):
    r"""Gradient :math:`\nabla u`, stacked on a new leading axis of length ``grid.ndim``.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Periodic, gradient
        >>> g = Grid((32, 32))
        >>> gradient(jnp.zeros((32, 32)), g, Periodic()).shape
        (2, 32, 32)
    """
    u, pairs = _prepare(u, grid, bcs, order)
    return jnp.stack(
        [_apply(u, grid, pairs, a, _FIRST[order], 1.0 / grid.spacing[a]) for a in range(grid.ndim)]
    )


def divergence(v, grid: Grid, bcs, *, order: int = 2):
    r"""Divergence :math:`\nabla\cdot v = \sum_a \partial_a v_a` of a vector field.

    Arguments:
        v: shape ``(grid.ndim, *grid.shape)`` (component ``a`` along axis ``a``).
        bcs: boundary conditions applied to every component.

    Raises:
        ValueError: if ``v`` does not have ``grid.ndim`` components.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Periodic, divergence
        >>> g = Grid((16, 16))
        >>> divergence(jnp.zeros((2, 16, 16)), g, Periodic()).shape
        (16, 16)
    """
    v, pairs = _prepare(v, grid, bcs, order, "v")
    if v.ndim != grid.ndim + 1 or v.shape[0] != grid.ndim:
        raise ValueError(
            f"A vector field on a {grid.ndim}D grid has shape {(grid.ndim, *grid.shape)}, "
            f"got {v.shape}."
        )
    out = 0
    for a in range(grid.ndim):
        out = out + _apply(v[a], grid, pairs, a, _FIRST[order], 1.0 / grid.spacing[a])
    return out


def laplacian(u, grid: Grid, bcs, *, order: int = 2):
    r"""Laplacian :math:`\Delta u = \sum_a \partial_a^2 u` (order 2: 3-point per axis, i.e.
    the 5-point stencil in 2D and 7-point in 3D; order 4: 5-point per axis).

    Arguments:
        u: field ``(..., *grid.shape)``.
        grid, bcs: the grid and its boundary conditions.
        order: 2 or 4.

    Returns:
        Array like ``u``.

    Raises:
        ValueError: bad ``order``, shape mismatch, grid too small for the stencil.
        TypeError: unknown boundary condition.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Periodic, laplacian
        >>> g = Grid(64, 2 * jnp.pi)
        >>> (x,) = g.coordinates()
        >>> lap = laplacian(jnp.sin(x), g, Periodic(), order=4)   # ~ -sin(x)
    """
    u, pairs = _prepare(u, grid, bcs, order)
    parts = [
        _stencil_terms(u, grid, pairs, a, _SECOND[order], 1.0 / grid.spacing[a] ** 2)
        for a in range(grid.ndim)
    ]
    return _combine(u, *parts)
