"""A rich progress bar for example simulations that advance in chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import TypeVar

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")


@contextmanager
def progress_bar():
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        yield bar


def track(items: Iterable[T], total: int, description: str) -> Iterable[T]:
    """Iterate over ``items`` while showing a progress bar."""
    with progress_bar() as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


def chunked(step: Callable[[T], T], state: T, chunks: int, description: str) -> list[T]:
    """Apply ``step`` ``chunks`` times with a progress bar; return every state."""
    states = [state]
    for _ in track(range(chunks), chunks, description):
        state = step(state)
        states.append(state)
    return states
