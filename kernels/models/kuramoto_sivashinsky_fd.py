r"""Kuramoto--Sivashinsky on a bounded interval: finite differences with Dirichlet/Neumann walls.

The periodic :class:`~scidiff.kernels.KuramotoSivashinsky` is pseudo-spectral; this is its
method-of-lines counterpart on :math:`[a, b]` with walls, in 1D:

* ``form="conservative"`` (default): :math:`u_t + u\,u_x + u_{xx} + \nu\,u_{xxxx} = 0`;
* ``form="gradient"``: :math:`u_t + \tfrac12 u_x^2 + u_{xx} + \nu\,u_{xxxx} = 0`.

The equation is fourth order, so each wall needs two conditions. They come from the one
condition given per side (:class:`~scidiff.kernels.Dirichlet` or
:class:`~scidiff.kernels.Neumann`) and the ghost-cell reflection of
:func:`~scidiff.kernels.pad` (two ghosts per side), which makes :math:`u - g` odd
(Dirichlet) or :math:`u - q\,n\,x` even (Neumann) about the wall:

* ``Dirichlet(g)`` -- *hinged* wall: :math:`u = g` and :math:`u_{xx} = 0`;
* ``Neumann(q)`` -- *sliding* wall: :math:`\partial_n u = q` and :math:`u_{xxx} = 0`.

(The clamped wall :math:`u = g,\ u_x = 0` is not offered: its ghosts are not a reflection.)
All stencils are second-order central ones on the padded field:

.. math::
    u_x \approx \frac{u_{i+1}-u_{i-1}}{2h},\quad
    u_{xx} \approx \frac{u_{i+1}-2u_i+u_{i-1}}{h^2},\quad
    u_{xxxx} \approx \frac{u_{i+2}-4u_{i+1}+6u_i-4u_{i-1}+u_{i-2}}{h^4},

and :math:`u u_x` is written in the skew-symmetric form
:math:`\tfrac13\big(u\,u_x + (u^2)_x\big)`, which conserves :math:`\sum u^2` under the
nonlinear term with homogeneous walls. The problem is stiff (:math:`\nu/h^4`): integrate it
with an implicit solver, e.g. ``scidiff.solve_ivp(model, ..., solver=scidiff.Kvaerno5())``.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from .._boundary import Periodic, pad
from .._grid import Grid
from ._base import AbstractPDEModel
from ._fd_common import check_state, coefficient, fd_configuration, hold_dirichlet_nodes

__all__ = ["KuramotoSivashinskyFD"]

_FORMS = ("conservative", "gradient")


def bounded_bcs_1d(grid: Grid, bcs: Any, model: str, periodic_alt: str):
    """Validate a 1D grid and Dirichlet/Neumann walls; return the normalised BC pairs."""
    if isinstance(grid, Grid) and grid.ndim != 1:
        raise ValueError(f"{model} is one-dimensional; got a {grid.ndim}D grid {grid.shape}.")
    grid, pairs = fd_configuration(model, grid, bcs)
    if isinstance(pairs[0][0], Periodic):
        raise ValueError(
            f"{model} is for bounded intervals with Dirichlet/Neumann walls; for periodic "
            f"boundaries use the pseudo-spectral scidiff.kernels.{periodic_alt}."
        )
    min_points = 3 if grid.centring == "vertex" else 2
    if grid.shape[0] < min_points:
        raise ValueError(
            f"{model}: the 5-point stencils need at least {min_points} points on a "
            f"{grid.centring}-centred grid, got {grid.shape[0]}."
        )
    return grid, pairs


def shifted_copies(u, grid: Grid, bcs, model: str):
    """Check ``u`` against the grid (naming ``model``), promote an integer ``u`` to float;
    return ``(u, s, h)`` with ``s[k][i] = u[i + k]`` for ``k = -2..2`` (ghosts from
    :func:`pad`) and the spacing ``h``."""
    check_state(u, grid, model)
    u = jnp.asarray(u)
    if not jnp.issubdtype(u.dtype, jnp.inexact):
        u = u.astype(jnp.result_type(float))
    n = grid.shape[0]
    p = pad(u, grid, bcs, 2)
    return u, {k: p[2 + k : 2 + k + n] for k in range(-2, 3)}, grid.spacing[0]


class KuramotoSivashinskyFD(AbstractPDEModel):
    r"""Kuramoto--Sivashinsky on a bounded 1D interval (finite differences, order 2).

    :math:`u_t + u u_x + u_{xx} + \nu u_{xxxx} = 0` (or the gradient form
    :math:`u_t + \tfrac12 u_x^2 + \dots`); see the module docstring for the walls.

    Arguments:
        grid: a 1D :class:`~scidiff.kernels.Grid` (cell- or vertex-centred; static). On a
            vertex grid Dirichlet wall nodes are part of the state and are held fixed.
        bcs: one ``Dirichlet(g)`` (hinged: :math:`u=g,\ u_{xx}=0`) or ``Neumann(q)``
            (sliding: :math:`\partial_n u=q,\ u_{xxx}=0`) per side, or one for both.
        viscosity: hyper-viscosity :math:`\nu > 0` (differentiable leaf).
        form: ``"conservative"`` (default) or ``"gradient"``.

    Raises:
        ValueError: periodic boundaries (use ``KuramotoSivashinsky``), a grid that is not
            1D or is too small, an unknown form or condition.
        TypeError: a ``grid`` that is not a ``Grid``, an unknown condition class.

    Example:
        >>> import jax.numpy as jnp
        >>> import scidiff
        >>> from scidiff.kernels import Dirichlet, Grid, KuramotoSivashinskyFD
        >>> g = Grid(33, 16.0, centring="vertex")
        >>> model = KuramotoSivashinskyFD(g, Dirichlet(0.0))
        >>> x = g.coordinates()[0]
        >>> u0 = 0.1 * jnp.sin(jnp.pi * x / 16)
        >>> sol = scidiff.solve_ivp(model, (0.0, 1.0), u0, solver=scidiff.Kvaerno5(),
        ...                         rtol=1e-4, atol=1e-6)
    """

    grid: Grid
    bcs: tuple
    viscosity: Any
    form: str = eqx.field(static=True)

    def __init__(
        self,
        grid: Grid,
        bcs: Any = "dirichlet",
        *,
        viscosity: Any = 1.0,
        form: str = "conservative",
    ):
        self.grid, self.bcs = bounded_bcs_1d(
            grid, bcs, "KuramotoSivashinskyFD", "KuramotoSivashinsky"
        )
        if form not in _FORMS:
            raise ValueError(f"Unknown KS `form` {form!r}: use 'conservative' or 'gradient'.")
        self.viscosity = coefficient(
            viscosity, "viscosity", "KuramotoSivashinskyFD", sign="positive"
        )
        self.form = form

    def __call__(self, t: Any, u: Any, args: Any = None) -> Any:
        u, s, h = shifted_copies(u, self.grid, self.bcs, "KuramotoSivashinskyFD")
        dt = u.dtype
        u_xx = (s[1] - 2 * s[0] + s[-1]) / jnp.asarray(h**2, dt)
        u_xxxx = (s[2] - 4 * (s[1] + s[-1]) + 6 * s[0] + s[-2]) / jnp.asarray(h**4, dt)
        if self.form == "conservative":
            u_x = (s[1] - s[-1]) / jnp.asarray(2 * h, dt)
            uu_x = (s[1] ** 2 - s[-1] ** 2) / jnp.asarray(2 * h, dt)
            nonlinear = (u * u_x + uu_x) / 3
        else:
            nonlinear = 0.5 * ((s[1] - s[-1]) / jnp.asarray(2 * h, dt)) ** 2
        nu = jnp.asarray(self.viscosity, dt)
        du = -nonlinear - u_xx - nu * u_xxxx
        return hold_dirichlet_nodes(du, self.grid, self.bcs)
