"""The default float32 path of the main entry points, run by ``test_lanes.py`` in a
separate process with x64 OFF and ``jax_numpy_rank_promotion="raise"`` (the settings a
user gets by default, plus the strictest broadcasting rule), and again with jaxtyping's
runtime checks of every annotated signature. Named without ``test_`` so the main run,
whose conftest turns x64 on, does not collect it. Each case is small and checked against
an independent reference (analytic or NumPy/SciPy in float64)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import scidiff

F32 = jnp.float32


def test_lane_settings_are_in_force():
    # The lane is worthless if its settings silently did not apply.
    assert os.environ.get("SCIDIFF_TEST_X64") == "0"
    assert not jax.config.read("jax_enable_x64")
    assert jax.config.jax_numpy_rank_promotion == "raise"
    with pytest.raises(ValueError, match="jax_numpy_rank_promotion='raise'"):
        jnp.ones((3,)) + jnp.ones((2, 3))


def test_solve_ivp_explicit_default():
    y0 = jnp.array([1.0, 2.0], F32)
    sol = scidiff.solve_ivp(lambda t, y, a: -a * y, (0.0, 1.0), y0, args=jnp.array([1.0, 0.5], F32))
    assert sol.ys.dtype == F32 and sol.ts.dtype == F32
    expected = np.array([1.0, 2.0]) * np.exp(-np.array([1.0, 0.5]))
    np.testing.assert_allclose(np.asarray(sol.ys[-1]), expected, rtol=1e-4)


def test_solve_ivp_stiff_default_tolerances():
    A = np.array([[-1000.0, 0.0], [1.0, -1.0]])
    y0 = jnp.array([1.0, 1.0], F32)
    sol = scidiff.solve_ivp(
        lambda t, y, a: jnp.asarray(A, F32) @ y, (0.0, 1.0), y0, solver=scidiff.Kvaerno5()
    )
    assert sol.ys.dtype == F32
    expected = scipy.linalg.expm(A) @ np.array([1.0, 1.0])
    np.testing.assert_allclose(np.asarray(sol.ys[-1]), expected, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("method", ["auto", "cg"])
def test_linear_solve(method):
    rng = np.random.default_rng(0)
    B = rng.standard_normal((5, 5))
    A = B @ B.T + 5 * np.eye(5)
    b = rng.standard_normal(5)
    sol = scidiff.linear_solve(jnp.asarray(A, F32), jnp.asarray(b, F32), method=method)
    assert sol.x.dtype == F32
    np.testing.assert_allclose(np.asarray(sol.x), np.linalg.solve(A, b), rtol=1e-4, atol=1e-5)


def test_root():
    sol = scidiff.root(lambda x, a: x**3 - a, jnp.array([1.0], F32), args=jnp.array(2.0, F32))
    assert sol.x.dtype == F32
    np.testing.assert_allclose(np.asarray(sol.x), [2.0 ** (1 / 3)], rtol=1e-5)


def test_minimize():
    target = jnp.array([1.0, -2.0, 0.5], F32)
    sol = scidiff.minimize(lambda x, c: jnp.sum((x - c) ** 2), jnp.zeros(3, F32), args=target)
    assert sol.x.dtype == F32
    np.testing.assert_allclose(np.asarray(sol.x), np.asarray(target), atol=1e-4)


def test_solve_sde_mean_of_an_ensemble():
    # dX = -X dt + 0.1 dW: E[X(1)] = X0 e^-1, Var = 0.01 (1 - e^-2) / 2.
    n = 256
    y0 = jnp.ones(n, F32)
    sol = scidiff.solve_sde(
        lambda t, y, a: -y,
        lambda t, y, a: 0.1 * jnp.ones_like(y),
        (0.0, 1.0),
        y0,
        key=jax.random.PRNGKey(0),
        dt0=0.01,
    )
    assert sol.ys.dtype == F32
    final = np.asarray(sol.ys[-1], dtype=np.float64)
    std_err = np.sqrt(0.01 * (1 - np.exp(-2)) / 2 / n)
    # Euler-Maruyama's weak bias at dt = 0.01 is about 0.005 x e^-1: within the margin.
    assert abs(final.mean() - np.exp(-1.0)) < 4 * std_err + 0.005


def test_kernels_heat_rollout_decays_a_sine_mode():
    from scidiff.kernels import Grid, Heat

    n, kappa, dt, steps = 32, 0.1, 1e-3, 100
    g = Grid(n)
    x = g.coordinates()[0]
    u0 = jnp.sin(2 * jnp.pi * x).astype(F32)
    traj = Heat(g, diffusivity=kappa).rollout(u0, dt=dt, num_steps=steps, save_every=steps)
    assert traj.dtype == F32
    h = g.spacing[0]
    rate = kappa * (2 - 2 * np.cos(2 * np.pi * h)) / h**2  # the 3-point Laplacian's eigenvalue
    expected = np.exp(-rate * dt * steps) * np.sin(2 * np.pi * np.asarray(x, np.float64))
    np.testing.assert_allclose(np.asarray(traj[-1]), expected, atol=1e-5)
