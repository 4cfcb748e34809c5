"""Flux-form advection: WENO5/upwind orders, conservation, monotonicity, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff.kernels as K


@eqx.filter_jit
def _advection_error(g, scheme, c):
    (x,) = g.coordinates()
    u = jnp.sin(2 * jnp.pi * x) + 0.5 * jnp.cos(4 * jnp.pi * x + 0.2)
    du = 2 * jnp.pi * jnp.cos(2 * jnp.pi * x) - 2 * jnp.pi * jnp.sin(4 * jnp.pi * x + 0.2)
    return jnp.max(jnp.abs(K.advection(u, c, g, K.Periodic(), scheme=scheme) + c * du))


@pytest.mark.parametrize(
    "scheme, order, ns", [("weno5", 5, [64, 128, 256]), ("upwind", 1, [32, 64])]
)
@pytest.mark.parametrize("c", [1.0, -0.7])
def test_spatial_order_on_smooth_data(scheme, order, ns, c):
    errs = [float(_advection_error(K.Grid(n), scheme, c)) for n in ns]
    slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.5, (slope, errs)


@pytest.mark.parametrize("scheme", ["weno5", "upwind"])
def test_conservative_with_variable_velocity(scheme):
    g = K.Grid((12, 10))
    rng = np.random.default_rng(0)
    u = jnp.asarray(rng.standard_normal(g.shape))
    vel = jnp.asarray(rng.standard_normal((2, *g.shape)))
    tend = jax.jit(lambda u, v: K.advection(u, v, g, K.Periodic(), scheme=scheme))(u, vel)
    assert abs(float(jnp.sum(tend))) < 1e-12 * float(jnp.sum(jnp.abs(tend)))


@pytest.mark.parametrize("scheme, overshoot", [("upwind", 0.0), ("weno5", 1e-3)])
def test_step_stays_bounded(scheme, overshoot):
    """A square wave advected once around the box: no new extrema (upwind is monotone;
    WENO5 essentially non-oscillatory)."""
    g = K.Grid(100)
    (x,) = g.coordinates()
    u0 = jnp.where((x > 0.25) & (x < 0.5), 1.0, 0.0)
    model = K.AdvectionDiffusion(g, velocity=1.0, scheme=scheme)
    u = model.rollout(u0, dt=0.004, num_steps=250, save_every=250)[-1]
    assert float(u.max()) <= 1 + overshoot and float(u.min()) >= -overshoot
    np.testing.assert_allclose(jnp.sum(u), jnp.sum(u0), rtol=1e-12)


def test_burgers_flux_divergence_matches_u_ux():
    g = K.Grid(256, 2 * np.pi)
    (x,) = g.coordinates()
    u = 0.5 + 0.3 * jnp.sin(x)
    tend = jax.jit(
        lambda u: K.flux_divergence(
            u, g, K.Periodic(), lambda v, a: v**2 / 2, lambda v, a: jnp.abs(v)
        )
    )(u)
    np.testing.assert_allclose(tend, -u * 0.3 * jnp.cos(x), atol=1e-8)


def test_weno_reconstruction_exact_for_quadratics_at_linear_weights():
    # a smooth polynomial of degree 4: the WENO-Z weights reach the linear ones and the
    # reconstruction matches the cell-average interpolant to 5th order; for degree <= 2
    # every candidate stencil is exact.
    h = 0.1
    avg = lambda f, i: (f((i + 0.5) * h) - f((i - 0.5) * h)) / h  # f = antiderivative
    F = lambda x: x**3 / 3 + x**2 - x  # averages of x^2 + 2x - 1
    vals = [jnp.asarray(avg(F, i)) for i in (-2, -1, 0, 1, 2)]
    exact = (0.5 * h) ** 2 + 2 * 0.5 * h - 1
    np.testing.assert_allclose(K.weno5_reconstruct(*vals), exact, rtol=1e-12)


def test_advection_errors():
    g = K.Grid((8, 8))
    u = jnp.zeros((8, 8))
    with pytest.raises(ValueError, match="Unknown advection scheme 'weno3'"):
        K.advection(u, 1.0, g, K.Periodic(), scheme="weno3")
    with pytest.raises(ValueError, match=r"`velocity` must be a scalar, shape \(2,\)"):
        K.advection(u, jnp.ones(3), g, K.Periodic())
