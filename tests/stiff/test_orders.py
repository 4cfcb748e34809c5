"""Measured convergence order of every stiff method (fixed steps, analytic solution).

Fits the slope of log(error) against log(h) and compares it with the method's order, at
the end point (the method) and at an off-grid save time (the method's interpolant).
"""

import jax.numpy as jnp
import numpy as np
import pytest

import scidiff

A = jnp.array([1.0, 5.0])
Y0 = jnp.array([2.0, 0.0])


def field(t, y, a):
    # y' = -a (y - cos t) - sin t  =>  y(t) = cos t + (y0 - 1) exp(-a t)
    return -a * (y - jnp.cos(t)) - jnp.sin(t)


def exact(t):
    t = np.asarray(t)[:, None]
    return np.cos(t) + (np.asarray(Y0) - 1) * np.exp(-np.asarray(A) * t)


def slopes(solver, ns):
    errs = []
    for n in ns:
        # Mid-step of the step starting at the grid point 0.3 (same theta for every n).
        t_eval = jnp.array([0.3 + 0.5 / n, 1.0])
        sol = scidiff.solve_ivp(
            field,
            (0.0, 1.0),
            Y0,
            args=A,
            solver=solver,
            dt0=1.0 / n,
            controller=scidiff.ConstantStepSize(),
            t_eval=t_eval,
        )
        errs.append(np.abs(np.asarray(sol.ys) - exact(t_eval)).max(axis=1))
    errs = np.array(errs)  # (len(ns), 2): interpolated point, end point
    logh = np.log(1.0 / np.asarray(ns))
    return [np.polyfit(logh, np.log(errs[:, j]), 1)[0] for j in range(2)], errs


@pytest.mark.parametrize(
    "solver, order, dense_order, ns",
    [
        (scidiff.ImplicitEuler(), 1, 1, (20, 40, 80)),
        (scidiff.Kvaerno3(), 3, 3, (10, 20, 40)),
        (scidiff.Kvaerno5(), 5, 4, (10, 20, 40)),  # cubic Hermite interpolant: 4th order
        (scidiff.Rodas5(), 5, 5, (10, 20, 40)),  # own dense output, local O(h^5)
        # Fixed steps: the order-1 start-up limits any BDF to global order 2, so the
        # order-2 formula is what a fixed-step fit can check (variable order: adaptive
        # tests in test_reference_problems.py).
        (scidiff.BDF(max_order=2), 2, 2, (20, 40, 80)),
    ],
    ids=["ImplicitEuler", "Kvaerno3", "Kvaerno5", "Rodas5", "BDF2"],
)
def test_measured_order(solver, order, dense_order, ns):
    (dense_slope, end_slope), errs = slopes(solver, ns)
    assert np.all(errs > 1e-13), errs  # still above round-off: the fit means something
    assert abs(end_slope - order) < 0.3, (end_slope, errs)
    assert dense_slope > dense_order - 0.4, (dense_slope, errs)
