"""Spectral PDE models: analytic solutions (KdV soliton, Taylor-Green decay, Kolmogorov
laminar flow), Kuramoto-Sivashinsky chaos/boundedness/consistency, ETDRK against the
method-of-lines right-hand side, gradients against finite differences, vmap, recompiles,
dtypes and error messages."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff.kernels import (
    AbstractPDEModel,
    KortewegDeVries,
    KuramotoSivashinsky,
    NavierStokes2D,
    spectral_derivative,
)

TWO_PI = 2 * np.pi


def _x(n, length):
    return np.arange(n) * length / n


# ----------------------------------------------------------------------------- KdV


def test_kdv_soliton_translates_at_its_speed_and_keeps_its_shape():
    n, length, c, x0 = 128, 40.0, 1.0, 10.0
    x = _x(n, length)
    exact = lambda t: c / 2 / np.cosh(np.sqrt(c) / 2 * (x - x0 - c * t)) ** 2
    model = KortewegDeVries(n, length)
    traj = eqx.filter_jit(model.rollout)(jnp.asarray(exact(0.0)), 0.02, 200, save_every=100)
    for i, t in enumerate((2.0, 4.0)):
        np.testing.assert_allclose(traj[i], exact(t), atol=2e-4)
    # peak position from a parabola through the three largest samples: speed c
    u = np.asarray(traj[-1])
    j = int(np.argmax(u))
    ym, y0, yp = u[j - 1], u[j], u[j + 1]
    peak = x[j] + (length / n) * 0.5 * (ym - yp) / (ym - 2 * y0 + yp)
    assert abs((peak - x0) / 4.0 - c) < 2e-3
    np.testing.assert_allclose(np.sum(u), np.sum(exact(0.0)), rtol=1e-12)  # mass


def test_kdv_gradient_wrt_dispersion_through_complex_coefficients():
    """KdV's symbol is imaginary, so its ETDRK coefficients are complex: differentiate a
    rollout through them and compare with central differences."""
    n, length = 64, 20.0
    x = _x(n, length)
    u0 = jnp.asarray(0.5 / np.cosh(0.5 * (x - 8.0)) ** 2)
    weight = jnp.asarray(np.sin(2 * np.pi * x / length) + 0.5)

    @jax.jit
    def loss(b):
        return jnp.sum(weight * KortewegDeVries(n, length, dispersion=b).rollout(u0, 0.05, 20)[-1])

    b, eps = 1.3, 1e-6
    np.testing.assert_allclose(
        jax.jit(jax.grad(loss))(b), (loss(b + eps) - loss(b - eps)) / (2 * eps), rtol=1e-6
    )


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


# ----------------------------------------------------------------------------- Kuramoto-Sivashinsky

KS_N, KS_L = 64, 22.0


@pytest.fixture(scope="module")
def ks_long():
    """A long 1D KS run (L = 22, the classic minimal chaotic box) from two initial
    conditions 1e-8 apart."""
    x = _x(KS_N, KS_L)
    u0 = np.cos(2 * np.pi * x / KS_L) * (1 + np.sin(2 * np.pi * x / KS_L))
    model = KuramotoSivashinsky(KS_N, KS_L, form="conservative")
    run = jax.jit(jax.vmap(lambda u: model.rollout(u, 0.25, 2400, save_every=8)))
    u0s = jnp.stack([jnp.asarray(u0), jnp.asarray(u0 + 1e-8 * np.sin(6 * np.pi * x / KS_L))])
    return np.asarray(run(u0s))  # (2, 300, N): t = 2, 4, ..., 600


def test_ks_chaotic_but_bounded(ks_long):
    traj = ks_long[0]
    assert np.all(np.isfinite(traj)) and np.max(np.abs(traj)) < 5.0
    energy = np.mean(traj[50:] ** 2, axis=1)  # after the transient (t > 100)
    # the attractor's energy is O(1) and fluctuates; the mean is conserved (zero)
    assert 0.5 < energy.mean() < 3.0 and energy.std() > 0.05 * energy.mean()
    np.testing.assert_allclose(traj.mean(axis=1), traj[0].mean(), atol=1e-12)
    # sensitive dependence: a 1e-8 perturbation grows to O(1)
    sep = np.max(np.abs(ks_long[0] - ks_long[1]), axis=1)
    assert sep[5] < 1e-4 and sep[-50:].max() > 0.5


def test_ks_agrees_with_much_smaller_step():
    x = _x(KS_N, KS_L)
    u0 = jnp.asarray(np.cos(2 * np.pi * x / KS_L) * (1 + np.sin(2 * np.pi * x / KS_L)))
    model = KuramotoSivashinsky(KS_N, KS_L, form="conservative")
    run = jax.jit(lambda dt, n: model.rollout(u0, dt, n, save_every=n)[-1], static_argnums=1)
    fine = jax.jit(lambda: model.rollout(u0, 0.125 / 16, 2560, save_every=2560)[-1])()
    err_coarse = np.max(np.abs(run(0.125, 160) - fine))  # t = 20
    err_half = np.max(np.abs(run(0.0625, 320) - fine))
    assert err_coarse < 5e-5 and err_half < err_coarse / 8, (err_coarse, err_half)


def test_ks_gradient_form_is_the_x_integral_of_the_conservative_form():
    """If u solves u_t + u_x^2/2 + u_xx + u_xxxx = 0 then v = u_x solves
    v_t + v v_x + v_xx + v_xxxx = 0: the two forms must agree through spectral d/dx."""
    x = _x(KS_N, KS_L)
    u0 = jnp.asarray(np.cos(2 * np.pi * x / KS_L) + 0.3 * np.sin(4 * np.pi * x / KS_L))
    grad_form = KuramotoSivashinsky(KS_N, KS_L)
    cons_form = KuramotoSivashinsky(KS_N, KS_L, form="conservative")
    u = jax.jit(lambda a: grad_form.rollout(a, 0.05, 200, save_every=200)[-1])(u0)
    v0 = spectral_derivative(u0, KS_L, 1)
    v = jax.jit(lambda a: cons_form.rollout(a, 0.05, 200, save_every=200)[-1])(v0)
    np.testing.assert_allclose(spectral_derivative(u, KS_L, 1), v, atol=1e-9)


def test_ks_2d_reduces_to_1d_for_x_only_data():
    x = _x(32, 30.0)
    u0 = np.cos(2 * np.pi * x / 30) + 0.5 * np.sin(6 * np.pi * x / 30)
    one = KuramotoSivashinsky(32, 30.0, viscosity=0.8)
    two = KuramotoSivashinsky((32, 8), (30.0, 5.0), viscosity=0.8)
    u1 = one.rollout(jnp.asarray(u0), 0.1, 50, save_every=50)[-1]
    u2 = two.rollout(jnp.asarray(np.broadcast_to(u0[:, None], (32, 8))), 0.1, 50, save_every=50)[-1]
    np.testing.assert_allclose(u2, np.broadcast_to(np.asarray(u1)[:, None], (32, 8)), atol=1e-11)


def test_stepper_step_equals_rollout_and_float32():
    model = KuramotoSivashinsky((16, 16), 20.0)
    u0 = jnp.asarray(np.random.default_rng(0).normal(size=(16, 16)) * 0.1, jnp.float32)
    stepper = model.make_stepper(0.1, jnp.float32)
    u = u0
    for _ in range(3):
        u = stepper.step(u)
    assert u.dtype == jnp.float32
    np.testing.assert_allclose(u, model.rollout(u0, 0.1, 3, save_every=3)[-1], atol=1e-6)
    np.testing.assert_allclose(model.step(u0, 0.1), stepper.step(u0), atol=1e-7)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make,match",
    [
        (
            lambda: NavierStokes2D((16, 16), boundary="dirichlet"),
            "support only boundary='periodic'",
        ),
        (lambda: KuramotoSivashinsky(63, 22.0), "must be even"),
        (lambda: KuramotoSivashinsky((16, 16), 22.0, form="conservative"), "one-dimensional"),
        (lambda: KuramotoSivashinsky(16, 22.0, form="flame"), "Unknown KS `form`"),
        (lambda: NavierStokes2D((16,)), "needs a 2D shape"),
        (lambda: NavierStokes2D((16, 16), forcing_wavenumber=8), "forcing_wavenumber"),
        (lambda: KortewegDeVries((16, 16), 10.0), "one-dimensional"),
        (lambda: KortewegDeVries(16, 10.0, order=5), "order` must be 1, 2, 3 or 4"),
        (lambda: KortewegDeVries(16, 10.0, dealias=1.5), "dealias` must lie in"),
        (lambda: KortewegDeVries(16, -1.0), "extent` must be positive"),
        (lambda: NavierStokes2D((16, 16), (1.0, 1.0, 1.0)), "has 3 entries"),
    ],
)
def test_bad_construction_raises(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_state_raises():
    model = KortewegDeVries(16, 10.0)
    with pytest.raises(ValueError, match="use jax.vmap for a batch"):
        model(0.0, jnp.zeros((2, 16)))
    with pytest.raises(TypeError, match="must be real"):
        model.step(jnp.zeros(16, complex), 0.1)
    with pytest.raises(ValueError, match="positive multiple of `save_every`"):
        model.rollout(jnp.zeros(16), 0.1, 10, save_every=3)
