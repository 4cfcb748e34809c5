"""Domain decomposition of grids: halo exchange with ``shard_map`` + ``ppermute``.

A global field of shape ``(n_0, ..., n_{d-1})`` is split into equal blocks over a
``jax.sharding.Mesh``: grid axis ``i`` over mesh axis ``mesh_axes[i]`` (or not split when
that entry is ``None``). A stencil of half-width ``w`` needs ``w`` ghost cells from each
neighbour; :func:`halo_exchange` fetches them with one ``ppermute`` per side and axis,
and :func:`sharded_stencil` wraps a *local* stencil so it runs on the decomposed field
and gives exactly the single-device answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array

__all__ = ["halo_exchange", "sharded_stencil", "grid_sharding"]

Boundary = Literal["periodic", "zero", "edge"]
_BOUNDARIES = ("periodic", "zero", "edge")


def _check_boundary(boundary: str) -> None:
    if boundary not in _BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}: use one of {', '.join(_BOUNDARIES)}.")


def halo_exchange(
    block: Array,
    width: int,
    axis_name: str,
    *,
    axis: int = 0,
    boundary: Boundary = "periodic",
) -> Array:
    """Pad a local block with ``width`` ghost cells from its neighbours along ``axis``.

    Call inside ``shard_map`` over a mesh with axis ``axis_name``. Shard ``k`` receives the
    last ``width`` cells of shard ``k-1`` on its left and the first ``width`` cells of
    shard ``k+1`` on its right. At the ends of the global domain ``boundary`` decides:
    ``"periodic"`` wraps around, ``"zero"`` fills zeros (homogeneous Dirichlet ghost
    values), ``"edge"`` repeats the outermost cell (zero-gradient Neumann).

    Args:
        block: the local block of the field.
        width: number of ghost cells per side (the stencil's half-width).
        axis_name: the mesh axis the grid axis is split over.
        axis: which array axis of ``block`` is split.
        boundary: what lies beyond the global domain.

    Returns:
        ``block`` grown by ``2 * width`` along ``axis``.

    Raises:
        ValueError: for an unknown ``boundary`` or a ``width`` larger than the block.
    """
    _check_boundary(boundary)
    n_local = block.shape[axis]
    if not 0 < width <= n_local:
        raise ValueError(f"halo width {width} must be in [1, local block size {n_local}].")
    size = jax.lax.axis_size(axis_name)
    index = jax.lax.axis_index(axis_name)
    left_edge = jax.lax.slice_in_dim(block, 0, width, axis=axis)
    right_edge = jax.lax.slice_in_dim(block, n_local - width, n_local, axis=axis)
    # Shard k's right edge becomes shard k+1's left ghost, and vice versa.
    to_right = [(k, (k + 1) % size) for k in range(size)]
    to_left = [(k, (k - 1) % size) for k in range(size)]
    left_ghost = jax.lax.ppermute(right_edge, axis_name, to_right)
    right_ghost = jax.lax.ppermute(left_edge, axis_name, to_left)
    if boundary != "periodic":
        if boundary == "zero":
            outer_left = jnp.zeros_like(left_ghost)
            outer_right = jnp.zeros_like(right_ghost)
        else:  # edge
            reps = [1] * block.ndim
            reps[axis] = width
            outer_left = jnp.tile(jax.lax.slice_in_dim(block, 0, 1, axis=axis), reps)
            outer_right = jnp.tile(
                jax.lax.slice_in_dim(block, n_local - 1, n_local, axis=axis), reps
            )
        left_ghost = jnp.where(index == 0, outer_left, left_ghost)
        right_ghost = jnp.where(index == size - 1, outer_right, right_ghost)
    return jnp.concatenate([left_ghost, block, right_ghost], axis=axis)


def _pad_unsplit(block: Array, width: int, axis: int, boundary: Boundary) -> Array:
    """Ghost cells along an axis that is not split (the block holds the whole axis)."""
    pad = [(0, 0)] * block.ndim
    pad[axis] = (width, width)
    mode = {"periodic": "wrap", "zero": "constant", "edge": "edge"}[boundary]
    return jnp.pad(block, pad, mode=mode)


def grid_sharding(mesh: Mesh, mesh_axes: Sequence[str | None]) -> NamedSharding:
    """The ``NamedSharding`` that splits grid axis ``i`` over ``mesh_axes[i]``."""
    return NamedSharding(mesh, PartitionSpec(*mesh_axes))


def sharded_stencil(
    stencil: Callable[[Array], Array],
    mesh: Mesh,
    mesh_axes: Sequence[str | None],
    width: int,
    *,
    boundary: Boundary = "periodic",
) -> Callable[[Array], Array]:
    """Run a local stencil on a field decomposed over ``mesh``.

    ``stencil(padded)`` receives a block padded by ``width`` ghost cells on every side of
    every grid axis and must return the block's interior (the padded shape minus
    ``2 * width`` per axis) -- exactly what one would write for a single device after
    ``jnp.pad``. The returned function takes the global field (any sharding; it is
    resharded as needed) and returns the global result sharded like ``mesh_axes``.

    Example::

        mesh = jax.make_mesh((4,), ("x",))
        def laplacian(p):  # 1D, width 1
            return p[:-2] - 2 * p[1:-1] + p[2:]
        lap = sharded_stencil(laplacian, mesh, ("x",), width=1)
        lap(u)  # equals laplacian(jnp.pad(u, 1, mode="wrap"))

    Raises:
        ValueError: unknown boundary, unknown mesh axis, or a grid size not divisible by
            its mesh axis (checked when the function is called).
    """
    _check_boundary(boundary)
    for name in mesh_axes:
        if name is not None and name not in mesh.axis_names:
            raise ValueError(f"mesh has no axis {name!r} (axes: {mesh.axis_names}).")
    spec = PartitionSpec(*mesh_axes)

    def local(block):
        for axis, name in enumerate(mesh_axes):
            if name is None:
                block = _pad_unsplit(block, width, axis, boundary)
            else:
                block = halo_exchange(block, width, name, axis=axis, boundary=boundary)
        return stencil(block)

    mapped = jax.shard_map(local, mesh=mesh, in_specs=spec, out_specs=spec)

    def apply(u: Array) -> Array:
        if u.ndim != len(mesh_axes):
            raise ValueError(
                f"field has {u.ndim} axes but `mesh_axes` names {len(mesh_axes)}: give one "
                "entry (a mesh axis or None) per grid axis."
            )
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
