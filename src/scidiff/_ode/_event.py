r"""Events: zero crossings of ``cond(t, y, args)`` found on each step's dense interpolant.

After every accepted step ``[t_a, t_b]`` the loop compares the sign of ``c(t_a)`` and
``c(t_b)``, where ``c(t) = cond(t, y(t), args)``. On a sign change (in the requested
``direction``) the crossing ``t*`` is located to near machine precision by a bracketed
root finder (Illinois regula falsi) on ``c(t) = cond(t, interp(t), args)`` with the step's
own continuous extension ``interp``. Two crossings inside one step cancel and are missed,
as in scipy: keep steps small relative to the events' spacing (``dtmax``) if that matters.

Termination after the ``n``-th occurrence (scipy's ``terminal=int``): an event with
``terminal=n`` counts its crossings (in its ``direction``) and stops the solve at the
``n``-th; the ``n - 1`` before it are recorded like a non-terminal event's
(:func:`stops_at`). ``terminal=True`` is ``n = 1``, ``False`` (or ``0``) never stops.

Differentiability: the root finder runs inside ``lax.custom_root``, so the located time
is differentiated by the implicit function theorem and never through the iterations:

.. math::

    c(t^*(\theta), \theta) = 0 \;\Rightarrow\;
    \frac{dt^*}{d\theta} = -\frac{\partial c/\partial\theta}{\partial c/\partial t}
    \Big|_{t = t^*},

where :math:`\theta` is everything ``c`` depends on (the step's dense information, hence
``y0``, ``args``, ...). This holds in forward and in reverse mode.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Scalar

__all__ = ["Event", "locate_crossing", "stops_at", "any_terminal"]

_MAX_ROOT_ITERS = 100


def _plain_count(n: Any) -> Any:
    """A NumPy integer count as a Python int (a static field must not hold an array);
    anything else unchanged (``__check_init__`` judges it)."""
    return int(n) if isinstance(n, np.integer) else n


class Event(eqx.Module):
    """A zero crossing of ``cond(t, y, args)`` to detect during ``solve_ivp``.

    Arguments:
        cond: ``cond(t, y, args) -> scalar``. The event is a sign change of this value.
        terminal: when the event stops the integration: ``True`` (default) at its first
            crossing, an int ``n >= 1`` at its ``n``-th crossing (counted in
            ``direction``; the ``n - 1`` crossings before it are recorded in
            ``sol.event_ts``), ``False`` or ``0`` never. The solution's final state is
            then the state at the event time (``sol.result`` is
            ``RESULTS.event_occurred``). A terminal event also allows ``t1 = inf``
            (``-inf`` backwards): integrate until it fires.
        direction: ``0`` any crossing, ``+1`` only upward (``-`` to ``+``), ``-1`` only
            downward.
        max_events: size of the buffer recording this event's crossings (``sol.event_ts``;
            default: ``n`` for ``terminal=n``, 100 for a non-terminal event; at least
            ``n``). More crossings than this are a failure (``RESULTS.event_overflow``),
            never silently dropped.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> hit_ground = scidiff.Event(lambda t, y, args: y[0], direction=-1)
        >>> sol = scidiff.solve_ivp(lambda t, y, a: jnp.array([y[1], -9.81]), (0.0, 5.0),
        ...                         jnp.array([10.0, 0.0]), events=hit_ground)
        >>> bool(abs(sol.event_ts[0] - (2 * 10.0 / 9.81) ** 0.5) < 1e-4)
        True

        Stop at the third zero crossing of ``y = sin t``, integrating "until the event":

        >>> third = scidiff.Event(lambda t, y, args: y[0], terminal=3)
        >>> sol = scidiff.solve_ivp(lambda t, y, a: jnp.stack([y[1], -y[0]]), (0.0, jnp.inf),
        ...                         jnp.array([0.0, 1.0]), events=third)
        >>> [round(float(t / jnp.pi), 3) for t in sol.event_ts], bool(sol.ts[0] == sol.event_ts[2])
        ([1.0, 2.0, 3.0], True)
    """

    cond: Callable[..., Any]
    terminal: bool | int = eqx.field(default=True, static=True, converter=_plain_count)
    direction: int = eqx.field(default=0, static=True)
    max_events: int | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        if not callable(self.cond):
            raise TypeError(f"Event `cond` must be callable cond(t, y, args), got {self.cond!r}.")
        n = self.terminal
        if not isinstance(n, (bool, int)):
            raise TypeError(
                f"Event `terminal` must be True, False or an int n (stop at the n-th "
                f"crossing), got {n!r}."
            )
        if not isinstance(n, bool) and n < 0:
            raise ValueError(
                f"Event `terminal` must be a non-negative int (n: stop at the n-th crossing; "
                f"0 or False: never stop), got {n!r}."
            )
        if self.direction not in (-1, 0, 1) or isinstance(self.direction, bool):
            raise ValueError(
                f"Event `direction` must be -1 (downward), 0 (any) or +1 (upward), got "
                f"{self.direction!r}."
            )
        if self.max_events is not None and (
            not isinstance(self.max_events, int)
            or isinstance(self.max_events, bool)
            or self.max_events < 1
        ):
            raise ValueError(
                f"Event `max_events` must be a positive int (or None), got {self.max_events!r}."
            )
        if self.max_events is not None and self.max_events < self.stop_count:
            raise ValueError(
                f"Event `max_events`={self.max_events} cannot hold the {self.stop_count} "
                f"crossings recorded up to the terminal one (terminal={self.terminal!r}): "
                f"pass max_events >= {self.stop_count}, or None (default: {self.stop_count})."
            )

    @property
    def stop_count(self) -> int:
        """The crossing that stops the solve: ``n`` for ``terminal=n`` (``True``: 1),
        ``0`` for a non-terminal event."""
        return operator.index(self.terminal)

    @property
    def capacity(self) -> int:
        """Number of crossings recorded: ``max_events``, else ``n`` for ``terminal=n``,
        else 100."""
        if self.max_events is not None:
            return self.max_events
        return self.stop_count or 100


def any_terminal(events: Sequence[Event]) -> bool:
    """Whether some event can stop the solve (what ``t1 = inf`` needs)."""
    return any(event.stop_count > 0 for event in events)


def stops_at(event: Event, hit: Array, count: Array) -> Array:
    """Whether a crossing ``hit`` in this step stops the solve: the event is terminal and
    this is its ``stop_count``-th crossing (``count``: crossings recorded before it).
    Always False for a non-terminal event."""
    if event.stop_count == 0:
        return jnp.zeros_like(hit)
    if event.stop_count == 1:
        return hit
    return hit & (count >= event.stop_count - 1)


def crossed(c_prev: Scalar, c_new: Scalar, direction: int) -> Array:
    """Whether ``c`` changed sign from ``c_prev`` to ``c_new`` in the requested direction.

    A start exactly on zero is not a crossing (it was reported by the previous step).
    """
    up = (c_prev < 0) & (c_new >= 0)
    down = (c_prev > 0) & (c_new <= 0)
    if direction == 1:
        return up
    if direction == -1:
        return down
    return up | down


def _illinois(g: Callable, a: Scalar, b: Scalar, ga: Scalar, gb: Scalar, active: Array):
    """Bracketed root of ``g`` on ``[a, b]`` (``ga``, ``gb`` of opposite sign or zero).

    Illinois regula falsi: superlinear, and the bracket always shrinks. Stops when the
    bracket is a few ulps wide, ``g`` hits zero, or after 100 iterations. ``active=False``
    returns ``b`` without iterating (the loop runs it on every step, even without a sign
    change, so it must cost nothing then -- also under ``vmap``).
    """
    eps = jnp.finfo(jnp.result_type(a)).eps

    def width_ok(a, b):
        return jnp.abs(b - a) <= 4 * eps * jnp.maximum(jnp.maximum(jnp.abs(a), jnp.abs(b)), 1e-30)

    def cond(carry):
        a, b, ga, gb, x, side, it = carry
        return (it < _MAX_ROOT_ITERS) & ~width_ok(a, b) & (ga != 0) & (gb != 0)

    def body(carry):
        a, b, ga, gb, x, side, it = carry
        x = (a * gb - b * ga) / (gb - ga)
        x = jnp.where((x <= jnp.minimum(a, b)) | (x >= jnp.maximum(a, b)), 0.5 * (a + b), x)
        gx = g(x)
        same_as_a = jnp.sign(gx) == jnp.sign(ga)
        # Illinois: if the same endpoint is retained twice, halve its value.
        new_a = jnp.where(same_as_a, x, a)
        new_ga = jnp.where(same_as_a, gx, jnp.where(side == 1, 0.5 * ga, ga))
        new_b = jnp.where(same_as_a, b, x)
        new_gb = jnp.where(same_as_a, jnp.where(side == -1, 0.5 * gb, gb), gx)
        new_side = jnp.where(same_as_a, -1, 1)
        return new_a, new_b, new_ga, new_gb, x, new_side, it + 1

    start_it = jnp.where(active, 0, _MAX_ROOT_ITERS)
    init = (a, b, ga, gb, b, jnp.asarray(0), start_it)
    a, b, ga, gb, x, _, _ = jax.lax.while_loop(cond, body, init)
    root = jnp.where(ga == 0, a, jnp.where(gb == 0, b, jnp.where(active, 0.5 * (a + b), b)))
    root = jnp.where(width_ok(a, b) | (ga == 0) | (gb == 0), root, x)
    return root


def locate_crossing(
    g: Callable[[Scalar], Scalar],
    t_a: Scalar,
    t_b: Scalar,
    g_a: Scalar,
    g_b: Scalar,
    active: Array,
) -> Scalar:
    """The root of ``g`` in ``[t_a, t_b]``, differentiable by the implicit function theorem.

    ``g`` may close over anything (dense information, ``args``); its derivative with
    respect to those flows through ``lax.custom_root``:
    ``dt*/dθ = -(∂g/∂θ) / (∂g/∂t)`` at ``t*`` (see the module docstring). Where
    ``active`` is False the result is ``t_b`` and its derivative is finite (the
    division by ``∂g/∂t`` is guarded) so masked-out lanes never poison gradients.
    """

    def solve(fun, guess):
        del guess
        return _illinois(fun, t_a, t_b, g_a, g_b, active)

    def tangent_solve(linear_g, rhs):
        # linear_g(x) = (∂g/∂t) x at the root: solve the scalar linear equation.
        slope = linear_g(jnp.ones_like(rhs))
        safe = jnp.where(active & (slope != 0), slope, 1.0)
        return jnp.where(active, rhs / safe, jnp.zeros_like(rhs))

    t_a, t_b, g_a, g_b = jax.lax.stop_gradient((t_a, t_b, g_a, g_b))
    return jax.lax.custom_root(g, t_b, solve, tangent_solve)
