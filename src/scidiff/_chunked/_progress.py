"""The progress bar of a chunked run: rich if installed, else tqdm, updated between chunks.

The bar is advanced on the host after each chunk's result is ready, never inside traced
code, so it costs one host call per chunk (and rich redraws from its own thread at a
fixed rate). Neither package is a dependency of scidiff: ``progress=True`` imports one
lazily and says what to install when neither is there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["progress_bar"]


class _Bar:
    """``advance(n)`` and ``close()`` over whichever library is installed."""

    def __init__(self, description: str, total: int, completed: int):
        try:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
        except ImportError:
            rich = None
        else:
            rich = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("chunks"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
        if rich is not None:
            self._rich: Any = rich
            self._rich.start()
            self._task = rich.add_task(description, total=total, completed=completed)
            self._tqdm: Any = None
            return
        try:
            from tqdm.auto import tqdm  # pyright: ignore[reportMissingModuleSource]
        except ImportError as exc:
            raise ImportError(
                "progress=True needs `rich` or `tqdm`: pip install rich (it comes with "
                "pip install 'scidiff[cli]')."
            ) from exc
        self._rich = None
        self._tqdm = tqdm(total=total, initial=completed, desc=description, unit="chunk")

    def advance(self, n: int = 1) -> None:
        if self._rich is not None:
            self._rich.advance(self._task, n)
        else:
            self._tqdm.update(n)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
        else:
            self._tqdm.close()


class _NoBar:
    def advance(self, n: int = 1) -> None:
        pass


@contextmanager
def progress_bar(enabled: bool, description: str, total: int, completed: int = 0) -> Iterator[Any]:
    """A bar of ``total`` chunks starting at ``completed`` (a resumed run), or a no-op.

    Example:
        >>> from scidiff._chunked._progress import progress_bar
        >>> with progress_bar(False, "work", total=3) as bar:
        ...     for _ in range(3):
        ...         bar.advance()
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"`progress` must be True or False, got {enabled!r}.")
    if not enabled:
        yield _NoBar()
        return
    bar = _Bar(description, total, completed)
    try:
        yield bar
    finally:
        bar.close()
