r"""Fixed-step rollouts in chunks: ``scidiff.run_steps`` (any ``step(state) -> state``,
e.g. the particle integrators) and :func:`rollout_model_chunked` (a model's
``rollout``), with progress bars and checkpoints (see :func:`scidiff.run_chunked`).

A rollout of ``num_steps`` steps saved every ``save_every`` steps has
``num_steps // save_every`` saved *blocks*; the chunks split the blocks as evenly as
possible (``numpy.array_split``), so a chunk always ends on a saved state and at most
two chunk lengths are compiled. Each chunk is one compiled ``lax.scan``.

Random numbers must travel in the state (as the Langevin integrator's key does): the
steps of a chunked run then draw exactly the numbers of the unchunked run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._driver import run_chunked

__all__ = ["run_steps", "rollout_model_chunked", "chunk_sizes"]


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
    return int(value)


def chunk_sizes(num_blocks: int, chunks: int | None) -> list[int]:
    """Blocks per chunk: ``num_blocks`` split into ``chunks`` near-equal parts, larger
    first (``None``: one block per chunk, at most 100 chunks).

    Example:
        >>> from scidiff._chunked._rollout import chunk_sizes
        >>> chunk_sizes(10, 3)
        [4, 3, 3]
    """
    if chunks is None:
        chunks = min(num_blocks, 100)
    chunks = _count("chunks", chunks)
    if chunks > num_blocks:
        raise ValueError(
            f"`chunks` ({chunks}) is more than the number of saved blocks ({num_blocks}): "
            "a chunk ends on a saved state, so use at most that many chunks (or a smaller "
            "`save_every`)."
        )
    return [len(a) for a in np.array_split(np.arange(num_blocks), chunks)]


def _blocks(num_steps: Any, save_every: Any) -> int:
    num_steps, save_every = _count("num_steps", num_steps), _count("save_every", save_every)
    if num_steps % save_every:
        raise ValueError(
            f"`num_steps` ({num_steps}) must be a multiple of `save_every` ({save_every})."
        )
    return num_steps // save_every


@eqx.filter_jit
def _steps_chunk(step, observe, state, num_blocks, save_every):
    def block(s, _):
        s = jax.lax.fori_loop(0, save_every, lambda i, x: step(x), s)
        return s, (None if observe is None else observe(s))

    return jax.lax.scan(block, state, None, length=num_blocks)


def run_steps(
    step: Callable[[Any], Any],
    state0: Any,
    num_steps: int,
    *,
    save_every: int | None = None,
    observe: Callable[[Any], Any] | None = None,
    chunks: int | None = None,
    checkpoint_dir: Any = None,
    checkpoint_every: int = 1,
    checkpoint_keep: int = 2,
    progress: bool = False,
    fingerprint: Any = None,
) -> tuple[Any, Any]:
    r"""Take ``num_steps`` steps ``state <- step(state)`` in chunks; save
    ``observe(state)`` every ``save_every`` steps.

    Made for the particle integrators (``velocity_verlet``/``langevin`` give ``step``),
    or any fixed-step simulation whose state is a pytree of arrays (a Langevin state
    carries its key, so chunks, checkpoints and resumption never change the random
    stream).

    Arguments:
        step: ``step(state) -> state`` (traced inside ``jax.lax.scan``).
        state0: the initial state.
        num_steps: total steps (a multiple of ``save_every``).
        save_every: steps between saves (``None``: save nothing, chunks of
            ``num_steps / chunks`` steps).
        observe: what to save, ``observe(state)`` (``None``: the whole state).
        chunks: number of chunks (``None``: one per save, at most 100).
        checkpoint_dir, checkpoint_every, checkpoint_keep, progress: see
            :func:`scidiff.run_chunked`.
        fingerprint: identifies the problem in checkpoints (``None``: ``step``,
            ``observe`` and ``state0`` are hashed).

    Returns:
        ``(state, saved)``: the final state and the saves stacked on a leading axis of
        length ``num_steps // save_every`` (``None`` without ``save_every``).

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff._chunked import run_steps
        >>> state, saved = run_steps(lambda x: 0.5 * x, jnp.ones(2), 6, save_every=2, chunks=3)
        >>> saved[:, 0].tolist()
        [0.25, 0.0625, 0.015625]
    """
    if not callable(step):
        raise TypeError(f"`step` must be callable as step(state), got {step!r}.")
    if observe is not None and save_every is None:
        raise ValueError("`observe` needs `save_every` (how often to observe).")
    if save_every is not None:  # chunks of whole saved blocks
        sizes = chunk_sizes(_blocks(num_steps, save_every), chunks)
        steps_per_block = [int(save_every)] * len(sizes)
        observe = _identity if observe is None else observe
    else:  # nothing saved: chunk k is one block of all its steps
        steps_per_block = chunk_sizes(_count("num_steps", num_steps), chunks)
        sizes = [1] * len(steps_per_block)

    def advance(k: int, state: Any) -> tuple[Any, Any]:
        state, saved = _steps_chunk(step, observe, state, sizes[k], steps_per_block[k])
        return state, saved

    return run_chunked(
        advance,
        state0,
        len(sizes),
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        checkpoint_keep=checkpoint_keep,
        progress=progress,
        description="steps",
        fingerprint=("run_steps", step, observe, state0, num_steps, save_every)
        if fingerprint is None
        else fingerprint,
        chunking={"kind": "run_steps", "blocks": sizes, "steps_per_block": steps_per_block},
    )


def _identity(x: Any) -> Any:
    return x


@eqx.filter_jit
def _model_chunk(model, u, dt, num_steps, save_every, t_start, steps_before, args, kwargs):
    t0 = t_start + steps_before.astype(dt.dtype) * dt
    saved = model.rollout(u, dt, num_steps, save_every=save_every, t0=t0, args=args, **kwargs)
    return jax.tree_util.tree_map(lambda x: x[-1], saved), saved


def rollout_model_chunked(
    model: Any,
    u0: Any,
    dt: Any,
    num_steps: int,
    *,
    save_every: int = 1,
    t0: Any = 0.0,
    args: Any = None,
    chunks: int | None = None,
    checkpoint_dir: Any = None,
    checkpoint_every: int = 1,
    checkpoint_keep: int = 2,
    progress: bool = False,
    **rollout_kwargs: Any,
) -> Any:
    r"""``model.rollout(u0, dt, num_steps, save_every=...)`` in chunks, with a progress
    bar and checkpoints to resume from.

    Chunk ``k`` is ``model.rollout`` of its share of the saved blocks from the last state
    of chunk ``k - 1``, starting at ``t0 + (steps before it) * dt``; it is compiled
    once per chunk length. The result equals the unchunked rollout up to rounding (a
    spectral model transforms back to physical space at every chunk end); a resumed run
    equals the uninterrupted run with the same ``chunks`` bit for bit.

    Arguments:
        model: anything with ``rollout(u0, dt, num_steps, *, save_every, t0, args)``
            (every ``scidiff.kernels`` model).
        u0, dt, num_steps, save_every, t0, args, rollout_kwargs: as for
            ``model.rollout``.
        chunks: number of chunks (``None``: one per saved state, at most 100).
        checkpoint_dir, checkpoint_every, checkpoint_keep, progress: see
            :func:`scidiff.run_chunked`.

    Returns:
        The saved states, stacked on a leading axis of length ``num_steps // save_every``.
    """
    rollout = getattr(model, "rollout", None)
    if not callable(rollout):
        raise TypeError(f"`model` must have a rollout(u0, dt, num_steps, ...) method: {model!r}")
    num_blocks = _blocks(num_steps, save_every)
    sizes = chunk_sizes(num_blocks, chunks)
    starts = np.concatenate([[0], np.cumsum(sizes)]) * int(save_every)
    dt_arr = jnp.asarray(dt)
    if not jnp.issubdtype(dt_arr.dtype, jnp.inexact):
        dt_arr = dt_arr.astype(jnp.result_type(float))
    t_start = jnp.asarray(t0, dt_arr.dtype)

    def advance(k: int, u: Any) -> tuple[Any, Any]:
        return _model_chunk(
            model,
            u,
            dt_arr,
            sizes[k] * int(save_every),
            int(save_every),
            t_start,
            np.asarray(starts[k], np.int32),  # traced: one compile per chunk length
            args,
            rollout_kwargs,
        )

    _, saved = run_chunked(
        advance,
        u0,
        len(sizes),
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        checkpoint_keep=checkpoint_keep,
        progress=progress,
        description=f"{type(model).__name__} rollout",
        fingerprint=(
            "rollout",
            model,
            u0,
            dt_arr,
            t_start,
            num_steps,
            save_every,
            args,
            sorted(rollout_kwargs.items()),
        ),
        chunking={"kind": "rollout", "blocks": sizes, "save_every": int(save_every)},
    )
    return saved
