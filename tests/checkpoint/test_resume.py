"""A run SIGKILLed after its first checkpoint and resumed equals the uninterrupted run
bit for bit: a kernels model rollout, solve_sde, solve_ivp and a Langevin simulation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from scidiff._chunked._store import CheckpointStore

from . import _problems

CHILD = Path(__file__).parent / "_child.py"


@pytest.fixture(scope="module")
def killed_runs(tmp_path_factory):
    """One child process runs every problem until its first checkpoint; SIGKILL it then.

    Returns ``({kind: chunks saved}, orbax imported by import scidiff, root folder)``.
    """
    root = tmp_path_factory.mktemp("killed")
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    saved, orbax_at_import = {}, None
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        words = line.split()
        if words[:1] == ["ORBAX_AT_IMPORT"]:
            orbax_at_import = words[1] == "True"
        if words[:1] == ["SAVED"]:
            saved[words[1]] = int(words[2])
        if len(saved) == len(_problems.KINDS) or time.monotonic() > deadline:
            break
    os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    if len(saved) != len(_problems.KINDS):
        pytest.fail(f"checkpoints written only for {sorted(saved)}:\n{err}")
    assert proc.returncode == -signal.SIGKILL
    return saved, orbax_at_import, root


def test_import_scidiff_does_not_import_orbax(killed_runs):
    assert killed_runs[1] is False


@pytest.mark.parametrize("kind", _problems.KINDS)
def test_killed_run_resumes_bitwise(kind, killed_runs, monkeypatch):
    saved = killed_runs[0][kind]
    folder = killed_runs[2] / kind
    assert saved == _problems.EVERY  # killed after the first of several checkpoints
    assert sorted(os.listdir(folder)) == [str(saved)]
    restored = []
    restore = CheckpointStore.restore

    def spy(self, step, *args, **kwargs):
        restored.append(step)
        return restore(self, step, *args, **kwargs)

    monkeypatch.setattr(CheckpointStore, "restore", spy)
    resumed = _problems.run(kind, folder)
    assert restored == [saved]  # it did resume, from the checkpoint the child wrote
    reference = _problems.run(kind)
    leaves_r, tree_r = jax.tree_util.tree_flatten(resumed)
    leaves_u, tree_u = jax.tree_util.tree_flatten(reference)
    assert tree_r == tree_u
    for a, b in zip(leaves_r, leaves_u):
        if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()  # bit for bit
    # the resumed run went on checkpointing (after chunk 4 of 5; the last is not saved)
    assert sorted(os.listdir(folder)) == ["2", "4"]
