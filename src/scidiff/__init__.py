"""scidiff: differentiable scientific computing in JAX.

Pure functional solvers (ODE, stiff and stochastic, linear, nonlinear, optimisation)
that compose with ``jit``, ``vmap`` and ``grad``. Physics kernels live in
``scidiff.kernels``; bridges to PyTorch/TensorFlow in ``scidiff.interop``; multi-device
helpers in ``scidiff.parallel``. Importing ``scidiff`` never imports torch or tensorflow.

This file only re-exports: each name is implemented in a private module.
"""

# ruff: noqa: I001  -- imports stay grouped under their area markers, not sorted

# --- error policy (shared) ---
from ._results import RESULTS as RESULTS
from ._results import AbstractSolution as AbstractSolution
from ._results import SolveError as SolveError

# --- ODE: solve_ivp, adjoints, events (issue 2) ---
from ._ode._solve_ivp import solve_ivp as solve_ivp
from ._ode._event import Event as Event
from ._ode._adjoint import RecursiveCheckpoint as RecursiveCheckpoint
from ._ode._adjoint import Backsolve as Backsolve
from ._ode._adjoint import ForwardMode as ForwardMode
from ._ode._adjoint import AbstractAdjoint as AbstractAdjoint
from ._ode._controller import AbstractStepSizeController as AbstractStepSizeController
from ._ode._controller import PIDController as PIDController
from ._ode._controller import ConstantStepSize as ConstantStepSize
from ._ode._solution import ODESolution as ODESolution
from ._ode._base import AbstractODESolver as AbstractODESolver

# --- ODE: explicit and symplectic solvers (issue 2) ---
from ._ode._solvers import Euler as Euler
from ._ode._solvers import Heun as Heun
from ._ode._solvers import Tsit5 as Tsit5
from ._ode._solvers import Midpoint as Midpoint
from ._ode._solvers import RK4 as RK4
from ._ode._solvers import Bosh3 as Bosh3
from ._ode._solvers import Dopri5 as Dopri5
from ._ode._solvers import Dopri8 as Dopri8
from ._ode._solvers import Vern6 as Vern6
from ._ode._solvers import Vern7 as Vern7
from ._ode._solvers import Vern9 as Vern9
from ._ode._solvers import Leapfrog as Leapfrog
from ._ode._solvers import Yoshida4 as Yoshida4

# --- ODE: stiff solvers; SDE (issue 4) ---
from ._ode._solvers import BDF as BDF
from ._ode._solvers import DenseLU as DenseLU
from ._ode._solvers import ImplicitEuler as ImplicitEuler
from ._ode._solvers import Kvaerno3 as Kvaerno3
from ._ode._solvers import Kvaerno5 as Kvaerno5
from ._ode._solvers import NewtonKrylov as NewtonKrylov
from ._ode._solvers import Radau5 as Radau5
from ._ode._solvers import Rodas5 as Rodas5
from ._sde import AbstractSDESolver as AbstractSDESolver
from ._sde import EulerMaruyama as EulerMaruyama
from ._sde import Milstein as Milstein
from ._sde import SDESolution as SDESolution
from ._sde import solve_sde as solve_sde

# --- linear systems (issue 3) ---
from ._linear._linear_solve import LinearSolution as LinearSolution
from ._linear._linear_solve import linear_solve as linear_solve
from ._linear._solver import CG as CG
from ._linear._solver import GMRES as GMRES
from ._linear._solver import LU as LU
from ._linear._solver import AbstractLinearSolver as AbstractLinearSolver
from ._linear._solver import BiCGSTAB as BiCGSTAB
from ._linear._solver import Cholesky as Cholesky
from ._linear._solver import FlatOperator as FlatOperator
from ._ode._solvers import AbstractIterationMatrix as AbstractIterationMatrix
from ._ode._solvers import DenseJacobian as DenseJacobian
from ._ode._solvers import MatrixFreeJacobian as MatrixFreeJacobian

# --- nonlinear equations and optimisation (issue 3) ---
from ._nonlinear._common import RootSolution as RootSolution
from ._nonlinear._fixed_point import fixed_point as fixed_point
from ._nonlinear._root import root as root
from ._optimize._least_squares import LeastSquaresSolution as LeastSquaresSolution
from ._optimize._least_squares import least_squares as least_squares
from ._optimize._minimize import MinimizeSolution as MinimizeSolution
from ._optimize._minimize import minimize as minimize

# --- long runs: chunks, progress bars, checkpoints (issue 18) ---
from ._chunked import CheckpointError as CheckpointError
from ._chunked import run_chunked as run_chunked
from ._chunked import run_steps as run_steps

# The version is defined once, in pyproject.toml; read it from the installed metadata.
from importlib.metadata import version as _version

__version__ = _version("scidiff")
del _version
