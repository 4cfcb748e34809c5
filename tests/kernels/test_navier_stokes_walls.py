"""Wall-bounded 2D Navier--Stokes (vorticity--stream function, no-slip, Thom's formula)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
import scidiff.kernels as K
from scidiff.kernels.models.navier_stokes_walls import dst1

jax.config.update("jax_enable_x64", True)

rollout = eqx.filter_jit(
    lambda m, w0, dt, num_steps, save_every: m.rollout(w0, dt, num_steps, save_every=save_every)
)


def _grid(model):
    x, y = model.coordinates(jnp.float64)
    return jnp.meshgrid(x, y, indexing="ij")


def test_dst1_matches_definition_and_inverse():
    a = jnp.asarray(np.random.default_rng(0).normal(size=(7, 5)))
    n = 8
    j = np.arange(1, n)
    S = np.sin(np.pi * np.outer(j, j) / n)
    np.testing.assert_allclose(dst1(a, 0), S @ np.asarray(a), atol=1e-12)
    np.testing.assert_allclose(2 / n * dst1(dst1(a, 0), 0), a, atol=1e-12)


def test_poisson_exact_on_sine_mode_and_discrete_inverse():
    m = K.NavierStokesWalls2D((16, 24), extent=(1.0, 2.0))
    X, Y = _grid(m)
    mode = (jnp.sin(3 * jnp.pi * X) * jnp.sin(2 * jnp.pi * Y / 2.0))[1:-1, 1:-1]
    hx, hy = 1 / 16, 2 / 24
    lam = 4 / hx**2 * np.sin(3 * np.pi / 32) ** 2 + 4 / hy**2 * np.sin(2 * np.pi / 48) ** 2
    np.testing.assert_allclose(m.solve_poisson(lam * mode), mode, atol=1e-12)
    # -lap_h(psi) reproduces any right-hand side to round-off
    w = jnp.asarray(np.random.default_rng(1).normal(size=(15, 23)))
    p = jnp.pad(m.solve_poisson(w), 1)
    lap = (p[2:, 1:-1] - 2 * p[1:-1, 1:-1] + p[:-2, 1:-1]) / hx**2 + (
        p[1:-1, 2:] - 2 * p[1:-1, 1:-1] + p[1:-1, :-2]
    ) / hy**2
    np.testing.assert_allclose(-lap, w, atol=1e-10)


def test_poisson_second_order_convergence_manufactured():
    def psi_exact(x, y):
        return jnp.sin(jnp.pi * x) * y * (1 - y) * jnp.exp(y)

    def minus_lap(x, y):
        return -(
            jax.grad(jax.grad(psi_exact, 0), 0)(x, y) + jax.grad(jax.grad(psi_exact, 1), 1)(x, y)
        )

    f = jax.vmap(jax.vmap(minus_lap))
    errors = []
    for n in (16, 32, 64):
        m = K.NavierStokesWalls2D((n, n))
        X, Y = _grid(m)
        psi = m.solve_poisson(f(X, Y)[1:-1, 1:-1])
        errors.append(float(jnp.max(jnp.abs(psi - psi_exact(X, Y)[1:-1, 1:-1]))))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(rates - 2) < 0.1), (errors, rates)


def test_lid_driven_cavity_re100_against_ghia():
    m = K.NavierStokesWalls2D((32, 32), viscosity=0.01, lid_velocity=1.0)
    traj = rollout(m, jnp.zeros((31, 31)), 0.01, 3000, 500)
    # steady state reached: the last saved states agree
    assert float(jnp.max(jnp.abs(traj[-1] - traj[-2]))) < 1e-4
    _, psi, u, v = m.fields(traj[-1])
    # Ghia, Ghia & Shin (1982), Re = 100, u on the vertical centreline x = 0.5
    ghia = {2: -0.04192, 9: -0.15662, 16: -0.20581, 31: 0.78871}  # node j -> u(0.5, j/32)
    for j, ref in ghia.items():
        assert abs(float(u[16, j]) - ref) < 2e-2, (j, float(u[16, j]), ref)
    # primary vortex: psi_min = -0.1034 at (0.6172, 0.7344)
    i, j = np.unravel_index(np.argmin(psi), psi.shape)
    assert abs(i / 32 - 0.6172) < 0.04 and abs(j / 32 - 0.7344) < 0.04
    assert abs(float(psi.min()) + 0.1034) < 5e-3
    # walls: no-slip with the moving lid
    np.testing.assert_allclose(u[1:-1, -1], 1.0)
    np.testing.assert_allclose(u[0, 1:-1], 0.0)
    np.testing.assert_allclose(v[1:-1, 0], 0.0)


def test_stokes_decay_rate_first_mode():
    """Small amplitude (Stokes limit): the slowest mode decays at nu * 52.3446911 on the unit
    square (first clamped-plate buckling / Stokes eigenvalue)."""
    nu = 1.0
    m = K.NavierStokesWalls2D((32, 32), viscosity=nu)
    X, Y = _grid(m)
    c = 2 * jnp.pi**2
    om0 = -c * (
        jnp.cos(2 * jnp.pi * X) * jnp.sin(jnp.pi * Y) ** 2
        + jnp.sin(jnp.pi * X) ** 2 * jnp.cos(2 * jnp.pi * Y)
    )  # -lap of sin^2(pi x) sin^2(pi y), close to the first mode
    dt = 2e-4
    traj = rollout(m, 1e-3 * om0[1:-1, 1:-1], dt, 300, 100)
    a = [float(jnp.max(jnp.abs(m.solve_poisson(w)))) for w in traj]
    rate = -np.log(a[2] / a[1]) / (100 * dt)
    assert abs(rate / (nu * 52.3446911) - 1) < 1e-2, rate


def test_grad_wrt_viscosity_matches_finite_differences():

    def loss(nu):
        m = K.NavierStokesWalls2D((12, 12), viscosity=nu, lid_velocity=1.0)
        w = m.rollout(jnp.zeros((11, 11)), 0.01, 20, save_every=20, check_stability=False)[-1]
        return jnp.sum(w**2)

    g = jax.grad(loss)(0.05)
    eps = 1e-5
    fd = (loss(0.05 + eps) - loss(0.05 - eps)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-5)
    assert abs(float(g)) > 1e-3


def test_bad_input_raises():
    with pytest.raises(ValueError, match="2D shape"):
        K.NavierStokesWalls2D((32,))
    with pytest.raises(ValueError, match="integers >= 2"):
        K.NavierStokesWalls2D((1, 8))
    with pytest.raises(ValueError, match="viscosity"):
        K.NavierStokesWalls2D((8, 8), viscosity=-1.0)
    with pytest.raises(ValueError, match="not both"):
        K.NavierStokesWalls2D((8, 8), lid_velocity=1.0, wall_velocities=(0, 0, 0, 1))
    m = K.NavierStokesWalls2D((8, 8), lid_velocity=1.0)
    with pytest.raises(ValueError, match="interior vorticity"):
        m(0.0, jnp.zeros((9, 9)))
    with pytest.raises(ValueError, match="CFL"):
        m.rollout(jnp.zeros((7, 7)), 1.0, 2, save_every=1)


def test_rhs_for_solve_ivp_and_traced_dt_rollout():
    m = K.NavierStokesWalls2D((10, 12), extent=(1.0, 1.2), viscosity=0.05, lid_velocity=1.0)
    w0 = jnp.zeros((9, 11))
    sol = scidiff.solve_ivp(m, (0.0, 0.2), w0, rtol=1e-10, atol=1e-12)
    assert bool(sol.ok)
    step = jax.jit(lambda w, dt: m.rollout(w, dt, 40, save_every=40)[-1])
    np.testing.assert_allclose(step(w0, 0.005), sol.ys[-1], atol=1e-7)
    with pytest.raises(ValueError, match="extent"):
        K.NavierStokesWalls2D((8, 8), extent=(1.0, 0.0))


def test_forcing_and_wall_velocities():
    f = jnp.asarray(np.random.default_rng(2).normal(size=(7, 5)))
    m = K.NavierStokesWalls2D((8, 6), viscosity=0.1, forcing=f)
    np.testing.assert_allclose(m(0.0, jnp.zeros((7, 5))), f, atol=1e-14)
    with pytest.raises(ValueError, match="forcing"):
        K.NavierStokesWalls2D((8, 6), forcing=jnp.zeros((8, 6)))
    # a lid along +x on top equals, by the symmetry y -> Ly - y, a bottom wall along +x (psi, omega change sign)
    top = K.NavierStokesWalls2D((8, 6), viscosity=0.1, lid_velocity=1.0)
    bot = K.NavierStokesWalls2D((8, 6), viscosity=0.1, wall_velocities=(0.0, 0.0, 1.0, 0.0))
    w = jnp.asarray(np.random.default_rng(3).normal(size=(7, 5)))
    np.testing.assert_allclose(bot(0.0, -w[:, ::-1]), -top(0.0, w)[:, ::-1], atol=1e-10)
    # transposing x <-> y maps the top lid (+x) to the right wall moving along +y
    right = K.NavierStokesWalls2D((6, 8), viscosity=0.1, wall_velocities=(0.0, 1.0, 0.0, 0.0))
    np.testing.assert_allclose(right(0.0, -w.T), -top(0.0, w).T, atol=1e-10)
    left = K.NavierStokesWalls2D((6, 8), viscosity=0.1, wall_velocities=(1.0, 0.0, 0.0, 0.0))
    np.testing.assert_allclose(left(0.0, -w.T), -bot(0.0, w).T, atol=1e-10)
