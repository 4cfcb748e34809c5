r"""Step-size control: the controller interface, PID and constant steps, the initial step.

An adaptive step from ``t`` to ``t + h`` returns a local error estimate ``e`` (a pytree
like ``y``). Its size is measured relative to the tolerances, as in scipy and diffrax,

.. math::

    \varepsilon = \operatorname{RMS}_i \frac{e_i}{\mathrm{atol} + \mathrm{rtol}\,
    \max(|y_{0,i}|, |y_{1,i}|)},

and the step is accepted when :math:`\varepsilon \le 1`. The next step is
``h_next = h * factor`` with the PID rule (Söderlind; diffrax's convention), for a method
whose error estimate is :math:`O(h^k)` (``k = solver.error_order``):

.. math::

    \text{factor} = \text{safety}\;
    \varepsilon_n^{-\beta_1}\,\varepsilon_{n-1}^{-\beta_2}\,\varepsilon_{n-2}^{-\beta_3},
    \quad \beta_1 = \frac{p + i + d}{k},\ \beta_2 = -\frac{p + 2d}{k},\ \beta_3 = \frac{d}{k},

clipped to ``[factormin, factormax]`` after an accepted step and to ``[factormin, 1]``
after a rejected one. The defaults ``(p, i, d) = (0, 1, 0)`` give the classical
integral controller of scipy and Hairer's DOPRI5.
"""

from __future__ import annotations

import abc
import math
import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree, Scalar

from .._linear._operator import rms_norm
from ._tolerance import tol_map

__all__ = [
    "AbstractStepSizeController",
    "PIDController",
    "ConstantStepSize",
    "rms_norm",
    "scaled_error",
    "select_initial_step",
]


class AbstractStepSizeController(eqx.Module):
    r"""Base of the step-size strategies passed as ``solve_ivp(..., controller=...)``.

    The integration loop talks to a controller through three methods, all called inside
    ``jit`` in the loop's increasing time ``s`` (see ``_loop.py``):

    * :meth:`init` -- once, with the first step (the user's ``|dt0|`` or the automatic
      one): returns the step to try first and the controller's state (any pytree of
      arrays of fixed structure, e.g. previous error norms; ``()`` if none);
    * :meth:`step_end` -- where the next attempted step ends (default ``t + dt``; the
      loop clips it to ``t1``);
    * :meth:`adapt_step_size` -- after each attempt: whether to accept it and the step
      size to try next.

    Besides the controller's rejections, the loop rejects every step the solver reports
    as failed (a Newton iteration that did not converge) or whose proposed state is not
    finite, and stops with a named failure (``dt_underflow``, or the solver's own) when
    the step proposed after a rejection falls below the smallest step that still moves
    ``t``, ``8 eps |t|`` (or at the first rejection, without
    :attr:`retries_rejected_steps`). A controller with :attr:`uses_error_estimate` needs a solver
    with an embedded error estimate.

    Example -- a step-doubling controller (accept when ``err <= 1``; double the step
    after an acceptance, halve it after a rejection):

        >>> import jax.numpy as jnp, scidiff
        >>> class Doubling(scidiff.AbstractStepSizeController):
        ...     def init(self, t0, t1, dt0, error_order):
        ...         return dt0, ()
        ...     def adapt_step_size(self, t0, t1, dt, err, state, *, step_ok, error_order):
        ...         accept = err <= 1
        ...         return accept, jnp.where(accept, 2.0, 0.5) * (t1 - t0), state
        >>> sol = scidiff.solve_ivp(lambda t, y, a: -y, (0.0, 1.0), jnp.ones(()),
        ...                         controller=Doubling())
        >>> bool(abs(sol.ys[-1] - jnp.exp(-1.0)) < 1e-4)  # float32 or float64
        True
    """

    @property
    def uses_error_estimate(self) -> bool:
        """Whether :meth:`adapt_step_size` reads ``err`` (default ``True``). ``False``: the
        loop computes no error norm and passes ``err=None``."""
        return True

    @property
    def retries_rejected_steps(self) -> bool:
        """Whether a rejected step is retried with the proposed ``dt_next`` (default
        ``True``); ``False``: any rejection ends the solve with its cause."""
        return True

    @abc.abstractmethod
    def init(
        self, t0: Scalar, t1: Scalar, dt0: Scalar, error_order: int | None
    ) -> tuple[Scalar, PyTree]:
        """``(dt, state)``: the first step to try (``dt0`` is positive: the user's or the
        automatic initial step) and the controller's initial state."""

    def step_end(self, t: Scalar, dt: Scalar, t_start: Scalar, num_accepted: Array) -> Scalar:
        """The end of the next attempted step from ``t`` with step ``dt`` (``t_start``:
        where the solve started; ``num_accepted``: accepted steps so far)."""
        del t_start, num_accepted
        return t + dt

    @abc.abstractmethod
    def adapt_step_size(
        self,
        t0: Scalar,
        t1: Scalar,
        dt: Scalar,
        err: Scalar | None,
        state: PyTree,
        *,
        step_ok: Array | bool,
        error_order: int | None,
    ) -> tuple[Array, Scalar, PyTree]:
        r"""Judge the attempted step ``t0 -> t1`` and propose the next step size.

        Arguments:
            t0, t1: the attempted step (``t1 - t0 <= dt``: the last step is clipped).
            dt: the step size this attempt was proposed with.
            err: the RMS of ``y_error / (atol + rtol max(|y0|, |y1|))`` (the step is
                within tolerance when ``err <= 1``); NaN when the proposed state is not
                finite; ``None`` when :attr:`uses_error_estimate` is False.
            state: the controller's state (from :meth:`init` or the previous call).
            step_ok: whether the solver's step itself succeeded (``False``: e.g. its
                Newton iteration failed; a Python ``True`` when it cannot fail). With
                ``err=None`` it is also ``False`` when the proposed state is not finite.
            error_order: the solver's ``error_order``.

        Returns:
            ``(accept, dt_next, state)``. The loop rejects regardless where ``step_ok``
            is False or ``err`` is NaN; ``dt_next`` is the step size to try next from
            ``t1`` (accepted) or ``t0`` (rejected). After a rejection it should be smaller
            than ``t1 - t0`` (the same step would be rejected again).
        """

    def bound_step(self, dt: Scalar) -> Scalar:
        """Bounds on every step, also those a solver chooses itself (``BDF``). Default:
        none (``PIDController`` applies ``dtmax``)."""
        return dt

    def floor_step(
        self, t0: Scalar, t1: Scalar, dt_next: Scalar, accept: Array
    ) -> tuple[Scalar, Array | None]:
        """A lower bound on the proposed steps: ``(dt_next, failed)``, where ``failed``
        (``None``: no floor) marks a rejected step whose retry would have to be smaller
        than the floor; the loop then stops with ``RESULTS.dtmin_reached``. Called after
        :meth:`adapt_step_size` (and after ``BDF``'s own step choice). Default: no floor
        (``PIDController`` applies ``dtmin``)."""
        del t0, t1, accept
        return dt_next, None


class PIDController(AbstractStepSizeController):
    """Adaptive steps from the embedded error estimate (the default for embedded methods).

    Arguments:
        pcoeff, icoeff, dcoeff: the proportional, integral and derivative gains
            (default ``0, 1, 0``: the classical integral controller). For stiff or
            oscillatory problems ``pcoeff=0.4, icoeff=0.3`` is a common choice.
        safety: multiplies every factor (``0.9``).
        factormin, factormax: bounds on ``h_next / h`` (``0.2`` and ``10``).
        dtmax: optional upper bound on ``|h|`` (scipy's ``max_step``): every step,
            including the first and those ``BDF`` chooses, is at most ``dtmax``.
        dtmin: optional floor on ``|h|``: the controller never proposes a smaller step
            (the first step and steps after an acceptance are raised to ``dtmin``), and
            when a step of ``dtmin`` (or a shorter last step before ``t1`` or a jump
            time) is rejected the solve stops with ``RESULTS.dtmin_reached`` instead of
            shrinking further. (diffrax's ``force_dtmin=True``, accepting such steps
            anyway, is deliberately not offered: it would silently miss the tolerance.)

    The tolerances are ``solve_ivp``'s ``rtol``/``atol`` (traced, so sweeping them never
    recompiles); the controller itself only holds these static gains. Its state is the
    :attr:`history` previous accepted error norms.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> ctrl = scidiff.PIDController(pcoeff=0.4, icoeff=0.3)
        >>> sol = scidiff.solve_ivp(lambda t, y, a: -y, (0.0, 1.0), jnp.ones(()), dense=True,
        ...                         controller=scidiff.PIDController(dtmax=0.1))
        >>> steps = sol.interpolation.t1s - sol.interpolation.t0s
        >>> bool(jnp.all(steps[: int(sol.stats["num_steps"])] <= 0.1 + 1e-7))
        True
    """

    pcoeff: float = eqx.field(default=0.0, static=True)
    icoeff: float = eqx.field(default=1.0, static=True)
    dcoeff: float = eqx.field(default=0.0, static=True)
    safety: float = eqx.field(default=0.9, static=True)
    factormin: float = eqx.field(default=0.2, static=True)
    factormax: float = eqx.field(default=10.0, static=True)
    dtmax: float | None = eqx.field(default=None, static=True)
    dtmin: float | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        for name in ("pcoeff", "icoeff", "dcoeff", "safety", "factormin", "factormax"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TypeError(f"PIDController `{name}` must be a finite Python number.")
        if not 0 < self.safety <= 1:
            raise ValueError(f"PIDController `safety` must lie in (0, 1], got {self.safety}.")
        if not 0 < self.factormin < 1 < self.factormax:
            raise ValueError(
                "PIDController needs 0 < factormin < 1 < factormax, got "
                f"factormin={self.factormin}, factormax={self.factormax}."
            )
        if self.pcoeff + self.icoeff + self.dcoeff <= 0:
            raise ValueError(
                "PIDController needs pcoeff + icoeff + dcoeff > 0 (otherwise the step size "
                "never reacts to the error)."
            )
        for name in ("dtmax", "dtmin"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise TypeError(
                    f"PIDController `{name}` must be a Python number or None, got {value!r}."
                )
            if not float(value) > 0:
                raise ValueError(f"PIDController `{name}` must be positive, got {value}.")
        if self.dtmin is not None and not math.isfinite(self.dtmin):
            raise ValueError(f"PIDController `dtmin` must be finite, got {self.dtmin}.")
        if self.dtmin is not None and self.dtmax is not None and self.dtmin > self.dtmax:
            raise ValueError(
                f"PIDController needs dtmin <= dtmax, got dtmin={self.dtmin}, "
                f"dtmax={self.dtmax}."
            )

    @property
    def history(self) -> int:
        """How many previous accepted error norms :meth:`factor` reads (0, 1 or 2)."""
        if self.dcoeff != 0:
            return 2
        return 1 if self.pcoeff != 0 else 0

    def init(self, t0, t1, dt0, error_order):
        del t0, t1, error_order
        # Only the error history the gains read is carried (each is a loop carry).
        dt = self.bound_step(dt0)
        if self.dtmin is not None:
            dt = jnp.maximum(dt, self.dtmin)
        return dt, tuple(jnp.ones_like(dt0) for _ in range(self.history))

    def adapt_step_size(self, t0, t1, dt, err, state, *, step_ok, error_order):
        del dt
        assert err is not None and error_order is not None  # uses_error_estimate
        finite = jnp.isfinite(err)  # NaN also when y1 is not finite
        accept = step_ok & finite & (err <= 1)
        safe_err = jnp.where(finite, err, 1.0)
        factor = self.factor(safe_err, *state, accepted=accept, error_order=error_order)
        # A recoverable solver failure (Newton) or a non-finite trial: shrink hard.
        if step_ok is not True:
            factor = jnp.where(step_ok, factor, 0.25)
        factor = jnp.where(finite, factor, self.factormin)
        dt_next = self.bound_step((t1 - t0) * factor)
        new_state = tuple(
            jnp.where(accept, new, old) for new, old in zip((safe_err,) + state[:-1], state)
        )
        return accept, dt_next, new_state

    def bound_step(self, dt):
        return dt if self.dtmax is None else jnp.minimum(dt, self.dtmax)

    def floor_step(self, t0, t1, dt_next, accept):
        if self.dtmin is None:
            return dt_next, None
        dtmin = jnp.asarray(self.dtmin, dt_next.dtype)
        # The attempt was already at the floor (up to the rounding of t1 = t0 + dtmin), or
        # shorter (clipped to t1 or a jump time): a retry would have to go below it.
        eps = jnp.finfo(dt_next.dtype).eps
        at_floor = (t1 - t0) <= dtmin + 8 * eps * jnp.maximum(jnp.abs(t0), jnp.abs(t1))
        failed = ~accept & (dt_next < dtmin) & at_floor
        return jnp.maximum(dt_next, dtmin), failed

    def factor(
        self,
        err: Scalar,
        *err_hist: Scalar,
        accepted: Array,
        error_order: int,
    ) -> Scalar:
        """``h_next / h`` from this and the :attr:`history` previous accepted error norms
        (most recent first; missing ones count as 1, which their zero exponent ignores)."""
        err_prev, err_prev2 = (tuple(err_hist) + (1.0, 1.0))[:2]
        k = float(error_order)
        beta1 = (self.pcoeff + self.icoeff + self.dcoeff) / k
        beta2 = -(self.pcoeff + 2 * self.dcoeff) / k
        beta3 = self.dcoeff / k

        def power(e, beta):
            if beta == 0:
                return jnp.ones_like(e)
            # A zero error means "as large as allowed": err**-beta would be inf.
            safe = jnp.where(e > 0, e, 1.0)
            return jnp.where(e > 0, safe ** (-beta), jnp.inf)

        raw = self.safety * power(err, beta1) * power(err_prev, beta2) * power(err_prev2, beta3)
        raw = jnp.where(jnp.isnan(raw), self.factormin, raw)
        upper = jnp.where(accepted, self.factormax, 1.0)
        return jnp.clip(raw, self.factormin, upper)


class ConstantStepSize(AbstractStepSizeController):
    """Fixed steps of ``dt0`` (the last one clipped to land on ``t1``).

    The default for methods without an error estimate (``Euler``, ``RK4``, ``Leapfrog``);
    passing it explicitly forces fixed steps for embedded methods too (e.g. to measure
    a method's convergence order). Requires ``dt0``. Step ``k`` ends at ``t0 + k dt0``
    (no round-off accumulates in the grid; with ``jump_ts`` a step is also cut at each jump
    time, and the next one ends on the grid again); a step the solver reports as failed, or
    with a non-finite state, ends the solve with that failure.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.solve_ivp(lambda t, y, a: -y, (0.0, 1.0), jnp.ones(2),
        ...                         dt0=0.01, controller=scidiff.ConstantStepSize())
        >>> int(sol.stats["num_steps"])
        100
    """

    @property
    def uses_error_estimate(self) -> bool:
        return False

    @property
    def retries_rejected_steps(self) -> bool:
        return False  # the same step would fail again

    def init(self, t0, t1, dt0, error_order):
        del t0, t1, error_order
        return dt0, ()

    def step_end(self, t, dt, t_start, num_accepted):
        k = num_accepted.astype(dt.dtype)
        # Off the grid t_start + k dt only after a step clipped to a jump time
        # (solve_ivp's jump_ts): then go on to the next grid point after t, so the grid
        # (and dt as the largest step) is kept.
        on_grid = t == t_start + k * dt
        k_off = jnp.floor((t - t_start) / dt)
        end_off = t_start + (k_off + 1) * dt
        eps = jnp.finfo(dt.dtype).eps
        end_off = jnp.where(
            end_off - t <= 64 * eps * jnp.maximum(jnp.abs(t), jnp.abs(end_off)), end_off + dt, end_off
        )
        return jnp.where(on_grid, t_start + (k + 1) * dt, end_off)

    def adapt_step_size(self, t0, t1, dt, err, state, *, step_ok, error_order):
        del err, error_order
        return jnp.asarray(step_ok), dt, state



def scaled_error(y_error: PyTree, y0: PyTree, y1: PyTree, rtol: Scalar, atol: Scalar) -> Scalar:
    """The RMS of ``y_error / (atol + rtol * max(|y0|, |y1|))`` (see module docstring).

    NaN whenever ``y1`` has a non-finite entry (each term carries ``0 * y1``, which is 0
    or NaN), so one finiteness test of the result also checks the proposed state, in the
    same reduction.
    """
    # A per-component tolerance is a prefix of y (see _tolerance.py): pair it leafwise.
    scale = tol_map(
        lambda r, a, b: r * jnp.maximum(jnp.abs(a), jnp.abs(b)), rtol, y0, y1
    )
    scale = tol_map(lambda t, s: t + s, atol, scale)
    scaled = jax.tree_util.tree_map(lambda e, s, b: e / s + 0 * b, y_error, scale, y1)
    return rms_norm(scaled)


def select_initial_step(f, t0, y0, args, f0, direction_span, error_order, rtol, atol):
    r"""Hairer, Nørsett & Wanner (II.4) automatic initial step, as scipy and diffrax do.

    With ``sc = atol + rtol |y0|``: ``d0 = ||y0/sc||``, ``d1 = ||f0/sc||``,
    ``h0 = 0.01 d0/d1`` (or ``1e-6`` when either is tiny), one explicit Euler step
    ``y1 = y0 + h0 f0``, ``d2 = ||(f(t0 + h0, y1) - f0)/sc|| / h0`` and
    ``h1 = (0.01 / max(d1, d2))^{1/k}``; the result is ``min(100 h0, h1, |t1 - t0|)``.
    ``k`` is the error order of the method. Costs one evaluation of ``f`` (``f0`` given).

    ``t`` increases here (the loop integrates in a time variable that always increases);
    ``direction_span`` is ``t1 - t0 > 0``. Returns a positive step, gradient-free.
    """
    t0, y0, f0 = jax.lax.stop_gradient((t0, y0, f0))
    dtype = jnp.asarray(t0).dtype
    if sum(jnp.size(v) for v in jax.tree_util.tree_leaves(y0)) == 0:
        return jax.lax.stop_gradient(jnp.asarray(direction_span, dtype))  # nothing to resolve
    # t0 == t1: nothing to integrate, but the formulas below divide by the span.
    zero_span = direction_span <= 0
    direction_span = jnp.where(zero_span, 1.0, direction_span).astype(dtype)
    scale = tol_map(lambda r, y: r * jnp.abs(y), rtol, y0)
    scale = tol_map(lambda a, s: a + s, atol, scale)
    d0 = rms_norm(jax.tree_util.tree_map(lambda y, s: y / s, y0, scale))
    d1 = rms_norm(jax.tree_util.tree_map(lambda v, s: v / s, f0, scale))
    tiny = (d0 < 1e-5) | (d1 < 1e-5)
    h0 = jnp.where(tiny, 1e-6, 0.01 * d0 / jnp.where(tiny, 1.0, d1)).astype(dtype)
    h0 = jnp.minimum(h0, direction_span)
    y1 = jax.tree_util.tree_map(lambda y, v: y + (h0 * v).astype(y.dtype), y0, f0)
    f1 = jax.lax.stop_gradient(f(t0 + h0, y1, args))
    d2 = rms_norm(jax.tree_util.tree_map(lambda a, b, s: (a - b) / s, f1, f0, scale)) / h0
    dmax = jnp.maximum(d1, d2)
    small = dmax <= 1e-15
    h1 = jnp.where(
        small,
        jnp.maximum(1e-6, h0 * 1e-3),
        (0.01 / jnp.where(small, 1.0, dmax)) ** (1.0 / error_order),
    ).astype(dtype)
    h = jnp.minimum(jnp.minimum(100 * h0, h1), direction_span)
    return jax.lax.stop_gradient(jnp.where(zero_span, 0.0, h).astype(dtype))
