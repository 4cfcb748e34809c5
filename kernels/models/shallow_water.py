r"""Two-dimensional nonlinear shallow-water equations, conservative finite volumes."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from .._advection import check_scheme, padded_flux_divergence
from .._boundary import Dirichlet, Neumann, Periodic, pad_pairs_axis
from .._cfl import stable_dt
from .._fd import laplacian
from .._grid import Grid
from ._base import AbstractPDEModel
from ._fd_common import check_state, coefficient, fd_configuration

__all__ = ["ShallowWater"]


class ShallowWater(AbstractPDEModel):
    r"""Shallow water in conservative form; the state is ``U = (h, hu, hv)``, shape
    ``(3, nx, ny)``:

    .. math::
        h_t + (hu)_x + (hv)_y &= 0,\\
        (hu)_t + (hu^2 + \tfrac12 g h^2)_x + (huv)_y &= f\,hv + \nu\Delta(hu),\\
        (hv)_t + (huv)_x + (hv^2 + \tfrac12 g h^2)_y &= -f\,hu + \nu\Delta(hv).

    Symbols: :math:`h > 0` the fluid depth, :math:`(u, v)` the depth-averaged velocity,
    :math:`g` gravity, :math:`f` the Coriolis parameter, :math:`\nu \ge 0` an optional
    momentum viscosity. Fluxes use global Lax--Friedrichs splitting with
    :math:`\alpha = \max(|\mathbf u| + \sqrt{g h})` and WENO5 (or upwind)
    reconstruction per component, so mass :math:`\int h` is conserved exactly with
    periodic boundaries or walls.

    Boundaries: per side ``Periodic()`` or ``Neumann()``, the latter meaning a
    reflecting (slip) wall: :math:`h` and the tangential momentum are mirrored, the
    normal momentum is odd (zero on the wall). Dirichlet sides are refused (an inflow
    condition for a hyperbolic system needs characteristic boundary data, not provided).

    Arguments:
        grid: a 2D grid (static).
        gravity, coriolis, viscosity: differentiable leaves (defaults 9.81, 0, 0).
        bcs: as above (default periodic).
        scheme: ``"weno5"`` or ``"upwind"`` (static).

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Grid, Neumann, ShallowWater, gaussian_bump
        >>> g = Grid((64, 64), 1.0)
        >>> model = ShallowWater(g, gravity=1.0, bcs=Neumann())
        >>> h0 = 1.0 + 0.1 * gaussian_bump(g, (0.5, 0.5), 0.1)
        >>> U0 = jnp.stack([h0, jnp.zeros_like(h0), jnp.zeros_like(h0)])
        >>> traj = model.rollout(U0, dt=2e-3, num_steps=10)
    """

    grid: Grid
    gravity: Any
    coriolis: Any
    viscosity: Any
    bcs: tuple
    scheme: str = eqx.field(static=True)

    def __init__(
        self,
        grid: Grid,
        gravity: Any = 9.81,
        coriolis: Any = 0.0,
        viscosity: Any = 0.0,
        bcs: Any = "periodic",
        *,
        scheme: str = "weno5",
    ):
        if isinstance(grid, Grid) and grid.ndim != 2:
            raise ValueError(f"ShallowWater needs a 2D grid, got {grid.ndim}D.")
        self.grid, pairs = fd_configuration("ShallowWater", grid, bcs, scheme=scheme)
        for pair in pairs:
            for bc in pair:
                if not isinstance(bc, (Periodic, Neumann)):
                    raise ValueError(
                        "ShallowWater: each side must be Periodic() or Neumann() (a reflecting "
                        f"wall); got {type(bc).__name__}."
                    )
        name = "ShallowWater"
        self.gravity = coefficient(gravity, "gravity", name, sign="nonnegative")
        self.coriolis = coefficient(coriolis, "coriolis", name)
        self.viscosity = coefficient(viscosity, "viscosity", name, sign="nonnegative")
        self.bcs = tuple(
            (Periodic(), Periodic()) if isinstance(p[0], Periodic) else (Neumann(), Neumann())
            for p in pairs
        )
        self.scheme = scheme

    def _component_bcs(self, component: int):
        """Ghost rules per component: walls mirror h and tangential momentum and make the
        normal momentum odd (component 1 is normal to axis 0, component 2 to axis 1)."""
        out = []
        for axis, pair in enumerate(self.bcs):
            if isinstance(pair[0], Periodic):
                out.append(pair)
            elif component == axis + 1:
                out.append((Dirichlet(0.0), Dirichlet(0.0)))
            else:
                out.append((Neumann(), Neumann()))
        return tuple(out)

    def __call__(self, t: Any, U: Any, args: Any = None) -> Any:
        check_state(U, self.grid, "ShallowWater", "U", channels=3)
        dtype = jnp.result_type(U)
        g = jnp.asarray(self.gravity, dtype)
        comp_bcs = [self._component_bcs(c) for c in range(3)]

        def padder(V, axis, width):
            return jnp.stack(
                [pad_pairs_axis(V[c], self.grid, comp_bcs[c], axis, width, width) for c in range(3)]
            )

        def flux(V, axis):
            h, mx, my = V[0], V[1], V[2]
            m = (mx, my)[axis]
            return jnp.stack(
                [
                    m,
                    mx * m / h + (0.5 * g * h**2 if axis == 0 else 0.0),
                    my * m / h + (0.5 * g * h**2 if axis == 1 else 0.0),
                ]
            )

        def speed(V, axis):
            h = V[0]
            return jnp.max(jnp.abs(V[axis + 1] / h) + jnp.sqrt(g * h))

        w = check_scheme(self.scheme)
        out = padded_flux_divergence(U, self.grid, padder, flux, speed, scheme=self.scheme, width=w)
        f = jnp.asarray(self.coriolis, dtype)
        nu = jnp.asarray(self.viscosity, dtype)
        src = [
            jnp.zeros_like(U[0]),
            f * U[2] + nu * laplacian(U[1], self.grid, comp_bcs[1]),
            -f * U[1] + nu * laplacian(U[2], self.grid, comp_bcs[2]),
        ]
        return out + jnp.stack(src)

    def max_stable_dt(self, U: Any, args: Any = None) -> Any:
        U = jnp.asarray(U)
        h = U[0]
        c = jnp.sqrt(jnp.abs(jnp.asarray(self.gravity)) * jnp.max(h))
        speed = jnp.stack([jnp.max(jnp.abs(U[a + 1] / h)) + c for a in range(2)])
        return stable_dt(self.grid, diffusivity=self.viscosity, velocity=speed)
