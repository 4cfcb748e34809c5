"""The example simulations run end to end (small sizes) and write their pictures,
directly and through `scidiff run`."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

CASES = {
    "lorenz_ensemble": ["--members", "4", "--t1", "1", "--chunks", "2"],
    "kolmogorov_flow": ["--n", "32", "--t1", "0.2", "--chunks", "2"],
    "gray_scott": ["--n", "32", "--steps", "200", "--chunks", "2"],
}


def test_every_example_has_a_smoke_case():
    names = {p.stem for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert names == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_writes_its_picture(name, tmp_path):
    out = tmp_path / f"{name}.png"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *CASES[name], "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.stat().st_size > 10_000
    assert f"wrote {out}" in proc.stdout


def test_cli_run_passes_options_through(tmp_path):
    out = tmp_path / "gs.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "scidiff",
            "run",
            "gray_scott",
            "--",
            *CASES["gray_scott"],
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.exists()
