"""ODE solvers: each method in its own module, all implementing `_base.AbstractODESolver`."""

# ruff: noqa: I001  -- imports stay grouped by owner (explicit / stiff), not sorted

# --- explicit and symplectic (ode-explicit) ---
from .euler import Euler as Euler
from .heun import Heun as Heun
from .tsit5 import Tsit5 as Tsit5
from .midpoint import Midpoint as Midpoint
from .rk4 import RK4 as RK4
from .bosh3 import Bosh3 as Bosh3
from .dopri5 import Dopri5 as Dopri5
from .dopri8 import Dopri8 as Dopri8
from .vern6 import Vern6 as Vern6
from .vern7 import Vern7 as Vern7
from .vern9 import Vern9 as Vern9
from .leapfrog import Leapfrog as Leapfrog
from .yoshida4 import Yoshida4 as Yoshida4

# --- stiff (ode-stiff) ---
from ._linear_algebra import AbstractIterationMatrix as AbstractIterationMatrix
from ._linear_algebra import DenseJacobian as DenseJacobian
from ._linear_algebra import DenseLU as DenseLU
from ._linear_algebra import MatrixFreeJacobian as MatrixFreeJacobian
from ._linear_algebra import NewtonKrylov as NewtonKrylov
from .implicit_euler import ImplicitEuler as ImplicitEuler
from .kvaerno3 import Kvaerno3 as Kvaerno3
from .kvaerno5 import Kvaerno5 as Kvaerno5
from .rodas5 import Rodas5 as Rodas5
from .bdf import BDF as BDF
from .radau5 import Radau5 as Radau5
