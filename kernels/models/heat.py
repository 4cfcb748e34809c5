r"""The heat (diffusion) equation, finite differences, any boundary condition."""

from __future__ import annotations

from typing import Any

import equinox as eqx

from .._cfl import stable_dt
from .._diffusion import diffusion
from .._grid import Grid
from ._base import AbstractPDEModel
from ._fd_common import check_state, coefficient, fd_configuration, hold_dirichlet_nodes

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
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Heat
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
        self.grid, self.bcs = fd_configuration("Heat", grid, bcs, order=order)
        self.diffusivity = coefficient(
            diffusivity, "diffusivity", "Heat", sign="nonnegative", shapes=((), grid.shape)
        )
        if self.diffusivity.ndim and order != 2:
            raise ValueError(
                "Heat: a diffusivity field uses the order-2 flux form div(D grad u); "
                f"got order={order!r}."
            )
        self.order = order

    def __call__(self, t: Any, u: Any, args: Any = None) -> Any:
        check_state(u, self.grid, "Heat")
        du = diffusion(u, self.diffusivity, self.grid, self.bcs, order=self.order)
        return hold_dirichlet_nodes(du, self.grid, self.bcs)

    def max_stable_dt(self, u: Any, args: Any = None) -> Any:
        return stable_dt(self.grid, diffusivity=self.diffusivity, order=self.order)
