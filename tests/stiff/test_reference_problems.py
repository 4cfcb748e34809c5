"""Standard stiff problems against scipy's Radau at tight tolerance."""

import jax.numpy as jnp
import numpy as np
import pytest

import scidiff

from ._problems import (
    HIRES_Y0,
    ROBERTSON_K,
    hires,
    robertson,
    scipy_reference,
    van_der_pol,
)


def scaled_error(y, ref, rtol, atol):
    return float(np.max(np.abs(np.asarray(y) - ref) / (atol + rtol * np.abs(ref))))


@pytest.mark.parametrize(
    "solver",
    [scidiff.Kvaerno5(), scidiff.Rodas5(), scidiff.BDF()],
    ids=["Kvaerno5", "Rodas5", "BDF"],
)
def test_robertson_to_1e5(solver):
    rtol, atol = 1e-7, 1e-12
    sol = scidiff.solve_ivp(
        robertson,
        (0.0, 1e5),
        jnp.array([1.0, 0.0, 0.0]),
        args=ROBERTSON_K,
        solver=solver,
        t_eval=jnp.array([1e-2, 1.0, 1e2, 1e5]),
        rtol=rtol,
        atol=atol,
        max_steps=20_000,
    )
    ys = np.asarray(sol.ys)
    # Linear invariant: every RK/Rosenbrock/BDF step (and every simplified-Newton
    # iterate, since e^T (I - cJ)^{-1} = e^T when e^T f = 0) conserves y1 + y2 + y3.
    assert np.max(np.abs(ys.sum(axis=1) - 1.0)) < 1e-12
    ref = scipy_reference("robertson", 1e5)
    # Global error a modest multiple of the tolerance, every component (y2 ~ 1e-7).
    assert scaled_error(ys[-1], ref, rtol, atol) < 50
    assert int(sol.stats["num_steps"]) < 2000


@pytest.mark.parametrize("solver", [scidiff.Kvaerno5(), scidiff.BDF()], ids=["Kvaerno5", "BDF"])
def test_van_der_pol_mu_1000(solver):
    rtol, atol = 1e-8, 1e-10
    sol = scidiff.solve_ivp(
        van_der_pol,
        (0.0, 3000.0),
        jnp.array([2.0, 0.0]),
        args=1000.0,
        solver=solver,
        rtol=rtol,
        atol=atol,
        max_steps=20_000,
    )
    ref = scipy_reference("vdp", 3000.0, 1000.0)
    # Through two relaxation jumps: the position error stays at tolerance level.
    assert abs(float(sol.ys[-1, 0]) - ref[0]) < 1e-4 * abs(ref[0])
    assert int(sol.stats["num_steps"]) < 5000


def test_hires_rodas5():
    rtol, atol = 1e-9, 1e-12
    sol = scidiff.solve_ivp(
        hires, (0.0, 321.8122), jnp.asarray(HIRES_Y0), solver=scidiff.Rodas5(), rtol=rtol, atol=atol
    )
    ref = scipy_reference("hires", 321.8122)
    assert scaled_error(sol.ys[-1], ref, 1e-6, 1e-12) < 1.0  # 1e-6 relative in every component
