"""Symplectic methods keep the energy of a long Kepler run bounded; RK4's drifts."""

import jax.numpy as jnp
import numpy as np
import pytest

import scidiff

ECC = 0.5
ORBITS = 100
STEPS = 10_000  # 100 steps per orbit
T = ORBITS * 2 * np.pi


def _energy_error(solver, problems):
    y0 = (jnp.array([1 - ECC, 0.0]), jnp.array([0.0, np.sqrt((1 + ECC) / (1 - ECC))]))
    ts = jnp.linspace(0.0, T, 201)
    sol = scidiff.solve_ivp(
        problems.kepler,
        (0.0, T),
        y0,
        solver=solver(),
        t_eval=ts,
        dt0=T / STEPS,
        controller=scidiff.ConstantStepSize(),
        max_steps=STEPS + 10,
    )
    q, p = sol.ys
    dE = np.abs(np.asarray(problems.kepler_energy(q, p)) - float(problems.kepler_energy(*y0)))
    return dE[1:101].max(), dE[101:].max()


@pytest.mark.parametrize("solver", [scidiff.Leapfrog, scidiff.Yoshida4], ids=lambda s: s.__name__)
def test_symplectic_energy_bounded(solver, problems):
    first, second = _energy_error(solver, problems)
    # bounded oscillation: the second 50 orbits see no larger error than the first 50
    assert second <= 1.1 * first, (first, second)
    assert second < (1e-2 if solver is scidiff.Leapfrog else 1e-3)


def test_rk4_energy_drifts(problems):
    first, second = _energy_error(scidiff.RK4, problems)
    # a secular (linear) drift: the error doubles from the first half to the second
    assert second > 1.8 * first, (first, second)
