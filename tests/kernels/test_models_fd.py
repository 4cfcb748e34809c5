"""Finite-difference PDE models against analytic solutions and independent references."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special

import scidiff
import scidiff.kernels as K

rollout = eqx.filter_jit(
    lambda m, u0, dt, num_steps, save_every=1: m.rollout(u0, dt, num_steps, save_every=save_every)
)


def _discrete_decay(k, h, kappa):
    """Eigenvalue of kappa * (order-2 Laplacian) on the mode of wavenumber k."""
    return -kappa * 4 / h**2 * np.sin(k * h / 2) ** 2


@pytest.mark.parametrize(
    "bcs, mode",
    [
        (K.Periodic(), lambda x: jnp.sin(2 * np.pi * x)),  # k = 2 pi
        (K.Dirichlet(0.0), lambda x: jnp.sin(np.pi * x)),  # k = pi, zero on the walls
        (K.Neumann(0.0), lambda x: jnp.cos(np.pi * x)),  # k = pi, zero flux
    ],
)
def test_heat_mode_decay(bcs, mode):
    """A Fourier mode decays as exp(-kappa k^2 t): the discrete mode exactly at the
    semi-discrete rate (checks the BC closure), and the continuous rate to O(h^2)."""
    g = K.Grid(32)
    (x,) = g.coordinates()
    u0 = mode(x)
    k = 2 * np.pi if isinstance(bcs, K.Periodic) else np.pi
    kappa, T, n = 0.1, 0.2, 100
    u = rollout(K.Heat(g, kappa, bcs), u0, T / n, n, n)[-1]
    semi = float(np.exp(_discrete_decay(k, g.spacing[0], kappa) * T))
    np.testing.assert_allclose(u, u0 * semi, atol=1e-9)
    # continuous rate: relative error kappa k^2 T (k h)^2 / 12 ~ 3e-3 for k = 2 pi
    np.testing.assert_allclose(u, u0 * np.exp(-kappa * k**2 * T), atol=3e-3)


def test_heat_dirichlet_values_reach_linear_steady_state():
    g = K.Grid(16)
    (x,) = g.coordinates()
    model = K.Heat(g, 1.0, ((K.Dirichlet(1.0), K.Dirichlet(3.0)),))
    u = rollout(model, jnp.zeros(16), 2e-3, 1000, 1000)[-1]  # t = 2: e^{-pi^2 t} ~ 3e-9
    np.testing.assert_allclose(u, 1 + 2 * x, atol=1e-7)


def test_heat_neumann_flux_and_mass_balance():
    """Zero flux conserves mass exactly; a flux q on the right wall adds q per unit time."""
    g = K.Grid((12, 10), (1.0, 2.0))
    u0 = K.gaussian_bump(g, (0.4, 1.0), 0.2)
    traj = rollout(K.Heat(g, 0.05, K.Neumann(0.0), order=4), u0, 1e-3, 200, 50)
    np.testing.assert_allclose(g.integrate(traj), g.integrate(u0), rtol=1e-12)
    q = 0.3
    model = K.Heat(g, 0.05, ((K.Neumann(), K.Neumann(q)), K.Neumann()))
    u1 = rollout(model, u0, 1e-3, 200, 200)[-1]
    # d/dt int u = kappa * (flux through the right wall) * its length (2.0)
    np.testing.assert_allclose(g.integrate(u1) - g.integrate(u0), 0.05 * q * 2.0 * 0.2, rtol=1e-10)


def test_heat_temporal_order_rk4():
    """Against the semi-discrete exact solution, the time error of RK4 falls as dt^4."""
    g = K.Grid(16)
    (x,) = g.coordinates()
    u0 = jnp.sin(2 * np.pi * x)
    exact = u0 * np.exp(_discrete_decay(2 * np.pi, g.spacing[0], 1.0) * 0.1)
    errs, ns = [], [50, 100, 200]  # dt below the CFL limit 2.45e-3
    for n in ns:
        u = rollout(K.Heat(g, 1.0), u0, 0.1 / n, n, n)[-1]
        errs.append(float(jnp.max(jnp.abs(u - exact))))
    slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert abs(slope - 4) < 0.3, (slope, errs)


def test_heat_with_solve_ivp_and_adaptive_solver():
    g = K.Grid(32)
    (x,) = g.coordinates()
    u0 = jnp.sin(np.pi * x)
    model = K.Heat(g, 0.1, K.Dirichlet(0.0))
    sol = scidiff.solve_ivp(
        model, (0.0, 0.5), u0, t_eval=jnp.array([0.25, 0.5]), rtol=1e-9, atol=1e-12
    )
    assert bool(sol.ok)
    lam = _discrete_decay(np.pi, g.spacing[0], 0.1)
    np.testing.assert_allclose(
        sol.ys, u0[None] * np.exp(lam * np.array([0.25, 0.5]))[:, None], atol=1e-8
    )


def test_advection_of_a_mode():
    """sin(2 pi (x - c t)) e^{-kappa (2 pi)^2 t} with WENO5 + RK4."""
    g = K.Grid(64)
    (x,) = g.coordinates()
    c, kappa, T = 0.8, 0.01, 0.5
    model = K.AdvectionDiffusion(g, velocity=c, diffusivity=kappa)
    u = rollout(model, jnp.sin(2 * np.pi * x), T / 250, 250, 250)[-1]
    exact = jnp.sin(2 * np.pi * (x - c * T)) * np.exp(-kappa * (2 * np.pi) ** 2 * T)
    np.testing.assert_allclose(u, exact, atol=5e-4)
    np.testing.assert_allclose(jnp.sum(u), 0.0, atol=1e-12)  # mass of a mode is zero


def test_wave_standing_mode_and_energy():
    g = K.Grid(64)
    (x,) = g.coordinates()
    u0 = jnp.sin(2 * np.pi * x)
    model = K.Wave(g, wave_speed=1.5, bcs=K.Dirichlet(0.0))
    T, n = 0.4, 400
    u, v = rollout(model, (u0, jnp.zeros_like(u0)), T / n, n, n // 4)
    omega = 1.5 * np.sqrt(-_discrete_decay(2 * np.pi, g.spacing[0], 1.0))  # discrete
    np.testing.assert_allclose(u[-1], u0 * np.cos(omega * T), atol=1e-8)
    energies = jax.vmap(lambda a, b: model.energy((a, b)))(u, v)
    e0 = model.energy((u0, jnp.zeros_like(u0)))
    np.testing.assert_allclose(energies, e0, rtol=1e-8)
    # and the discrete energy approximates 1/2 int c^2 |u_x|^2 = c^2 (2 pi)^2 / 4
    np.testing.assert_allclose(e0, 1.5**2 * (2 * np.pi) ** 2 / 4, rtol=2e-3)


def _cole_hopf(x, t, nu, nmax=60):
    """Burgers u_t + u u_x = nu u_xx, u(x,0) = sin x on [0, 2pi): u = -2 nu phi_x / phi,
    phi = I_0(a) + 2 sum_n (-1)^n ... with a = 1/(2 nu) (series of exp(cos x / (2 nu)))."""
    a = 1 / (2 * nu)
    n = np.arange(1, nmax)[:, None]
    In = scipy.special.ive(n, a)  # exponentially scaled: the common factor cancels
    decay = np.exp(-nu * n**2 * t)
    phi = scipy.special.ive(0, a) + 2 * np.sum(In * decay * np.cos(n * x), 0)
    phi_x = -2 * np.sum(n * In * decay * np.sin(n * x), 0)
    return -2 * nu * phi_x / phi


@pytest.mark.parametrize("scheme, tol", [("weno5", 1e-3), ("upwind", 5e-2)])
def test_burgers_against_cole_hopf(scheme, tol):
    g = K.Grid(128, 2 * np.pi)
    (x,) = g.coordinates()
    nu, T, n = 0.1, 0.5, 100
    u = rollout(K.Burgers(g, nu, scheme=scheme), jnp.sin(x), T / n, n, n)[-1]
    exact = _cole_hopf(np.asarray(x), T, nu)
    # the phi series uses cos(x) = cos(x), i.e. phi0 = exp(cos x / (2 nu)) -> u0 = sin x
    np.testing.assert_allclose(_cole_hopf(np.asarray(x), 0.0, nu), np.sin(x), atol=1e-10)
    np.testing.assert_allclose(u, exact, atol=tol)


def test_gray_scott_uniform_state_matches_reaction_ode():
    g = K.Grid((8, 8), 2.5)
    model = K.GrayScott(g, feed=0.035, kill=0.065)
    state = (jnp.full(g.shape, 0.5), jnp.full(g.shape, 0.25))
    u, v = rollout(model, state, 0.5, 40, 40)

    def rhs(t, y):
        uu, vv = y
        return [-uu * vv**2 + 0.035 * (1 - uu), uu * vv**2 - (0.035 + 0.065) * vv]

    ref = scipy.integrate.solve_ivp(rhs, (0, 20), [0.5, 0.25], rtol=1e-12, atol=1e-12).y[:, -1]
    np.testing.assert_allclose([u[-1, 0, 0], v[-1, 0, 0]], ref, rtol=1e-8)
    np.testing.assert_allclose(u[-1], u[-1, 0, 0])  # stays uniform


def test_gray_scott_pattern_grows_from_seed():
    g = K.Grid((32, 32), 2.5)
    model = K.GrayScott(g)
    seed = 0.25 * K.gaussian_bump(g, (1.25, 1.25), 0.1)
    u, v = rollout(model, (1 - 2 * seed, seed), 1.0, 200, 200)
    assert bool(jnp.all(jnp.isfinite(u))) and float(v.max()) > 0.1  # the spot survives


def test_shallow_water_lake_at_rest_mass_and_symmetry():
    g = K.Grid((24, 24))
    model = K.ShallowWater(g, gravity=1.0, bcs=K.Neumann())
    flat = jnp.stack([jnp.ones(g.shape), jnp.zeros(g.shape), jnp.zeros(g.shape)])
    rhs = eqx.filter_jit(lambda m, U: m(0.0, U))
    np.testing.assert_allclose(rhs(model, flat), 0.0, atol=1e-13)
    h0 = 1 + 0.1 * K.gaussian_bump(g, (0.5, 0.5), 0.1)
    U0 = flat.at[0].set(h0)
    traj = rollout(model, U0, 4e-3, 50, 25)
    np.testing.assert_allclose(g.integrate(traj[:, 0]), g.integrate(h0), rtol=1e-12)
    hT = traj[-1, 0]
    np.testing.assert_allclose(hT, hT[::-1], atol=1e-12)  # mirror symmetry of the bump
    np.testing.assert_allclose(hT, hT.T, atol=1e-12)
    np.testing.assert_allclose(traj[-1, 1], traj[-1, 2].T, atol=1e-12)
    assert float(jnp.max(jnp.abs(hT - h0))) > 1e-3  # it did move


def test_shallow_water_linear_gravity_wave_speed():
    """A small periodic height mode oscillates at the linear frequency k sqrt(g H)."""
    g = K.Grid((64, 4))
    X, _ = g.meshgrid()
    H, eps, grav = 1.0, 1e-4, 2.0
    U0 = jnp.stack([H + eps * jnp.cos(2 * np.pi * X), jnp.zeros(g.shape), jnp.zeros(g.shape)])
    omega = 2 * np.pi * np.sqrt(grav * H)
    T = 0.25 * 2 * np.pi / omega  # quarter period: the height perturbation vanishes
    model = K.ShallowWater(g, gravity=grav)
    hT = rollout(model, U0, T / 100, 100, 100)[-1, 0]
    assert float(jnp.max(jnp.abs(hT - H))) < 0.03 * eps


def test_heat_on_vertex_grid_holds_dirichlet_nodes():
    """Vertex grids carry the wall values as nodes: they stay put, the interior relaxes
    to the linear profile, and the mode sin(pi x) decays at the semi-discrete rate."""
    g = K.Grid(17, 1.0, centring="vertex")
    (x,) = g.coordinates()
    model = K.Heat(g, 1.0, ((K.Dirichlet(1.0), K.Neumann(2.0)),))
    u0 = jnp.ones(17)  # holds the value 1 at x = 0
    u = rollout(model, u0, 2e-3, 4000, 4000)[-1]  # t = 8: slowest mode e^{-pi^2 t / 4} ~ 3e-9
    assert float(u[0]) == 1.0
    np.testing.assert_allclose(u, 1 + 2 * x, atol=1e-6)
    s0 = jnp.sin(np.pi * x)
    us = rollout(K.Heat(g, 0.5, K.Dirichlet(0.0)), s0, 1e-3, 100, 100)[-1]
    decay = np.exp(_discrete_decay(np.pi, g.spacing[0], 0.5) * 0.1)
    np.testing.assert_allclose(us, s0 * decay, atol=1e-9)


def test_wave_with_solve_ivp_pytree_state():
    g = K.Grid(32)
    (x,) = g.coordinates()
    u0 = jnp.sin(2 * np.pi * x)
    model = K.Wave(g, 1.0, K.Neumann())  # sin(2 pi x) is not even at the walls: still fine
    sol = scidiff.solve_ivp(model, (0.0, 0.3), (u0, jnp.zeros_like(u0)), rtol=1e-10, atol=1e-12)
    assert bool(sol.ok)
    e0 = model.energy((u0, jnp.zeros_like(u0)))
    np.testing.assert_allclose(model.energy((sol.ys[0][-1], sol.ys[1][-1])), e0, rtol=1e-7)


@pytest.mark.parametrize("scheme", ["weno5", "upwind"])
def test_burgers_shock_is_captured_without_oscillations(scheme):
    """Nearly inviscid Burgers past the shock time t = 1: the total variation does not
    grow (no spurious oscillations) and the shock sits at x = pi by symmetry."""
    g = K.Grid(128, 2 * np.pi)
    (x,) = g.coordinates()
    u0 = jnp.sin(x)
    u = rollout(K.Burgers(g, 1e-4, scheme=scheme), u0, 0.02, 75, 75)[-1]  # t = 1.5
    tv = lambda w: float(jnp.sum(jnp.abs(jnp.diff(jnp.concatenate([w, w[:1]])))))
    assert tv(u) <= tv(u0) * (1 + 1e-3)
    assert float(jnp.max(jnp.abs(u))) <= 1.0 + 1e-3
    jump = int(jnp.argmin(jnp.diff(u)))  # the steepest descent is the shock
    assert abs(float(x[jump]) + g.spacing[0] / 2 - np.pi) <= g.spacing[0]
