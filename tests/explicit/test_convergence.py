"""Measured convergence order of every method: fitted slope of log(error) vs log(h).

Fixed steps on problems with closed-form solutions: a nonlinear, non-autonomous pytree
system for the Runge--Kutta methods and the circular Kepler orbit for the symplectic ones.
Through ``scidiff.solve_ivp(..., dt0=h, controller=ConstantStepSize())``; ``dt0`` is
traced, so each solver compiles once for all its step sizes.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff

ALL = [
    scidiff.Euler,
    scidiff.Heun,
    scidiff.Midpoint,
    scidiff.RK4,
    scidiff.Bosh3,
    scidiff.Dopri5,
    scidiff.Tsit5,
    scidiff.Dopri8,
    scidiff.Leapfrog,
    scidiff.Yoshida4,
]

# (problem, T, step counts) per method: each on a problem and interval where its error is
# in the asymptotic range (no pre-asymptotic super-convergence) and well above round-off.
CASES = {
    "Euler": ("decay", 2.0, (32, 64, 128, 256)),
    "Heun": ("decay", 2.0, (32, 64, 128, 256)),
    "Midpoint": ("decay", 2.0, (32, 64, 128, 256)),
    "RK4": ("decay", 2.0, (32, 64, 128, 256)),
    "Bosh3": ("decay", 2.0, (16, 32, 64, 128)),
    "Dopri5": ("decay", 2.0, (32, 64, 128, 256)),
    "Tsit5": ("riccati", 6.0, (64, 128, 256, 512)),
    "Dopri8": ("kepler_circular", 6.0, (8, 16, 32, 64)),
    "Leapfrog": ("kepler_circular", 3.0, (16, 32, 64, 128)),
    "Yoshida4": ("kepler_circular", 3.0, (8, 16, 32, 64)),
}


def _max_err(y, exact):
    return max(
        float(np.max(np.abs(np.asarray(a) - b)))
        for a, b in zip(jax.tree_util.tree_leaves(y), jax.tree_util.tree_leaves(exact))
    )


@pytest.mark.parametrize("solver", ALL, ids=lambda s: s.__name__)
def test_measured_order(solver, problems):
    """Through ``solve_ivp`` with constant steps ``dt0 = T / n`` (dt0 traced: one compile)."""
    name, T, ns = CASES[solver.__name__]
    f = getattr(problems, "kepler" if name == "kepler_circular" else name)
    y0 = getattr(problems, name + "_y0")(jnp.float64)
    exact = getattr(problems, name + "_exact")(T)
    errs = []
    for n in ns:
        sol = scidiff.solve_ivp(
            f,
            (0.0, T),
            y0,
            solver=solver(),
            dt0=T / n,
            controller=scidiff.ConstantStepSize(),
            max_steps=1024,
        )
        assert int(sol.stats["num_steps"]) == n
        errs.append(_max_err(jax.tree_util.tree_map(lambda x: x[-1], sol.ys), exact))
    slope = np.polyfit(np.log(T / np.array(ns)), np.log(errs), 1)[0]
    assert abs(slope - solver.order) < 0.3, (slope, errs)
