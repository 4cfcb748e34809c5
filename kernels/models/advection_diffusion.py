r"""Advection--diffusion of a passive scalar, flux-form WENO5/upwind plus FD diffusion."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from .._advection import advection
from .._cfl import stable_dt
from .._diffusion import diffusion
from .._grid import Grid
from ._base import AbstractPDEModel
from ._fd_common import check_state, coefficient, fd_configuration, hold_dirichlet_nodes

__all__ = ["AdvectionDiffusion"]


class AdvectionDiffusion(AbstractPDEModel):
    r"""Advection--diffusion :math:`u_t + \nabla\cdot(\mathbf c\,u) = \kappa\,\Delta u`.

    Symbols: :math:`u` the transported scalar, :math:`\mathbf c` the velocity (constant per
    axis, or a cell-centred field; for a divergence-free field the advection term is
    :math:`\mathbf c\cdot\nabla u`), :math:`\kappa \ge 0` the diffusivity. Advection is in
    flux form (conservative: :math:`\int u` is constant under periodic boundaries) with
    WENO5 or first-order upwind faces; diffusion uses the order-2/4 Laplacian.

    Arguments:
        grid: the grid (static).
        velocity: scalar, one value per axis, or a field ``(ndim, *grid.shape)``
            (differentiable leaf).
        diffusivity: :math:`\kappa` (differentiable leaf), default 0.
        bcs: boundary conditions of :math:`u` (default periodic).
        scheme: ``"weno5"`` or ``"upwind"`` (static); order: Laplacian order (static).

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import AdvectionDiffusion, Grid
        >>> g = Grid(128)
        >>> model = AdvectionDiffusion(g, velocity=1.0, diffusivity=1e-3)
        >>> u0 = jnp.sin(2 * jnp.pi * g.coordinates()[0])
        >>> u1 = model.rollout(u0, dt=2e-3, num_steps=10)[-1]
    """

    grid: Grid
    velocity: Any
    diffusivity: Any
    bcs: tuple
    scheme: str = eqx.field(static=True)
    order: int = eqx.field(static=True)

    def __init__(
        self,
        grid: Grid,
        velocity: Any = 1.0,
        diffusivity: Any = 0.0,
        bcs: Any = "periodic",
        *,
        scheme: str = "weno5",
        order: int = 2,
    ):
        name = "AdvectionDiffusion"
        self.grid, self.bcs = fd_configuration(name, grid, bcs, order=order, scheme=scheme)
        self.velocity = coefficient(
            velocity, "velocity", name, shapes=((), (grid.ndim,), (grid.ndim, *grid.shape))
        )
        self.diffusivity = coefficient(
            diffusivity, "diffusivity", name, sign="nonnegative", shapes=((), grid.shape)
        )
        if self.diffusivity.ndim and order != 2:
            raise ValueError(
                f"{name}: a diffusivity field uses the order-2 flux form div(D grad u); "
                f"got order={order!r}."
            )
        self.scheme = scheme
        self.order = order

    def __call__(self, t: Any, u: Any, args: Any = None) -> Any:
        check_state(u, self.grid, "AdvectionDiffusion")
        out = advection(u, self.velocity, self.grid, self.bcs, scheme=self.scheme)
        du = out + diffusion(u, self.diffusivity, self.grid, self.bcs, order=self.order)
        return hold_dirichlet_nodes(du, self.grid, self.bcs)

    def max_stable_dt(self, u: Any, args: Any = None) -> Any:
        c = jnp.abs(jnp.asarray(self.velocity))
        speed = c if c.ndim <= 1 else jnp.max(c.reshape(self.grid.ndim, -1), axis=1)
        return stable_dt(self.grid, diffusivity=self.diffusivity, velocity=speed, order=self.order)
