"""scidiff.kernels: differentiable physics on grids.

Grids with periodic, Dirichlet and Neumann boundaries, finite-difference and spectral
operators, exponential (ETDRK) steppers, and PDE models usable both as right-hand sides
for ``scidiff.solve_ivp`` (method of lines) and as fixed-step steppers for long rollouts.

This file only re-exports: each name is implemented in a private module.
"""

# ruff: noqa: I001  -- imports stay grouped under their area markers, not sorted

# --- grids, boundary conditions, finite differences, initial conditions ---
from ._advection import advection as advection
from ._advection import flux_divergence as flux_divergence
from ._advection import weno5_reconstruct as weno5_reconstruct
from ._boundary import AbstractBC as AbstractBC
from ._boundary import Dirichlet as Dirichlet
from ._boundary import Neumann as Neumann
from ._boundary import Periodic as Periodic
from ._boundary import pad as pad
from ._boundary import pad_axis as pad_axis
from ._cfl import check_cfl as check_cfl
from ._cfl import stable_dt as stable_dt
from ._diffusion import diffusion as diffusion
from ._fd import derivative as derivative
from ._fd import divergence as divergence
from ._fd import gradient as gradient
from ._fd import laplacian as laplacian
from ._grid import Grid as Grid
from ._initial_conditions import gaussian_bump as gaussian_bump
from ._initial_conditions import gaussian_random_field as gaussian_random_field
from ._initial_conditions import gaussian_vortices as gaussian_vortices
from ._initial_conditions import random_fourier_series as random_fourier_series
from ._initial_conditions import taylor_green_vortex as taylor_green_vortex

# --- spectral operators and ETDRK steppers ---
from ._etdrk import ETDRK as ETDRK
from ._etdrk import etdrk_coefficients as etdrk_coefficients
from ._spectral import dealias_mask as dealias_mask
from ._spectral import leray_projection as leray_projection
from ._spectral import spectral_derivative as spectral_derivative
from ._spectral import spectral_divergence as spectral_divergence
from ._spectral import spectral_gradient as spectral_gradient
from ._spectral import spectral_laplacian as spectral_laplacian
from ._spectral import spectral_poisson as spectral_poisson
from ._spectral import wavenumbers as wavenumbers
from .models import AbstractSemilinearModel as AbstractSemilinearModel
from .models import ETDRKStepper as ETDRKStepper

# --- PDE models ---
from .models import AbstractPDEModel as AbstractPDEModel
from .models import AdvectionDiffusion as AdvectionDiffusion
from .models import Burgers as Burgers
from .models import GrayScott as GrayScott
from .models import KortewegDeVries as KortewegDeVries
from .models import KuramotoSivashinsky as KuramotoSivashinsky
from .models import KuramotoSivashinskyFD as KuramotoSivashinskyFD
from .models import KortewegDeVriesFD as KortewegDeVriesFD
from .models import NavierStokes2D as NavierStokes2D
from .models import NavierStokesWalls2D as NavierStokesWalls2D
from .models import Heat as Heat
from .models import ShallowWater as ShallowWater
from .models import Wave as Wave

# --- particles (subpackage: scidiff.kernels.particles) ---
from . import particles as particles
