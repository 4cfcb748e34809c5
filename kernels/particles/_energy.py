"""Particle energies in two layers: scalar pair potentials, and builders that turn a
potential into ``energy(R)`` summed over pairs (all pairs or a neighbour list).

Forces are ``-grad(energy)``: :func:`forces` builds that function. Everything is
differentiable in positions and in the potential's parameters (``sigma``, ``epsilon``,
masses, softening), and ``vmap``-able over configurations.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ._neighbors import NeighborList
from ._space import safe_norm

__all__ = [
    "lennard_jones",
    "soft_sphere",
    "truncate",
    "pair_energy",
    "gravitational_energy",
    "forces",
]


def lennard_jones(r: Array, sigma: ArrayLike = 1.0, epsilon: ArrayLike = 1.0) -> Array:
    r"""Lennard-Jones pair potential :math:`V(r) = 4\epsilon[(\sigma/r)^{12} - (\sigma/r)^6]`.

    Its minimum :math:`-\epsilon` lies at :math:`r = 2^{1/6}\sigma`. ``r = 0`` (a
    masked self-pair) returns 0, with a zero gradient, rather than Inf.
    """
    safe_r = jnp.where(r > 0, r, 1.0)
    sr6 = (sigma / safe_r) ** 6
    return jnp.where(r > 0, 4 * epsilon * (sr6 * sr6 - sr6), 0.0)


def soft_sphere(r: Array, sigma: ArrayLike = 1.0, epsilon: ArrayLike = 1.0, alpha=2.0) -> Array:
    r"""Purely repulsive soft sphere :math:`V(r) = \frac{\epsilon}{\alpha}(1 - r/\sigma)^\alpha`
    for :math:`r < \sigma`, else 0."""
    x = jnp.clip(1 - r / jnp.asarray(sigma), 0.0, None)
    return jnp.asarray(epsilon) / alpha * x**alpha


def truncate(potential: Callable, cutoff: float, *, shift_energy: bool = True) -> Callable:
    r"""Cut ``potential`` off at ``cutoff``: :math:`V_c(r) = V(r) - V(r_c)` for :math:`r < r_c`,
    0 beyond (without the shift with ``shift_energy=False``). The shift keeps the energy
    continuous, which energy conservation in NVE runs needs."""

    def cut(r, **params):
        v = potential(r, **params)
        if shift_energy:
            v = v - potential(jnp.asarray(cutoff, r.dtype), **params)
        return jnp.where(r < cutoff, v, 0.0)

    return cut


def pair_energy(potential: Callable, displacement: Callable) -> Callable:
    r"""Build ``energy(R, neighbors=None, **params)`` :math:`= \sum_{i<j} V(|d(R_i, R_j)|)`.

    Without ``neighbors`` every pair is summed (O(N²), exact); with a
    :class:`NeighborList` only listed pairs (O(N·capacity)). ``params`` go to the
    potential (``sigma=``, ``epsilon=``...), so they can be traced and differentiated.

    Example:
        >>> import jax.numpy as jnp
        >>> import scidiff.kernels.particles as P
        >>> space = P.periodic_space(10.0)
        >>> energy = P.pair_energy(P.truncate(P.lennard_jones, 2.5), space.displacement)
        >>> R = jnp.array([[1.0, 1.0], [2.2, 1.0], [9.5, 1.0]])
        >>> e = energy(R, epsilon=1.0)   # the pair across x = 0 counts too
    """
    pairwise = jax.vmap(jax.vmap(displacement, (None, 0)), (0, None))

    def energy(R: Array, neighbors: NeighborList | None = None, **params) -> Array:
        n = R.shape[0]
        if neighbors is None:
            r = safe_norm(pairwise(R, R))
            off_diagonal = ~jnp.eye(n, dtype=bool)
            v = jnp.where(off_diagonal, potential(r, **params), 0.0)
        else:
            idx = neighbors.idx
            valid = idx < n
            others = R[jnp.where(valid, idx, 0)]
            dr = jax.vmap(jax.vmap(displacement, (None, 0)))(R, others)
            r = safe_norm(dr)
            v = jnp.where(valid, potential(jnp.where(valid, r, 1.0), **params), 0.0)
        return 0.5 * jnp.sum(v)  # each pair counted twice

    return energy


def gravitational_energy(displacement: Callable, *, G: float = 1.0) -> Callable:
    r"""All-pairs softened gravity ``energy(R, masses, softening=0.0)``:

    .. math:: U = -G \sum_{i<j} \frac{m_i m_j}{\sqrt{|R_i - R_j|^2 + \varepsilon^2}}

    The softening :math:`\varepsilon` removes the singularity of close encounters.
    """
    pairwise = jax.vmap(jax.vmap(displacement, (None, 0)), (0, None))

    def energy(R: Array, masses: Array, softening: ArrayLike = 0.0) -> Array:
        dr = pairwise(R, R)
        sq = jnp.sum(dr * dr, axis=-1) + softening**2
        n = R.shape[0]
        off = ~jnp.eye(n, dtype=bool)
        inv = jnp.where(off, 1 / jnp.sqrt(jnp.where(off, sq, 1.0)), 0.0)
        return -0.5 * G * jnp.sum(masses[:, None] * masses[None, :] * inv)

    return energy


def forces(energy: Callable) -> Callable:
    """``F(R, *args, **kw) = -dE/dR`` for an energy ``E(R, *args, **kw)``."""
    grad = jax.grad(energy)

    def force(R, *args, **kwargs):
        return -grad(R, *args, **kwargs)

    return force
