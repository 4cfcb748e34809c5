r"""``scidiff.run_chunked``: a long computation as a sequence of chunks, with progress
bars and checkpoints that a killed run resumes from.

A run is ``state_{k+1}, out_k = advance(k, state_k)`` for ``k = 0 .. num_chunks - 1``;
the result is the last state and the outputs of every chunk concatenated along their
leading axis. The loop runs on the host, between compiled chunks: after each chunk the
progress bar (``progress=True``) advances and, every ``checkpoint_every`` chunks, the
state and the outputs so far are written to ``checkpoint_dir`` (atomically, with orbax).
A run started again with the same ``checkpoint_dir`` reads the latest checkpoint and
carries on from there; it computes exactly the chunks an uninterrupted run would have
computed after that point, from the same state, so its result is **bitwise identical**
(as long as ``advance`` is deterministic: random numbers must come from keys derived
from ``k`` or carried in the state, never from a global seed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._fingerprint import fingerprint as _fingerprint
from ._progress import progress_bar
from ._store import CheckpointStore, canonical

__all__ = ["run_chunked", "StopChunks", "run_until_stopped"]


class StopChunks(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by ``advance`` to end a run early (a chunk that failed with
    ``throw=False``) with the chunk's ``state`` and ``out``; nothing is checkpointed after
    it, and ``info`` travels to the caller."""

    def __init__(self, state: Any, out: Any, info: Any):
        super().__init__("chunked run stopped")
        self.state, self.out, self.info = state, out, info


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
    return value


def _layout(x: Any) -> tuple[Any, Any]:
    return jnp.shape(x), getattr(x, "dtype", None)


def _concat(parts: list[Any]) -> Any:
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=0)


def run_chunked(
    advance: Callable[[int, Any], tuple[Any, Any]],
    state0: Any,
    num_chunks: int,
    *,
    checkpoint_dir: Any = None,
    checkpoint_every: int = 1,
    checkpoint_keep: int = 2,
    progress: bool = False,
    description: str = "chunks",
    fingerprint: Any = None,
    chunking: Any = None,
) -> tuple[Any, Any]:
    r"""Run ``state, out = advance(k, state)`` for ``k = 0, ..., num_chunks - 1``,
    with an optional progress bar and checkpoints to resume from after a kill.

    .. math:: s_{k+1},\ o_k = \mathrm{advance}(k, s_k), \qquad
              \text{result} = (s_N,\ [o_0; o_1; \dots; o_{N-1}])

    Arguments:
        advance: ``advance(k, state) -> (state, out)``, called on the host once per
            chunk (``jit`` it, or what it calls). ``out`` is a pytree of arrays with a
            leading axis (the chunk's saved values; its length may vary between
            chunks) or ``None``. ``state`` must keep its structure, shapes and dtypes.
        state0: the initial state, a pytree of arrays (typed PRNG keys allowed).
        num_chunks: how many chunks (static).
        checkpoint_dir: a folder for checkpoints (``None``: none). If it holds a
            checkpoint of this run, the run resumes from the latest one. Needs
            ``orbax-checkpoint`` (``pip install 'scidiff[checkpoint]'``).
        checkpoint_every: write a checkpoint after every this many chunks (the last
            chunk is never checkpointed: its result is returned).
        checkpoint_keep: how many of the latest checkpoints stay on disk.
        progress: show a progress bar (rich, or tqdm) advanced after every chunk.
        description: the progress bar's label.
        fingerprint: anything that identifies the problem (hashed); ``None`` hashes
            ``advance`` (its code and what its closure captures) and ``state0``. A
            checkpoint with another fingerprint is refused.
        chunking: a JSON-able description of how the run is chunked, stored with each
            checkpoint (``None``: ``{"num_chunks": num_chunks}``); a checkpoint with
            another chunking is refused.

    Returns:
        ``(state, outputs)``: the final state and the outputs of all chunks
        concatenated along axis 0 (``None`` if ``advance`` returns ``None``).

    Raises:
        ValueError: bad counts; outputs whose structure, dtype or trailing shape changes
            between chunks; a state that changes structure, shape or dtype.
        scidiff.CheckpointError: a checkpoint in ``checkpoint_dir`` that is corrupt or
            belongs to another run (other problem, shapes, dtypes or chunking).
        ImportError: ``checkpoint_dir`` without orbax, ``progress=True`` without rich or
            tqdm.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from scidiff._chunked import run_chunked
        >>> @jax.jit
        ... def advance(k, x):  # ten steps of x <- x / 2 per chunk, saving each chunk's end
        ...     x = jax.lax.fori_loop(0, 10, lambda i, x: x / 2, x)
        ...     return x, x[None]
        >>> x, saved = run_chunked(advance, jnp.ones(2), 3)
        >>> saved.shape
        (3, 2)
    """
    state, outputs, _ = run_until_stopped(
        advance,
        state0,
        num_chunks,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        checkpoint_keep=checkpoint_keep,
        progress=progress,
        description=description,
        fingerprint=fingerprint,
        chunking=chunking,
    )
    return state, outputs


def run_until_stopped(
    advance: Callable[[int, Any], tuple[Any, Any]],
    state0: Any,
    num_chunks: int,
    *,
    checkpoint_dir: Any = None,
    checkpoint_every: int = 1,
    checkpoint_keep: int = 2,
    progress: bool = False,
    description: str = "chunks",
    fingerprint: Any = None,
    chunking: Any = None,
) -> tuple[Any, Any, Any]:
    """:func:`run_chunked` that also returns ``(k, info)`` of a :class:`StopChunks`
    raised by chunk ``k`` (``None`` if every chunk ran); the state and outputs are then
    those of the chunks up to ``k`` (chunk ``k``'s from the exception)."""
    if not callable(advance):
        raise TypeError(f"`advance` must be callable as advance(k, state), got {advance!r}.")
    num_chunks = _check_count("num_chunks", num_chunks)
    checkpoint_every = _check_count("checkpoint_every", checkpoint_every)
    if not isinstance(progress, bool):
        raise TypeError(f"`progress` must be True or False, got {progress!r}.")
    leaves0, treedef = jax.tree_util.tree_flatten(state0)
    leaves0 = [canonical(x) for x in leaves0]
    state = jax.tree_util.tree_unflatten(treedef, leaves0)
    chunking = {"num_chunks": num_chunks} if chunking is None else chunking

    store = None
    stopped = None
    start = 0
    out_parts: list[list[Any]] = []  # per output leaf: the arrays to concatenate
    out_treedef: Any = None
    resumed_meta: dict[str, Any] | None = None
    if checkpoint_dir is not None:
        digest = _fingerprint(advance, state0) if fingerprint is None else _fingerprint(fingerprint)
        store = CheckpointStore(checkpoint_dir, digest, chunking, keep=checkpoint_keep)
        latest = store.latest()
        if latest is not None:
            state_leaves, out_leaves, resumed_meta = store.restore(latest, leaves0, treedef)
            state = jax.tree_util.tree_unflatten(treedef, state_leaves)
            out_parts = [[x] for x in out_leaves]
            start = latest

    with progress_bar(progress, description, num_chunks, start) as bar:
        for k in range(start, num_chunks):
            try:
                state, out = advance(k, state)
            except StopChunks as stop:
                state, out, stopped = stop.state, stop.out, (k, stop.info)
            new_leaves, new_treedef = jax.tree_util.tree_flatten(state)
            if new_treedef != treedef or any(
                _layout(a) != _layout(b) for a, b in zip(new_leaves, leaves0)
            ):
                raise ValueError(
                    f"advance(k, state) must return a state of the structure, shapes and "
                    f"dtypes of state0; chunk {k} changed it (from {treedef} to "
                    f"{new_treedef})."
                )
            state = jax.tree_util.tree_unflatten(treedef, [canonical(x) for x in new_leaves])
            leaves, this_treedef = jax.tree_util.tree_flatten(out)
            if out_treedef is None:
                out_treedef = this_treedef
                if resumed_meta is not None and store is not None:
                    store.check_outputs(resumed_meta, out_treedef, leaves)
                if not out_parts:
                    out_parts = [[] for _ in leaves]
            if this_treedef != out_treedef or any(
                _layout(x)[0][1:] != _layout(p[0])[0][1:] or _layout(x)[1] != _layout(p[0])[1]
                for x, p in zip(leaves, out_parts)
                if p
            ):
                raise ValueError(
                    "advance(k, state) must return outputs of the same structure, dtypes "
                    f"and trailing shapes in every chunk; chunk {k} returned {this_treedef}."
                )
            for x, p in zip(leaves, out_parts):
                p.append(x)
            if progress or store is not None:  # an honest bar; a save needs the values
                jax.block_until_ready(state)
            if stopped is not None:
                break
            done = k + 1
            if store is not None and done < num_chunks and done % checkpoint_every == 0:
                for p in out_parts:
                    p[:] = [_concat(p)]
                store.save(
                    done,
                    jax.tree_util.tree_leaves(state),
                    [p[0] for p in out_parts],
                    (treedef, out_treedef),
                )
            bar.advance()

    if out_treedef is None:  # no chunk ran (nothing left to run)
        return state, None, stopped
    outputs = jax.tree_util.tree_unflatten(out_treedef, [_concat(p) for p in out_parts])
    return state, outputs, stopped
