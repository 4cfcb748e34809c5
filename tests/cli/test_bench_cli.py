"""``scidiff bench``: ``--out`` is checked before anything runs, progress is shown per
benchmark, case names are never shortened, and the harness never reports a negative
compile time. A fake benchmark folder keeps these tests fast."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from rich.console import Console

from scidiff._cli import print_wide, results_table

COMMON = Path(__file__).resolve().parents[2] / "benchmarks" / "_common.py"

FAKE = """
import argparse, json, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--json")
args = parser.parse_args()
pathlib.Path(__file__).with_name("ran").write_text("yes")
records = [
    {"benchmark": "fake", "case": f"robertson-rtol1e-0{k}", "impl": "scidiff-denseLU",
     "seconds": 0.5 * k, "compile_seconds": 1.25, "ratio": 0.75, "extra": {}}
    for k in (6, 8)
]
json.dump(records, open(args.json, "w"))
"""


@pytest.fixture
def root(tmp_path):
    (tmp_path / "examples").mkdir()
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "fake.py").write_text(FAKE)
    return tmp_path


def _common():
    spec = importlib.util.spec_from_file_location("bench_common", COMMON)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "out, message",
    [
        ("missing/dir/results.json", "does not exist: create it or choose another path"),
        (".", "is a folder: give a file name"),
    ],
)
def test_bad_out_is_refused_before_any_benchmark_runs(out, message, root, cli, flat):
    result = cli("bench", "--quick", "--root", str(root), "--out", str(root / out))
    assert result.exit_code == 2
    assert message in flat(result.output), result.output
    assert not (root / "benchmarks" / "ran").exists()


def test_bench_shows_progress_and_writes_every_record(root, cli, flat):
    out = root / "results.json"
    result = cli("bench", "--root", str(root), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "benchmark 1/1: fake" in flat(result.stderr)
    assert "fake: done in" in flat(result.stderr)
    records = json.loads(out.read_text())
    assert [r["case"] for r in records] == ["robertson-rtol1e-06", "robertson-rtol1e-08"]
    assert "robertson-rtol1e-06" in result.stdout and "robertson-rtol1e-08" in result.stdout
    assert f"wrote {out.resolve()}" in flat(result.stdout)


@pytest.mark.parametrize("width", [40, 80, 160])
def test_table_keeps_names_and_numbers_whole_at_any_width(width):
    records = [
        dict(
            benchmark="stiff",
            case=f"robertson-rtol1e-0{k}",
            impl="scidiff-denseLU",
            seconds=0.123,
            compile_seconds=1.5,
            ratio=0.25,
        )
        for k in (6, 8)
    ]
    console = Console(width=width, record=True)
    print_wide(console, results_table(records))
    text = console.export_text()
    for piece in ("robertson-rtol1e-06", "robertson-rtol1e-08", "scidiff-denseLU"):
        assert piece in text, text
    assert "1.230e-01" in text and "1.50" in text and "0.25" in text, text


def test_negative_compile_time_is_not_reported_as_one(capsys):
    Record = _common().Record
    r = Record("stiff", "bruss2d-2x8^2", "scidiff-denseLU", 0.2, -0.05)
    assert r["compile_seconds"] is None
    assert "already compiled" in r["extra"]["compile_note"]
    err = capsys.readouterr().err
    assert "negative compile time" in err and "bruss2d-2x8^2" in err
    ok = Record("stiff", "case", "scidiff", 0.2, 1.5)
    assert ok["compile_seconds"] == 1.5 and "compile_note" not in ok["extra"]


def test_every_record_prints_a_progress_line(capsys):
    _common().Record("ode", "lorenz-rtol1e-08", "diffrax", 0.0125, 2.0)
    err = capsys.readouterr().err
    assert "ode lorenz-rtol1e-08 diffrax: 0.0125 s, compile 2 s" in err
