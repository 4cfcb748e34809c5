r"""The one fixed-step rollout every model and stepper shares: a ``lax.scan`` of blocks.

A rollout of ``num_steps`` steps saved every ``save_every`` steps is a scan over
``num_steps // save_every`` *blocks*; each block is an inner scan of ``save_every`` calls
of ``advance(state, t) -> state`` and yields its final state. With ``checkpoint=True``
each block is rematerialised in the backward pass (``jax.checkpoint``), so reverse-mode
memory grows with the number of saved states, not with the number of steps.

The block is also the unit a caller can split a long run into (chunks for progress
reports or checkpoints): :func:`rollout_blocks` advances a carry ``(state, t)`` by a
given number of blocks and returns the new carry and the saved states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import PyTree

__all__ = ["check_rollout_length", "check_step_size", "rollout_blocks", "scan_rollout"]


def check_rollout_length(num_steps: int, save_every: int) -> int:
    """Return the number of saved states ``num_steps // save_every``, or raise.

    Raises:
        ValueError: unless ``num_steps`` is a positive multiple of ``save_every``.

    Example:
        >>> import scidiff
        >>> from scidiff.kernels.models._rollout import check_rollout_length
        >>> check_rollout_length(100, 25)
        4
    """
    if (
        isinstance(num_steps, bool)
        or isinstance(save_every, bool)
        or int(num_steps) != num_steps
        or int(save_every) != save_every
        or num_steps <= 0
        or save_every <= 0
        or num_steps % save_every
    ):
        raise ValueError(
            f"`num_steps` ({num_steps}) must be a positive multiple of `save_every` ({save_every})."
        )
    return int(num_steps) // int(save_every)


def check_step_size(dt: Any) -> Any:
    """Return ``dt``; raise ``ValueError`` if it is a concrete NaN or infinite value.

    Traced values pass unchecked here (the CFL check, where there is one, catches a NaN
    step under ``jit``).

    Example:
        >>> import scidiff
        >>> from scidiff.kernels.models._rollout import check_step_size
        >>> check_step_size(1e-3)
        0.001
    """
    try:
        bad = not bool(jnp.all(jnp.isfinite(jnp.asarray(dt))))
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError):
        return dt
    if bad:
        raise ValueError(f"`dt` must be a finite number, got {dt!r}.")
    return dt


def rollout_blocks(
    advance: Callable[[Any, Any], Any],
    carry: tuple[PyTree, Any],
    dt: Any,
    num_blocks: int,
    *,
    save_every: int,
    checkpoint: bool = True,
) -> tuple[tuple[PyTree, Any], PyTree]:
    """Advance ``carry = (state, t)`` by ``num_blocks`` blocks of ``save_every`` steps.

    Returns:
        ``((state, t), saved)``: the carry after the last block and the states after each
        block, stacked on a new leading axis of length ``num_blocks``.
    """

    def block(c: tuple[PyTree, Any], _: None) -> tuple[tuple[PyTree, Any], PyTree]:
        def one(ci: tuple[PyTree, Any], _: None) -> tuple[tuple[PyTree, Any], None]:
            state, t = ci
            return (advance(state, t), t + dt), None

        c, _ = jax.lax.scan(one, c, None, length=save_every)
        return c, c[0]

    body = jax.checkpoint(block) if checkpoint else block
    return jax.lax.scan(body, carry, None, length=num_blocks)


def scan_rollout(
    advance: Callable[[Any, Any], Any],
    state0: PyTree,
    dt: Any,
    num_steps: int,
    *,
    save_every: int = 1,
    t0: Any = 0.0,
    checkpoint: bool = True,
) -> PyTree:
    r"""Take ``num_steps`` fixed steps ``state <- advance(state, t)``, ``t <- t + dt``;
    return the states after every ``save_every``-th step, stacked.

    This is the one rollout loop of ``scidiff.kernels``: ``model.rollout`` (any model) and
    ``ETDRKStepper.rollout`` (in Fourier space) both call it.

    Arguments:
        advance: ``advance(state, t) -> state``, one step of size ``dt`` from time ``t``.
        state0: the initial state (any pytree of arrays).
        dt: the step (traced; its dtype sets the time's dtype).
        num_steps: a positive multiple of ``save_every`` (static).
        save_every: steps per saved state (static).
        t0: the initial time.
        checkpoint: rematerialise each saved block in the backward pass.

    Returns:
        The saved states, a pytree like ``state0`` with a leading axis of length
        ``num_steps // save_every``.

    Raises:
        ValueError: if ``num_steps`` is not a positive multiple of ``save_every``, or a
            concrete ``dt`` is NaN or infinite.

    Example:
        >>> import scidiff
        >>> import jax.numpy as jnp
        >>> from scidiff.kernels.models._rollout import scan_rollout
        >>> traj = scan_rollout(lambda y, t: 0.5 * y, jnp.ones(2), 1.0, 4, save_every=2)
        >>> traj.tolist()
        [[0.25, 0.25], [0.0625, 0.0625]]
    """
    num_blocks = check_rollout_length(num_steps, save_every)
    dt = jnp.asarray(check_step_size(dt))
    if not jnp.issubdtype(dt.dtype, jnp.inexact):
        dt = dt.astype(jnp.result_type(float))
    carry = (state0, jnp.asarray(t0, dt.dtype))
    _, saved = rollout_blocks(
        advance, carry, dt, num_blocks, save_every=int(save_every), checkpoint=checkpoint
    )
    return saved
