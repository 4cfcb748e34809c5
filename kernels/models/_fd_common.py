"""What the finite-difference models share: validation of their configuration, their
physical coefficients and their states, and the Dirichlet-node rule of vertex grids.

Every FD model constructor (heat, advection--diffusion, wave, Burgers, Gray--Scott,
shallow water, bounded KS/KdV) calls :func:`fd_configuration` once for its grid, boundary
conditions, stencil order and advection scheme, and :func:`coefficient` for each physical
parameter, so the same mistake gets the same message in every model (the spectral models
check their coefficients with :func:`coefficient` too).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._advection import check_scheme
from .._boundary import AbstractBC, Dirichlet, normalize_bcs
from .._grid import Grid

__all__ = [
    "check_grid",
    "check_state",
    "coefficient",
    "fd_configuration",
    "hold_dirichlet_nodes",
]

BCPairs = tuple[tuple[AbstractBC, AbstractBC], ...]


def check_grid(grid: Any, model: str) -> Grid:
    """Raise ``TypeError`` unless ``grid`` is a :class:`~scidiff.kernels.Grid`."""
    if not isinstance(grid, Grid):
        raise TypeError(
            f"{model}: `grid` must be a scidiff.kernels.Grid, got {type(grid).__name__}."
        )
    return grid


def fd_configuration(
    model: str,
    grid: Any,
    bcs: Any,
    *,
    order: int | None = None,
    scheme: str | None = None,
) -> tuple[Grid, BCPairs]:
    """Validate an FD model's grid, boundary conditions, Laplacian order and scheme.

    Arguments:
        model: the model's name, used in the messages.
        grid: must be a :class:`~scidiff.kernels.Grid`.
        bcs: any form :func:`~scidiff.kernels._boundary.normalize_bcs` accepts.
        order: the stencil order (2 or 4), or ``None`` when the model has no choice.
        scheme: the advection scheme (``"weno5"``/``"upwind"``), or ``None``.

    Returns:
        ``(grid, bcs)`` with ``bcs`` one ``(lower, upper)`` pair per axis.

    Raises:
        TypeError: ``grid`` is not a Grid, or an unknown boundary-condition class.
        ValueError: a bad order, scheme or boundary specification.

    Example:
        >>> import scidiff
        >>> from scidiff.kernels import Grid, Heat
        >>> from scidiff.kernels.models._fd_common import fd_configuration
        >>> grid, bcs = fd_configuration("Heat", Grid(8), "periodic", order=2)
        >>> len(bcs)
        1
    """
    grid = check_grid(grid, model)
    if order is not None and (isinstance(order, bool) or order not in (2, 4)):
        raise ValueError(f"{model}: `order` must be 2 or 4, got {order!r}.")
    if scheme is not None:
        check_scheme(scheme)
    return grid, normalize_bcs(bcs, grid)


def coefficient(
    value: Any,
    name: str,
    model: str,
    *,
    sign: str = "any",
    shapes: tuple[tuple[int, ...], ...] = ((),),
) -> Array:
    """Return a physical coefficient as an array leaf, refusing bad concrete values.

    Arguments:
        value: the coefficient (traced values pass the value checks unchecked).
        name: its argument name, for the messages.
        model: the model's name, for the messages.
        sign: ``"any"``, ``"nonnegative"`` or ``"positive"``.
        shapes: the accepted shapes (default: a scalar only).

    Returns:
        ``jnp.asarray(value)``: an array, so it is traced (never static) under
        ``eqx.filter_jit``.

    Raises:
        ValueError: a shape not in ``shapes``, a NaN or infinite concrete value, or one
            of the wrong sign.

    Example:
        >>> import scidiff
        >>> from scidiff.kernels import Heat
        >>> from scidiff.kernels.models._fd_common import coefficient
        >>> float(coefficient(0.5, "diffusivity", "Heat", sign="nonnegative"))
        0.5
    """
    shape = tuple(np.shape(value))
    if shape not in shapes:
        accepted = " or ".join("a scalar" if s == () else f"of shape {s}" for s in shapes)
        raise ValueError(f"{model}: `{name}` must be {accepted}; got shape {shape}.")
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.number):
        raise TypeError(f"{model}: `{name}` must be a real number; got dtype {arr.dtype}.")
    if jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise TypeError(f"{model}: `{name}` must be real; got dtype {arr.dtype}.")
    try:
        values = np.asarray(arr)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return arr  # traced: checked by nothing here
    what = "a value" if values.ndim == 0 else "every value"
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{model}: `{name}` must be finite; got {_show(values)}.")
    if sign == "nonnegative" and np.any(values < 0):
        raise ValueError(f"{model}: `{name}` must be >= 0 ({what}); got {_show(values)}.")
    if sign == "positive" and np.any(values <= 0):
        raise ValueError(f"{model}: `{name}` must be > 0 ({what}); got {_show(values)}.")
    return arr


def _show(values: np.ndarray) -> str:
    if values.ndim == 0:
        return repr(values.item())
    bad = values[~np.isfinite(values) | (values <= 0)].ravel()
    return f"an array of shape {values.shape} (e.g. {bad[:3].tolist()})"


def check_state(
    u: Any, grid: Grid, model: str, name: str = "u", channels: int | None = None
) -> None:
    """Raise ``ValueError`` unless ``u`` has shape ``grid.shape`` (or ``(channels, *shape)``)."""
    want = grid.shape if channels is None else (channels, *grid.shape)
    if tuple(np.shape(u)) != want:
        raise ValueError(
            f"{model}: `{name}` has shape {tuple(np.shape(u))} but the model's grid needs "
            f"{want}; vmap the model for batches of states."
        )


def hold_dirichlet_nodes(du: Array, grid: Grid, bcs: BCPairs) -> Array:
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
                index: list[Any] = [slice(None)] * du.ndim
                index[ax] = 0 if side == 0 else -1
                du = du.at[tuple(index)].set(0)
    return du
