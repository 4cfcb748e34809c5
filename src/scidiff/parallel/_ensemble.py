"""Batched ensembles sharded over devices.

Each device runs ``jax.vmap(fn)`` on its own slice of the batch inside ``shard_map``:
adaptive solvers on different devices take different numbers of steps without
synchronising, and the result equals ``jax.vmap(fn)`` on one device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._halo import place

__all__ = ["shard_ensemble"]


def shard_ensemble(
    fn: Callable[..., Any],
    mesh: Mesh,
    *,
    axis_name: str | None = None,
    in_axes: int | None | Sequence[int | None] = 0,
) -> Callable[..., Any]:
    """``jax.vmap(fn, in_axes)`` with the batch split over the devices of ``mesh``.

    Arguments with ``in_axes`` 0 are batched along their leading axis (every leaf of
    the pytree); those with ``None`` are broadcast to every member. A batch whose size
    is not a multiple of the number of devices is padded by repeating its last member,
    and the padding is dropped from the output (which then comes back replicated; with a
    multiple of the device count it stays sharded along ``axis_name``).

    Example::

        mesh = jax.make_mesh((jax.device_count(),), ("batch",))
        solve = lambda y0, k: scidiff.solve_ivp(f, (0.0, 1.0), y0, args=k).ys[-1]
        finals = shard_ensemble(solve, mesh, in_axes=(0, None))(y0s, k)

    Raises:
        ValueError: unknown mesh axis, ``in_axes`` of the wrong length, inconsistent
            batch sizes, or no batched argument.
    """
    axis_name = axis_name or mesh.axis_names[0]
    if axis_name not in mesh.axis_names:
        raise ValueError(f"mesh has no axis {axis_name!r} (axes: {mesh.axis_names}).")
    n_dev = mesh.shape[axis_name]

    def apply(*args):
        axes = (in_axes,) * len(args) if not isinstance(in_axes, (list, tuple)) else tuple(in_axes)
        if len(axes) != len(args):
            raise ValueError(f"`in_axes` has {len(axes)} entries for {len(args)} arguments.")
        if any(a not in (0, None) for a in axes):
            raise ValueError("`in_axes` entries must be 0 (batched) or None (broadcast).")
        sizes = {
            leaf.shape[0]
            for arg, ax in zip(args, axes)
            if ax == 0
            for leaf in jax.tree_util.tree_leaves(arg)
        }
        if not sizes:
            raise ValueError("no batched argument: give at least one `in_axes` entry of 0.")
        if len(sizes) > 1:
            raise ValueError(f"batched arguments disagree on the batch size: {sorted(sizes)}.")
        (batch,) = sizes
        pad = (-batch) % n_dev

        def grow(x):
            return jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]) if pad else x

        args = tuple(jax.tree_util.tree_map(grow, a) if ax == 0 else a for a, ax in zip(args, axes))
        specs = tuple(PartitionSpec(axis_name) if ax == 0 else PartitionSpec() for ax in axes)
        local = jax.vmap(fn, in_axes=axes)
        out = jax.shard_map(
            local, mesh=mesh, in_specs=specs, out_specs=PartitionSpec(axis_name), check_vma=False
        )(*(place(a, NamedSharding(mesh, s)) for a, s in zip(args, specs)))
        if not pad:
            return out
        # Dropping the padding: slice a replicated copy (slicing a sharded axis unevenly
        # is not expressible without collectives under explicit sharding).
        replicated = place(out, NamedSharding(mesh, PartitionSpec()))
        return jax.tree_util.tree_map(lambda x: x[:batch], replicated)

    return apply
