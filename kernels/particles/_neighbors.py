"""Neighbour lists built from cell lists, with fixed capacities and overflow flags.

Under ``jit`` array sizes are fixed, so a neighbour list holds, for each of the N
particles, ``capacity`` slots of neighbour indices (the value N marks an empty slot).
Building it from a cell list costs O(N) instead of O(N²): particles are binned into
cells of side at least ``cutoff + skin``; each particle's candidates are the particles
of its own and the adjacent ``3^d - 1`` cells. When a cell or a particle's list is fuller
than its capacity, ``overflow`` is set -- never silently dropped pairs: check it (or
``raise_if_overflow``) and rebuild with a larger capacity.

The skin makes a list reusable: :meth:`NeighborListFns.update` rebuilds only when some
particle moved more than ``skin / 2`` since the last build.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int

from ._space import Space, safe_norm

__all__ = ["NeighborList", "NeighborListFns", "neighbor_list", "raise_if_overflow"]


class NeighborList(NamedTuple):
    """``idx[i]``: neighbours of particle ``i`` (``N`` = empty slot); ``reference``:
    positions at the last build; ``overflow``: True if pairs did not fit."""

    idx: Int[Array, "n capacity"]
    reference: Array
    overflow: Bool[Array, ""]


def raise_if_overflow(nbrs: NeighborList) -> NeighborList:
    """Raise (at run time, also under ``jit``) if the list overflowed its capacity."""
    idx = eqx.error_if(
        nbrs.idx,
        nbrs.overflow,
        "neighbour list overflow: a cell or a particle had more neighbours than its "
        "capacity; rebuild with a larger `capacity` / `cell_capacity`.",
    )
    return nbrs._replace(idx=idx)


class NeighborListFns(NamedTuple):
    build: callable
    update: callable


def _compact(candidates: Array, keep: Array, capacity: int, n: int):
    """Move kept candidates to the front, in order; return (idx[capacity], count).

    A prefix sum gives each kept candidate its slot (O(candidates), no sort); kept
    candidates beyond ``capacity`` are dropped here and reported by the count."""
    slot = jnp.cumsum(keep) - 1
    slot = jnp.where(keep, slot, capacity)  # out of range: dropped by the scatter
    chosen = jnp.full(capacity, n, candidates.dtype).at[slot].set(candidates, mode="drop")
    return chosen, jnp.sum(keep)


def neighbor_list(
    space: Space,
    box,
    cutoff: float,
    *,
    capacity: int,
    skin: float = 0.3,
    cell_capacity: int | None = None,
    method: str = "cell",
) -> NeighborListFns:
    """Neighbour-list builder for particles in ``[0, box)`` (periodic or free space).

    Args:
        space: from :func:`free_space` or :func:`periodic_space`.
        box: side lengths of the region the cells cover (static numbers). In free
            space particles may stray outside; they are binned into the border cells.
        cutoff: interaction range; pairs closer than ``cutoff + skin`` are listed.
        capacity: neighbour slots per particle.
        skin: extra range that lets a list be reused while particles move < skin/2.
        cell_capacity: particle slots per cell (default: from the mean density).
        method: ``"cell"`` (O(N) cell list) or ``"all_pairs"`` (O(N²), for small N).

    Returns:
        ``NeighborListFns(build, update)``: ``build(R) -> NeighborList`` and
        ``update(R, nbrs) -> NeighborList`` (rebuilds only when needed).

    Raises:
        ValueError: unknown method, non-positive capacity, or (periodic) a cutoff larger
            than half the box, where minimum images are ambiguous.
    """
    if method not in ("cell", "all_pairs"):
        raise ValueError(f"unknown neighbour-list method {method!r}: use 'cell' or 'all_pairs'.")
    if capacity < 1:
        raise ValueError(f"`capacity` must be at least 1, got {capacity}.")
    box_np = np.broadcast_to(np.asarray(box, dtype=float), (np.size(box),))
    r_list = cutoff + skin
    periodic = space.box is not None
    if periodic and r_list > 0.5 * box_np.min():
        raise ValueError(
            f"cutoff + skin = {r_list} exceeds half the smallest box side "
            f"({0.5 * box_np.min()}): minimum images would be ambiguous."
        )

    def build(R: Array) -> NeighborList:
        n, dim = R.shape
        sides = np.broadcast_to(box_np, (dim,))
        cells = np.maximum(np.floor(sides / r_list).astype(int), 1)
        use_cells = method == "cell" and (not periodic or cells.min() >= 3)
        if not use_cells:
            return _all_pairs(R)
        n_cells = int(np.prod(cells))
        cap = cell_capacity or max(8, int(math.ceil(2 * n / n_cells)))
        size = jnp.asarray(sides / cells, R.dtype)
        cell_of = jnp.clip(jnp.floor(R / size).astype(jnp.int32), 0, jnp.asarray(cells) - 1)
        strides = np.cumprod((1,) + tuple(cells[::-1][:-1]))[::-1].copy()
        flat = cell_of @ jnp.asarray(strides, jnp.int32)
        order = jnp.argsort(flat, stable=True)
        sorted_cells = flat[order]
        start = jnp.searchsorted(sorted_cells, jnp.arange(n_cells), side="left")
        rank = jnp.arange(n) - start[sorted_cells]
        cell_overflow = jnp.any(rank >= cap)
        table = jnp.full((n_cells, cap), n, jnp.int32)
        table = table.at[sorted_cells, jnp.minimum(rank, cap - 1)].set(
            jnp.where(rank < cap, order, n).astype(jnp.int32), mode="drop"
        )
        offsets = jnp.asarray(list(itertools.product((-1, 0, 1), repeat=dim)), jnp.int32)

        def one(i, ci):
            nb = ci + offsets  # (3^d, dim)
            if periodic:
                nb = jnp.mod(nb, jnp.asarray(cells))
                inside = jnp.ones(nb.shape[0], bool)
            else:
                inside = jnp.all((nb >= 0) & (nb < jnp.asarray(cells)), axis=1)
            ids = jnp.where(inside[:, None], table[jnp.clip(nb, 0) @ strides], n).reshape(-1)
            dr = jax.vmap(space.displacement, (None, 0))(R[i], R[jnp.minimum(ids, n - 1)])
            keep = (ids < n) & (ids != i) & (safe_norm(dr) < r_list)
            return _compact(ids, keep, capacity, n)

        idx, counts = jax.vmap(one)(jnp.arange(n), cell_of)
        overflow = cell_overflow | jnp.any(counts > capacity)
        return NeighborList(idx.astype(jnp.int32), R, overflow)

    def _all_pairs(R: Array) -> NeighborList:
        n = R.shape[0]
        ids = jnp.arange(n)

        def one(i):
            dr = jax.vmap(space.displacement, (None, 0))(R[i], R)
            keep = (ids != i) & (safe_norm(dr) < r_list)
            return _compact(ids, keep, capacity, n)

        idx, counts = jax.vmap(one)(ids)
        return NeighborList(idx.astype(jnp.int32), R, jnp.any(counts > capacity))

    def update(R: Array, nbrs: NeighborList) -> NeighborList:
        moved = safe_norm(jax.vmap(space.displacement)(R, nbrs.reference))
        return jax.lax.cond(
            jnp.max(moved) > 0.5 * skin, build, lambda R: nbrs._replace(idx=nbrs.idx), R
        )

    return NeighborListFns(build, update)
