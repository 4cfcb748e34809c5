"""Assemble README.md from docs/readme/*.md and the committed benchmark figures.

Each section file starts with its own heading; the top heading of every file becomes a
``##`` section of the README (deeper headings shift with it). The benchmark table is
rendered from ``benchmarks/results/*.json``. ``make readme`` runs this; a test checks
that README.md is up to date.

    python docs/build_readme.py [--check]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ROOT / "docs" / "readme"
RESULTS = ROOT / "benchmarks" / "results"

HEADER = """\
# scidiff

```bash
make demo   # sets up .venv, runs the flagship example (Lorenz ensemble + gradient), writes a PNG
make test   # sets up .venv with the torch and TensorFlow extras, runs ruff and the test suite
```

scidiff is a JAX-centric scientific computing library: pure functional solvers (ODE,
stiff and stochastic, linear, nonlinear, optimisation) and differentiable physics kernels
(PDEs on grids, particles) that compose with `jit`, `vmap` and `grad`, run unchanged on
CPU, GPU and TPU, scale out with JAX's sharding, and cross into PyTorch and TensorFlow
(zero-copy DLPack for data, autograd-aware wrappers for functions).

Other useful targets: `make lint`, `make bench` (every benchmark against its peers),
`make bench-quick`, `make readme` (rebuilds this file from `docs/readme/`).
"""


def _headings(lines: list[str]) -> list[int]:
    """Indices of markdown heading lines, skipping fenced code blocks."""
    out, fenced = [], False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#+ ", line):
            out.append(i)
    return out


def _shift_headings(text: str) -> str:
    """Make the file's top heading level ``##``; deeper headings keep their offsets."""
    lines = text.splitlines()
    idx = _headings(lines)
    if not idx:
        return text
    shift = 2 - min(len(lines[i]) - len(lines[i].lstrip("#")) for i in idx)
    for i in idx:
        level = len(lines[i]) - len(lines[i].lstrip("#"))
        lines[i] = "#" * (level + shift) + lines[i][level:]
    return "\n".join(lines)


def _fmt_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def benchmark_table() -> str:
    lines = [
        "## Benchmarks",
        "",
        "Figures committed in `benchmarks/results/` (regenerate with `make bench`). "
        "*ratio* = scidiff's time / the peer's time on the same case in the same run "
        "(< 1: scidiff is faster). These machines are shared and noisy: compare ratios, "
        "not absolute times.",
        "",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        records = json.loads(path.read_text())
        if not records:
            continue
        extra = records[0].get("extra", {})
        lines += [
            f"### {path.stem}",
            "",
            f"Device: {extra.get('device', '?')}; date: {extra.get('date', '?')}.",
            "",
            "| case | impl | time | compile | ratio |",
            "|---|---|---|---|---|",
        ]
        for r in records:
            comp = r.get("compile_seconds")
            lines.append(
                "| {} | {} | {} | {} | {} |".format(
                    r["case"],
                    r["impl"],
                    _fmt_seconds(r["seconds"]),
                    "" if comp is None else f"{comp:.2f} s",
                    "" if r.get("ratio") is None else f"{r['ratio']:.2f}x",
                )
            )
        lines.append("")
    return "\n".join(lines)


def build() -> str:
    parts = [HEADER]
    files = sorted(SECTIONS.glob("*.md"))
    parts.append("## Contents\n")
    titles = []
    for f in files:
        lines = f.read_text().splitlines()
        idx = _headings(lines)
        if idx:
            titles.append(lines[idx[0]].lstrip("#").strip())
    titles.append("Benchmarks")
    for t in titles:
        anchor = re.sub(r"[^\w\- ]", "", t.lower()).strip().replace(" ", "-")
        parts.append(f"- [{t}](#{anchor})")
    parts.append("")
    for f in files:
        parts.append(_shift_headings(f.read_text().strip()) + "\n")
    parts.append(benchmark_table())
    return "\n".join(parts).rstrip() + "\n"


def main() -> int:
    text = build()
    readme = ROOT / "README.md"
    if "--check" in sys.argv:
        if readme.read_text() != text:
            print("README.md is out of date: run `make readme`", file=sys.stderr)
            return 1
        return 0
    readme.write_text(text)
    print(f"wrote {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
