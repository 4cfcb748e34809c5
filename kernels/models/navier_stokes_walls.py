r"""Two-dimensional incompressible Navier--Stokes in a walled box (no-slip), finite differences.

Vorticity--stream-function form on the vertex-centred box :math:`[0, L_x]\times[0, L_y]`
(axis 0 is :math:`x`, axis 1 is :math:`y`; nodes :math:`x_i = i h_x`, :math:`i = 0..N_x`):

.. math::
    \omega_t + \mathbf u\cdot\nabla\omega = \nu\,\Delta\omega + F, \qquad
    -\Delta\psi = \omega, \qquad \mathbf u = (\partial_y\psi, -\partial_x\psi),

with :math:`\psi = 0` on the walls and no-slip: the normal velocity vanishes and the
tangential velocity equals the wall speed (``wall_velocities`` = speeds of the left,
right, bottom and top walls; the lid-driven cavity moves the top wall with speed
:math:`U`, ``lid_velocity``). The wall vorticity follows from Thom's formula, e.g. on the
top wall :math:`\omega_w = -2\psi_{N-1}/h^2 - 2U_w/h` (bottom: :math:`+2U_w/h`; left:
:math:`-2V_w/h`; right: :math:`+2V_w/h`).

The state is the vorticity at the *interior* nodes, shape ``(Nx - 1, Ny - 1)``; wall values
are derived (:meth:`NavierStokesWalls2D.fields`). The Poisson problem is solved exactly
(for the 5-point Laplacian) by a fast sine transform (DST-I through an FFT of the odd
extension); advection and diffusion use second-order central differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._base import AbstractPDEModel

__all__ = ["NavierStokesWalls2D", "dst1"]


def dst1(a: Any, axis: int = -1) -> Any:
    r"""Type-I discrete sine transform :math:`b_k = \sum_{j=1}^{n-1} a_j \sin(\pi jk/n)` along
    ``axis`` (length ``n - 1``), through the real FFT of the odd extension of length
    ``2n``. Its inverse is ``(2 / n) * dst1(b)``."""
    a = jnp.moveaxis(jnp.asarray(a), axis, -1)
    m = a.shape[-1]
    zero = jnp.zeros(a.shape[:-1] + (1,), a.dtype)
    ext = jnp.concatenate([zero, a, zero, -a[..., ::-1]], axis=-1)
    b = -jnp.fft.rfft(ext, axis=-1).imag[..., 1 : m + 1] / 2
    return jnp.moveaxis(b.astype(a.dtype), -1, axis)


def _check_positive(name: str, value: Any, shown: Any) -> None:
    try:
        bad = float(value) <= 0
    except TypeError:  # traced (jax.errors.ConcretizationTypeError): checked by the caller
        return
    if bad:
        raise ValueError(f"NavierStokesWalls2D: `{name}` must be positive; got {shown!r}.")


class NavierStokesWalls2D(AbstractPDEModel):
    r"""2D incompressible Navier--Stokes with no-slip walls (lid-driven cavity and friends).

    :math:`\omega_t + \mathbf u\cdot\nabla\omega = \nu\Delta\omega + F`,
    :math:`-\Delta\psi = \omega`, :math:`\psi = 0` and no-slip on the walls (see the module
    docstring). The state ``w`` is the vorticity at the interior nodes,
    shape ``(Nx - 1, Ny - 1)``.

    Arguments:
        shape: ``(Nx, Ny)``, the number of cells per axis (at least 2 each; static).
        extent: box sides (scalar or ``(Lx, Ly)``), default 1 (differentiable).
        viscosity: :math:`\nu > 0` (differentiable).
        lid_velocity: tangential speed :math:`U` of the top wall (``y = Ly``, moving along
            ``+x``; differentiable). Shorthand for ``wall_velocities=(0, 0, 0, U)``.
        wall_velocities: tangential speeds of the (left, right, bottom, top) walls
            (left/right move along ``+y``, bottom/top along ``+x``; differentiable), or
            ``None``. Exclusive with a non-zero ``lid_velocity``.
        forcing: optional vorticity source :math:`F` at the interior nodes,
            shape ``(Nx - 1, Ny - 1)`` (differentiable), or ``None``.

    ``step`` is classical RK4 (inherited); :meth:`max_stable_dt` bounds it by diffusion and
    central advection (real and imaginary extents of the RK4 stability region).

    Raises:
        ValueError: a shape that is not 2D or has fewer than 2 cells per axis, a non-positive
            extent or viscosity, conflicting wall speeds, a forcing or state of the wrong
            shape.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels import NavierStokesWalls2D
        >>> model = NavierStokesWalls2D((16, 16), viscosity=0.01, lid_velocity=1.0)
        >>> w = model.rollout(jnp.zeros((15, 15)), dt=0.01, num_steps=20, save_every=20)[-1]
        >>> omega, psi, u, v = model.fields(w)  # full (17, 17) node fields
        >>> omega.shape
        (17, 17)
    """

    shape: tuple[int, int] = eqx.field(static=True)
    extent: tuple[Any, Any]
    viscosity: Any
    wall_velocities: tuple[Any, Any, Any, Any]
    forcing: Any

    def __init__(
        self,
        shape: Sequence[int],
        extent: Any = 1.0,
        *,
        viscosity: Any = 1e-2,
        lid_velocity: Any = 0.0,
        wall_velocities: Sequence[Any] | None = None,
        forcing: Any = None,
    ):
        if np.ndim(shape) != 1 or len(shape) != 2:
            raise ValueError(f"NavierStokesWalls2D needs a 2D shape (Nx, Ny); got {shape!r}.")
        if any(isinstance(n, bool) or int(n) != n or int(n) < 2 for n in shape):
            raise ValueError(
                f"NavierStokesWalls2D: `shape` must hold integers >= 2 (cells per axis); "
                f"got {shape!r}."
            )
        self.shape = (int(shape[0]), int(shape[1]))
        ext = (extent, extent) if np.ndim(extent) == 0 else tuple(extent)
        if len(ext) != 2:
            raise ValueError(
                f"NavierStokesWalls2D: `extent` must be a scalar or (Lx, Ly); got {extent!r}."
            )
        for e in ext:
            _check_positive("extent", e, extent)
        _check_positive("viscosity", viscosity, viscosity)
        self.extent = (jnp.asarray(ext[0]), jnp.asarray(ext[1]))
        self.viscosity = jnp.asarray(viscosity)
        if wall_velocities is None:
            wall_velocities = (0.0, 0.0, 0.0, lid_velocity)
        else:
            if np.ndim(wall_velocities) != 1 or len(wall_velocities) != 4:
                raise ValueError(
                    "NavierStokesWalls2D: `wall_velocities` must be four speeds (left, right, "
                    f"bottom, top); got {wall_velocities!r}."
                )
            try:
                lid_set = float(lid_velocity) != 0.0
            except TypeError:
                lid_set = True
            if lid_set:
                raise ValueError(
                    "NavierStokesWalls2D: give either `lid_velocity` or `wall_velocities`, not both."
                )
        left, right, bottom, top = (jnp.asarray(s) for s in wall_velocities)
        self.wall_velocities = (left, right, bottom, top)
        if forcing is not None:
            forcing = jnp.asarray(forcing)
            if forcing.shape != self.interior_shape:
                raise ValueError(
                    f"NavierStokesWalls2D: `forcing` must have the interior shape "
                    f"{self.interior_shape}; got {forcing.shape}."
                )
        self.forcing = forcing

    @property
    def interior_shape(self) -> tuple[int, int]:
        """Shape of the state: the interior nodes ``(Nx - 1, Ny - 1)``."""
        return (self.shape[0] - 1, self.shape[1] - 1)

    def spacing(self, dtype: Any) -> tuple[Any, Any]:
        return (
            jnp.asarray(self.extent[0], dtype) / self.shape[0],
            jnp.asarray(self.extent[1], dtype) / self.shape[1],
        )

    def coordinates(self, dtype: Any = float) -> tuple[Any, Any]:
        """Node coordinates ``(x, y)`` of the full grid, shapes ``(Nx + 1,)`` and ``(Ny + 1,)``."""
        hx, hy = self.spacing(dtype)
        return (
            jnp.arange(self.shape[0] + 1, dtype=dtype) * hx,
            jnp.arange(self.shape[1] + 1, dtype=dtype) * hy,
        )

    def check_state(self, w: Any) -> Any:
        w = jnp.asarray(w)
        if w.shape != self.interior_shape:
            raise ValueError(
                f"NavierStokesWalls2D: the state is the interior vorticity of shape "
                f"{self.interior_shape} (Nx - 1, Ny - 1); got shape {w.shape}."
            )
        if not jnp.issubdtype(w.dtype, jnp.floating):
            w = w.astype(jnp.result_type(float))
        return w

    def laplacian_eigenvalues(self, dtype: Any) -> Any:
        r"""Eigenvalues :math:`\lambda_{kl} = \frac{4}{h_x^2}\sin^2\frac{\pi k}{2N_x}
        + \frac{4}{h_y^2}\sin^2\frac{\pi l}{2N_y}` of the 5-point :math:`-\Delta` with
        homogeneous Dirichlet walls, shape ``(Nx - 1, Ny - 1)``."""
        nx, ny = self.shape
        hx, hy = self.spacing(dtype)
        sx = jnp.sin(jnp.pi * jnp.arange(1, nx, dtype=dtype) / (2 * nx)) ** 2
        sy = jnp.sin(jnp.pi * jnp.arange(1, ny, dtype=dtype) / (2 * ny)) ** 2
        return 4 * sx[:, None] / hx**2 + 4 * sy[None, :] / hy**2

    def solve_poisson(self, w: Any) -> Any:
        r"""Solve the 5-point :math:`-\Delta\psi = \omega` with :math:`\psi = 0` on the walls
        by a fast sine transform; interior values, shape ``(Nx - 1, Ny - 1)``."""
        w = self.check_state(w)
        nx, ny = self.shape
        b = dst1(dst1(w, 0), 1) / self.laplacian_eigenvalues(w.dtype)
        return dst1(dst1(b, 0), 1) * (4.0 / (nx * ny))

    def _fields(self, w: Any):
        dtype = w.dtype
        hx, hy = self.spacing(dtype)
        vl, vr, ub, ut = (jnp.asarray(s, dtype) for s in self.wall_velocities)
        psi = jnp.pad(self.solve_poisson(w), 1)
        # Thom's formula on each wall (corners: average of the two walls, unused below).
        om = jnp.pad(w, 1)
        om = om.at[0, 1:-1].set(-2 * psi[1, 1:-1] / hx**2 - 2 * vl / hx)
        om = om.at[-1, 1:-1].set(-2 * psi[-2, 1:-1] / hx**2 + 2 * vr / hx)
        om = om.at[1:-1, 0].set(-2 * psi[1:-1, 1] / hy**2 + 2 * ub / hy)
        om = om.at[1:-1, -1].set(-2 * psi[1:-1, -2] / hy**2 - 2 * ut / hy)
        for i, j in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
            ii = 1 if i == 0 else -2
            jj = 1 if j == 0 else -2
            om = om.at[i, j].set((om[ii, j] + om[i, jj]) / 2)
        u = (psi[:, 2:] - psi[:, :-2]) / (2 * hy)
        v = -(psi[2:, :] - psi[:-2, :]) / (2 * hx)
        u = jnp.concatenate(
            [jnp.full((psi.shape[0], 1), ub, dtype), u, jnp.full((psi.shape[0], 1), ut, dtype)], 1
        )
        v = jnp.concatenate(
            [jnp.full((1, psi.shape[1]), vl, dtype), v, jnp.full((1, psi.shape[1]), vr, dtype)], 0
        )
        u = u.at[0, 1:-1].set(0.0).at[-1, 1:-1].set(0.0)  # no-slip: u = 0 on left/right
        v = v.at[1:-1, 0].set(0.0).at[1:-1, -1].set(0.0)  # v = 0 on bottom/top
        return om, psi, u, v

    def fields(self, w: Any) -> tuple[Any, Any, Any, Any]:
        r"""Full node fields ``(omega, psi, u, v)``, each of shape ``(Nx + 1, Ny + 1)``: the
        vorticity with Thom's wall values, the stream function (zero on the walls) and the
        velocity (central differences inside, the wall speeds on the walls)."""
        return self._fields(self.check_state(w))

    def __call__(self, t: Any, u: Any, args: Any = None) -> Any:
        w = self.check_state(u)
        hx, hy = self.spacing(w.dtype)
        nu = jnp.asarray(self.viscosity, w.dtype)
        om, psi, uu, vv = self._fields(w)
        wx = (om[2:, 1:-1] - om[:-2, 1:-1]) / (2 * hx)
        wy = (om[1:-1, 2:] - om[1:-1, :-2]) / (2 * hy)
        lap = (om[2:, 1:-1] - 2 * w + om[:-2, 1:-1]) / hx**2 + (
            om[1:-1, 2:] - 2 * w + om[1:-1, :-2]
        ) / hy**2
        dw = nu * lap - uu[1:-1, 1:-1] * wx - vv[1:-1, 1:-1] * wy
        if self.forcing is not None:
            dw = dw + jnp.asarray(self.forcing, w.dtype)
        return dw

    def max_stable_dt(self, u: Any, args: Any = None) -> Any:
        r"""RK4 step bound :math:`0.9/(\lambda_d/2.785 + \lambda_a/2.828)` with
        :math:`\lambda_d = 4\nu(h_x^{-2} + h_y^{-2})` and
        :math:`\lambda_a = \max|u|/h_x + \max|v|/h_y` (central advection, including the
        wall speeds)."""
        w = self.check_state(u)
        hx, hy = self.spacing(w.dtype)
        _, _, uu, vv = self._fields(w)
        lam_d = 4 * jnp.asarray(self.viscosity, w.dtype) * (1 / hx**2 + 1 / hy**2)
        lam_a = jnp.max(jnp.abs(uu)) / hx + jnp.max(jnp.abs(vv)) / hy
        return 0.9 / (lam_d / 2.7853 + lam_a / 2.8284)
