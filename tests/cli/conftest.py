"""Fixtures for the command-line tests: in-process CLI calls, the examples' modules, and
matching of messages that the terminal wrapped."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scidiff._cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _flat(text: str) -> str:
    text = re.sub(r"[│╭╮╰╯─━┃┏┓┗┛┡┩╇┳┻└┘┴┬├┤┼]", " ", text)
    return " ".join(text.split())


@pytest.fixture
def flat():
    """``flat(text)``: rich's box drawing removed and whitespace collapsed."""
    return _flat


@pytest.fixture
def cli():
    """``cli(*args)`` runs ``scidiff ARGS`` in-process (exit_code, stdout, stderr)."""

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args))

    return invoke


@pytest.fixture
def example(monkeypatch):
    """``example(name)`` imports ``examples/NAME.py`` (its helpers beside it on the path)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))

    def load(name: str):
        return importlib.import_module(name)

    return load
