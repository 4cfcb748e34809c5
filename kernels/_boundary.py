r"""Boundary conditions per side, applied by ghost-cell padding in one place: :func:`pad`.

Three conditions, each set per side of each axis:

* :class:`Periodic` -- the field wraps around (both sides of an axis must be periodic);
* :class:`Dirichlet` ``(value)`` -- :math:`u = g` on the boundary;
* :class:`Neumann` ``(flux)`` -- :math:`\partial u / \partial n = q` on the boundary, with
  :math:`n` the *outward* normal (so ``Neumann(q)`` on the left side means
  :math:`\partial_x u = -q`).

``value``/``flux`` may be a scalar or an array broadcastable to the boundary face (the
field shape without the padded axis); they are pytree leaves, so they can be traced,
swept and differentiated.

Ghost values are built by reflection about the boundary. On a cell-centred grid the
boundary lies half a cell outside the first point, and the ghost at distance
:math:`(k-\tfrac12)h` outside reads the interior point at the same distance inside:

.. math::
    \text{Dirichlet: } u_{-k} = 2g - u_{k-1}, \qquad
    \text{Neumann: } u_{-k} = u_{k-1} + (2k-1)\,h\,q .

On a vertex-centred grid the boundary is the first node, and the ghost at distance
:math:`kh` reads node :math:`k`: :math:`u_{-k} = 2g - u_k` and :math:`u_{-k} = u_k + 2khq`.
The reflections are exact when :math:`u-g` is odd (Dirichlet) or :math:`u - qn` even
(Neumann) about the boundary -- true of sine and cosine modes, and, for diffusion
problems, to the order of the interior stencil, since :math:`u_t = \kappa u_{xx}` keeps
the even (odd) derivatives of the solution zero at a Dirichlet (Neumann) wall.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax

from scidiff._sides import sides_per_axis

from ._grid import Grid, check_field

# Width and periodic flags of the axes already padded by :func:`pad` (0: none yet).
Corner = tuple[int, tuple[bool, ...]] | int

__all__ = ["AbstractBC", "Periodic", "Dirichlet", "Neumann", "normalize_bcs", "pad", "pad_axis"]


class AbstractBC(eqx.Module):
    """Base of the boundary conditions (``Periodic``, ``Dirichlet``, ``Neumann``)."""


class Periodic(AbstractBC):
    """The field wraps around this axis (both sides of an axis must be periodic).

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Periodic, pad
        >>> pad(jnp.arange(4.0), Grid(4), Periodic(), 1).tolist()
        [3.0, 0.0, 1.0, 2.0, 3.0, 0.0]
    """


class Dirichlet(AbstractBC):
    """Fixed value ``u = value`` on this side (scalar or face-shaped array, differentiable).

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Dirichlet, Grid, Periodic, laplacian
        >>> g = Grid((8, 4))
        >>> (y,) = g.coordinates()[1:]
        >>> bcs = ((Dirichlet(1.0), Dirichlet(jnp.sin(y))), Periodic())  # a face-shaped value
        >>> laplacian(jnp.ones(g.shape), g, bcs).shape
        (8, 4)
    """

    value: Any = eqx.field(default=0.0, converter=jnp.asarray)


class Neumann(AbstractBC):
    """Fixed outward normal derivative ``du/dn = flux`` on this side (0: insulated wall).

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Neumann, pad
        >>> g = Grid(4, 4.0)   # h = 1
        >>> pad(jnp.zeros(4), g, Neumann(0.5), 1).tolist()   # ghost = u + h q, outwards
        [0.5, 0.0, 0.0, 0.0, 0.0, 0.5]
    """

    flux: Any = eqx.field(default=0.0, converter=jnp.asarray)


_BY_NAME = {"periodic": Periodic, "dirichlet": Dirichlet, "neumann": Neumann}


def _one(bc) -> AbstractBC:
    if isinstance(bc, AbstractBC):
        if type(bc) not in (Periodic, Dirichlet, Neumann):
            raise TypeError(
                f"Unknown boundary condition {type(bc).__name__}: use Periodic(), "
                "Dirichlet(value) or Neumann(flux)."
            )
        return bc
    if isinstance(bc, str):
        if bc.lower() not in _BY_NAME:
            raise ValueError(
                f"Unknown boundary condition {bc!r}: use 'periodic', 'dirichlet', 'neumann' "
                "or the classes Periodic(), Dirichlet(value), Neumann(flux)."
            )
        return _BY_NAME[bc.lower()]()
    raise TypeError(
        f"Unknown boundary condition {bc!r} (type {type(bc).__name__}): use Periodic(), "
        "Dirichlet(value) or Neumann(flux)."
    )


def normalize_bcs(bcs, grid: Grid) -> tuple[tuple[AbstractBC, AbstractBC], ...]:
    """Expand a boundary specification to one ``(lower, upper)`` pair per axis.

    ``bcs`` may be one condition for every side (``Periodic()``), one per axis
    (``(Periodic(), Dirichlet(0.0))``), or one ``(lower, upper)`` pair per axis
    (``((Dirichlet(1.0), Neumann()), Periodic())``); on a 1D grid a bare pair
    ``(Dirichlet(1.0), Neumann())`` is read as ``(lower, upper)``. Strings name the
    homogeneous ones.

    Raises:
        TypeError/ValueError: for an unknown condition, the wrong number of axes, a
            periodic side paired with a non-periodic one, or periodic on a vertex grid.
    """
    pairs = sides_per_axis(bcs, grid.ndim, _one, lambda bc: isinstance(bc, Periodic))
    if grid.centring == "vertex" and any(isinstance(lo, Periodic) for lo, _ in pairs):
        raise ValueError(
            "Periodic boundaries need a cell-centred grid (a vertex-centred grid includes "
            "both end points): use Grid(..., centring='cell')."
        )
    return pairs


def _face_value(value, u, axis: int, name: str, corner):
    """Cast a BC value to ``u``'s dtype and shape it to broadcast against a ghost slab.

    ``corner`` is ``(width, periodic flags)`` of the axes already padded (by :func:`pad`, which
    pads axes in turn); a face-shaped array is extended there as the field was (wrapped or
    edge-repeated).
    """
    g = lax.convert_element_type(jnp.asarray(value), u.dtype)
    if g.ndim == 0:
        return g
    face = u.shape[:axis] + u.shape[axis + 1 :]
    if corner and g.ndim <= len(face):
        # The grid axes padded before this one sit just before ``axis`` in the face: extend
        # the value there as the field was extended (wrapped if periodic, else edge).
        width, periodic = corner
        lead = len(face) - g.ndim  # face dims that g broadcasts over implicitly
        for d, is_periodic in enumerate(periodic):
            gd = axis - len(periodic) + d - lead
            if gd >= 0 and g.shape[gd] != 1 and g.shape[gd] + 2 * width == face[gd + lead]:
                widths = [(0, 0)] * g.ndim
                widths[gd] = (width, width)
                g = jnp.pad(g, widths, mode="wrap" if is_periodic else "edge")
    try:
        np.broadcast_shapes(g.shape, face)
    except ValueError:
        raise ValueError(
            f"Boundary {name} of shape {g.shape} does not broadcast to the boundary face "
            f"{face} of axis {axis - u.ndim}: give a scalar or a face-shaped array."
        ) from None
    # Align trailing dims with the face, then insert the padded axis.
    g = g.reshape((1,) * (len(face) - g.ndim) + g.shape)
    return jnp.expand_dims(g, axis)


def _ghosts(u, pair, axis: int, h: float, vertex: bool, width: int, side: int, corner):
    """Ghost slab of ``width`` points outside side ``side`` (0 lower, 1 upper) of ``axis``."""
    bc = pair[side]
    n = u.shape[axis]
    take = lambda lo, hi: lax.slice_in_dim(u, lo, hi, axis=axis)
    if isinstance(bc, Periodic):
        return take(n - width, n) if side == 0 else take(0, width)
    # Mirror images: the lower side reads points (vertex: 1..w, cell: 0..w-1) reversed.
    if side == 0:
        mirror = take(1, width + 1) if vertex else take(0, width)
    else:
        mirror = take(n - width - 1, n - 1) if vertex else take(n - width, n)
    mirror = lax.rev(mirror, (axis,))
    if isinstance(bc, Dirichlet):
        return 2 * _face_value(bc.value, u, axis, "value", corner) - mirror
    # Neumann: the ghost-to-mirror distance is (2k-1)h (cell) or 2kh (vertex), k=1 nearest.
    k = np.arange(1, width + 1, dtype=np.float64)
    dist = (2 * k if vertex else 2 * k - 1) * h
    if side == 0:
        dist = dist[::-1]
    dist = jnp.asarray(dist, u.dtype).reshape((width,) + (1,) * (u.ndim - axis - 1))
    return mirror + dist * _face_value(bc.flux, u, axis, "flux", corner)


def _ghost_slabs(u, grid: Grid, pairs, axis: int, wl: int, wu: int, corner: Corner = 0):
    """The ``(lower, upper)`` ghost slabs (``None`` for zero width) of grid ``axis``."""
    if wl < 0 or wu < 0:
        raise ValueError(f"Ghost widths must be non-negative integers, got ({wl}, {wu}).")
    ax = u.ndim - grid.ndim + axis
    n = u.shape[ax]
    pair = pairs[axis]
    vertex = grid.centring == "vertex" and not isinstance(pair[0], Periodic)
    limit = n - 1 if vertex else n
    if max(wl, wu) > limit:
        raise ValueError(
            f"Ghost width {max(wl, wu)} needs more than the {n} points of axis {axis}: use a "
            "finer grid or a lower-order stencil."
        )
    h = grid.spacing[axis]
    lo = _ghosts(u, pair, ax, h, vertex, wl, 0, corner) if wl else None
    hi = _ghosts(u, pair, ax, h, vertex, wu, 1, corner) if wu else None
    return lo, hi


def pad_pairs_axis(u, grid: Grid, pairs, axis: int, wl: int, wu: int, corner: Corner = 0):
    """Pad grid ``axis`` of ``u`` (already shape-checked) by ``(wl, wu)`` ghost points."""
    lo, hi = _ghost_slabs(u, grid, pairs, axis, wl, wu, corner)
    parts = [p for p in (lo, u, hi) if p is not None]
    return jnp.concatenate(parts, axis=u.ndim - grid.ndim + axis) if len(parts) > 1 else u


def shifted_along(u, grid: Grid, pairs, axis: int, offsets):
    """``{k: s_k}`` with ``s_k[i] = u[i + k]`` along grid ``axis``, ghosts where ``i + k``
    falls outside.

    Equivalent to slicing the padded array, but written as the sum of two zero-padded
    pieces (the shifted interior and the needed ghosts) instead of a concatenation: XLA
    fuses ``pad`` into a consumer loop on every backend, whereas a concatenation along
    the minor axis is materialised on CPU. A whole stencil then compiles to one loop
    that reads ``u`` once (see ``benchmarks/stencil.py``).
    """
    w = max(abs(k) for k in offsets)
    lo, hi = _ghost_slabs(u, grid, pairs, axis, w, w)
    ax = u.ndim - grid.ndim + axis
    n = u.shape[ax]
    zero = jnp.zeros((), u.dtype)

    def zpad(x, before, after):
        cfg = [(0, 0, 0)] * u.ndim
        cfg[ax] = (before, after, 0)
        return lax.pad(x, zero, cfg)

    out = {}
    for k in offsets:
        if k == 0:
            out[k] = u
        elif k > 0:  # interior u[k:], then the first k upper ghosts
            assert hi is not None  # w >= k > 0
            body = zpad(lax.slice_in_dim(u, k, n, axis=ax), 0, k)
            out[k] = body + zpad(lax.slice_in_dim(hi, 0, k, axis=ax), n - k, 0)
        else:  # the last |k| lower ghosts, then interior u[:n-|k|]
            assert lo is not None  # w >= |k| > 0
            body = zpad(lax.slice_in_dim(u, 0, n + k, axis=ax), -k, 0)
            out[k] = body + zpad(lax.slice_in_dim(lo, w + k, w, axis=ax), 0, n + k)
    return out


def pad_axis(u, grid: Grid, bcs, axis: int, width: int | tuple[int, int]):
    """Pad ``u`` with ghost points along one grid ``axis`` only (see :func:`pad`).

    This is what the finite-difference operators use: a stencil along one axis needs
    ghosts along that axis only. ``width`` may be ``(lower, upper)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Periodic, pad_axis
        >>> g = Grid((4, 3))
        >>> pad_axis(jnp.ones((4, 3)), g, Periodic(), axis=1, width=2).shape
        (4, 7)
    """
    pairs = normalize_bcs(bcs, grid)
    check_field(u, grid)
    if not -grid.ndim <= axis < grid.ndim:
        raise ValueError(f"`axis` {axis} is out of range for a {grid.ndim}D grid.")
    if isinstance(width, (tuple, list)):
        wl, wu = (int(w) for w in width)
    else:
        wl = wu = int(width)
    return pad_pairs_axis(jnp.asarray(u), grid, pairs, axis % grid.ndim, wl, wu)


def pad(u, grid: Grid, bcs, width: int):
    """Surround the field ``u`` with ``width`` ghost points per side, per the ``bcs``.

    This is the one place boundary conditions are applied: every finite-difference
    operator pads and then takes interior slices of the padded array (operators along
    one axis use :func:`pad_axis`, which pads that axis only). Axes are padded in turn,
    so corners hold consistent (reflected or wrapped) values. Leading axes of ``u``
    beyond the grid's are channels, padded alike.

    Arguments:
        u: field, shape ``(..., *grid.shape)``.
        grid: the :class:`~scidiff.kernels.Grid`.
        bcs: boundary conditions (see :func:`normalize_bcs` for the accepted forms).
        width: ghost points per side.

    Returns:
        Array of shape ``(..., *(n + 2 * width for n in grid.shape))``.

    Raises:
        ValueError/TypeError: shape mismatch, unknown condition, width too large.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Dirichlet, Grid, pad
        >>> g = Grid(4)
        >>> pad(jnp.arange(4.0), g, Dirichlet(0.0), 1).tolist()   # ghosts 2g - u mirrored
        [0.0, 0.0, 1.0, 2.0, 3.0, -3.0]
    """
    pairs = normalize_bcs(bcs, grid)
    check_field(u, grid)
    u = jnp.asarray(u)
    width = int(width)
    for axis in range(grid.ndim):
        periodic = tuple(isinstance(pairs[a][0], Periodic) for a in range(axis))
        corner: Corner = (width, periodic) if axis else 0
        u = pad_pairs_axis(u, grid, pairs, axis, width, width, corner=corner)
    return u
