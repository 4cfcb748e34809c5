"""PDE models, one per file. Each is an ``equinox.Module`` whose ``__call__(t, u, args)``
is a right-hand side for ``scidiff.solve_ivp`` and whose ``step``/``rollout`` advance it
with a fixed step."""

from ._base import AbstractPDEModel as AbstractPDEModel

# --- finite-difference models (heat, advection-diffusion, wave, Burgers, Gray-Scott, shallow water) ---

# --- spectral models (KdV, Kuramoto-Sivashinsky, Navier-Stokes) ---
