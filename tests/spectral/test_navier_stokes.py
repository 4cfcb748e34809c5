"""NavierStokes2D: Taylor-Green decay, closed-form advection, Kolmogorov laminar flow,
ETDRK order against the method-of-lines right-hand side (and solve_ivp), the CFL check,
gradients against finite differences, vmap over parameters and initial conditions, and
no recompiles when parameters change."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff.kernels import (
    AbstractPDEModel,
    NavierStokes2D,
)

TWO_PI = 2 * np.pi


def _x(n, length):
    return np.arange(n) * length / n


# ----------------------------------------------------------------------------- Navier-Stokes


@pytest.mark.parametrize("dtype,tol", [(jnp.float64, 1e-12), (jnp.float32, 2e-5)])
def test_taylor_green_vortex_decays_exactly(dtype, tol):
    n, k, nu, drag = 16, 2, 0.05, 0.1
    x = _x(n, TWO_PI)
    w0 = jnp.asarray(2 * k * np.sin(k * x)[:, None] * np.sin(k * x)[None, :], dtype)
    model = NavierStokes2D((n, n), viscosity=nu, drag=drag)
    wt = eqx.filter_jit(model.rollout)(w0, 0.05, 20, save_every=20)[-1]
    assert wt.dtype == dtype
    # the nonlinear term vanishes for this mode: omega(t) = omega(0) exp(-(2 nu k^2 + drag) t)
    np.testing.assert_allclose(wt, w0 * np.exp(-(2 * nu * k**2 + drag) * 1.0), atol=tol * 4)


def test_navier_stokes_rhs_matches_closed_form_advection():
    """omega = sin x + cos 2y + 0.5 sin(x + y): psi, u, v and -u.grad(omega) in closed
    form; the pseudo-spectral RHS (Basdevant form) must reproduce them exactly."""
    n, nu = 32, 0.01
    x, y = np.meshgrid(_x(n, TWO_PI), _x(n, TWO_PI), indexing="ij")
    w = np.sin(x) + np.cos(2 * y) + 0.5 * np.sin(x + y)
    psi = np.sin(x) + np.cos(2 * y) / 4 + 0.5 * np.sin(x + y) / 2  # -lap psi = w
    u = -np.sin(2 * y) / 2 + 0.25 * np.cos(x + y)  # psi_y
    v = -np.cos(x) - 0.25 * np.cos(x + y)  # -psi_x
    wx = np.cos(x) + 0.5 * np.cos(x + y)
    wy = -2 * np.sin(2 * y) + 0.5 * np.cos(x + y)
    lap_w = -np.sin(x) - 4 * np.cos(2 * y) - np.sin(x + y)
    model = NavierStokes2D((n, n), viscosity=nu)
    np.testing.assert_allclose(model.velocity(jnp.asarray(w)), np.stack([u, v]), atol=1e-13)
    del psi
    rhs = model(0.0, jnp.asarray(w))
    np.testing.assert_allclose(rhs, -(u * wx + v * wy) + nu * lap_w, atol=1e-12)


def test_kolmogorov_laminar_flow_is_steady():
    n, nu, drag, gamma, nf = 32, 0.05, 0.1, 1.0, 4
    y = _x(n, TWO_PI)
    w_s = -gamma * nf * np.cos(nf * y) / (nu * nf**2 + drag)  # (nu k^2 + drag) w = F
    w_s = jnp.asarray(np.broadcast_to(w_s[None, :], (n, n)))
    model = NavierStokes2D(
        (n, n), viscosity=nu, drag=drag, forcing_amplitude=gamma, forcing_wavenumber=nf
    )
    np.testing.assert_allclose(model(0.0, w_s), 0.0, atol=1e-12)
    # the forcing pushes towards it: from rest, omega_t = F = -gamma k_f cos(k_f y)
    np.testing.assert_allclose(
        model(0.0, jnp.zeros((n, n)))[0], -gamma * nf * np.cos(nf * y), atol=1e-12
    )
    w1 = model.rollout(w_s, 0.1, 10, save_every=10)[-1]
    np.testing.assert_allclose(w1, w_s, atol=1e-12)


def _smooth_vorticity(n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(_x(n, TWO_PI), _x(n, TWO_PI), indexing="ij")
    w = np.zeros((n, n))
    for kx, ky in [(1, 0), (0, 1), (1, 1), (2, 1), (1, -2), (3, 0)]:
        w += rng.normal() * np.cos(kx * x + ky * y + rng.uniform(0, TWO_PI))
    return jnp.asarray(w)


@pytest.mark.parametrize("order", [2, 4])
def test_etdrk_converges_to_method_of_lines_rk4_at_its_order(order):
    """ETDRK on the model and classical RK4 on its right-hand side ``model(t, u)``
    (AbstractPDEModel's default step, tiny step) converge to the same solution, with the
    error of ETDRK falling at its order (fitted slope)."""
    model = NavierStokes2D(
        (16, 16), viscosity=0.05, forcing_amplitude=0.5, forcing_wavenumber=2, order=order
    )
    w0 = _smooth_vorticity(16)

    @jax.jit
    def rk4(w):
        def body(c, _):
            w, t = c
            return (AbstractPDEModel.step(model, w, 0.004, t), t + 0.004), None

        return jax.lax.scan(body, (w, 0.0), None, length=250)[0][0]

    ref = rk4(w0)
    steps = np.array([20, 40, 80])
    errs = [
        np.max(np.abs(model.rollout(w0, 1 / n, int(n), save_every=int(n))[-1] - ref)) for n in steps
    ]
    slope = -np.polyfit(np.log(steps), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.3 and errs[-1] < {2: 5e-4, 4: 1e-7}[order], (slope, errs)


@pytest.mark.skipif(not hasattr(scidiff, "solve_ivp"), reason="scidiff.solve_ivp not built yet")
def test_usable_as_rhs_for_solve_ivp():
    model = NavierStokes2D((16, 16), viscosity=0.05)
    w0 = _smooth_vorticity(16, seed=3)
    sol = scidiff.solve_ivp(model, (0.0, 1.0), w0, rtol=1e-10, atol=1e-10)
    etd = model.rollout(w0, 0.0125, 80, save_every=80)[-1]
    np.testing.assert_allclose(sol.ys[-1], etd, atol=1e-6)


def test_navier_stokes_cfl_limit_is_checked_and_meaningful():
    n = 64
    x, y = np.meshgrid(_x(n, TWO_PI), _x(n, TWO_PI), indexing="ij")
    w0 = jnp.asarray(3 * np.sin(x) * np.cos(2 * y) + 2 * np.cos(3 * x + y))
    model = NavierStokes2D((n, n), viscosity=1e-4)
    limit = float(model.max_stable_dt(w0))
    vel = np.asarray(model.velocity(w0))
    kmax = (n - 1) // 3  # largest de-aliased mode (2 pi / L = 1)
    expected = 2 * np.sqrt(2) / (kmax * (np.abs(vel[0]).max() + np.abs(vel[1]).max()))
    np.testing.assert_allclose(limit, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="exceeds the CFL limit"):
        model.rollout(w0, 2 * limit, 10)
    run = jax.jit(lambda dt: model.rollout(w0, dt, 200, save_every=200, check_stability=False))
    assert np.all(np.isfinite(run(limit)))  # stable at the limit ...
    assert not np.all(np.isfinite(run(2 * limit)))  # ... and it blows up at twice it


# ----------------------------------------------------------------------------- gradients


@pytest.fixture(scope="module")
def ns_loss():
    """Loss of a short ETDRK rollout, jitted once; viscosity and w0 are traced."""
    n = 16
    weight = _smooth_vorticity(n, seed=7)

    @jax.jit
    def loss(nu, w0):
        model = NavierStokes2D((n, n), viscosity=nu, drag=0.05)
        traj = model.rollout(w0, 0.1, 10, save_every=5)
        return jnp.sum(traj[-1] * weight) + 0.1 * jnp.sum(traj[0] ** 2)

    return loss, _smooth_vorticity(n, seed=1)


def test_gradient_wrt_viscosity_matches_finite_differences(ns_loss):
    loss, w0 = ns_loss
    nu, eps = 0.03, 1e-6
    g = jax.jit(jax.grad(loss))(nu, w0)
    fd = (loss(nu + eps, w0) - loss(nu - eps, w0)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_gradient_wrt_initial_condition_matches_finite_differences(ns_loss):
    loss, w0 = ns_loss
    direction = _smooth_vorticity(16, seed=5)
    g = jax.jit(jax.grad(loss, argnums=1))(0.03, w0)
    eps = 1e-6
    fd = (loss(0.03, w0 + eps * direction) - loss(0.03, w0 - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(jnp.sum(g * direction), fd, rtol=1e-6)


def test_vmap_over_viscosity_and_initial_conditions(ns_loss):
    loss, w0 = ns_loss
    nus = jnp.asarray([0.01, 0.03, 0.1])
    w0s = jnp.stack([w0, 0.5 * w0, -w0])
    batched = jax.vmap(loss)(nus, w0s)
    single = jnp.stack([loss(nus[i], w0s[i]) for i in range(3)])
    np.testing.assert_allclose(batched, single, rtol=1e-12)


def test_changing_dt_and_parameters_does_not_recompile():
    traces = []

    @jax.jit
    def run(dt, nu, length, w0):
        traces.append(1)
        model = NavierStokes2D((8, 8), (length, length), viscosity=nu)
        return model.rollout(w0, dt, 4, save_every=4)

    w0 = _smooth_vorticity(8)
    for dt, nu, length in [(0.1, 0.01, TWO_PI), (0.05, 0.02, TWO_PI), (0.01, 0.1, 3.0)]:
        run(dt, nu, length, w0)
    assert len(traces) == 1
