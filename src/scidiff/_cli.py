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

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console()


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
    table.add_row("x64 enabled", str(jax.config.jax_enable_x64))
    for dev in jax.devices():
        table.add_row(f"device {dev.id}", f"{dev.platform}: {getattr(dev, 'device_kind', '')}")
    console.print(table)


@app.command()
def run(
    example: Annotated[str, typer.Argument(help="example name, or `list`")],
    args: Annotated[list[str] | None, typer.Argument(help="options for the example")] = None,
    root: Annotated[Path | None, typer.Option(help="source checkout with examples/")] = None,
) -> None:
    """Run an example simulation (with a progress bar); it writes a picture and says where."""
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
    sys.argv = [str(folder / f"{example}.py"), *(args or [])]
    sys.path.insert(0, str(folder))
    runpy.run_path(str(folder / f"{example}.py"), run_name="__main__")


@app.command()
def bench(
    names: Annotated[list[str] | None, typer.Argument(help="benchmarks (default: all)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="smallest sizes only")] = False,
    out: Annotated[Path | None, typer.Option(help="write all records to this JSON")] = None,
    root: Annotated[Path | None, typer.Option(help="source checkout with benchmarks/")] = None,
) -> None:
    """Time kernels and solvers against their peers (same process), print a table."""
    folder = _checkout_root(root) / "benchmarks"
    available = _names(folder)
    chosen = names or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise typer.BadParameter(
            f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}",
            param_hint="NAMES",
        )
    records: list[dict] = []
    failed = []
    for name in chosen:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            path = fh.name
        cmd = [sys.executable, str(folder / f"{name}.py"), "--json", path]
        if quick:
            cmd.append("--quick")
        console.rule(f"benchmark {name}")
        if subprocess.run(cmd).returncode != 0:
            failed.append(name)
            continue
        with open(path) as fin:
            records.extend(json.load(fin))
        os.unlink(path)
    table = Table(title="scidiff vs peers (ratio = scidiff time / peer time; < 1 is faster)")
    for col in ("benchmark", "case", "impl", "seconds", "compile s", "ratio"):
        table.add_column(col)
    for r in records:
        table.add_row(
            r["benchmark"],
            r["case"],
            r["impl"],
            f"{r['seconds']:.3e}",
            "" if r.get("compile_seconds") is None else f"{r['compile_seconds']:.2f}",
            "" if r.get("ratio") is None else f"{r['ratio']:.2f}",
        )
    console.print(table)
    if out is not None:
        out.write_text(json.dumps(records, indent=1))
        console.print(f"wrote {out}")
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/red]")
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
