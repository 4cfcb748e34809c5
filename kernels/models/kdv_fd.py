r"""Korteweg--de Vries on a bounded interval: finite differences with Dirichlet/Neumann walls.

The method-of-lines counterpart of the periodic, pseudo-spectral
:class:`~scidiff.kernels.KortewegDeVries` on :math:`[a, b]` with walls:

.. math:: u_t + a\,u\,u_x + b\,u_{xxx} = \nu\,u_{xx}.

One condition is given per side and the ghost-cell reflection of
:func:`~scidiff.kernels.pad` (two ghosts per side) supplies the second:
``Dirichlet(g)`` imposes :math:`u = g,\ u_{xx} = 0` and ``Neumann(q)`` imposes
:math:`\partial_n u = q,\ u_{xxx} = 0`. These reflecting walls suit waves that stay away
from them (a solitary wave travels as on the infinite line until it reaches a wall).
Second-order central stencils on the padded field:

.. math::
    u_{xxx} \approx \frac{u_{i+2} - 2u_{i+1} + 2u_{i-1} - u_{i-2}}{2h^3},

:math:`u_x, u_{xx}` as usual, and :math:`u u_x` in the skew-symmetric form
:math:`\tfrac13(u u_x + (u^2)_x)`. The :math:`h^{-3}` term makes explicit steps small
(:math:`\Delta t \lesssim h^3/|b|` for RK4); adaptive or implicit solvers via
``scidiff.solve_ivp`` choose it themselves.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from .._grid import Grid
from ._base import AbstractPDEModel
from ._fd_common import coefficient, hold_dirichlet_nodes
from .kuramoto_sivashinsky_fd import bounded_bcs_1d, shifted_copies

__all__ = ["KortewegDeVriesFD"]


class KortewegDeVriesFD(AbstractPDEModel):
    r"""KdV :math:`u_t + a u u_x + b u_{xxx} = \nu u_{xx}` on a bounded 1D interval
    (finite differences, order 2); see the module docstring for the walls.

    Arguments:
        grid: a 1D :class:`~scidiff.kernels.Grid` (cell- or vertex-centred; static). On a
            vertex grid Dirichlet wall nodes are part of the state and are held fixed.
        bcs: one ``Dirichlet(g)`` or ``Neumann(q)`` per side, or one for both.
        nonlinearity, dispersion, viscosity: :math:`a, b, \nu` (differentiable leaves).

    Raises:
        ValueError: periodic boundaries (use ``KortewegDeVries``), a grid that is not 1D
            or is too small, an unknown condition.
        TypeError: a ``grid`` that is not a ``Grid``, an unknown condition class.

    Example:
        >>> import scidiff
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import Dirichlet, Grid, KortewegDeVriesFD
        >>> g = Grid(201, 40.0, centring="vertex")
        >>> model = KortewegDeVriesFD(g, Dirichlet(0.0))
        >>> x = g.coordinates()[0]
        >>> u0 = 0.5 / jnp.cosh(0.5 * (x - 10.0)) ** 2   # soliton of speed 1
        >>> u = model.rollout(u0, dt=5e-3, num_steps=200, save_every=200)[-1]  # moved by 1
    """

    grid: Grid
    bcs: tuple
    nonlinearity: Any
    dispersion: Any
    viscosity: Any

    def __init__(
        self,
        grid: Grid,
        bcs: Any = "dirichlet",
        *,
        nonlinearity: Any = 6.0,
        dispersion: Any = 1.0,
        viscosity: Any = 0.0,
    ):
        self.grid, self.bcs = bounded_bcs_1d(grid, bcs, "KortewegDeVriesFD", "KortewegDeVries")
        name = "KortewegDeVriesFD"
        self.nonlinearity = coefficient(nonlinearity, "nonlinearity", name)
        self.dispersion = coefficient(dispersion, "dispersion", name)
        self.viscosity = coefficient(viscosity, "viscosity", name, sign="nonnegative")

    def __call__(self, t: Any, u: Any, args: Any = None) -> Any:
        u, s, h = shifted_copies(u, self.grid, self.bcs, "KortewegDeVriesFD")
        dt = u.dtype
        u_x = (s[1] - s[-1]) / jnp.asarray(2 * h, dt)
        uu_x = (s[1] ** 2 - s[-1] ** 2) / jnp.asarray(2 * h, dt)
        u_xx = (s[1] - 2 * s[0] + s[-1]) / jnp.asarray(h**2, dt)
        u_xxx = (s[2] - 2 * (s[1] - s[-1]) - s[-2]) / jnp.asarray(2 * h**3, dt)
        a, b, nu = (
            jnp.asarray(p, dt) for p in (self.nonlinearity, self.dispersion, self.viscosity)
        )
        du = -a * (u * u_x + uu_x) / 3 - b * u_xxx + nu * u_xx
        return hold_dirichlet_nodes(du, self.grid, self.bcs)
