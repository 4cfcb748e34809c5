r"""``t1 = inf``: integrate "until the event" (scipy's ``t_bound=inf``, DifferentialEquations.jl's
``tspan = (0, Inf)``).

``solve_ivp(f, (t0, jnp.inf), y0, events=Event(cond))`` runs until a terminal event
fires (``-inf`` integrates backwards). The loop needs no other mode: in its increasing
time ``s`` the end ``s1 = +inf`` is simply never reached, so the solve stops at the
terminal event (``RESULTS.event_occurred``, ``sol.ts = [t_event]``) or, if the event
never comes, with ``RESULTS.max_steps_reached`` after ``max_steps`` attempts (the bound
of every solve, fixed-step ones included). What must not read the infinite span:

* the clip of a step onto ``s1`` (``inf - t <= 64 eps inf`` would hold everywhere): it
  is off for an infinite ``s1`` (``_loop.attempt``);
* the floor of the smallest step ``8 eps max(|t|, eps |s1 - s0|)``: an infinite span
  counts as 1 there (:func:`finite_span`);
* the automatic initial step, bounded by ``|s1 - s0|``: ``min(h, inf) = h``, so the
  bound simply does not act (:func:`~scidiff._ode._controller.select_initial_step`).

The rules at call time (:func:`allows_open_end`): ``t1 = +-inf`` needs at least one
terminal event (otherwise the solve would never end: a ``ValueError`` says so), ``t0``
stays finite, and save times ``t_eval`` must be finite.

Example:
    >>> import jax.numpy as jnp, scidiff
    >>> ground = scidiff.Event(lambda t, y, args: y[0])
    >>> sol = scidiff.solve_ivp(lambda t, y, a: jnp.array([y[1], -9.81]), (0.0, jnp.inf),
    ...                         jnp.array([10.0, 0.0]), events=ground)
    >>> bool(abs(sol.ts[0] - (2 * 10.0 / 9.81) ** 0.5) < 1e-4), bool(sol.ok)
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array

from ._event import Event, any_terminal

__all__ = ["allows_open_end", "finite_span", "OPEN_END_HINT"]

OPEN_END_HINT = (
    "t1 = inf (or -inf) integrates until a terminal event: pass "
    "events=scidiff.Event(cond) (terminal=True, or terminal=n for its n-th crossing) "
    "that stops the solve, or a finite t1"
)


def allows_open_end(events: Sequence[Event]) -> bool:
    """Whether ``t1`` may be infinite: some event stops the solve."""
    return any_terminal(events)


def finite_span(s0: Any, s1: Any) -> Array:
    """``|s1 - s0|``, or ``1`` when ``s1`` is infinite: the span as a scale for the
    smallest-step floor."""
    span = jnp.abs(s1 - s0)
    return jnp.where(jnp.isfinite(span), span, jnp.ones_like(span))
