r"""Base for semi-linear PDE models ``u_t = L u + N(u, t)`` on periodic boxes.

A concrete model supplies only physics, as in exponax: the diagonal Fourier symbol of its
linear part (:meth:`AbstractSemilinearModel.linear_symbol`) and the pseudo-spectral
evaluation of its nonlinear part (:meth:`AbstractSemilinearModel.nonlinear_term`). The
base turns them into

* ``model(t, u, args)``: the semi-discrete right-hand side :math:`\mathcal F^{-1}[L\hat u
  + M\hat N]` for ``scidiff.solve_ivp`` (method of lines);
* ``model.make_stepper(dt)``: an :class:`ETDRKStepper` holding precomputed ETDRK
  coefficients, with ``step``/``rollout`` that stay in Fourier space between steps;
* ``model.step(u, dt)`` / ``model.rollout(u0, dt, n)``: the same, building the stepper on
  the fly (``rollout`` builds it once).

:math:`M` is the output mask (Orszag's 2/3 rule by default): it multiplies every
nonlinear term, and is folded into the ETDRK coefficients so it costs nothing per step.
Inputs to products are de-aliased inside ``nonlinear_term`` (masked derivative symbols).
"""

from __future__ import annotations

import abc
import functools
import math
import operator
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._boundary import Periodic
from .._etdrk import ETDRK, check_etdrk_order
from .._spectral import (
    as_real_field,
    check_spatial_shape,
    dealias_mask_numpy,
    expand_extents,
    integer_wavenumbers,
    wavenumbers,
)
from ._base import AbstractPDEModel
from ._rollout import check_rollout_length, scan_rollout

__all__ = ["AbstractSemilinearModel", "ETDRKStepper"]

SUPPORTED_BOUNDARIES = ("periodic",)


def normalize_geometry(shape: Any, extent: Any, boundary: Any) -> tuple[tuple[int, ...], tuple]:
    """Validate ``(shape, extent, boundary)`` of a spectral model; return shape and extents."""
    if not (
        isinstance(boundary, Periodic) or (isinstance(boundary, str) and boundary == "periodic")
    ):
        raise ValueError(
            f"Unsupported boundary {boundary!r}: the spectral models support only "
            f"boundary={SUPPORTED_BOUNDARIES[0]!r} (or Periodic()): they are Fourier "
            "pseudo-spectral. Dirichlet/Neumann walls exist for the finite-difference models "
            "(Heat, AdvectionDiffusion, Wave, Burgers, GrayScott, ShallowWater, and "
            "KuramotoSivashinskyFD / KortewegDeVriesFD for bounded 1D KS and KdV)."
        )
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    shape = check_spatial_shape(shape)
    return shape, expand_extents(shape, extent)


def check_dealias(fraction: Any) -> float:
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"`dealias` must lie in (0, 1] (2/3 is Orszag's rule), got {fraction}.")
    return float(fraction)


class AbstractSemilinearModel(AbstractPDEModel):
    r"""A periodic PDE ``u_t = L u + N(u, t)``, pseudo-spectral in space, ETDRK in time.

    Subclasses declare the fields ``shape`` (static spatial shape), ``extent`` (tuple of
    box sides, differentiable leaves), ``order`` (static ETDRK order 1--4) and ``dealias``
    (static fraction for Orszag's rule), and implement :meth:`linear_symbol` and
    :meth:`nonlinear_term`. The state is a real array of shape ``shape`` (use ``jax.vmap``
    for batches); its dtype sets the precision of everything. ``args`` is handed to
    :meth:`nonlinear_term` untouched (the built-in models ignore it: their parameters are
    fields, so sweep them by building models inside ``jit``/``vmap``).
    """

    shape: eqx.AbstractVar[tuple[int, ...]]
    extent: eqx.AbstractVar[tuple[Any, ...]]
    order: eqx.AbstractVar[int]
    dealias: eqx.AbstractVar[float]

    @abc.abstractmethod
    def linear_symbol(self, dtype: Any) -> Array:
        """The symbol :math:`L_k` on the ``rfftn`` grid (broadcastable), real dtype ``dtype``
        or its complex counterpart."""

    @abc.abstractmethod
    def nonlinear_term(self, t: Any, u_hat: Array, args: Any) -> Array:
        """:math:`\\hat N(u, t)` from the Fourier state (before the output mask)."""

    # ------------------------------------------------------------------ helpers for models

    def output_mask(self) -> np.ndarray:
        """Mask multiplying every nonlinear term (default: the de-aliasing mask)."""
        return dealias_mask_numpy(self.shape, self.dealias)

    def input_mask(self, dtype: Any) -> Array:
        """The de-aliasing mask as a product of per-axis 0/1 factors (broadcast shapes, so
        it fuses into whatever it multiplies): multiply a symbol by it to de-alias the
        input of a product for free."""
        return functools.reduce(operator.mul, self._axis_masks(dtype))

    def wavenumbers(self, dtype: Any, *, zero_nyquist: bool = False) -> tuple[Array, ...]:
        """Angular wavenumbers of the model's box (see :func:`scidiff.kernels.wavenumbers`)."""
        return wavenumbers(self.shape, self.extent, dtype=dtype, zero_nyquist=zero_nyquist)

    def fft(self, u: Array) -> Array:
        """``rfftn`` over the spatial axes."""
        return jnp.fft.rfftn(u, axes=tuple(range(-len(self.shape), 0)))

    def ifft(self, u_hat: Array) -> Array:
        """``irfftn`` back to the model's spatial shape."""
        return jnp.fft.irfftn(u_hat, s=self.shape, axes=tuple(range(-len(self.shape), 0)))

    def check_state(self, u: Any, name: str = "u") -> Array:
        """Return ``u`` as a real float array of the model's shape, or raise."""
        u = as_real_field(u, name)
        if u.shape != self.shape:
            raise ValueError(
                f"`{name}` has shape {u.shape} but the model's grid is {self.shape}; use "
                "jax.vmap for a batch of states."
            )
        return u

    def advection_speed(self, u: Array, args: Any) -> tuple[Array, ...] | None:
        """Per-axis largest advection speed of the linearised nonlinear term at ``u``, or
        ``None`` when no advective CFL limit applies (the default)."""
        return None

    def max_stable_dt(self, u: Any, args: Any = None) -> Any:
        r"""Advective CFL limit of the explicit (nonlinear) part of the ETDRK step.

        The linear part is exact, so only :math:`\hat N` limits the step. Linearised, the
        advection :math:`\mathbf c\cdot\nabla` has the purely imaginary spectrum
        :math:`i\sum_d c_d k_d`, up to :math:`\sum_d |c_d| k_{d,\max}` on the de-aliased
        modes; ETDRK3/4 reduce to RK3/RK4 there, stable up to :math:`I = \sqrt3` and
        :math:`2\sqrt2` on the imaginary axis, hence
        :math:`\Delta t \le I / \sum_d |c_d|_{\max} k_{d,\max}`. ``None`` for ETDRK1/2
        (no imaginary-axis stability: they rely on the physical dissipation) and for
        models without an advective nonlinearity (:meth:`advection_speed` is ``None``).
        """
        if self.order not in (3, 4):
            return None
        u = self.check_state(u)
        speeds = self.advection_speed(u, args)
        if speeds is None:
            return None
        kmax = [
            jnp.max(jnp.abs(k) * m)
            for k, m in zip(self.wavenumbers(u.dtype), self._axis_masks(u.dtype))
        ]
        rate = sum(c * k for c, k in zip(speeds, kmax))
        limit = math.sqrt(3.0) if self.order == 3 else 2 * math.sqrt(2.0)
        return limit / rate

    def _axis_masks(self, dtype: Any) -> list[Array]:
        return [
            jnp.asarray(np.abs(n) < self.dealias * size / 2, dtype)
            for n, size in zip(integer_wavenumbers(self.shape), self.shape)
        ]

    # ------------------------------------------------------------------ public behaviour

    def __call__(self, t: Any, u: Any, args: Any = None) -> Array:
        """Semi-discrete right-hand side ``du/dt`` (pseudo-spectral, de-aliased)."""
        u = self.check_state(u)
        u_hat = self.fft(u)
        lin = self.linear_symbol(u.dtype)
        mask = jnp.asarray(self.output_mask(), u.dtype)
        return self.ifft(lin * u_hat + mask * self.nonlinear_term(t, u_hat, args)).astype(u.dtype)

    def make_stepper(
        self, dt: Any, dtype: Any = None, *, num_points: int = 32, radius: float = 1.0
    ) -> ETDRKStepper:
        """Precompute the ETDRK coefficients for step ``dt`` (traced) and state dtype ``dtype``
        (default: JAX's default float). Reuse the stepper for many steps."""
        dtype = jnp.dtype(dtype or jnp.result_type(float))
        scheme = ETDRK(
            self.linear_symbol(dtype),
            dt,
            check_etdrk_order(self.order),
            dtype=dtype,
            mask=self.output_mask(),
            num_points=num_points,
            radius=radius,
        )
        return ETDRKStepper(self, scheme)

    def step(self, u: Any, dt: Any, t: Any = 0.0, args: Any = None) -> Array:
        """One ETDRK step (builds the coefficients: for many steps use :meth:`make_stepper`
        or :meth:`rollout`)."""
        u = self.check_state(u)
        return self.make_stepper(dt, u.dtype).step(u, t, args)

    def _rollout_parts(
        self, u0: Any, dt: Any, args: Any
    ) -> tuple[Array, Callable[[Any, Any], Any], Callable[[Any], Any]]:
        """A rollout steps in Fourier space with coefficients computed once."""
        u0 = self.check_state(u0, "u0")
        return self.make_stepper(dt, u0.dtype).rollout_parts(u0, args)


class ETDRKStepper(eqx.Module):
    """A model bound to precomputed ETDRK coefficients (from ``model.make_stepper(dt)``).

    Example:
        >>> import scidiff
        >>> from scidiff.kernels import KuramotoSivashinsky
        >>> import jax.numpy as jnp
        >>> model = KuramotoSivashinsky(64, 22.0)
        >>> stepper = model.make_stepper(0.1)
        >>> u1 = stepper.step(jnp.cos(2 * jnp.pi * jnp.arange(64) / 64))
    """

    model: AbstractSemilinearModel
    scheme: ETDRK

    @property
    def dt(self) -> Array:
        return self.scheme.dt

    def step_fourier(self, u_hat: Array, t: Any = 0.0, args: Any = None) -> Array:
        """Advance a Fourier state (``rfftn`` layout) by one step."""
        return self.scheme.step(self.model.nonlinear_term, t, u_hat, args)

    def step(self, u: Any, t: Any = 0.0, args: Any = None) -> Array:
        """Advance a physical state by one step."""
        u = self.model.check_state(u)
        out = self.model.ifft(self.step_fourier(self.model.fft(u), t, args))
        return out.astype(u.dtype)

    def rollout_parts(
        self, u0: Any, args: Any = None
    ) -> tuple[Array, Callable[[Any, Any], Any], Callable[[Any], Any]]:
        """``(u0_hat, advance(u_hat, t), finish(saved_hat))``: the Fourier-space pieces of
        a rollout (one forward FFT at the start, one batched inverse FFT at the end)."""
        u0 = self.model.check_state(u0, "u0")
        dtype = u0.dtype

        def finish(saved_hat: Array) -> Array:
            return self.model.ifft(saved_hat).astype(dtype)

        return self.model.fft(u0), lambda u_hat, t: self.step_fourier(u_hat, t, args), finish

    def rollout(
        self,
        u0: Any,
        num_steps: int,
        *,
        save_every: int = 1,
        t0: Any = 0.0,
        args: Any = None,
        checkpoint: bool = True,
    ) -> Array:
        """Take ``num_steps`` steps; return the ``num_steps // save_every`` saved states.

        The state stays in Fourier space between steps (one forward FFT at the start, one
        batched inverse FFT of the saved states at the end). With ``checkpoint=True`` each
        block of ``save_every`` steps is rematerialised in the backward pass, so
        reverse-mode memory grows with the number of saved states only. No step-size
        check here (``model.rollout(..., check_stability=True)`` does one).

        Raises:
            ValueError: if ``num_steps`` is not a positive multiple of ``save_every``.
        """
        check_rollout_length(num_steps, save_every)
        state0, advance, finish = self.rollout_parts(u0, args)
        traj_hat = scan_rollout(
            advance,
            state0,
            self.dt,
            num_steps,
            save_every=save_every,
            t0=t0,
            checkpoint=checkpoint,
        )
        return finish(traj_hat)
