r"""Gray--Scott reaction--diffusion, finite differences, any dimension and boundary."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from .._cfl import stable_dt
from .._fd import laplacian
from .._grid import Grid
from ._base import AbstractPDEModel
from ._fd_common import check_state, coefficient, fd_configuration, hold_dirichlet_nodes

__all__ = ["GrayScott"]


class GrayScott(AbstractPDEModel):
    r"""Gray--Scott model; the state is the pair ``(u, v)``:

    .. math::
        u_t = D_u \Delta u - u v^2 + F (1 - u), \qquad
        v_t = D_v \Delta v + u v^2 - (F + k) v .

    Symbols: :math:`u` the substrate and :math:`v` the activator concentrations,
    :math:`D_u, D_v` their diffusivities, :math:`F` the feed rate, :math:`k` the kill
    rate. Defaults are Pearson's (Science 1993) on a box of side 2.5:
    :math:`D_u = 2\cdot10^{-5}, D_v = 10^{-5}, F = 0.04, k = 0.06`.

    Arguments:
        grid: the grid (static).
        diffusivity_u, diffusivity_v, feed, kill: differentiable leaves.
        bcs: boundary conditions of both species (default periodic).
        order: Laplacian order (static).

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import GrayScott, Grid, gaussian_bump
        >>> g = Grid((64, 64), 2.5)
        >>> model = GrayScott(g)
        >>> u0, v0 = jnp.ones(g.shape), gaussian_bump(g, (1.25, 1.25), 0.1) * 0.5
        >>> u, v = model.rollout((u0, v0), dt=1.0, num_steps=10)
    """

    grid: Grid
    diffusivity_u: Any
    diffusivity_v: Any
    feed: Any
    kill: Any
    bcs: tuple
    order: int = eqx.field(static=True)

    def __init__(
        self,
        grid: Grid,
        diffusivity_u: Any = 2e-5,
        diffusivity_v: Any = 1e-5,
        feed: Any = 0.04,
        kill: Any = 0.06,
        bcs: Any = "periodic",
        *,
        order: int = 2,
    ):
        name = "GrayScott"
        self.grid, self.bcs = fd_configuration(name, grid, bcs, order=order)
        # arrays, not Python floats: traced (never static) under eqx.filter_jit
        self.diffusivity_u = coefficient(diffusivity_u, "diffusivity_u", name, sign="nonnegative")
        self.diffusivity_v = coefficient(diffusivity_v, "diffusivity_v", name, sign="nonnegative")
        self.feed = coefficient(feed, "feed", name)
        self.kill = coefficient(kill, "kill", name)
        self.order = order

    def __call__(self, t: Any, state: Any, args: Any = None) -> Any:
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise ValueError("GrayScott: the state must be a pair (u, v).")
        u, v = state
        check_state(u, self.grid, "GrayScott", "u")
        check_state(v, self.grid, "GrayScott", "v")
        dt = jnp.result_type(u)
        du, dv, F, k = (
            jnp.asarray(p, dt)
            for p in (self.diffusivity_u, self.diffusivity_v, self.feed, self.kill)
        )
        uvv = u * v * v
        lap = lambda w: laplacian(w, self.grid, self.bcs, order=self.order)
        hold = lambda w: hold_dirichlet_nodes(w, self.grid, self.bcs)
        return (hold(du * lap(u) - uvv + F * (1 - u)), hold(dv * lap(v) + uvv - (F + k) * v))

    def max_stable_dt(self, state: Any, args: Any = None) -> Any:
        d = jnp.maximum(jnp.abs(jnp.asarray(self.diffusivity_u)), jnp.abs(self.diffusivity_v))
        return stable_dt(self.grid, diffusivity=d, order=self.order)
