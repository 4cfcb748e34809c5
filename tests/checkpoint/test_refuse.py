"""Checkpoints that belong to another run, or are corrupt, are refused with a message
that says what differs; half-written checkpoints are never read; optional dependencies
are named when missing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scidiff._chunked import CheckpointError, rollout_model_chunked, run_chunked

from . import _problems


@jax.jit
def halve(k, x):
    x = jax.lax.fori_loop(0, 4, lambda i, x: x / 2 + 1, x)
    return x, {"x": x[None]}


def halve_twice(k, x):  # same state, other outputs
    x, _ = halve(k, x)
    return x, (x[None], x[None])


def run(folder, state0=None, num_chunks=4, advance=halve, **kw):
    state0 = jnp.ones(2) if state0 is None else state0
    return run_chunked(advance, state0, num_chunks, checkpoint_dir=folder, **kw)


@pytest.fixture
def written(tmp_path):
    """A folder with the checkpoints of an interrupted 4-chunk run (after chunks 1 and 2)."""
    folder = tmp_path / "run"
    reference = run_chunked(halve, jnp.ones(2), 4)
    state, out = run(folder, num_chunks=4)
    assert sorted(os.listdir(folder)) == ["2", "3"]  # the last chunk is never saved
    for name in ("3",):  # keep chunk 2's checkpoint as the latest: "killed after 2"
        for root, dirs, files in os.walk(folder / name, topdown=False):
            for f in files:
                os.remove(Path(root) / f)
            for d in dirs:
                os.rmdir(Path(root) / d)
        os.rmdir(folder / name)
    return folder, reference


def test_resume_from_latest_equals_uninterrupted(written):
    folder, (x_ref, out_ref) = written
    x, out = run(folder)
    assert x.tobytes() == x_ref.tobytes()
    assert out["x"].tobytes() == out_ref["x"].tobytes()


def test_half_written_checkpoint_is_ignored(written):
    folder, (x_ref, _) = written
    tmp = folder / "3.orbax-checkpoint-tmp-1700000000"  # what a kill mid-save leaves
    (tmp / "arrays").mkdir(parents=True)
    (tmp / "arrays" / "junk").write_text("half written")
    x, _ = run(folder)
    assert x.tobytes() == x_ref.tobytes()


@pytest.mark.parametrize(
    "state0, match",
    [
        (
            jnp.ones(3),
            r"another structure, shape or dtype: \[float64\[2\]\] on disk, "
            r"\[float64\[3\]\] in this run",
        ),
        (jnp.ones(2, jnp.float32), r"\[float64\[2\]\] on disk, \[float32\[2\]\]"),
        ((jnp.ones(2), jnp.ones(2)), r"another structure"),
        (jnp.full(2, 2.0), r"written by another problem"),
    ],
)
def test_another_state_or_problem_is_refused(written, state0, match):
    with pytest.raises(CheckpointError, match=match):
        run(written[0], state0=state0)


def test_another_chunking_is_refused(written):
    with pytest.raises(
        CheckpointError, match=r"another chunking .*'num_chunks': 4.*'num_chunks': 5"
    ):
        run(written[0], num_chunks=5)


def test_other_outputs_are_refused(tmp_path):
    folder = tmp_path / "run"
    run(folder, num_chunks=3, fingerprint="one problem, says the user")
    with pytest.raises(CheckpointError, match=r"holds outputs .* but this run's chunks return"):
        run(folder, num_chunks=3, advance=halve_twice, fingerprint="one problem, says the user")


def test_another_model_is_refused(tmp_path):
    folder = tmp_path / "ks"
    u0 = _problems.ks_u0()
    model = _problems.ks_model()
    rollout_model_chunked(model, u0, 0.05, 40, save_every=10, chunks=2, checkpoint_dir=folder)
    with pytest.raises(CheckpointError, match="written by another problem"):
        rollout_model_chunked(
            _problems.ks_model(viscosity=0.5),
            u0,
            0.05,
            40,
            save_every=10,
            chunks=2,
            checkpoint_dir=folder,
        )
    with pytest.raises(CheckpointError, match="written by another problem"):  # another dt
        rollout_model_chunked(model, u0, 0.04, 40, save_every=10, chunks=2, checkpoint_dir=folder)
    with pytest.raises(CheckpointError, match="another chunking"):
        rollout_model_chunked(model, u0, 0.05, 40, save_every=5, chunks=2, checkpoint_dir=folder)


def _files(folder, item):
    return [Path(r) / f for r, _, fs in os.walk(folder / "2" / item) for f in fs]


def test_corrupt_arrays_are_refused(written):
    for path in _files(written[0], "arrays"):
        path.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"checkpoint .*2 is corrupt or unreadable"):
        run(written[0])


def test_corrupt_metadata_is_refused(written):
    for path in _files(written[0], "meta"):
        path.write_text("{not json")
    with pytest.raises(CheckpointError, match=r"corrupt or unreadable.*Delete it"):
        run(written[0])


def test_foreign_checkpoint_is_refused(written):
    (meta,) = [p for p in _files(written[0], "meta") if p.name == "metadata"]
    meta.write_text(json.dumps({"format": "someone-else/3"}))
    with pytest.raises(CheckpointError, match="not a scidiff chunked-run checkpoint"):
        run(written[0])


def test_checkpoint_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(CheckpointError, match="exists and is not a directory"):
        run(tmp_path / "file")


def test_missing_orbax_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "orbax.checkpoint", None)
    with pytest.raises(ImportError, match=r"pip install 'scidiff\[checkpoint\]'"):
        run(tmp_path / "run")


def test_missing_progress_libraries_are_named(monkeypatch):
    for name in ("rich.progress", "tqdm.auto"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="progress=True needs `rich` or `tqdm`"):
        run_chunked(halve, jnp.ones(2), 2, progress=True)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(num_chunks=0), ValueError, "`num_chunks` must be a positive int"),
        (dict(checkpoint_every=0), ValueError, "`checkpoint_every` must be a positive int"),
        (dict(progress="yes"), TypeError, "`progress` must be True or False"),
    ],
)
def test_bad_options(kwargs, error, match):
    kw = dict(num_chunks=2) | kwargs
    with pytest.raises(error, match=match):
        run_chunked(halve, jnp.ones(2), kw.pop("num_chunks"), **kw)


def test_state_that_changes_shape_is_refused():
    with pytest.raises(ValueError, match="chunk 0 changed it"):
        run_chunked(lambda k, x: (jnp.concatenate([x, x]), None), jnp.ones(2), 2)


def test_float64_state_with_x64_off_warns_instead_of_silently_narrowing():
    with jax.enable_x64(False):
        with pytest.warns(
            UserWarning, match="float64 array in the run's state is carried as float32"
        ):
            x, _ = run_chunked(jax.jit(lambda k, x: (x / 2, None)), np.ones(2), 2)
    assert x.dtype == jnp.float32
