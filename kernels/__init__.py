"""scidiff.kernels: differentiable physics on grids.

Grids with periodic, Dirichlet and Neumann boundaries, finite-difference and spectral
operators, exponential (ETDRK) steppers, and PDE models usable both as right-hand sides
for ``scidiff.solve_ivp`` (method of lines) and as fixed-step steppers for long rollouts.

This file only re-exports: each name is implemented in a private module.
"""

# --- grids, boundary conditions, finite differences, initial conditions ---

# --- spectral operators and ETDRK steppers ---

# --- PDE models ---
from .models import AbstractPDEModel as AbstractPDEModel
