"""Shared timing harness for the benchmark scripts (see DESIGN.md, "Benchmarks").

Every script uses the same rules: warm-up (compile) timed separately, median of
repeats, ``block_until_ready`` before every clock read, peers timed in the same run,
and records ``{"benchmark", "case", "impl", "seconds", "compile_seconds", "ratio",
"extra"}`` where ``ratio`` is scidiff's time over the peer's time on the same case.

Peers whose compile caches could favour whoever runs second are timed in fresh
processes, alternating: see :func:`run_isolated`.

Every record prints one progress line to stderr when it is made, so a long run shows
where it is. A compile time below zero (the "first" call was already compiled, so
first-minus-steady is noise) is not a compile time: it is recorded as ``None`` with
``extra["compile_note"]`` saying why, and a warning names the case.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import jax

__all__ = [
    "block",
    "time_call",
    "Record",
    "make_parser",
    "finish",
    "device_name",
    "versions",
    "run_isolated",
]


def block(x: Any) -> Any:
    """Wait for every array in ``x`` (JAX, torch, numpy) to be computed."""

    def _one(leaf):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        return leaf

    jax.tree_util.tree_map(_one, x)
    return x


def time_call(
    fn: Callable[[], Any], *, repeats: int = 7, min_time: float = 0.2, warmup: bool = True
) -> tuple[float, float]:
    """Return ``(median seconds per call, first-call seconds)``.

    The first call (compile + run) is timed on its own and excluded. Each repeat runs
    ``fn`` enough times to last at least ``min_time`` so clock resolution does not matter.
    """
    t = time.perf_counter()
    block(fn())
    first = time.perf_counter() - t
    if not warmup:
        first = float("nan")
    # How many calls make one repeat last min_time?
    t = time.perf_counter()
    block(fn())
    one = max(time.perf_counter() - t, 1e-7)
    inner = max(1, int(min_time / one))
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            out = fn()
        block(out)
        samples.append((time.perf_counter() - t) / inner)
    return statistics.median(samples), first


class Record(dict):
    """One JSON record; ``ratio`` is filled in by :func:`finish`."""

    def __init__(
        self,
        benchmark: str,
        case: str,
        impl: str,
        seconds: float,
        compile_seconds: float | None = None,
        **extra: Any,
    ):
        if compile_seconds is not None and compile_seconds < 0:
            extra["compile_note"] = (
                f"first call minus steady call was {compile_seconds:.3g} s: the first timed "
                "call was already compiled (time a fresh jit's first call)"
            )
            print(
                f"warning: {benchmark} {case} {impl}: negative compile time "
                f"{compile_seconds:.3g} s recorded as None ({extra['compile_note']})",
                file=sys.stderr,
                flush=True,
            )
            compile_seconds = None
        comp = "" if compile_seconds is None else f", compile {compile_seconds:.3g} s"
        print(
            f"[{time.strftime('%H:%M:%S')}] {benchmark} {case} {impl}: {seconds:.4g} s{comp}",
            file=sys.stderr,
            flush=True,
        )
        super().__init__(
            benchmark=benchmark,
            case=case,
            impl=impl,
            seconds=seconds,
            compile_seconds=compile_seconds,
            ratio=None,
            extra=extra,
        )


def make_parser(description: str) -> argparse.ArgumentParser:
    """The common flags (``--quick``, ``--json PATH``); scripts may add their own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smallest sizes only (< 1 min)")
    parser.add_argument("--json", type=str, default=None, help="write the records here")
    return parser


def device_name() -> str:
    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", dev.platform)
    if dev.platform == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return f"{dev.platform} ({kind})"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in (
        "jax",
        "jaxlib",
        "equinox",
        "numpy",
        "scipy",
        "diffrax",
        "torch",
        "torchdiffeq",
        "exponax",
        "jax_md",
        "optimistix",
        "lineax",
        "tensorflow",
    ):
        mod = sys.modules.get(name)
        if mod is not None:
            out[name] = getattr(mod, "__version__", "?")
    try:
        import scidiff

        out["scidiff"] = scidiff.__version__
    except ImportError:
        pass
    return out


def finish(records: list[Record], args: argparse.Namespace, title: str) -> list[Record]:
    """Fill in ratios (scidiff over each peer, per case), print a table, and with
    ``--json`` write the list of records (each ``extra`` gains device, date, versions)."""
    by_case: dict[str, dict[str, Record]] = {}
    for r in records:
        by_case.setdefault(r["case"], {})[r["impl"]] = r
    for case in by_case.values():
        ours = case.get("scidiff")
        for impl, r in case.items():
            if impl != "scidiff" and ours is not None and r["seconds"]:
                r["ratio"] = ours["seconds"] / r["seconds"]
    print(f"\n{title} -- device: {device_name()} -- {datetime.date.today().isoformat()}")
    print(f"{'case':<34} {'impl':<16} {'seconds':>12} {'compile s':>10} {'ours/peer':>10}  extra")
    for r in records:
        comp = "" if r["compile_seconds"] is None else f"{r['compile_seconds']:.3f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        extra = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in r["extra"].items()
            if k not in ("device", "date", "versions")
        )
        print(
            f"{r['case']:<34} {r['impl']:<16} {r['seconds']:>12.6f} {comp:>10} {ratio:>10}  {extra}"
        )
    if args.json:
        date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        for r in records:
            r["extra"].setdefault("device", device_name())
            r["extra"].setdefault("date", date)
            r["extra"].setdefault("versions", versions())
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)
        print(f"wrote {args.json}")
    return records


def run_isolated(script: str, impls: list[str], rounds: int, extra_args: list[str]) -> list[dict]:
    """Run ``script --impl IMPL --json tmp`` in fresh processes, alternating the order
    of implementations each round; return every record (callers take medians)."""
    import tempfile

    out: list[dict] = []
    for k in range(rounds):
        order = impls if k % 2 == 0 else list(reversed(impls))
        for impl in order:
            with tempfile.NamedTemporaryFile(suffix=".json") as fh:
                subprocess.run(
                    [sys.executable, script, "--impl", impl, "--json", fh.name, *extra_args],
                    check=True,
                )
                with open(fh.name) as fin:
                    out.extend(json.load(fin))
    return out
