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
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int

from ._space import Space, safe_norm

__all__ = [
    "NeighborList",
    "NeighborListFns",
    "allocate_neighbor_list",
    "neighbor_list",
    "raise_if_overflow",
]


class NeighborList(NamedTuple):
    """``idx[i]``: neighbours of particle ``i`` (``N`` = empty slot); ``reference``:
    positions at the last build; ``overflow``: True if pairs did not fit.

    ``needed_capacity`` is the largest number of neighbours any particle has (what
    ``capacity`` must be at least) and ``needed_cell_capacity`` the fullest cell's
    occupancy (what ``cell_capacity`` must be at least; 0 without a cell list), so an
    overflow can be fixed by rebuilding with those sizes, or sized in advance with
    :func:`allocate_neighbor_list`. After a *cell* overflow ``needed_capacity`` may be an
    underestimate (pairs in the dropped cell slots are not counted): fix the cells first.
    """

    idx: Int[Array, "n capacity"]
    reference: Array
    overflow: Bool[Array, ""]
    needed_capacity: Int[Array, ""]
    needed_cell_capacity: Int[Array, ""]
    cell_capacity: Int[Array, ""]


def raise_if_overflow(nbrs: NeighborList) -> NeighborList:
    """Raise if the list overflowed a capacity; name the capacity and the size it needs.

    With a concrete list (outside ``jit``) this raises ``ValueError`` at once with the
    numbers; under ``jit`` it raises at run time (``equinox.error_if``) naming the
    capacity that overflowed and the field that holds the needed size.

    Raises:
        ValueError: the list overflowed (concrete case).

    Example:
        >>> import jax.numpy as jnp
        >>> import scidiff.kernels.particles as P
        >>> fns = P.neighbor_list(P.free_space(), 4.0, 1.0, capacity=4)
        >>> nbrs = P.raise_if_overflow(fns.build(jnp.array([[0.5, 0.5], [1.0, 0.5]])))
    """
    capacity = nbrs.idx.shape[-1]
    cell_over = nbrs.needed_cell_capacity > nbrs.cell_capacity
    list_over = nbrs.needed_capacity > capacity
    try:
        concrete = bool(nbrs.overflow)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError):
        idx = eqx.error_if(
            nbrs.idx,
            cell_over,
            "neighbour list overflow: a cell holds more particles than `cell_capacity`; "
            "rebuild with cell_capacity >= nbrs.needed_cell_capacity (or size the list with "
            "allocate_neighbor_list).",
        )
        idx = eqx.error_if(
            idx,
            nbrs.overflow,
            f"neighbour list overflow: `capacity`={capacity} slots per particle are too few; "
            "rebuild with capacity >= nbrs.needed_capacity (or size the list with "
            "allocate_neighbor_list).",
        )
        return nbrs._replace(idx=idx)
    if not concrete:
        return nbrs
    if bool(cell_over):
        raise ValueError(
            f"neighbour list overflow: `cell_capacity`={int(nbrs.cell_capacity)} is too small, "
            f"the fullest cell needs at least {int(nbrs.needed_cell_capacity)} slots; rebuild "
            "with a larger cell_capacity (or size the list with allocate_neighbor_list)."
        )
    needed = int(nbrs.needed_capacity)
    if not bool(list_over):  # pragma: no cover - overflow is the OR of the two
        needed = capacity + 1
    raise ValueError(
        f"neighbour list overflow: `capacity`={capacity} slots per particle are too few, a "
        f"particle needs at least {needed}; rebuild with a larger capacity (or size the list "
        "with allocate_neighbor_list)."
    )


class NeighborListFns(NamedTuple):
    """``build(R) -> NeighborList`` and ``update(R, nbrs) -> NeighborList``."""

    build: Callable[[Array], NeighborList]
    update: Callable[[Array, NeighborList], NeighborList]


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be at least 1 (a positive integer), got {value!r}.")
    return int(value)


def _check_length(value: Any, name: str, *, allow_zero: bool) -> float:
    try:
        x = float(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise TypeError(
            f"`{name}` must be a concrete number (it sizes the cells), got {value!r}."
        ) from None
    ok = math.isfinite(x) and (x >= 0 if allow_zero else x > 0)
    if not ok:
        raise ValueError(f"`{name}` must be finite and {'>=' if allow_zero else '>'} 0, got {x}.")
    return x


def _compact(candidates: Array, keep: Array, capacity: int, n: int):
    """Move kept candidates to the front, in order; return (idx[capacity], count).

    A prefix sum gives each kept candidate its slot (O(candidates), no sort); kept
    candidates beyond ``capacity`` are dropped here and reported by the count."""
    slot = jnp.cumsum(keep) - 1
    slot = jnp.where(keep, slot, capacity)  # out of range: dropped by the scatter
    chosen = jnp.full(capacity, n, candidates.dtype).at[slot].set(candidates, mode="drop")
    return chosen, jnp.sum(keep)


def _check_box(space: Space, box: Any) -> np.ndarray:
    """The list box as float sides; for a periodic space it must be the space's box."""
    if box is None:
        if space.box is None:
            raise ValueError("free space needs an explicit `box` (the region the cells cover).")
        box = space.box
    try:
        sides = np.atleast_1d(np.asarray(box, dtype=float))
    except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        raise TypeError(
            f"`box` must be concrete numbers (it sizes the cells), got {box!r}."
        ) from None
    if sides.ndim != 1 or not np.all(np.isfinite(sides) & (sides > 0)):
        raise ValueError(f"`box` sides must be finite and > 0, got {box!r}.")
    if space.box is not None:
        try:
            own = np.atleast_1d(np.asarray(space.box, dtype=float))
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
            return sides  # a traced periodic box: cannot be compared here
        try:
            same = np.allclose(*np.broadcast_arrays(sides, own), rtol=1e-12, atol=0.0)
        except ValueError:
            same = False
        if not same:
            raise ValueError(
                f"The neighbour-list box {sides.tolist()} must equal the periodic space's box "
                f"{own.tolist()}: cells must tile the periodic box exactly, or pairs across "
                "its boundary are lost. Pass box=None to use the space's box."
            )
    return sides


def neighbor_list(
    space: Space,
    box: Any,
    cutoff: float,
    *,
    capacity: int,
    skin: float = 0.3,
    cell_capacity: int | None = None,
    method: str = "cell",
) -> NeighborListFns:
    """Neighbour-list builder for particles in ``[0, box)`` (periodic or free space).

    In a periodic space positions may lie anywhere (``x = L + 10``, ``x = -10``): they are
    binned by their image in ``[0, L)``. In free space particles may stray outside the
    box; they are binned into the border cells (which may then overflow, flagged).

    Args:
        space: from :func:`free_space` or :func:`periodic_space`.
        box: side lengths of the region the cells cover (static numbers); for a periodic
            space it must equal the space's box (``None``: take the space's box).
        cutoff: interaction range (finite, > 0); pairs closer than ``cutoff + skin`` are
            listed.
        capacity: neighbour slots per particle (a positive integer).
        skin: extra range (finite, >= 0) that lets a list be reused while particles move
            less than ``skin / 2``.
        cell_capacity: particle slots per cell (default: from the mean density).
        method: ``"cell"`` (O(N) cell list) or ``"all_pairs"`` (O(N²), for small N).

    Returns:
        ``NeighborListFns(build, update)``: ``build(R) -> NeighborList`` and
        ``update(R, nbrs) -> NeighborList`` (rebuilds only when needed).

    Raises:
        ValueError: unknown method, non-positive or non-integer capacities, a cutoff or
            skin that is NaN, infinite or negative (a zero cutoff too), a box that is not
            finite and positive or (periodic) differs from the space's box, or (periodic)
            a cutoff larger than half the box, where minimum images are ambiguous.

    Example:
        >>> import jax.numpy as jnp
        >>> import scidiff.kernels.particles as P
        >>> fns = P.neighbor_list(P.periodic_space(10.0), 10.0, 2.0, capacity=8)
        >>> nbrs = fns.build(jnp.array([[0.5, 5.0], [9.5, 5.0], [5.0, 5.0]]))
        >>> nbrs.idx[0].tolist()[:2], bool(nbrs.overflow)   # 0 and 1 meet across x = 0
        ([1, 3], False)
    """
    if method not in ("cell", "all_pairs"):
        raise ValueError(f"unknown neighbour-list method {method!r}: use 'cell' or 'all_pairs'.")
    capacity = _check_positive_int(capacity, "capacity")
    if cell_capacity is not None:
        cell_capacity = _check_positive_int(cell_capacity, "cell_capacity")
    cutoff = _check_length(cutoff, "cutoff", allow_zero=False)
    skin = _check_length(skin, "skin", allow_zero=True)
    box_np = _check_box(space, box)
    r_list = cutoff + skin
    periodic = space.box is not None
    if periodic and r_list > 0.5 * box_np.min():
        raise ValueError(
            f"cutoff + skin = {r_list} exceeds half the smallest box side "
            f"({0.5 * box_np.min()}): minimum images would be ambiguous."
        )
    zero = jnp.zeros((), jnp.int32)

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
        # Bin by the image in [0, L) in a periodic box (positions may lie anywhere); the
        # clip keeps rounding (mod giving exactly L) and free-space strays in range.
        binned = jnp.mod(R, jnp.asarray(sides, R.dtype)) if periodic else R
        cell_of = jnp.clip(jnp.floor(binned / size).astype(jnp.int32), 0, jnp.asarray(cells) - 1)
        strides = np.cumprod((1,) + tuple(cells[::-1][:-1]))[::-1].copy()
        flat = cell_of @ jnp.asarray(strides, jnp.int32)
        order = jnp.argsort(flat, stable=True)
        sorted_cells = flat[order]
        start = jnp.searchsorted(sorted_cells, jnp.arange(n_cells), side="left")
        rank = jnp.arange(n) - start[sorted_cells]
        table = jnp.full((n_cells, cap), n, jnp.int32)
        table = table.at[sorted_cells, jnp.minimum(rank, cap - 1)].set(
            jnp.where(rank < cap, order, n).astype(jnp.int32), mode="drop"
        )
        offsets = jnp.asarray(list(itertools.product((-1, 0, 1), repeat=dim)), jnp.int32)

        def one(i: Array, ci: Array) -> tuple[Array, Array]:
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
        needed_cells = (jnp.max(rank) + 1).astype(jnp.int32)
        needed = jnp.max(counts).astype(jnp.int32)
        overflow = (needed_cells > cap) | (needed > capacity)
        return NeighborList(
            idx.astype(jnp.int32), R, overflow, needed, needed_cells, jnp.asarray(cap, jnp.int32)
        )

    def _all_pairs(R: Array) -> NeighborList:
        n = R.shape[0]
        ids = jnp.arange(n)

        def one(i: Array) -> tuple[Array, Array]:
            dr = jax.vmap(space.displacement, (None, 0))(R[i], R)
            keep = (ids != i) & (safe_norm(dr) < r_list)
            return _compact(ids, keep, capacity, n)

        idx, counts = jax.vmap(one)(ids)
        needed = jnp.max(counts).astype(jnp.int32)
        return NeighborList(idx.astype(jnp.int32), R, needed > capacity, needed, zero, zero)

    def update(R: Array, nbrs: NeighborList) -> NeighborList:
        moved = safe_norm(jax.vmap(space.displacement)(R, nbrs.reference))
        return jax.lax.cond(
            jnp.max(moved) > 0.5 * skin, build, lambda R: nbrs._replace(idx=nbrs.idx), R
        )

    return NeighborListFns(build, update)


def allocate_neighbor_list(
    space: Space,
    box: Any,
    cutoff: float,
    R: Array,
    *,
    skin: float = 0.3,
    safety: float = 1.25,
    method: str = "cell",
) -> tuple[NeighborListFns, NeighborList]:
    """Size a neighbour list from a configuration, as jax-md's ``allocate`` does.

    Builds the list once with generous capacities, measures what ``R`` needs (the
    fullest cell, the particle with most neighbours within ``cutoff + skin``), and
    returns a builder whose capacities are those needs times ``safety`` (rounded up), with
    the list built from ``R``. Call it outside ``jit`` (capacities are static sizes);
    rebuild with it again when a later list overflows.

    Args:
        space, box, cutoff, skin, method: as for :func:`neighbor_list`.
        R: a configuration ``(N, dim)`` (concrete).
        safety: headroom factor, >= 1 (1.25: room for 25% more neighbours).

    Returns:
        ``(fns, nbrs)``: the sized ``NeighborListFns`` and the list of ``R``.

    Raises:
        ValueError: a safety factor below 1 (or not finite), or what :func:`neighbor_list`
            refuses.

    Example:
        >>> import jax
        >>> import scidiff.kernels.particles as P
        >>> R = jax.random.uniform(jax.random.PRNGKey(0), (50, 2)) * 10.0
        >>> fns, nbrs = P.allocate_neighbor_list(P.periodic_space(10.0), 10.0, 1.5, R)
        >>> bool(nbrs.overflow)
        False
    """
    safety = float(safety)
    if not (math.isfinite(safety) and safety >= 1.0):
        raise ValueError(f"`safety` must be >= 1 (and finite), got {safety}.")
    R = jnp.asarray(R)
    n = int(R.shape[0])
    probe = neighbor_list(space, box, cutoff, capacity=1, skin=skin, method=method).build(R)
    cell_cap = None
    if int(probe.cell_capacity) > 0:
        cell_cap = max(1, math.ceil(safety * int(probe.needed_cell_capacity)))
    # Every candidate fits when the capacity is the number of other particles.
    wide = neighbor_list(
        space,
        box,
        cutoff,
        capacity=max(n - 1, 1),
        skin=skin,
        cell_capacity=cell_cap,
        method=method,
    ).build(R)
    capacity = max(1, math.ceil(safety * int(wide.needed_capacity)))
    fns = neighbor_list(
        space, box, cutoff, capacity=capacity, skin=skin, cell_capacity=cell_cap, method=method
    )
    return fns, fns.build(R)
