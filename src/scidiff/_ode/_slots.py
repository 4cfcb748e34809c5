"""Where the loop's outputs go: the one save-index rule shared by the forward pass and the adjoints.

Three kinds of output, each indexed here once:

* save times ``s_eval`` (increasing, in the loop's time ``s``): slot ``i`` holds ``y0``
  when ``s_eval[i] <= s0``, and otherwise the interpolant of the step that crossed it,
  the step with ``t_before < s_eval[i] <= t_after`` (:func:`step_save_range`). A slot is
  filled when the solve reached it (:func:`save_reached`); slots past the end of a
  failed or event-stopped solve are not.
* dense output: accepted step ``k`` is row ``k`` (:func:`dense_row`), written
  unconditionally at the accepted-step counter (a rejected attempt is overwritten by
  the next accepted one).
* events: crossing ``j`` of event ``e`` is row ``j`` of that event's buffer
  (:func:`event_row`), written only while the buffer has room.
* every accepted step (``save_steps=True``): row 0 holds ``(s0, y0)``, accepted step
  ``k`` ends in row ``k + 1`` (:func:`step_row`), written unconditionally like dense
  output; rows past the last accepted step are masked at the end.

The forward pass scatters a step's record to these rows (``_loop.write``); reverse mode
gathers the record's cotangent from the same rows (``_adjoint.record_cotangent``).

Example:
    >>> import jax.numpy as jnp
    >>> s_eval = jnp.array([0.0, 0.5, 1.0, 2.0])
    >>> [int(i) for i in step_save_range(s_eval, 0.2, 1.0)]  # slots 1 and 2: (0.2, 1.0]
    [1, 3]
    >>> save_reached(s_eval, 1.0).tolist(), save_from_y0(s_eval, 0.0).tolist()
    ([True, True, True, False], [True, False, False, False])
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, Bool, Int

__all__ = [
    "save_reached",
    "save_from_y0",
    "step_save_range",
    "dense_row",
    "step_row",
    "event_row",
]


def save_reached(s_eval: Any, t: Any) -> Bool[Array, "..."]:
    """Which save slots a solve that stopped at ``t`` filled (``s_eval <= t``)."""
    return s_eval <= t


def save_from_y0(s_eval: Any, s0: Any) -> Bool[Array, "..."]:
    """Which save slots hold ``y0`` itself (save times at or before the start)."""
    return s_eval <= s0


def step_save_range(s_eval: Any, t_before: Any, t_after: Any) -> Int[Array, " 2"]:
    """``[lo, hi)``: the save slots interpolated from the step ``t_before -> t_after``
    (those in ``(t_before, t_after]``; empty for a rejected step, where both are equal).

    O(T) compares in one fused kernel (both ends at once): cheaper than a binary search
    loop here.
    """
    return jnp.searchsorted(
        s_eval, jnp.stack([t_before, t_after]), side="right", method="compare_all"
    )


def dense_row(num_accepted: Any, max_steps: int) -> Int[Array, ""]:
    """The dense-output row of the step attempted after ``num_accepted`` accepted ones."""
    return jnp.minimum(num_accepted, max_steps - 1)


def step_row(num_accepted: Any, max_steps: int) -> Int[Array, ""]:
    """The ``save_steps`` row of the end of the step attempted after ``num_accepted``
    accepted ones (row 0 is the start; ``max_steps + 1`` rows in all)."""
    return jnp.minimum(num_accepted + 1, max_steps)


def event_row(count: Any, recorded: Any, capacity: int) -> tuple[Int[Array, ""], Bool[Array, ""]]:
    """``(row, written)``: where an event's next crossing goes (``count`` crossings so
    far) and whether a crossing ``recorded`` in this step is stored (the buffer has room)."""
    return jnp.minimum(count, capacity - 1), recorded & (count < capacity)
