"""KdV (soliton, gradient through complex coefficients) and Kuramoto-Sivashinsky (chaos
and boundedness, small-step reference, the two forms, 2D vs 1D, stepper, float32), and
the construction/state error messages of every spectral model."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scidiff.kernels import (
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
    run = jax.jit(lambda dt: model.rollout(u0, dt, 2560, save_every=80))  # dt traced
    fine = run(0.125 / 16)[-1]  # 2560 steps: t = 20
    err_coarse = np.max(np.abs(run(0.125)[1] - fine))  # 160 steps
    err_half = np.max(np.abs(run(0.0625)[3] - fine))  # 320 steps
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


@pytest.mark.parametrize("extra_axes", [(8,), (4, 6)], ids=["2d", "3d"])
def test_ks_2d_3d_reduce_to_1d_for_x_only_data(extra_axes):
    x = _x(32, 30.0)
    u0 = np.cos(2 * np.pi * x / 30) + 0.5 * np.sin(6 * np.pi * x / 30)
    shape = (32, *extra_axes)
    one = KuramotoSivashinsky(32, 30.0, viscosity=0.8)
    many = KuramotoSivashinsky(shape, (30.0,) + (5.0,) * len(extra_axes), viscosity=0.8)
    u1 = eqx.filter_jit(one.rollout)(jnp.asarray(u0), 0.1, 50, save_every=50)[-1]
    expand = lambda a: np.broadcast_to(np.reshape(a, (32,) + (1,) * len(extra_axes)), shape)
    u2 = eqx.filter_jit(many.rollout)(jnp.asarray(expand(u0)), 0.1, 50, save_every=50)[-1]
    np.testing.assert_allclose(u2, expand(np.asarray(u1)), atol=1e-11)


def test_stepper_step_equals_rollout_and_float32():
    model = KuramotoSivashinsky((16, 16), 20.0)
    u0 = jnp.asarray(np.random.default_rng(0).normal(size=(16, 16)) * 0.1, jnp.float32)
    stepper = eqx.filter_jit(model.make_stepper)(0.1, jnp.float32)
    step = eqx.filter_jit(lambda s, u: s.step(u))
    u = u0
    for _ in range(3):
        u = step(stepper, u)
    assert u.dtype == jnp.float32
    rolled = eqx.filter_jit(model.rollout)(u0, 0.1, 3, save_every=3)[-1]
    np.testing.assert_allclose(u, rolled, atol=1e-6)
    np.testing.assert_allclose(eqx.filter_jit(model.step)(u0, 0.1), step(stepper, u0), atol=1e-7)


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


def test_periodic_boundary_object_is_accepted():
    from scidiff.kernels import Dirichlet, Periodic

    assert KuramotoSivashinsky(16, 10.0, boundary=Periodic()).shape == (16,)
    with pytest.raises(ValueError, match="support only boundary='periodic'"):
        KuramotoSivashinsky(16, 10.0, boundary=Dirichlet(0.0))


def test_bad_state_raises():
    model = KortewegDeVries(16, 10.0)
    with pytest.raises(ValueError, match="use jax.vmap for a batch"):
        model(0.0, jnp.zeros((2, 16)))
    with pytest.raises(TypeError, match="`u` must be a real field"):
        model.step(jnp.zeros(16, complex), 0.1)
    with pytest.raises(TypeError, match="need float32 or float64"):
        model(0.0, jnp.zeros(16, jnp.float16))
    with pytest.raises(ValueError, match="positive multiple of `save_every`"):
        model.rollout(jnp.zeros(16), 0.1, 10, save_every=3)
