"""Model API contract: gradients through rollouts, vmap, no recompiles, CFL, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import scidiff.kernels as K

G = K.Grid(16)
X = G.coordinates()[0]
U0 = jnp.sin(2 * np.pi * X) + 0.3 * jnp.cos(4 * np.pi * X)


@jax.jit
def _loss_heat(kappa, u0, wall=0.5):
    model = K.Heat(G, kappa, ((K.Dirichlet(wall), K.Neumann(0.2)),))
    traj = model.rollout(u0, 1e-3, 20, save_every=5)
    return jnp.sum(traj[-1] ** 2) + jnp.sum(traj[0] * X)


def test_grad_through_rollout_matches_finite_differences():
    check_grads(lambda k: _loss_heat(k, U0), (0.3,), order=1, modes=("rev",), eps=1e-6)
    check_grads(lambda u: _loss_heat(0.3, u), (U0,), order=1, modes=("rev",), eps=1e-6)
    check_grads(lambda w: _loss_heat(0.3, U0, w), (0.5,), order=1, modes=("rev", "fwd"))


def test_grad_through_burgers_weno_rollout():
    g = K.Grid(32, 2 * np.pi)
    (x,) = g.coordinates()

    @jax.jit
    def loss(nu, amp):
        traj = K.Burgers(g, nu).rollout(amp * jnp.sin(x), 0.02, 10, save_every=10)
        return jnp.sum(traj[-1] ** 2 * jnp.cos(x))

    check_grads(loss, (0.1, 0.8), order=1, modes=("rev",), eps=1e-6, rtol=1e-4)


def test_checkpointed_and_plain_rollouts_agree():
    model = K.Heat(G, 0.3)
    g1 = jax.grad(lambda u: jnp.sum(model.rollout(u, 1e-3, 20, save_every=5) ** 2))(U0)
    g2 = jax.grad(
        lambda u: jnp.sum(model.rollout(u, 1e-3, 20, save_every=5, checkpoint=False) ** 2)
    )(U0)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)


def test_vmap_over_parameters_and_initial_conditions():
    kappas = jnp.array([0.05, 0.1, 0.2])
    u0s = jnp.stack([U0, 2 * U0, -U0])
    run = jax.jit(jax.vmap(lambda k, u: K.Heat(G, k).rollout(u, 1e-3, 50, save_every=50)[-1]))
    batched = run(kappas, u0s)
    for i in range(3):
        single = K.Heat(G, kappas[i]).rollout(u0s[i], 1e-3, 50, save_every=50)[-1]
        np.testing.assert_allclose(batched[i], single, rtol=1e-12)


def test_swept_values_do_not_recompile():
    traces = []

    @eqx.filter_jit
    def run(model, u0, dt):
        traces.append(1)
        return model.rollout(u0, dt, 10)[-1]

    for kappa, dt, wall in [(0.1, 1e-3, 0.0), (0.2, 5e-4, 1.0), (0.05, 2e-4, -2.0)]:
        # plain Python floats: models store them as arrays, so they are traced
        model = K.Heat(G, kappa, K.Dirichlet(wall))
        run(model, U0 * kappa, jnp.asarray(dt))
    assert len(traces) == 1


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_dtype_follows_state(dtype):
    g = K.Grid((8, 8))
    u0 = jnp.ones(g.shape, dtype)
    for model, state in [
        (K.Heat(g, 0.1, K.Neumann(0.5)), u0),
        (K.Burgers(g, 0.1), u0),
        (K.AdvectionDiffusion(g, (1.0, 0.5), 0.01), u0),
        (K.Wave(g), (u0, u0)),
        (K.GrayScott(g), (u0, u0)),
        (K.ShallowWater(g, 1.0), jnp.stack([u0, 0 * u0, 0 * u0])),
    ]:
        out = jax.tree_util.tree_leaves(eqx.filter_jit(lambda m, s: m(0.0, s))(model, state))
        assert all(o.dtype == dtype for o in out), type(model).__name__


def test_cfl_violation_is_reported():
    model = K.Heat(G, 1.0)
    limit = float(model.max_stable_dt(U0))
    np.testing.assert_allclose(limit, 0.9 * 2.7853 / (4 * 16**2), rtol=1e-12)
    with pytest.raises(ValueError, match=r"Unstable Heat step: dt=0.01 exceeds the CFL limit"):
        model.rollout(U0, 0.01, 10)
    with pytest.raises(Exception, match="unstable Heat step"):
        jax.block_until_ready(jax.jit(lambda dt: model.rollout(U0, dt, 10))(0.01))
    # just below the limit runs; opting out of the check is possible
    model.rollout(U0, 0.99 * limit, 2)
    model.rollout(U0, 0.01, 1, check_stability=False)
    # Burgers: the limit follows the state's amplitude
    b = K.Burgers(K.Grid(64, 2 * np.pi), 1e-3)
    with pytest.raises(ValueError, match="Unstable Burgers step"):
        b.rollout(10.0 * jnp.sin(b.grid.coordinates()[0]), 0.05, 2)


def test_stable_dt_formula_and_errors():
    g = K.Grid((32, 64), (1.0, 2.0))
    inv_h2 = 2 * 32.0**2
    np.testing.assert_allclose(
        K.stable_dt(g, diffusivity=0.5, integrator="euler", safety=1.0), 2 / (0.5 * 4 * inv_h2)
    )
    np.testing.assert_allclose(
        K.stable_dt(g, velocity=(1.0, 2.0), integrator="rk3", safety=1.0),
        2.5127 / (2 * 32 + 2 * 2 * 32),
    )
    assert float(K.stable_dt(g, wave_speed=1.0, integrator="euler")) == 0.0
    with pytest.raises(ValueError, match="Unknown integrator 'rk5'"):
        K.stable_dt(g, integrator="rk5")
    with pytest.raises(ValueError, match="`order` must be 2 or 4"):
        K.stable_dt(g, order=6)
    with pytest.raises(ValueError, match="Unstable explicit step"):
        K.check_cfl(1.0, 0.5)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: K.Heat(G, 1.0, order=3), "Heat: `order` must be 2 or 4"),
        (lambda: K.Burgers(G, 1.0, scheme="eno"), "Unknown advection scheme 'eno'"),
        (lambda: K.AdvectionDiffusion(G, jnp.ones(3)), "`velocity` must be a scalar"),
        (lambda: K.ShallowWater(G), "ShallowWater needs a 2D grid"),
        (lambda: K.ShallowWater(K.Grid((4, 4)), bcs=K.Dirichlet(1.0)), "Periodic\\(\\) or Neumann"),
        (lambda: K.Wave(G, 1.0, bcs="robin"), "Unknown boundary condition 'robin'"),
        (lambda: K.Wave(G, 1.0, order=6), "Wave: `order` must be 2 or 4"),
        (lambda: K.Burgers(G, 1.0, order=6), "Burgers: `order` must be 2 or 4"),
        (lambda: K.GrayScott(G, order=6), "GrayScott: `order` must be 2 or 4"),
        (lambda: K.AdvectionDiffusion(G, order=6), "AdvectionDiffusion: `order` must be 2"),
        (lambda: K.taylor_green_vortex(G), "Taylor-Green vortex needs a 2D grid"),
    ],
)
def test_model_construction_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_model_state_errors():
    with pytest.raises(TypeError, match="Heat: `grid` must be a scidiff.kernels.Grid"):
        K.Heat((16,), 1.0)
    with pytest.raises(ValueError, match=r"Heat: `u` has shape \(17,\) but the model's grid"):
        K.Heat(G, 1.0)(0.0, jnp.zeros(17))
    with pytest.raises(ValueError, match=r"Wave: the state must be a pair"):
        K.Wave(G)(0.0, jnp.zeros(16))
    with pytest.raises(ValueError, match=r"GrayScott: the state must be a pair"):
        K.GrayScott(G)(0.0, [jnp.zeros(16)] * 3)
    with pytest.raises(ValueError, match=r"ShallowWater: `U` has shape \(4, 4\)"):
        K.ShallowWater(K.Grid((4, 4)))(0.0, jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match="positive multiple of `save_every`"):
        K.Heat(G, 1.0).rollout(U0, 1e-3, 10, save_every=3)
