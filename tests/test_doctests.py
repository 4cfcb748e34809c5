"""Every docstring example in ``scidiff`` and ``scidiff.kernels`` runs and prints what it says.

The examples are collected with :mod:`doctest` from the imported package (the canonical
module names, so ``scidiff.kernels`` is the one package a user imports, not a second copy
of the ``kernels/`` folder), one test per docstring, named ``module:object`` with the file
and line in the failure message. Each example sees its module's globals (as under
``pytest --doctest-modules``); the suite's x64 setting applies. Options: ``ELLIPSIS`` and
``NORMALIZE_WHITESPACE``; a line may use ``# doctest: +SKIP`` only with a reason in the
text around it.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import scidiff

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules() -> list[str]:
    names = ["scidiff"]
    for info in pkgutil.walk_packages(scidiff.__path__, prefix="scidiff."):
        if info.name.endswith("__main__"):  # runs the CLI on import
            continue
        names.append(info.name)
    # scidiff.kernels is a separate folder mapped into the package (setup.py); an
    # editable install's finder may not list it among scidiff.__path__'s children.
    if "scidiff.kernels" not in names:
        kernels = importlib.import_module("scidiff.kernels")
        names.append("scidiff.kernels")
        names += [
            i.name for i in pkgutil.walk_packages(kernels.__path__, prefix="scidiff.kernels.")
        ]
    return sorted(set(names))


def _collect() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests: dict[tuple[str, int | None], doctest.DocTest] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples:
                # Re-exports make one docstring reachable from several modules: keep one.
                tests.setdefault((test.filename or test.name, test.lineno), test)
    return sorted(tests.values(), key=lambda t: t.name)


DOCTESTS = _collect()


def _where(test: doctest.DocTest) -> str:
    root = Path(scidiff.__file__).resolve().parents[2]
    path = Path(test.filename or "?")
    try:
        path = path.resolve().relative_to(root)
    except ValueError:
        pass
    return f"{path}:{(test.lineno or 0) + 1}"


def test_docstring_examples_are_collected():
    # A collection that silently finds nothing would pass every test below.
    assert len(DOCTESTS) >= 50, [t.name for t in DOCTESTS]
    files = {t.filename for t in DOCTESTS}
    assert any("kernels" in (f or "") for f in files), "no kernels docstring collected"


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_example(test: doctest.DocTest):
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    test.globs = dict(test.globs)  # each run gets a fresh copy of the module's globals
    report: list[str] = []
    result = runner.run(test, out=report.append, clear_globs=True)
    if result.failed:
        pytest.fail(f"docstring example at {_where(test)} failed:\n" + "".join(report))
