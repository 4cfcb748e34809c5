"""Helpers shared by the finite-difference models (validation of grid and state shapes)."""

from __future__ import annotations

import numpy as np

from .._grid import Grid

__all__ = ["check_grid", "check_state"]


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
