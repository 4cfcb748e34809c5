r"""The heat (diffusion) equation, finite differences, any boundary condition."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from .._boundary import normalize_bcs
from .._cfl import stable_dt
from .._fd import laplacian
from .._grid import Grid
from ._base import AbstractPDEModel
from ._fd_common import check_grid, check_state, hold_dirichlet_nodes

__all__ = ["Heat"]


class Heat(AbstractPDEModel):
    r"""Heat equation :math:`u_t = \kappa\,\Delta u` on a :class:`~scidiff.kernels.Grid`.

    Symbols: :math:`u(x, t)` the temperature (or concentration), :math:`\kappa > 0` the
    diffusivity, :math:`\Delta` the Laplacian, discretised by the order-2 (5-point in 2D)
    or order-4 stencil with ghost points from the boundary conditions.

    Arguments:
        grid: the grid (static).
        diffusivity: :math:`\kappa`, a differentiable leaf (scalar; traced).
        bcs: boundary conditions (one for all sides, per axis, or per side); their values
            are differentiable leaves too. Default periodic.
        order: 2 or 4 (static).

    ``step`` is classical RK4; :meth:`max_stable_dt` is
    :math:`2.785 \cdot 0.9 / (\kappa c_p \sum_a h_a^{-2})`.

    Example:
        >>> g = Grid(64)
        >>> model = Heat(g, diffusivity=0.1)
        >>> u0 = jnp.sin(2 * jnp.pi * g.coordinates()[0])
        >>> traj = model.rollout(u0, dt=1e-4, num_steps=100, save_every=50)
        >>> traj.shape
        (2, 64)
    """

    grid: Grid
    diffusivity: Any
    bcs: tuple
    order: int = eqx.field(static=True)

    def __init__(
        self, grid: Grid, diffusivity: Any = 1.0, bcs: Any = "periodic", *, order: int = 2
    ):
        self.grid = check_grid(grid, "Heat")
        if order not in (2, 4):
            raise ValueError(f"Heat: `order` must be 2 or 4, got {order!r}.")
        self.diffusivity = jnp.asarray(diffusivity)  # traced, never static, under filter_jit
        self.bcs = normalize_bcs(bcs, grid)
        self.order = order

    def __call__(self, t: Any, u: Any, args: Any = None) -> Any:
        check_state(u, self.grid, "Heat")
        kappa = jnp.asarray(self.diffusivity, jnp.result_type(u))
        du = kappa * laplacian(u, self.grid, self.bcs, order=self.order)
        return hold_dirichlet_nodes(du, self.grid, self.bcs)

    def max_stable_dt(self, u: Any, args: Any = None) -> Any:
        return stable_dt(self.grid, diffusivity=self.diffusivity, order=self.order)
