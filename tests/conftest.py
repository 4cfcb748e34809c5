"""Shared test set-up. x64 is on for the main run (tests that need float32 pass dtypes
explicitly). The lanes of ``tests/lanes`` run in their own process with
``SCIDIFF_TEST_X64=0``: x64 then stays as the environment sets it (``JAX_ENABLE_X64``),
as do ``JAX_NUMPY_RANK_PROMOTION`` and the other JAX_* settings."""

import os

import jax

if os.environ.get("SCIDIFF_TEST_X64", "1") != "0":
    jax.config.update("jax_enable_x64", True)
