"""Uniform Cartesian grids in one, two or three dimensions.

A :class:`Grid` is pure configuration: its sizes, extents and centring are static (part
of the compiled program), so two grids of different shape are two different programs,
while fields living on a grid are ordinary traced arrays.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Grid"]

_CENTRINGS = ("cell", "vertex")


def _as_tuple(x: Any, ndim: int, name: str) -> tuple[float, ...]:
    """One finite Python float per axis (a grid's geometry is static configuration)."""
    values = (x,) * ndim if np.ndim(x) == 0 else tuple(x)
    if len(values) != ndim:
        raise ValueError(f"`{name}` has {len(values)} entries but the grid has {ndim} dimensions.")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise TypeError(
            f"`{name}` must be concrete real numbers (a grid is static configuration), got {x!r}."
        ) from None
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"`{name}` must be finite on every axis, got {out}.")
    return out


def _as_shape(shape: Any) -> tuple[int, ...]:
    """The grid shape as Python ints, refusing floats (``64.5`` or ``64.0``) and bools."""
    sizes = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    out = []
    for n in sizes:
        try:
            if isinstance(n, (bool, np.bool_)):
                raise TypeError
            out.append(operator.index(n))  # ints, NumPy/JAX integer scalars; not floats
        except TypeError:
            raise TypeError(
                f"Grid sizes must be integers (numbers of points), got {shape!r}; "
                "e.g. Grid(64) or Grid((64, 32))."
            ) from None
    return tuple(out)


class Grid(eqx.Module):
    r"""A uniform grid on the box :math:`\prod_a [\mathrm{lower}_a, \mathrm{upper}_a]`.

    Two centrings, per the usual finite-volume / finite-difference conventions:

    * ``"cell"`` (default): ``N`` cells of width :math:`h = L/N`; values live at the cell
      centres :math:`x_i = \mathrm{lower} + (i + \tfrac12) h`, and each boundary lies half
      a cell outside the first/last point. Natural for periodic and flux (Neumann) problems.
    * ``"vertex"``: ``N`` nodes including both end points, :math:`h = L/(N-1)`,
      :math:`x_i = \mathrm{lower} + i h`. The boundary nodes are part of the field (a
      Dirichlet value is held there). Periodic boundaries need ``"cell"`` (a vertex grid
      would hold the end point twice).

    Arguments:
        shape: number of points per axis, e.g. ``(128,)`` or ``(64, 64)`` (1 to 3 axes).
        extent: side lengths ``L`` (a scalar for all axes, or one per axis), default 1.
        lower: lower corner (scalar or per axis), default 0.
        centring: ``"cell"`` or ``"vertex"``.

    Raises:
        ValueError: for an empty or >3-dimensional shape, a non-positive size or extent,
            an infinite or NaN extent or lower corner, too few points, or an unknown
            centring.
        TypeError: for sizes that are not integers (``64.0`` included), or a traced
            extent or corner (a grid is static configuration).

    Example:
        >>> from scidiff.kernels import Grid
        >>> g = Grid((64, 32), extent=(2.0, 1.0))
        >>> g.spacing
        (0.03125, 0.03125)
        >>> X, Y = g.meshgrid()
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    centring: str = eqx.field(static=True)

    def __init__(
        self,
        shape: int | Sequence[int],
        extent: float | Sequence[float] = 1.0,
        *,
        lower: float | Sequence[float] = 0.0,
        centring: str = "cell",
    ):
        shape = _as_shape(shape)
        if not 1 <= len(shape) <= 3:
            raise ValueError(f"A grid has 1, 2 or 3 axes; got shape {shape}.")
        if centring not in _CENTRINGS:
            raise ValueError(f"Unknown centring {centring!r}: use 'cell' or 'vertex'.")
        min_points = 1 if centring == "cell" else 2
        if any(n < min_points for n in shape):
            raise ValueError(
                f"Every axis needs at least {min_points} point(s) for a {centring}-centred "
                f"grid; got shape {shape}."
            )
        ndim = len(shape)
        ext = _as_tuple(extent, ndim, "extent")
        if any(not (e > 0) for e in ext):
            raise ValueError(f"`extent` must be positive on every axis, got {ext}.")
        lo = _as_tuple(lower, ndim, "lower")
        self.shape = shape
        self.lower = lo
        self.upper = tuple(a + e for a, e in zip(lo, ext))
        self.centring = centring

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Total number of points."""
        return int(np.prod(self.shape))

    @property
    def extent(self) -> tuple[float, ...]:
        """Side lengths ``upper - lower``."""
        return tuple(b - a for a, b in zip(self.lower, self.upper))

    @property
    def spacing(self) -> tuple[float, ...]:
        """Grid spacing ``h`` per axis (Python floats: static)."""
        if self.centring == "cell":
            return tuple(e / n for e, n in zip(self.extent, self.shape))
        return tuple(e / (n - 1) for e, n in zip(self.extent, self.shape))

    @property
    def cell_volume(self) -> float:
        """Product of the spacings (the quadrature weight of an interior point)."""
        return float(np.prod(self.spacing))

    def axis_coordinates(self, axis: int, dtype=None) -> jnp.ndarray:
        """The 1D coordinates of the points along ``axis``."""
        n, h, lo = self.shape[axis], self.spacing[axis], self.lower[axis]
        offset = 0.5 if self.centring == "cell" else 0.0
        return lo + (jnp.arange(n, dtype=dtype or jnp.result_type(float)) + offset) * h

    def coordinates(self, dtype=None) -> tuple[jnp.ndarray, ...]:
        """Per-axis 1D coordinate arrays (``axis_coordinates`` for every axis)."""
        return tuple(self.axis_coordinates(a, dtype) for a in range(self.ndim))

    def meshgrid(self, dtype=None) -> tuple[jnp.ndarray, ...]:
        """Coordinate arrays of shape ``self.shape`` (``indexing="ij"``)."""
        return tuple(jnp.meshgrid(*self.coordinates(dtype), indexing="ij"))

    def quadrature_weights(self, dtype=None) -> jnp.ndarray:
        """Weights ``w`` with ``sum(w * u)`` the integral of ``u`` over the box.

        Cell grids: the midpoint rule (``h^d`` everywhere). Vertex grids: the trapezoid rule
        (half weights on boundary nodes).
        """
        dtype = dtype or jnp.result_type(float)
        w = jnp.ones(self.shape, dtype) * self.cell_volume
        if self.centring == "vertex":
            for a, n in enumerate(self.shape):
                wa = jnp.ones(n, dtype).at[0].set(0.5).at[-1].set(0.5)
                w = w * wa.reshape((n,) + (1,) * (self.ndim - a - 1))
        return w

    def integrate(self, u: jnp.ndarray) -> jnp.ndarray:
        """Integral of ``u`` over the box (over the last ``ndim`` axes of ``u``)."""
        check_field(u, self)
        w = self.quadrature_weights(u.dtype)
        return jnp.sum(u * w, axis=tuple(range(u.ndim - self.ndim, u.ndim)))


def check_field(u, grid: Grid, name: str = "u") -> None:
    """Raise ``ValueError`` unless the trailing axes of ``u`` match ``grid.shape``."""
    shape = tuple(np.shape(u))
    if len(shape) < grid.ndim or shape[len(shape) - grid.ndim :] != grid.shape:
        raise ValueError(
            f"Field `{name}` has shape {shape}, but the grid has shape {grid.shape}: the last "
            f"{grid.ndim} axes of a field must equal the grid shape (leading axes are "
            "treated as channels)."
        )
