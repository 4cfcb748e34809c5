"""Domain decomposition of grids: halo exchange with ``shard_map`` + ``ppermute``.

A global field of shape ``(n_0, ..., n_{d-1})`` is split into equal blocks over a
``jax.sharding.Mesh``: grid axis ``i`` over mesh axis ``mesh_axes[i]`` (or not split when
that entry is ``None``). A stencil of half-width ``w`` needs ``w`` ghost cells from each
neighbour; :func:`halo_exchange` fetches them with one ``ppermute`` per side and axis,
and :func:`sharded_stencil` wraps a *local* stencil so it runs on the decomposed field
and gives exactly the single-device answer. At the ends of the domain the ghost cells
come from the kernels' boundary conditions (``Periodic``, ``Dirichlet``, ``Neumann``),
built as ``scidiff.kernels.pad`` builds them (see :mod:`._boundary`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array

from ._boundary import is_periodic, normalize_boundary, outer_ghosts

__all__ = ["halo_exchange", "sharded_stencil", "grid_sharding"]


def halo_exchange(
    block: Array,
    width: int,
    axis_name: str,
    *,
    axis: int = 0,
    boundary: Any = None,
    spacing: float | None = None,
    vertex: bool = False,
) -> Array:
    """Pad a local block with ``width`` ghost cells from its neighbours along ``axis``.

    Call inside ``shard_map`` over a mesh with axis ``axis_name``. Shard ``k`` receives the
    last ``width`` cells of shard ``k-1`` on its left and the first ``width`` cells of
    shard ``k+1`` on its right. At the ends of the global domain ``boundary`` decides, as
    in ``scidiff.kernels``: ``Periodic()`` wraps around, ``Dirichlet(value)`` and
    ``Neumann(flux)`` reflect about the boundary.

    Args:
        block: the local block of the field.
        width: number of ghost cells per side (the stencil's half-width).
        axis_name: the mesh axis the grid axis is split over.
        axis: which array axis of ``block`` is split.
        boundary: one condition for both ends, or a ``(lower, upper)`` pair (``None``:
            periodic).
        spacing: the grid step along this axis (needed by ``Neumann`` with a flux).
        vertex: whether the grid is vertex-centred (its boundary is the first node).

    Returns:
        ``block`` grown by ``2 * width`` along ``axis``.

    Raises:
        ValueError/TypeError: an unknown ``boundary``, or a ``width`` larger than the block.
    """
    (pair,) = normalize_boundary(boundary, 1)
    return _exchange(block, width, axis_name, axis, pair, spacing, vertex)


def _check_width(width: int, n_local: int) -> None:
    if not 0 < width <= n_local:
        raise ValueError(f"halo width {width} must be in [1, local block size {n_local}].")


def _exchange(block, width, axis_name, axis, pair, spacing, vertex):
    n_local = block.shape[axis]
    _check_width(width, n_local)
    size = jax.lax.axis_size(axis_name)
    index = jax.lax.axis_index(axis_name)
    left_edge = jax.lax.slice_in_dim(block, 0, width, axis=axis)
    right_edge = jax.lax.slice_in_dim(block, n_local - width, n_local, axis=axis)
    # Shard k's right edge becomes shard k+1's left ghost, and vice versa.
    to_right = [(k, (k + 1) % size) for k in range(size)]
    to_left = [(k, (k - 1) % size) for k in range(size)]
    left_ghost = jax.lax.ppermute(right_edge, axis_name, to_right)
    right_ghost = jax.lax.ppermute(left_edge, axis_name, to_left)
    lo, hi = pair
    if not is_periodic(lo):  # the outermost shards reflect about the domain's ends
        outer_left = outer_ghosts(lo, block, width, axis, 0, spacing, vertex)
        outer_right = outer_ghosts(hi, block, width, axis, 1, spacing, vertex)
        left_ghost = jnp.where(index == 0, outer_left, left_ghost)
        right_ghost = jnp.where(index == size - 1, outer_right, right_ghost)
    return jnp.concatenate([left_ghost, block, right_ghost], axis=axis)


def _pad_unsplit(block, width, axis, pair, spacing, vertex):
    """Ghost cells along an axis that is not split (the block holds the whole axis)."""
    _check_width(width, block.shape[axis])
    lo, hi = pair
    if is_periodic(lo):
        pad = [(0, 0)] * block.ndim
        pad[axis] = (width, width)
        return jnp.pad(block, pad, mode="wrap")
    left = outer_ghosts(lo, block, width, axis, 0, spacing, vertex)
    right = outer_ghosts(hi, block, width, axis, 1, spacing, vertex)
    return jnp.concatenate([left, block, right], axis=axis)


def grid_sharding(mesh: Mesh, mesh_axes: Sequence[str | None]) -> NamedSharding:
    """The ``NamedSharding`` that splits grid axis ``i`` over ``mesh_axes[i]``."""
    return NamedSharding(mesh, PartitionSpec(*mesh_axes))


def sharded_stencil(
    stencil: Callable[[Array], Array],
    mesh: Mesh,
    mesh_axes: Sequence[str | None],
    width: int,
    *,
    boundary: Any = None,
    grid: Any = None,
) -> Callable[[Array], Array]:
    """Run a local stencil on a field decomposed over ``mesh``.

    ``stencil(padded)`` receives a block padded by ``width`` ghost cells on every side of
    every grid axis and must return the block's interior (the padded shape minus
    ``2 * width`` per axis) -- exactly what one would write for a single device after
    ``scidiff.kernels.pad(u, grid, bcs, width)``, which gives the same ghost cells. The
    returned function takes the global field (any sharding; it is resharded as needed)
    and returns the global result sharded like ``mesh_axes``.

    Args:
        stencil: the local computation on a padded block.
        mesh: the device mesh.
        mesh_axes: for each grid axis, the mesh axis it is split over (or ``None``).
        width: ghost cells per side (the stencil's half-width).
        boundary: the kernels' conditions -- ``Periodic()``, ``Dirichlet(value)``,
            ``Neumann(flux)`` -- one for all sides, one per axis, or a ``(lower, upper)``
            pair per axis (read as ``scidiff.kernels`` reads ``bcs``); scalar values,
            traced and differentiable. ``None`` (default) is periodic; the strings
            ``"periodic"``, ``"dirichlet"``, ``"neumann"`` are the homogeneous ones. The
            strings ``"zero"``/``"edge"`` are deprecated: they are not ``Dirichlet(0)``/
            ``Neumann()`` but fill ghosts with zeros / the outermost cell.
        grid: the ``scidiff.kernels.Grid`` of the field (read for its ``spacing`` and
            ``centring``): needed for ``Neumann`` with a non-zero flux and for
            vertex-centred grids.

    Example::

        from scidiff.kernels import Dirichlet, Grid, laplacian
        mesh = jax.make_mesh((4,), ("x",))
        grid = Grid(64)
        def lap(p):  # 1D, width 1
            return (p[:-2] - 2 * p[1:-1] + p[2:]) / grid.spacing[0] ** 2
        f = sharded_stencil(lap, mesh, ("x",), 1, boundary=Dirichlet(1.0), grid=grid)
        f(u)  # equals laplacian(u, grid, Dirichlet(1.0))

    Raises:
        ValueError/TypeError: unknown boundary or mesh axis, Periodic on a vertex-centred
            grid, or a grid size not divisible by its mesh axis (checked when called).
    """
    pairs = normalize_boundary(boundary, len(mesh_axes))
    for name in mesh_axes:
        if name is not None and name not in mesh.axis_names:
            raise ValueError(f"mesh has no axis {name!r} (axes: {mesh.axis_names}).")
    vertex = getattr(grid, "centring", "cell") == "vertex"
    if vertex and any(is_periodic(lo) for lo, _ in pairs):
        raise ValueError("Periodic boundaries need a cell-centred grid (as in scidiff.kernels).")
    spacing = (None,) * len(mesh_axes) if grid is None else tuple(grid.spacing)
    spec = PartitionSpec(*mesh_axes)

    def local(block):
        for axis, name in enumerate(mesh_axes):
            args = (pairs[axis], spacing[axis], vertex)
            if name is None:
                block = _pad_unsplit(block, width, axis, *args)
            else:
                block = _exchange(block, width, name, axis, *args)
        return stencil(block)

    mapped = jax.shard_map(local, mesh=mesh, in_specs=spec, out_specs=spec)

    def apply(u: Array) -> Array:
        if u.ndim != len(mesh_axes):
            raise ValueError(
                f"field has {u.ndim} axes but `mesh_axes` names {len(mesh_axes)}: give one "
                "entry (a mesh axis or None) per grid axis."
            )
        if grid is not None and tuple(u.shape) != tuple(grid.shape):
            raise ValueError(f"field shape {u.shape} does not match the grid's {grid.shape}.")
        for axis, name in enumerate(mesh_axes):
            if name is not None and u.shape[axis] % mesh.shape[name]:
                raise ValueError(
                    f"grid axis {axis} has {u.shape[axis]} points, not divisible by the "
                    f"{mesh.shape[name]} devices of mesh axis {name!r}."
                )
        return mapped(place(u, NamedSharding(mesh, spec)))

    return apply


def place(tree, sharding):
    """Put ``tree`` on ``sharding`` (a transfer for concrete arrays, a reshard under jit)."""
    return jax.tree_util.tree_map(lambda x: jax.sharding.reshard(x, sharding), tree)
