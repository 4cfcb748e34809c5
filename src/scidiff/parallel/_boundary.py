r"""Boundary conditions for decomposed grids: the kernels' objects, read by duck typing.

``scidiff.parallel`` takes the boundary objects of :mod:`scidiff.kernels` --
``Periodic()``, ``Dirichlet(value)``, ``Neumann(flux)`` -- without importing the kernels
(the core never does): a condition is recognised by its public shape, and any object
with a ``ghost_cells`` method (the :class:`HaloBoundary` protocol) works too.

Ghost cells follow the kernels' rule (reflection about the boundary; see
``scidiff.kernels.pad``), so a sharded stencil equals the single-device model. For a
ghost at distance :math:`d_k` from its mirror point inside (cell-centred grid:
:math:`d_k = (2k-1)h`, vertex-centred: :math:`2kh`, :math:`k = 1` nearest):

.. math::
    \text{Dirichlet}(g): u_{\text{ghost}} = 2g - u_{\text{mirror}}, \qquad
    \text{Neumann}(q): u_{\text{ghost}} = u_{\text{mirror}} + d_k\,q,

with :math:`q` the outward normal derivative. Values are scalars (traced and
differentiable); face-shaped values are not supported on decomposed grids.

``None`` and the strings ``"periodic"``, ``"dirichlet"``, ``"neumann"`` mean the
homogeneous conditions, as in the kernels. The strings ``"zero"`` (ghosts set to 0) and
``"edge"`` (outermost cell repeated) of earlier versions still work, with a
``DeprecationWarning``: they are *not* ``Dirichlet(0)``/``Neumann()``, which reflect.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol, runtime_checkable

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import Tracer
from jaxtyping import Array

from .._sides import sides_per_axis

__all__ = ["HaloBoundary", "normalize_boundary", "outer_ghosts", "is_periodic"]


@runtime_checkable
class HaloBoundary(Protocol):
    """A boundary condition a decomposed grid can apply at the edge of the domain.

    ``ghost_cells(block, width, axis, side, spacing, vertex)`` returns the ``width``
    ghost cells outside side ``side`` (0 lower, 1 upper) of array axis ``axis`` of the
    outermost local ``block``, in array order; ``spacing`` is the grid step along that
    axis, ``vertex`` whether the grid is vertex-centred.
    """

    def ghost_cells(
        self, block: Array, width: int, axis: int, side: int, spacing: float, vertex: bool
    ) -> Array: ...


class _Legacy:
    """The deprecated string boundaries ``"zero"`` and ``"edge"`` (kept as they were)."""

    def __init__(self, mode: str):
        self.mode = mode

    def ghost_cells(self, block, width, axis, side, spacing, vertex):
        del spacing, vertex
        n = block.shape[axis]
        if self.mode == "zero":
            shape = list(block.shape)
            shape[axis] = width
            return jnp.zeros(shape, block.dtype)
        edge = (
            lax.slice_in_dim(block, 0, 1, axis=axis)
            if side == 0
            else (lax.slice_in_dim(block, n - 1, n, axis=axis))
        )
        reps = [1] * block.ndim
        reps[axis] = width
        return jnp.tile(edge, reps)


class _Periodic:
    """Internal form of ``Periodic()`` (and of ``None``/``"periodic"``)."""


class _Reflect:
    """Internal form of ``Dirichlet(value)`` (``odd``) and ``Neumann(flux)`` (even)."""

    def __init__(self, odd: bool, value: Any, name: str):
        if np.ndim(value) != 0:
            raise ValueError(
                f"{name} boundary values on a decomposed grid must be scalars, got shape "
                f"{np.shape(value)}."
            )
        self.odd, self.value, self.name = odd, value, name


_PERIODIC = _Periodic()
_DEPRECATED = {"zero": "Dirichlet(0.0)", "edge": "Neumann()"}
_HOMOGENEOUS = {"dirichlet": True, "neumann": False}


def is_periodic(bc: Any) -> bool:
    return isinstance(bc, _Periodic)


def _one(bc: Any) -> Any:
    """The internal form of one side's condition."""
    if bc is None or (isinstance(bc, str) and bc.lower() == "periodic"):
        return _PERIODIC
    if isinstance(bc, str) and bc.lower() in _HOMOGENEOUS:  # as scidiff.kernels reads them
        odd = _HOMOGENEOUS[bc.lower()]
        return _Reflect(odd, 0.0, "Dirichlet" if odd else "Neumann")
    if isinstance(bc, str) and bc in _DEPRECATED:
        new = _DEPRECATED[bc]
        fill = "zeros" if bc == "zero" else "the outermost cell"
        warnings.warn(
            f"boundary={bc!r} is deprecated: pass a boundary object such as "
            f"scidiff.kernels.{new}. Note that {bc!r} is not {new}: it fills ghost cells "
            f"with {fill}, while {new} reflects about the boundary as scidiff.kernels does.",
            DeprecationWarning,
            stacklevel=4,
        )
        return _Legacy(bc)
    if isinstance(bc, str):
        raise ValueError(
            f"unknown boundary {bc!r}: use the kernels' Periodic(), Dirichlet(value) or "
            "Neumann(flux) (from scidiff.kernels), or 'periodic', 'dirichlet', 'neumann'."
        )
    name = type(bc).__name__  # the kernels' classes, recognised by their public shape
    if name == "Periodic":
        return _PERIODIC
    if name == "Dirichlet" and hasattr(bc, "value"):
        return _Reflect(True, bc.value, name)
    if name == "Neumann" and hasattr(bc, "flux"):
        return _Reflect(False, bc.flux, name)
    if isinstance(bc, HaloBoundary):
        return bc
    raise TypeError(
        f"unknown boundary condition {bc!r} (type {name}): use Periodic(), Dirichlet(value) "
        "or Neumann(flux) from scidiff.kernels, or an object with a `ghost_cells` method."
    )


def normalize_boundary(boundary: Any, ndim: int) -> tuple[tuple[Any, Any], ...]:
    """One ``(lower, upper)`` pair per grid axis, like ``scidiff.kernels``' ``bcs``.

    ``boundary`` is one condition for every side, one per axis, or one ``(lower, upper)``
    pair per axis (on a 1D grid a bare pair is read as ``(lower, upper)``).
    """
    return sides_per_axis(boundary, ndim, _one, is_periodic, what="field")


def outer_ghosts(
    bc: Any, block: Array, width: int, axis: int, side: int, spacing: float | None, vertex: bool
) -> Array:
    """The ``width`` ghost cells beyond the domain on ``side`` of ``axis`` (not periodic)."""
    if not isinstance(bc, _Reflect):  # a HaloBoundary (or a deprecated string)
        return bc.ghost_cells(block, width, axis, side, spacing, vertex)
    n = block.shape[axis]
    take = lambda lo, hi: lax.slice_in_dim(block, lo, hi, axis=axis)  # noqa: E731
    if side == 0:
        mirror = take(1, width + 1) if vertex else take(0, width)
    else:
        mirror = take(n - width - 1, n - 1) if vertex else take(n - width, n)
    mirror = lax.rev(mirror, (axis,))
    value = jnp.asarray(bc.value, block.dtype)
    if bc.odd:  # Dirichlet
        return 2 * value - mirror
    if spacing is None:
        if not isinstance(bc.value, Tracer) and not np.any(np.asarray(bc.value) != 0):
            return mirror  # zero flux: the spacing does not matter
        raise ValueError(
            "Neumann(flux) with a non-zero flux needs the grid spacing: pass `grid=` "
            "(the scidiff.kernels Grid of the field)."
        )
    k = np.arange(1, width + 1, dtype=np.float64)
    dist = (2 * k if vertex else 2 * k - 1) * spacing
    if side == 0:
        dist = dist[::-1]
    shape = [1] * block.ndim
    shape[axis] = width
    return mirror + jnp.asarray(dist, block.dtype).reshape(shape) * value
