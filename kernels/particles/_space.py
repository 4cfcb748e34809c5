"""Spaces: how particles are displaced and moved, free or in a periodic box.

A space is a pair of pure functions (as in jax-md):

* ``displacement(Ra, Rb) -> Ra - Rb`` (the minimum-image vector in a periodic box);
* ``shift(R, dR) -> R + dR`` (wrapped back into the box when periodic).

Swapping boundary conditions is one argument: every energy, neighbour list and
integrator takes the space's functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

__all__ = ["Space", "free_space", "periodic_space", "safe_norm"]


class Space(NamedTuple):
    displacement: Callable[[Array, Array], Array]
    shift: Callable[[Array, Array], Array]
    box: Array | None  # side lengths of the periodic box, or None in free space


def free_space() -> Space:
    """Unbounded space: plain differences, plain updates.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels.particles import free_space
        >>> space = free_space()
        >>> space.displacement(jnp.ones(3), jnp.zeros(3)).tolist()
        [1.0, 1.0, 1.0]
    """
    return Space(lambda a, b: a - b, lambda r, dr: r + dr, None)


def periodic_space(box: ArrayLike) -> Space:
    """A periodic box ``[0, L_1) x ... x [0, L_d)`` with minimum-image displacements.

    Args:
        box: side lengths, a scalar (cube) or one per dimension. Traced values are fine.

    Raises:
        ValueError: if a concrete side length is not positive.
    """
    box = jnp.asarray(box)
    try:
        bad = bool(jnp.any(box <= 0))
    except jax.errors.ConcretizationTypeError:  # traced: cannot be checked here
        bad = False
    if bad:
        raise ValueError(f"periodic box side lengths must be positive, got {box}.")

    def displacement(a, b):
        d = a - b
        return d - box * jnp.round(d / box)

    def shift(r, dr):
        return jnp.mod(r + dr, box)

    return Space(displacement, shift, box)


def safe_norm(dr: Array, axis: int = -1) -> Array:
    """Euclidean norm whose gradient is finite (zero) at ``dr = 0``.

    ``sqrt`` has an infinite derivative at 0; masking the argument *before* the square
    root keeps self-pairs and coincident particles from poisoning gradients with NaN.
    """
    sq = jnp.sum(dr * dr, axis=axis)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)
