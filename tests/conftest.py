"""Shared test set-up. x64 is on for the main run (tests that need float32 pass dtypes
explicitly). The lanes of ``tests/lanes`` run in their own process with
``SCIDIFF_TEST_X64=0``: x64 then stays as the environment sets it (``JAX_ENABLE_X64``),
as do ``JAX_NUMPY_RANK_PROMOTION`` and the other JAX_* settings."""

import gc
import os

import jax
import pytest

if os.environ.get("SCIDIFF_TEST_X64", "1") != "0":
    jax.config.update("jax_enable_x64", True)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Drop JAX's compiled executables after each test module.

    Every XLA:CPU executable keeps its own memory mappings alive. A test worker that
    ran a few hundred modules' worth of compiles without releasing them reached the
    kernel's ``vm.max_map_count`` (65,530 by default), and the next compile crashed
    inside LLVM. Clearing between modules costs no recompiles within a module; a
    compile reused across modules (the shared problems of ``tests/explicit/conftest.py``)
    is redone once per module, which the full-suite timing showed to be small."""
    yield
    jax.clear_caches()
    gc.collect()
