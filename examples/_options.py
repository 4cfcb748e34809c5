"""Command-line options shared by the example scripts: checked numbers, defaults shown in
``--help``, and a picture path that never overwrites an earlier run's picture."""

from __future__ import annotations

import argparse
import datetime
import math
import os
from pathlib import Path


def make_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first line of ``doc`` (each option's help
    states its default)."""
    lines = (doc or "").strip().splitlines()
    # `scidiff run NAME` sets the program name to the command that was typed.
    prog = os.environ.get("SCIDIFF_EXAMPLE_PROG") or None
    return argparse.ArgumentParser(prog=prog, description=lines[0] if lines else None)


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    """``argparse`` type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def add_out_option(parser: argparse.ArgumentParser, stem: str) -> None:
    """``--out PATH``; by default a new file ``STEM-<date>-<time>.png`` in the working
    directory (numbered if that name is taken), so no earlier picture is overwritten."""
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"picture to write (default: a new {stem}-<date>-<time>.png in the working "
        "directory; an existing --out file is replaced)",
    )


def output_path(out: Path | None, stem: str) -> Path:
    """The path to write: ``out`` itself (its folder must exist), else a fresh unique name."""
    if out is not None:
        if out.is_dir():
            raise SystemExit(f"--out {out} is a folder: give a file name, e.g. {out / stem}.png")
        if not out.resolve().parent.is_dir():
            raise SystemExit(f"--out {out}: the folder {out.resolve().parent} does not exist")
        return out
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(f"{stem}-{stamp}.png")
    k = 1
    while path.exists():
        k += 1
        path = Path(f"{stem}-{stamp}-{k}.png")
    return path
