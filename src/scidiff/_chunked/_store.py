"""Checkpoints of a chunked run on disk, written and read with orbax.

A checkpoint is one orbax step directory ``<checkpoint_dir>/<chunks done>/`` holding two
items: ``state`` (the carry of the run and every output so far, as flat dicts of arrays)
and ``meta`` (JSON: a format tag, the run's fingerprint, its chunking, and the structure,
shapes and dtypes of every leaf). orbax finalises a step atomically (it writes into a
temporary directory and renames it when complete), so a run killed while writing leaves
the previous checkpoint intact and the half-written one is never read.

Before any array is read, the metadata is compared with the run that wants to resume:
a checkpoint from another problem, with other shapes or dtypes, or another chunking is
refused with :class:`CheckpointError` saying what differs -- never silently resumed.

orbax is an optional dependency (``pip install scidiff[checkpoint]``); it is imported
only when a ``checkpoint_dir`` is given.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._fingerprint import _ADDRESS

__all__ = ["CheckpointError", "CheckpointStore", "describe_leaves"]

FORMAT = "scidiff-chunked-run/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: corrupt, unreadable, or from another run."""


def _orbax() -> Any:
    try:
        import orbax.checkpoint as ocp
    except ImportError as exc:
        raise ImportError(
            "checkpoint_dir= needs orbax-checkpoint: pip install 'scidiff[checkpoint]' "
            "(or pip install orbax-checkpoint)."
        ) from exc
    return ocp


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def describe_leaves(leaves: list[Any]) -> list[dict[str, Any]]:
    """``[{"shape", "dtype", "weak", "key"}]`` of each leaf (what a checkpoint records)."""
    out = []
    for x in leaves:
        key = str(jax.random.key_impl(x)) if _is_key(x) else None
        data = jax.random.key_data(x) if key else x
        dtype = data.dtype if hasattr(data, "dtype") else jnp.asarray(data).dtype
        out.append(
            {
                "shape": list(np.shape(data)),
                "dtype": str(np.dtype(dtype)),
                "weak": bool(getattr(x, "weak_type", False)),
                "key": key,
            }
        )
    return out


def treedef_text(treedef: Any) -> str:
    """A pytree structure as text, without memory addresses (stable across processes)."""
    return _ADDRESS.sub("", str(treedef))


def canonical(x: Any, weak: bool = False) -> Any:
    """The leaf as the run carries it between chunks: a JAX array, weak-typed only as a
    Python scalar would be (so a resumed run promotes dtypes exactly as a fresh one)."""
    if _is_key(x):
        return x
    a = jnp.asarray(x)
    given = getattr(x, "dtype", None)
    if given is not None and np.dtype(given) != a.dtype:
        warnings.warn(
            f"a {np.dtype(given)} array in the run's state is carried as {a.dtype} (JAX's x64 "
            "mode is off): enable it with jax.config.update('jax_enable_x64', True), or pass "
            f"{a.dtype} arrays.",
            stacklevel=4,
        )
    if (weak or getattr(x, "weak_type", False)) and a.ndim == 0:
        scalar = jnp.asarray(a.item())  # a Python scalar: weak-typed at the default dtype
        if scalar.dtype == a.dtype:
            return scalar
    return a


def _encode(leaves: list[Any]) -> dict[str, Any]:
    """Flat ``{"i": array}``; keys as raw data, zero-size arrays left out (orbax refuses
    them; their shape is in the metadata)."""
    out = {}
    for i, x in enumerate(leaves):
        data = jax.random.key_data(x) if _is_key(x) else x
        if np.size(data) > 0:
            out[str(i)] = data
    return out


def _decode(stored: dict[str, Any], spec: list[dict[str, Any]]) -> list[Any]:
    leaves = []
    for i, s in enumerate(spec):
        if str(i) in stored:
            data = np.asarray(stored[str(i)])
        else:
            data = np.zeros(s["shape"], s["dtype"])
        if list(data.shape) != s["shape"] or str(data.dtype) != s["dtype"]:
            raise CheckpointError(
                f"leaf {i} on disk is {data.dtype}{list(data.shape)}, its metadata says "
                f"{s['dtype']}{s['shape']}: the checkpoint is corrupt."
            )
        if s["key"]:
            leaves.append(jax.random.wrap_key_data(jnp.asarray(data), impl=s["key"]))
        else:
            leaves.append(canonical(data, s["weak"]))
    return leaves


def _spec_text(spec: list[dict[str, Any]]) -> str:
    return ", ".join(
        (f"key<{s['key']}>" if s["key"] else s["dtype"]) + str(s["shape"]) for s in spec
    )


class CheckpointStore:
    """Save and resume the state of a chunked run in ``directory`` (orbax steps).

    Arguments:
        directory: the run's checkpoint folder (created if missing).
        fingerprint: digest of the problem (see :func:`~._fingerprint.fingerprint`).
        chunking: a JSON-able description of the chunking (number and sizes of chunks).
        keep: how many of the latest checkpoints to keep on disk.
    """

    def __init__(self, directory: Any, fingerprint: str, chunking: Any, keep: int = 2):
        ocp = _orbax()
        if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
            raise ValueError(f"`checkpoint_keep` must be a positive int, got {keep!r}.")
        self.directory = os.path.abspath(os.fspath(directory))
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise CheckpointError(f"checkpoint_dir {self.directory} exists and is not a directory.")
        self.fingerprint = fingerprint
        self.chunking = json.loads(json.dumps(chunking))
        self._ocp = ocp
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=False
        )
        try:
            self._manager = ocp.CheckpointManager(self.directory, options=options)
        except Exception as exc:  # noqa: BLE001 - orbax raises many types here
            raise CheckpointError(
                f"cannot open checkpoint_dir {self.directory}: {exc}. Delete the folder or "
                "pass another checkpoint_dir."
            ) from exc

    def latest(self) -> int | None:
        """The number of chunks done in the latest complete checkpoint (None: none)."""
        return self._manager.latest_step()

    def save(self, chunks_done: int, state: list[Any], outputs: list[Any], treedefs: Any):
        """Write a checkpoint after ``chunks_done`` chunks (atomic; blocks until on disk)."""
        ocp = self._ocp
        meta = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "chunking": self.chunking,
            "chunks_done": int(chunks_done),
            "treedefs": [treedef_text(t) for t in treedefs],
            "state": describe_leaves(state),
            "outputs": describe_leaves(outputs),
        }
        tree = {"state": _encode(state), "outputs": _encode(outputs)}
        self._manager.save(
            int(chunks_done),
            args=ocp.args.Composite(
                arrays=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )
        self._manager.wait_until_finished()

    def restore(
        self, step: int, state_like: list[Any], treedef: Any
    ) -> tuple[list[Any], list[Any], dict[str, Any]]:
        """Read checkpoint ``step``; refuse it unless it belongs to this run.

        Arguments:
            step: the checkpoint to read (chunks done).
            state_like: the run's initial state leaves (their shapes and dtypes must
                match the checkpoint's).
            treedef: the run's state structure.

        Returns:
            ``(state_leaves, output_leaves, metadata)``.

        Raises:
            CheckpointError: corrupt or unreadable, or written by another run.
        """
        ocp = self._ocp
        where = os.path.join(self.directory, str(step))
        try:
            meta = self._manager.restore(
                step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
            ).meta
        except Exception as exc:  # noqa: BLE001 - any failure to read is a corrupt file
            raise CheckpointError(
                f"the checkpoint {where} is corrupt or unreadable ({type(exc).__name__}: "
                f"{exc}). Delete it (or the whole checkpoint_dir) to start over."
            ) from exc
        self._check_meta(meta, where, state_like, treedef)
        try:
            arrays = self._manager.restore(
                step, args=ocp.args.Composite(arrays=ocp.args.StandardRestore())
            ).arrays
            state = _decode(dict(arrays.get("state", {})), meta["state"])
            outputs = _decode(dict(arrays.get("outputs", {})), meta["outputs"])
        except CheckpointError as exc:
            raise CheckpointError(f"{where}: {exc} Delete it to start over.") from exc
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(
                f"the checkpoint {where} is corrupt or unreadable ({type(exc).__name__}: "
                f"{exc}). Delete it (or the whole checkpoint_dir) to start over."
            ) from exc
        return state, outputs, meta

    def _check_meta(self, meta: Any, where: str, state_like: list[Any], treedef: Any) -> None:
        fix = "Use a fresh checkpoint_dir (or delete this one) to start this run over."
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(
                f"{where} is not a scidiff chunked-run checkpoint (format "
                f"{meta.get('format') if isinstance(meta, dict) else None!r}, expected "
                f"{FORMAT!r}). {fix}"
            )
        want = describe_leaves(state_like)

        def layout(spec: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
            return [(s["shape"], s["dtype"], s["key"]) for s in spec]

        if layout(meta["state"]) != layout(want) or meta["treedefs"][0] != treedef_text(treedef):
            raise CheckpointError(
                f"the checkpoint {where} holds a state of another structure, shape or dtype: "
                f"[{_spec_text(meta['state'])}] on disk, [{_spec_text(want)}] in this run. "
                f"{fix}"
            )
        if meta["chunking"] != self.chunking:
            raise CheckpointError(
                f"the checkpoint {where} was written with another chunking "
                f"({meta['chunking']}) than this run ({self.chunking}); a resumed run "
                f"must chunk as the interrupted one did to give the same result. {fix}"
            )
        if meta["fingerprint"] != self.fingerprint:
            raise CheckpointError(
                f"the checkpoint {where} was written by another problem (the model or "
                "right-hand side, its parameters, the initial state, times, key or options "
                f"differ). {fix}"
            )

    def check_outputs(self, meta: Any, treedef: Any, leaves: list[Any]) -> None:
        """Refuse restored outputs whose structure, dtypes or trailing shapes differ from
        the outputs this run's next chunk returned."""
        where = os.path.join(self.directory, str(meta["chunks_done"]))
        mine = describe_leaves(leaves)
        same = meta["treedefs"][1] == treedef_text(treedef) and len(mine) == len(meta["outputs"])
        same = same and all(
            a["dtype"] == b["dtype"] and a["shape"][1:] == b["shape"][1:] and a["key"] == b["key"]
            for a, b in zip(mine, meta["outputs"])
        )
        if not same:
            raise CheckpointError(
                f"the checkpoint {where} holds outputs [{_spec_text(meta['outputs'])}] "
                f"({meta['treedefs'][1]}) but this run's chunks return "
                f"[{_spec_text(mine)}] ({treedef_text(treedef)}). Use a fresh checkpoint_dir "
                "(or delete this one) to start this run over."
            )
