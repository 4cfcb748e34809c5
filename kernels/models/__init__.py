"""PDE models, one per file. Each is an ``equinox.Module`` whose ``__call__(t, u, args)``
is a right-hand side for ``scidiff.solve_ivp`` and whose ``step``/``rollout`` advance it
with a fixed step."""

from ._base import AbstractPDEModel as AbstractPDEModel

# --- finite-difference models (heat, advection-diffusion, wave, Burgers, Gray-Scott, shallow water) ---
from .advection_diffusion import AdvectionDiffusion as AdvectionDiffusion
from .burgers import Burgers as Burgers
from .gray_scott import GrayScott as GrayScott
from .heat import Heat as Heat
from .shallow_water import ShallowWater as ShallowWater
from .wave import Wave as Wave

# --- spectral models (KdV, Kuramoto-Sivashinsky, Navier-Stokes) ---
