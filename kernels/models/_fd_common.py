"""Helpers shared by the finite-difference models (validation of grid and state shapes)."""

from __future__ import annotations

import numpy as np

from .._boundary import Dirichlet
from .._grid import Grid

__all__ = ["check_grid", "check_state", "hold_dirichlet_nodes"]


def check_grid(grid, model: str) -> Grid:
    """Raise ``TypeError`` unless ``grid`` is a :class:`~scidiff.kernels.Grid`."""
    if not isinstance(grid, Grid):
        raise TypeError(
            f"{model}: `grid` must be a scidiff.kernels.Grid, got {type(grid).__name__}."
        )
    return grid


def check_state(u, grid: Grid, model: str, name: str = "u", channels: int | None = None) -> None:
    """Raise ``ValueError`` unless ``u`` has shape ``grid.shape`` (or ``(channels, *shape)``)."""
    want = grid.shape if channels is None else (channels, *grid.shape)
    if tuple(np.shape(u)) != want:
        raise ValueError(
            f"{model}: `{name}` has shape {tuple(np.shape(u))} but the model's grid needs "
            f"{want}; vmap the model for batches of states."
        )


def hold_dirichlet_nodes(du, grid: Grid, bcs):
    """Zero the time derivative on Dirichlet boundary *nodes* of a vertex-centred grid.

    On a vertex grid the wall nodes are part of the state and carry the boundary value;
    the PDE does not apply there, so their tendency is zero (start from a state that
    holds the value there). Cell-centred grids are returned unchanged: their walls lie
    between a ghost and the first cell, handled by the ghost values alone.
    """
    if grid.centring != "vertex":
        return du
    for axis, pair in enumerate(bcs):
        for side, bc in enumerate(pair):
            if isinstance(bc, Dirichlet):
                ax = du.ndim - grid.ndim + axis
                index = [slice(None)] * du.ndim
                index[ax] = 0 if side == 0 else -1
                du = du.at[tuple(index)].set(0)
    return du
