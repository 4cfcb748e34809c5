"""ODE solvers: each method in its own module, all implementing `_base.AbstractODESolver`."""

# ruff: noqa: I001  -- imports stay grouped by owner (explicit / stiff), not sorted

# --- explicit and symplectic (ode-explicit) ---
from .euler import Euler as Euler
from .heun import Heun as Heun
from .tsit5 import Tsit5 as Tsit5

# --- stiff (ode-stiff) ---
