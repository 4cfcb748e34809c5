"""Stochastic differential equations: ``solve_sde`` with Euler--Maruyama and Milstein."""

from ._solve_sde import SDESolution as SDESolution
from ._solve_sde import solve_sde as solve_sde
from ._solvers import AbstractSDESolver as AbstractSDESolver
from ._solvers import EulerMaruyama as EulerMaruyama
from ._solvers import Milstein as Milstein
