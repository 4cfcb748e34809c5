"""PDE models, one per file. Each is an ``equinox.Module`` whose ``__call__(t, u, args)``
is a right-hand side for ``scidiff.solve_ivp`` and whose ``step``/``rollout`` advance it
with a fixed step."""

# ruff: noqa: I001  -- imports stay grouped under their area markers, not sorted

from ._base import AbstractPDEModel as AbstractPDEModel

# --- finite-difference models (heat, advection-diffusion, wave, Burgers, Gray-Scott, shallow water) ---
from .advection_diffusion import AdvectionDiffusion as AdvectionDiffusion
from .burgers import Burgers as Burgers
from .gray_scott import GrayScott as GrayScott
from .heat import Heat as Heat
from .shallow_water import ShallowWater as ShallowWater
from .wave import Wave as Wave

# --- bounded-interval (Dirichlet/Neumann) finite-difference KS and KdV ---
from .kdv_fd import KortewegDeVriesFD as KortewegDeVriesFD
from .kuramoto_sivashinsky_fd import KuramotoSivashinskyFD as KuramotoSivashinskyFD

# --- spectral models (KdV, Kuramoto-Sivashinsky, Navier-Stokes) ---
from ._semilinear import AbstractSemilinearModel as AbstractSemilinearModel
from ._semilinear import ETDRKStepper as ETDRKStepper
from .kdv import KortewegDeVries as KortewegDeVries
from .kuramoto_sivashinsky import KuramotoSivashinsky as KuramotoSivashinsky
from .navier_stokes import NavierStokes2D as NavierStokes2D
from .navier_stokes_walls import NavierStokesWalls2D as NavierStokesWalls2D
