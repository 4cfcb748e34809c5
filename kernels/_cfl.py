r"""Stable explicit time steps (CFL conditions) and a clear error when a step is unstable.

For an explicit Runge--Kutta method with stability region :math:`S`, the step is stable
when :math:`\Delta t\,\lambda \in S` for every eigenvalue :math:`\lambda` of the
semi-discrete operator. With :math:`R` the extent of :math:`S` along the negative real
axis and :math:`I` along the imaginary axis (Euler/RK2: :math:`R = 2, I = 0`; RK3:
:math:`2.51, 1.73`; RK4: :math:`2.785, 2.828`), :func:`stable_dt` bounds

.. math::
    \Delta t \le s \Big/ \Big(\frac{\lambda_\mathrm{diff} + \lambda_\mathrm{adv}}{R}
      + \frac{\lambda_\mathrm{wave}}{I}\Big),

with the safety factor :math:`s`, the diffusion bound
:math:`\lambda_\mathrm{diff} = \kappa\, c_p \sum_a h_a^{-2}` (:math:`c_2 = 4`,
:math:`c_4 = 16/3`: the largest eigenvalue of the order-:math:`p` Laplacian), the
upwind-advection bound :math:`\lambda_\mathrm{adv} = 2\sum_a |v_a|/h_a` (the upwind
symbol's circle, real extent :math:`2|v|/h`), and the wave bound
:math:`\lambda_\mathrm{wave} = c\sqrt{c_p \sum_a h_a^{-2}}` (purely imaginary spectrum of
:math:`u_{tt} = c^2\Delta u` as a first-order system).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ._grid import Grid

__all__ = ["stable_dt", "check_cfl"]

# (real extent R, imaginary extent I) of the stability regions.
_REGIONS = {
    "euler": (2.0, 0.0),
    "rk2": (2.0, 0.0),
    "rk3": (2.5127, 1.7321),
    "rk4": (2.7853, 2.8284),
}
_LAPLACIAN_MAX = {2: 4.0, 4: 16.0 / 3.0}


def stable_dt(
    grid: Grid,
    *,
    diffusivity: ArrayLike = 0.0,
    velocity: ArrayLike = 0.0,
    wave_speed: ArrayLike = 0.0,
    order: int = 2,
    integrator: str = "rk4",
    safety: float = 0.9,
) -> Array:
    r"""Largest stable explicit step for diffusion, advection and waves on ``grid``.

    Arguments:
        grid: the grid (its spacings).
        diffusivity: :math:`\kappa \ge 0`, a scalar or a field (its largest value
            bounds the spectrum of :math:`\nabla\cdot(\kappa\nabla)`; traced).
        velocity: advection speed, a scalar for every axis or one per axis (``|v|`` is
            used; pass ``max |u|`` for nonlinear advection; traced).
        wave_speed: :math:`c` of a second-order wave equation (traced).
        order: order of the Laplacian (2 or 4).
        integrator: ``"euler"``, ``"rk2"``, ``"rk3"`` or ``"rk4"`` (the models' default).
        safety: factor in ``(0, 1]`` applied to the bound.

    Returns:
        A scalar array (``inf`` when nothing limits the step; ``0`` when the integrator
        cannot be stable at all, e.g. Euler for a wave equation).

    Example:
        >>> from scidiff.kernels import Grid, stable_dt
        >>> g = Grid((128, 128))
        >>> dt = stable_dt(g, diffusivity=0.1)       # 0.9 * 2.785 / (0.1 * 4 * 2 * 128**2)
    """
    if integrator not in _REGIONS:
        raise ValueError(f"Unknown integrator {integrator!r}: use one of {sorted(_REGIONS)}.")
    if order not in _LAPLACIAN_MAX:
        raise ValueError(f"`order` must be 2 or 4, got {order!r}.")
    R, I = _REGIONS[integrator]
    inv_h2 = sum(1.0 / h**2 for h in grid.spacing)
    velocity = jnp.asarray(velocity)
    dtype = jnp.result_type(diffusivity, velocity, wave_speed, float)
    kappa = jnp.max(jnp.abs(jnp.asarray(diffusivity, dtype)))  # a field: its largest value
    v = jnp.broadcast_to(jnp.abs(jnp.asarray(velocity, dtype)), (grid.ndim,))
    c = jnp.abs(jnp.asarray(wave_speed, dtype))
    lam_real = kappa * _LAPLACIAN_MAX[order] * inv_h2 + 2 * sum(
        v[a] / grid.spacing[a] for a in range(grid.ndim)
    )
    lam_wave = c * jnp.sqrt(_LAPLACIAN_MAX[order] * inv_h2)
    wave_term = lam_wave / I if I > 0 else jnp.where(lam_wave > 0, jnp.inf, 0.0)
    return safety / (lam_real / R + wave_term)


def check_cfl(dt, max_dt, *, what: str = "explicit step"):
    """Return ``dt``; raise if ``|dt|`` exceeds ``max_dt`` (an unstable explicit step).

    With concrete values (outside ``jit``) this raises ``ValueError`` at once; with
    traced values it raises at run time through ``equinox.error_if`` (also under
    ``vmap``/``grad``). Thread the returned ``dt`` onwards so the check is kept.

    Raises:
        ValueError: ``dt`` is too large (concrete case).

    Example:
        >>> from scidiff.kernels import Grid, check_cfl, stable_dt
        >>> dt = check_cfl(1e-5, stable_dt(Grid(64), diffusivity=1.0))
    """
    dt = jnp.asarray(dt)
    max_dt = jnp.asarray(max_dt)
    if dt.ndim or max_dt.ndim:
        raise ValueError(
            f"check_cfl compares scalars: got dt of shape {dt.shape} and a limit of shape "
            f"{max_dt.shape} (reduce a per-point limit with jnp.min first)."
        )
    bad = (jnp.abs(dt) > max_dt) | ~jnp.isfinite(dt)
    msg = (
        f"unstable {what}: dt exceeds the CFL limit of the explicit integrator (or is not "
        "finite); reduce dt (see scidiff.kernels.stable_dt) or use an implicit/ETD solver."
    )
    try:
        concrete = bool(bad)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError):
        return eqx.error_if(dt, bad, msg)
    if not bool(jnp.isfinite(dt)):
        raise ValueError(f"`dt` must be a finite number for the {what}, got {float(dt)}.")
    if concrete:
        raise ValueError(
            f"Unstable {what}: dt={float(dt):.3g} exceeds the CFL limit {float(max_dt):.3g} of "
            "the explicit integrator; reduce dt (see scidiff.kernels.stable_dt) or use an "
            "implicit/ETD solver."
        )
    return dt
