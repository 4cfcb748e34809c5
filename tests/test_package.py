"""Packaging promises: import hygiene, the public names of DESIGN.md, the CLI."""

import subprocess
import sys

import pytest

import scidiff

ODE = ["solve_ivp", "Event", "RecursiveCheckpoint", "Backsolve", "ForwardMode"]
SOLVERS = [
    "Euler",
    "Heun",
    "Midpoint",
    "RK4",
    "Bosh3",
    "Dopri5",
    "Tsit5",
    "Dopri8",
    "Vern6",
    "Vern7",
    "Vern9",
    "Leapfrog",
    "Yoshida4",
    "ImplicitEuler",
    "Kvaerno3",
    "Kvaerno5",
    "Rodas5",
    "BDF",
    "Radau5",
]
SDE = ["solve_sde", "EulerMaruyama", "Milstein"]
SOLVE = ["linear_solve", "root", "fixed_point", "minimize", "least_squares"]


@pytest.mark.parametrize("name", ODE + SOLVERS + SDE + SOLVE + ["RESULTS"])
def test_public_names_exported(name):
    assert hasattr(scidiff, name), f"scidiff.{name} is part of the public contract"


def test_import_does_not_pull_torch_or_tensorflow_or_kernels():
    code = (
        "import sys, scidiff, scidiff.interop, scidiff.parallel; "
        "bad = [m for m in ('torch', 'tensorflow', 'scidiff.kernels') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "scidiff", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_info_lists_versions_and_devices():
    out = _cli("info")
    assert out.returncode == 0, out.stderr
    assert "jax" in out.stdout and "device 0" in out.stdout


def test_cli_run_lists_and_rejects_unknown_examples():
    out = _cli("run", "list")
    assert out.returncode == 0 and "lorenz_ensemble" in out.stdout
    bad = _cli("run", "no_such_example")
    assert bad.returncode != 0 and "unknown example 'no_such_example'" in bad.stderr


def test_cli_bench_rejects_unknown():
    bad = _cli("bench", "no_such_bench")
    assert bad.returncode != 0 and "unknown benchmark" in bad.stderr
