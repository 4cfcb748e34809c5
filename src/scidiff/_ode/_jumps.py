r"""Known discontinuities of ``f``: ``solve_ivp(..., jump_ts=...)``.

A method of order ``p`` assumes ``f`` is smooth over each step; a step across a jump of
``f`` (a forcing that switches on, a dose, a piecewise law) has an error of ``O(h)``
whatever its order, so an adaptive controller shrinks its step around the jump, takes
many rejected steps, and still smears the kink. Given the jump times the loop instead

1. **clips** every step to end exactly on the next jump time (in the loop's increasing
   time ``s``: the first jump ``s_j > t``; a proposed end within rounding of, or past,
   ``s_j`` becomes ``s_j``);
2. evaluates ``f`` **one-sided** in the steps that touch a jump: inside a step
   ``[t, s_j]`` the field is evaluated at times ``<= nextafter(s_j, -inf)`` (the limit
   from the side the step comes from), and in the step that starts at ``s_j`` at times
   ``>= nextafter(s_j, +inf)`` -- so ``f`` written with ``t < t_j`` or with ``t <= t_j``
   gives the same solution; gradients pass through as if unclipped;
3. **restarts** the solver after an accepted step that ends on a jump: ``solver.init``
   at ``s_j`` with the right-hand field, which re-evaluates the first-same-as-last stage
   of FSAL methods (``Tsit5``, ``Dopri5``, the ESDIRKs) and restarts ``BDF``'s history at
   order 1 (as scipy's ``BDF`` would be restarted by hand).

The step-size controller is untouched (the step after a clipped one starts from the
clipped length times the controller's factor, as in diffrax).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._base import AbstractODESolver

__all__ = ["sorted_jumps", "next_jump", "clip_to_jump", "one_sided_field", "restart_at_jump"]


def sorted_jumps(jump_ts: Any, d: Any) -> Any:
    """The jump times in the loop's time ``s = d t``, increasing (gradient-free: the
    mesh is not differentiated)."""
    return jnp.sort(jax.lax.stop_gradient(d * jump_ts))


def next_jump(s_jumps: Any, t: Any) -> Any:
    """The first jump time strictly after ``t`` (``inf`` when there is none)."""
    n = s_jumps.shape[0]
    i = jnp.searchsorted(s_jumps, t, side="right")
    inf = jnp.asarray(jnp.inf, s_jumps.dtype)
    return jnp.where(i < n, s_jumps[jnp.minimum(i, n - 1)], inf)


def clip_to_jump(s_jumps: Any, t: Any, t_try: Any) -> tuple[Any, Any, Any]:
    """``(t_end, at_jump, starts_at_jump)``: the proposed step end clipped to the next
    jump time, whether it now ends on one, and whether the step starts on one."""
    eps = jnp.finfo(s_jumps.dtype).eps
    s_j = next_jump(s_jumps, t)
    at_jump = t_try >= s_j - 64 * eps * jnp.maximum(jnp.abs(s_j), jnp.abs(t))
    at_jump = at_jump & jnp.isfinite(s_j)
    starts = jnp.any(s_jumps == t)
    return jnp.where(at_jump, s_j, t_try), at_jump, starts


def one_sided_field(vf: Callable, t: Any, t_next: Any, starts: Any, at_jump: Any) -> Callable:
    """``vf`` with its time kept strictly inside ``(t, t_next)`` at the ends that are
    jump times (values only: the gradient with respect to time is the unclipped one)."""
    t, t_next = jax.lax.stop_gradient((t, t_next))  # bounds only: no derivative needed
    lo = jnp.where(starts, jnp.nextafter(t, jnp.inf), -jnp.inf)
    hi = jnp.where(at_jump, jnp.nextafter(t_next, -jnp.inf), jnp.inf)

    def field(s, y, args):
        s = jnp.asarray(s)
        clipped = jnp.clip(s, lo.astype(s.dtype), hi.astype(s.dtype))
        return vf(s + jax.lax.stop_gradient(clipped - s), y, args)

    return field


def restart_at_jump(
    solver: AbstractODESolver,
    vf: Callable,
    s_jump: Any,
    s1: Any,
    y: Any,
    args: Any,
    state: Any,
    jumped: Any,
) -> tuple[Any, Any]:
    """``(state, fevals)``: the solver's state after an accepted step that ended on the
    jump ``s_jump`` -- a fresh ``solver.init`` there with the right-hand field -- or
    ``state`` unchanged when ``jumped`` is False."""
    right = one_sided_field(vf, s_jump, s1, jnp.asarray(True), jnp.asarray(False))

    def fresh():
        new = solver.init(right, s_jump, s1, y, args)
        return jax.tree_util.tree_map(lambda a, b: jnp.asarray(a).astype(b.dtype), new, state)

    new_state = jax.lax.cond(jumped, fresh, lambda: state)
    fevals = jumped.astype(jnp.int32) * getattr(solver, "init_fevals", 1)
    return new_state, fevals
