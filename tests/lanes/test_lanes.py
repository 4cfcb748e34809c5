"""Lanes: the float32 cases of ``float32_cases.py`` in a fresh process with the defaults a
user has (x64 OFF) and ``jax_numpy_rank_promotion="raise"``, once plainly and once with
jaxtyping's import hook checking every annotated function and dataclass of ``scidiff``
with beartype (``--jaxtyping-packages=scidiff,beartype.beartype``): an annotation that
does not hold for a real call (a wrong shape, dtype or type) fails the lane.

Measured on 2 cores: the plain lane about 20-60 s, the checked one about 20-25 s (the
checks run at trace time, once per compiled program, so their cost is small)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

LANES = {
    "x64_off_rank_raise": [str(HERE / "float32_cases.py")],
    "x64_off_rank_raise_jaxtyping": [
        str(HERE / "float32_cases.py"),
        str(HERE / "jaxtyping_cases.py"),
        "--jaxtyping-packages=scidiff,beartype.beartype",
    ],
}


@pytest.mark.parametrize("lane", sorted(LANES))
def test_lane(lane):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "JAX_"))}
    env.update(SCIDIFF_TEST_X64="0", JAX_ENABLE_X64="0", JAX_NUMPY_RANK_PROMOTION="raise")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        *LANES[lane],
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, f"lane {lane} failed:\n{tail}"
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, tail
