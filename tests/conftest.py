"""Shared test set-up. Tests that need float64 enable it themselves via the `x64` fixture
or `jax.config.update("jax_enable_x64", True)` at module import (kept on for the worker:
tests that need float32 pass dtypes explicitly)."""

import jax

jax.config.update("jax_enable_x64", True)
