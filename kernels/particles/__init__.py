"""Particle kernels: spaces (free / periodic box), pair potentials and energy builders,
softened N-body gravity, cell-list neighbour lists, velocity Verlet and Langevin."""

from ._energy import forces as forces
from ._energy import gravitational_energy as gravitational_energy
from ._energy import lennard_jones as lennard_jones
from ._energy import pair_energy as pair_energy
from ._energy import soft_sphere as soft_sphere
from ._energy import truncate as truncate
from ._integrators import LangevinState as LangevinState
from ._integrators import NVEState as NVEState
from ._integrators import kinetic_energy as kinetic_energy
from ._integrators import langevin as langevin
from ._integrators import velocity_verlet as velocity_verlet
from ._neighbors import NeighborList as NeighborList
from ._neighbors import NeighborListFns as NeighborListFns
from ._neighbors import allocate_neighbor_list as allocate_neighbor_list
from ._neighbors import neighbor_list as neighbor_list
from ._neighbors import raise_if_overflow as raise_if_overflow
from ._space import Space as Space
from ._space import free_space as free_space
from ._space import periodic_space as periodic_space
from ._space import safe_norm as safe_norm
