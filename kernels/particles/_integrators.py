"""Particle integrators as ``(init, step)`` pairs around a frozen state.

* :func:`velocity_verlet` -- symplectic, time-reversible, second order (NVE):

  .. math::
      v_{n+1/2} = v_n + \\tfrac{h}{2} F(x_n)/m,\\quad
      x_{n+1} = x_n + h v_{n+1/2},\\quad
      v_{n+1} = v_{n+1/2} + \\tfrac{h}{2} F(x_{n+1})/m

* :func:`langevin` -- the BAOAB splitting of underdamped Langevin dynamics (NVT),

  .. math:: dx = v\\,dt,\\quad m\\,dv = F(x)\\,dt - \\gamma m v\\,dt + \\sqrt{2\\gamma m k_BT}\\,dW,

  whose configurational sampling is accurate to second order in ``h``.

Positions move with the space's ``shift`` (wrapped in a periodic box). Forces come from
``force_fn(R, **kwargs)``; keyword arguments given to ``step`` reach it (a neighbour
list, a parameter that is swept or differentiated). ``rollout`` scans ``step``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

__all__ = ["NVEState", "LangevinState", "velocity_verlet", "langevin", "kinetic_energy"]


class NVEState(NamedTuple):
    position: Array
    velocity: Array
    force: Array
    mass: Array  # (N, 1) so it broadcasts over dimensions


class LangevinState(NamedTuple):
    position: Array
    velocity: Array
    force: Array
    mass: Array
    key: Array


def kinetic_energy(velocity: Array, mass: ArrayLike = 1.0) -> Array:
    """``sum(m v^2) / 2``."""
    m = jnp.asarray(mass)
    m = m[:, None] if m.ndim == 1 else m
    return 0.5 * jnp.sum(m * velocity**2)


def _mass(mass, R):
    m = jnp.broadcast_to(jnp.asarray(mass, R.dtype), (R.shape[0],))
    return m[:, None]


def velocity_verlet(force_fn: Callable, shift: Callable, dt: ArrayLike):
    """Velocity Verlet: returns ``(init(R, V, mass=1.0, **kw), step(state, **kw))``.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> import scidiff.kernels.particles as P
        >>> space = P.free_space()
        >>> energy = P.pair_energy(P.lennard_jones, space.displacement)
        >>> init, step = P.velocity_verlet(P.forces(energy), space.shift, dt=1e-3)
        >>> R = jnp.array([[0.0, 0.0], [1.2, 0.0]])
        >>> state = init(R, jnp.zeros_like(R))
        >>> state = jax.lax.fori_loop(0, 100, lambda i, s: step(s), state)
    """

    def init(R: Array, V: Array, mass: ArrayLike = 1.0, **kwargs) -> NVEState:
        if R.shape != V.shape:
            raise ValueError(f"positions {R.shape} and velocities {V.shape} differ in shape.")
        return NVEState(R, V, force_fn(R, **kwargs), _mass(mass, R))

    def step(state: NVEState, **kwargs) -> NVEState:
        R, V, F, m = state
        V_half = V + 0.5 * dt * F / m
        R_new = shift(R, dt * V_half)
        F_new = force_fn(R_new, **kwargs)
        return NVEState(R_new, V_half + 0.5 * dt * F_new / m, F_new, m)

    return init, step


def langevin(force_fn: Callable, shift: Callable, dt: ArrayLike, kT: ArrayLike, gamma: ArrayLike):
    """BAOAB Langevin thermostat: returns ``(init(key, R, mass=1.0, V=None, **kw), step)``.

    Initial velocities, if not given, are drawn from the Maxwell-Boltzmann distribution
    at ``kT``. Reproducible for a given key; ``vmap`` over keys for independent chains.
    """

    def init(key, R: Array, mass: ArrayLike = 1.0, V: Array | None = None, **kwargs):
        m = _mass(mass, R)
        key, sub = jax.random.split(key)
        if V is None:
            V = jnp.sqrt(kT / m) * jax.random.normal(sub, R.shape, R.dtype)
        return LangevinState(R, V, force_fn(R, **kwargs), m, key)

    def step(state: LangevinState, **kwargs) -> LangevinState:
        R, V, F, m, key = state
        key, sub = jax.random.split(key)
        V = V + 0.5 * dt * F / m  # B
        R = shift(R, 0.5 * dt * V)  # A
        c1 = jnp.exp(-jnp.asarray(gamma) * dt)  # O: exact Ornstein-Uhlenbeck velocity update
        noise = jax.random.normal(sub, V.shape, V.dtype)
        V = c1 * V + jnp.sqrt((1 - c1**2) * kT / m) * noise
        R = shift(R, 0.5 * dt * V)  # A
        F = force_fn(R, **kwargs)
        V = V + 0.5 * dt * F / m  # B
        return LangevinState(R, V, F, m, key)

    return init, step
