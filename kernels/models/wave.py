r"""The linear wave equation as a first-order system, finite differences."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from .._cfl import stable_dt
from .._fd import laplacian
from .._grid import Grid
from ._base import AbstractPDEModel
from ._fd_common import check_state, coefficient, fd_configuration, hold_dirichlet_nodes

__all__ = ["Wave"]


class Wave(AbstractPDEModel):
    r"""Wave equation :math:`u_{tt} = c^2\,\Delta u`, as the system
    :math:`u_t = v,\ v_t = c^2 \Delta u`; the state is the pair ``(u, v)``.

    Symbols: :math:`u` the displacement, :math:`v = u_t` the velocity, :math:`c` the wave
    speed. The boundary conditions apply to :math:`u` (homogeneous ones conserve the
    discrete energy :meth:`energy`).

    Arguments:
        grid: the grid (static).
        wave_speed: :math:`c` (differentiable leaf).
        bcs: boundary conditions of :math:`u` (default periodic).
        order: Laplacian order 2 or 4 (static).

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Wave
        >>> g = Grid(128)
        >>> model = Wave(g, wave_speed=1.0)
        >>> u0 = jnp.sin(2 * jnp.pi * g.coordinates()[0])
        >>> traj = model.rollout((u0, jnp.zeros_like(u0)), dt=1e-3, num_steps=20)
    """

    grid: Grid
    wave_speed: Any
    bcs: tuple
    order: int = eqx.field(static=True)

    def __init__(self, grid: Grid, wave_speed: Any = 1.0, bcs: Any = "periodic", *, order: int = 2):
        self.grid, self.bcs = fd_configuration("Wave", grid, bcs, order=order)
        self.wave_speed = coefficient(wave_speed, "wave_speed", "Wave")
        self.order = order

    def _split(self, state):
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise ValueError("Wave: the state must be a pair (u, v) with v = du/dt.")
        u, v = state
        check_state(u, self.grid, "Wave", "u")
        check_state(v, self.grid, "Wave", "v")
        return u, v

    def __call__(self, t: Any, state: Any, args: Any = None) -> Any:
        u, v = self._split(state)
        c = jnp.asarray(self.wave_speed, jnp.result_type(u))
        dv = c**2 * laplacian(u, self.grid, self.bcs, order=self.order)
        hold = lambda w: hold_dirichlet_nodes(w, self.grid, self.bcs)
        return (hold(v), hold(dv))

    def energy(self, state: Any) -> Any:
        r"""Discrete energy :math:`E = \tfrac12 h^d \big(\sum v^2 - c^2 \sum u\,L u\big)`.

        :math:`L` is the discrete Laplacian; with periodic boundaries, or homogeneous
        Dirichlet/Neumann ones at order 2, it is symmetric, so
        :math:`dE/dt = h^d c^2 (\sum v L u - \sum u L v) = 0` exactly for the
        semi-discrete system (the approximation of
        :math:`\tfrac12\int v^2 + c^2|\nabla u|^2`).
        """
        u, v = self._split(state)
        c = jnp.asarray(self.wave_speed, jnp.result_type(u))
        lu = laplacian(u, self.grid, self.bcs, order=self.order)
        return 0.5 * self.grid.cell_volume * (jnp.sum(v**2) - c**2 * jnp.sum(u * lu))

    def max_stable_dt(self, state: Any, args: Any = None) -> Any:
        return stable_dt(self.grid, wave_speed=self.wave_speed, order=self.order)
