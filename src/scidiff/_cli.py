"""The ``scidiff`` command line: ``info``, ``run EXAMPLE``, ``bench [NAME ...]``.

The CLI is the application shell: it may run example simulations that use
``scidiff.kernels``, but it imports them only inside the command that needs them.
Examples and benchmarks are the scripts in the source checkout's ``examples/`` and
``benchmarks/`` folders (found next to the installed package in an editable install,
or under ``--root``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

try:
    import typer
    from rich.console import Console
    from rich.table import Table
except ImportError as exc:  # pragma: no cover - exercised only without the [cli] extra
    raise SystemExit(
        "The scidiff command line needs the `cli` extra: pip install 'scidiff[cli]'"
    ) from exc

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="The scidiff command line: info, run EXAMPLE, bench [NAME ...].",
)
console = Console()
# Progress lines go to stderr so the table on stdout stays clean for a pipe.
progress_console = Console(stderr=True)


def _checkout_root(root: Path | None) -> Path:
    """The folder holding ``examples/`` and ``benchmarks/``."""
    if root is not None:
        return root
    env = os.environ.get("SCIDIFF_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "examples").is_dir() and (parent / "benchmarks").is_dir():
            return parent
    return Path.cwd()


def _names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@app.command()
def info() -> None:
    """Print versions of scidiff and its dependencies, and the devices JAX sees."""
    import jax

    import scidiff

    table = Table(title="scidiff", show_header=False)
    table.add_row("scidiff", scidiff.__version__)
    table.add_row("python", platform.python_version())
    for dist in ("jax", "jaxlib", "equinox", "optax", "numpy", "scipy"):
        table.add_row(dist, _version(dist) or "missing")
    for dist in ("torch", "tensorflow", "tensorflow-cpu", "diffrax", "exponax", "jax-md"):
        version = _version(dist)
        if version:
            table.add_row(dist, f"{version} (optional)")
    table.add_row("x64 enabled", str(jax.config.read("jax_enable_x64")))
    for dev in jax.devices():
        table.add_row(f"device {dev.id}", f"{dev.platform}: {getattr(dev, 'device_kind', '')}")
    console.print(table)


RUN_HELP = (
    "Run an example simulation (with a progress bar); it writes a picture and says where."
    "\n\n"
    'The example\'s own options follow its name, with or without a "--" before them, e.g. '
    '"scidiff run gray_scott --steps 400" or "scidiff run gray_scott -- --steps 400"; '
    'list them with "scidiff run gray_scott -- --help". "scidiff run list" names the examples.'
)


@app.command(
    help=RUN_HELP,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run(
    example: Annotated[str, typer.Argument(help="example name, or list")],
    args: Annotated[
        list[str] | None, typer.Argument(help="options for the example (see its --help)")
    ] = None,
    root: Annotated[Path | None, typer.Option(help="source checkout with examples/")] = None,
) -> None:
    folder = _checkout_root(root) / "examples"
    names = _names(folder)
    if example == "list":
        console.print("examples: " + ", ".join(names) if names else f"no examples in {folder}")
        return
    if example not in names:
        raise typer.BadParameter(
            f"unknown example {example!r}; available: {', '.join(names) or 'none'} "
            f"(looked in {folder}; pass --root to point at a source checkout)",
            param_hint="EXAMPLE",
        )
    passed = list(args or [])
    if passed[:1] == ["--"]:  # a "--" that the parser kept
        passed = passed[1:]
    # The example's parser names itself after this, so its usage line reads as the
    # command the user typed ("usage: scidiff run gray_scott -- [-h] [--n N] ...").
    saved = sys.argv, list(sys.path), os.environ.get("SCIDIFF_EXAMPLE_PROG")
    os.environ["SCIDIFF_EXAMPLE_PROG"] = f"scidiff run {example} --"
    sys.argv = [str(folder / f"{example}.py"), *passed]
    sys.path.insert(0, str(folder))
    try:
        runpy.run_path(str(folder / f"{example}.py"), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]
        if saved[2] is None:
            os.environ.pop("SCIDIFF_EXAMPLE_PROG", None)
        else:
            os.environ["SCIDIFF_EXAMPLE_PROG"] = saved[2]


def _check_out(out: Path | None) -> None:
    """Refuse an unusable ``--out`` before anything runs (not after an hour of timing)."""
    if out is None:
        return
    if out.is_dir():
        raise typer.BadParameter(
            f"{out} is a folder: give a file name, e.g. {out / 'bench.json'}", param_hint="--out"
        )
    parent = out.resolve().parent
    if not parent.is_dir():
        raise typer.BadParameter(
            f"the folder {parent} does not exist: create it or choose another path",
            param_hint="--out",
        )
    if not os.access(parent, os.W_OK):
        raise typer.BadParameter(f"the folder {parent} is not writable", param_hint="--out")


def _write_records(out: Path, records: list[dict]) -> None:
    """Write ``records`` to ``out`` atomically (a reader never sees half a file)."""
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(records, indent=1))
    os.replace(tmp, out)


def results_table(records: list[dict]) -> Table:
    """The summary table; case and implementation names are never shortened (two cases
    that differ only in a tolerance, e.g. ``robertson-rtol1e-06``/``-rtol1e-08``, must stay
    distinguishable), the other columns give way in a narrow terminal."""
    table = Table(title="scidiff vs peers (ratio = scidiff time / peer time; < 1 is faster)")
    rows = []
    for r in records:
        compile_s = r.get("compile_seconds")
        rows.append(
            (
                str(r["benchmark"]),
                str(r["case"]),
                str(r["impl"]),
                f"{r['seconds']:.3e}",
                "" if compile_s is None else f"{compile_s:.2f}",
                "" if r.get("ratio") is None else f"{r['ratio']:.2f}",
            )
        )
    columns = ("benchmark", "case", "impl", "seconds", "compile s", "ratio")
    for k, col in enumerate(columns):
        width = max([len(col), *(len(row[k]) for row in rows)])
        table.add_column(col, no_wrap=True, min_width=width, justify="left" if k < 3 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def print_wide(target: Console, table: Table) -> None:
    """Print ``table`` no narrower than its columns need (a narrow terminal or a pipe
    scrolls sideways rather than losing digits or names)."""
    # Every column is no_wrap with min_width = its longest cell: one space of padding
    # either side and one border between and around the columns.
    needed = sum((c.min_width or 0) + 3 for c in table.columns) + 1
    width = target.width
    target.width = max(width, needed)  # print() alone caps its width at the console's
    try:
        target.print(table, crop=False)
    finally:
        target.width = width


@app.command()
def bench(
    names: Annotated[list[str] | None, typer.Argument(help="benchmarks (default: all)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="smallest sizes only")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="write all records to this JSON (rewritten after each benchmark)"),
    ] = None,
    root: Annotated[Path | None, typer.Option(help="source checkout with benchmarks/")] = None,
) -> None:
    """Time kernels and solvers against their peers (same process), print a table.

    Each benchmark runs in its own process and prints a line per measurement as it goes;
    a line per benchmark says how long it took.
    """
    folder = _checkout_root(root) / "benchmarks"
    available = _names(folder)
    chosen = names or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise typer.BadParameter(
            f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}",
            param_hint="NAMES",
        )
    _check_out(out)
    records: list[dict] = []
    failed = []
    start = time.perf_counter()
    for k, name in enumerate(chosen, 1):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            path = fh.name
        cmd = [sys.executable, str(folder / f"{name}.py"), "--json", path]
        if quick:
            cmd.append("--quick")
        progress_console.rule(f"benchmark {k}/{len(chosen)}: {name}")
        began = time.perf_counter()
        code = subprocess.run(cmd).returncode
        took = time.perf_counter() - began
        if code != 0:
            failed.append(name)
            progress_console.print(f"[red]{name} failed (exit {code}) after {took:.0f} s[/red]")
        else:
            with open(path) as fin:
                records.extend(json.load(fin))
            progress_console.print(
                f"{name}: done in {took:.0f} s ({k}/{len(chosen)} benchmarks, "
                f"{time.perf_counter() - start:.0f} s so far)"
            )
            if out is not None:
                _write_records(out, records)
        if os.path.exists(path):
            os.unlink(path)
    print_wide(console, results_table(records))
    if out is not None:
        _write_records(out, records)
        console.print(f"wrote {out.resolve()}", soft_wrap=True)
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/red]")
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
