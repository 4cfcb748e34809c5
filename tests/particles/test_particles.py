"""Particle kernels: forces vs finite differences, neighbour lists vs all pairs,
energy conservation and order of velocity Verlet, Kepler orbits, Langevin temperature."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff.kernels.particles as P


def lattice(n_side, dim, spacing, key, jitter=0.05):
    grid = jnp.stack(jnp.meshgrid(*[jnp.arange(n_side)] * dim, indexing="ij"), -1)
    R = (grid.reshape(-1, dim) + 0.5) * spacing
    return R + jitter * jax.random.normal(key, R.shape)


def test_lennard_jones_minimum_and_zero_distance():
    r_min = 2 ** (1 / 6) * 1.3
    assert jnp.isclose(P.lennard_jones(jnp.asarray(r_min), sigma=1.3, epsilon=0.7), -0.7)
    assert jnp.isclose(jax.grad(P.lennard_jones)(jnp.asarray(r_min), 1.3, 0.7), 0.0, atol=1e-12)
    assert P.lennard_jones(jnp.asarray(0.0)) == 0.0
    assert jax.grad(P.lennard_jones)(jnp.asarray(0.0)) == 0.0


def test_safe_norm_gradient_finite_at_zero():
    g = jax.grad(lambda x: P.safe_norm(x))(jnp.zeros(3))
    assert jnp.all(jnp.isfinite(g))


@pytest.mark.parametrize("dim", [2, 3])
def test_forces_match_finite_differences(dim):
    space = P.periodic_space(6.0)
    R = lattice(3, dim, 2.0, jax.random.PRNGKey(dim), jitter=0.2)
    energy = P.pair_energy(P.truncate(P.lennard_jones, 2.5), space.displacement)
    F = P.forces(energy)(R)
    eps = 1e-6
    for i, k in [(0, 0), (4, dim - 1)]:
        dR = jnp.zeros_like(R).at[i, k].set(eps)
        fd = -(energy(R + dR) - energy(R - dR)) / (2 * eps)
        assert jnp.isclose(F[i, k], fd, rtol=1e-6, atol=1e-8)
    assert jnp.allclose(jnp.sum(F, axis=0), 0.0, atol=1e-10)  # Newton's third law


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("dim", [2, 3])
def test_cell_list_energy_equals_all_pairs(periodic, dim):
    n_side = 7 if dim == 2 else 4
    box = n_side * 1.2
    space = P.periodic_space(box) if periodic else P.free_space()
    R = lattice(n_side, dim, 1.2, jax.random.PRNGKey(0), jitter=0.1)
    potential = P.truncate(P.lennard_jones, 2.0)
    energy = P.pair_energy(potential, space.displacement)
    fns = P.neighbor_list(space, box, 2.0, capacity=48, skin=0.2)
    nbrs = jax.jit(fns.build)(R)
    assert not nbrs.overflow
    assert jnp.isclose(energy(R, nbrs), energy(R), rtol=1e-12)
    brute = P.neighbor_list(space, box, 2.0, capacity=48, skin=0.2, method="all_pairs").build(R)
    # Same neighbour sets, in any slot order.
    assert np.array_equal(np.sort(np.asarray(nbrs.idx), 1), np.sort(np.asarray(brute.idx), 1))


def test_overflow_is_flagged_and_raised():
    space = P.periodic_space(6.0)
    R = lattice(5, 2, 1.2, jax.random.PRNGKey(1))
    nbrs = P.neighbor_list(space, 6.0, 2.0, capacity=2).build(R)
    assert nbrs.overflow
    with pytest.raises(Exception, match="neighbour list overflow"):
        jax.jit(P.raise_if_overflow)(nbrs).idx.block_until_ready()


def test_update_rebuilds_only_after_moving_half_the_skin():
    space = P.periodic_space(8.4)
    R = lattice(7, 2, 1.2, jax.random.PRNGKey(2))
    fns = P.neighbor_list(space, 8.4, 2.0, capacity=40, skin=0.4)
    nbrs = fns.build(R)
    small = fns.update(R + 0.1, nbrs)
    assert jnp.array_equal(small.reference, R)  # kept
    big = fns.update(R.at[0, 0].add(0.3), nbrs)
    assert not jnp.array_equal(big.reference, R)  # rebuilt


def _lj_system(potential=None):
    space = P.periodic_space(6.0)
    R = lattice(5, 2, 1.2, jax.random.PRNGKey(3), jitter=0.02)
    potential = potential or P.truncate(P.lennard_jones, 2.5)
    energy = P.pair_energy(potential, space.displacement)
    V = 0.3 * jax.random.normal(jax.random.PRNGKey(4), R.shape)
    return space, energy, R, V - V.mean(0)


# C2-smooth repulsion: the error order is not spoiled by force jumps at a cutoff.
_smooth = lambda r: P.soft_sphere(r, sigma=1.6, alpha=3.0)


@jax.jit
def _nve_energy_error(dt):
    space, energy, R, V = _lj_system(_smooth)
    init, step = P.velocity_verlet(P.forces(energy), space.shift, dt)
    state = init(R, V)
    e0 = energy(state.position) + P.kinetic_energy(state.velocity)
    n = jnp.round(0.5 / dt).astype(int)
    state = jax.lax.fori_loop(0, n, lambda i, s: step(s), state)
    return jnp.abs(energy(state.position) + P.kinetic_energy(state.velocity) - e0)


def test_velocity_verlet_conserves_energy_to_second_order():
    errs = np.array([float(_nve_energy_error(dt)) for dt in (4e-2, 2e-2, 1e-2)])
    assert errs[-1] < 1e-4
    slope = np.polyfit(np.log([4e-2, 2e-2, 1e-2]), np.log(errs), 1)[0]
    assert abs(slope - 2) < 0.4


def test_lennard_jones_fluid_energy_drift_is_small():
    space, energy, R, V = _lj_system()
    init, step = P.velocity_verlet(P.forces(energy), space.shift, 2e-3)
    state = init(R, V)
    e0 = energy(R) + P.kinetic_energy(V)
    state = jax.jit(lambda s: jax.lax.fori_loop(0, 250, lambda i, s: step(s), s))(state)
    e1 = energy(state.position) + P.kinetic_energy(state.velocity)
    assert jnp.abs(e1 - e0) < 1e-3 * jnp.abs(e0)


def test_kepler_orbit_with_nbody_gravity():
    space = P.free_space()
    energy = P.gravitational_energy(space.displacement)
    masses = jnp.array([1.0, 1e-3])
    R = jnp.array([[0.0, 0.0], [1.0, 0.0]])
    v = jnp.sqrt(1.001)  # circular orbit speed of the reduced problem
    V = jnp.array([[0.0, -1e-3 * v / 1.001], [0.0, v / 1.001]])
    init, step = P.velocity_verlet(lambda R: P.forces(energy)(R, masses), space.shift, 1e-3)
    state = init(R, V, mass=masses)
    period = 2 * jnp.pi / jnp.sqrt(1.001)
    n = int(period / 1e-3)
    state = jax.jit(lambda s: jax.lax.fori_loop(0, n, lambda i, s: step(s), s))(state)
    sep = state.position[1] - state.position[0]
    assert jnp.isclose(jnp.linalg.norm(sep), 1.0, atol=1e-4)  # stays circular
    assert jnp.linalg.norm(sep - jnp.array([1.0, 0.0])) < 2e-2  # back after one period


def test_langevin_reaches_the_bath_temperature():
    kT = 0.7
    space = P.free_space()
    force = lambda R: -2.0 * R  # harmonic wells, k = 2

    def run(key):
        init, step = P.langevin(force, space.shift, 0.05, kT, gamma=1.0)
        state = init(key, jnp.zeros((256, 2)))
        state = jax.lax.fori_loop(0, 400, lambda i, s: step(s), state)
        return P.kinetic_energy(state.velocity) / (256 * 2 / 2), jnp.mean(state.position**2)

    temps, x2 = jax.jit(jax.vmap(run))(jax.random.split(jax.random.PRNGKey(0), 4))
    assert jnp.isclose(jnp.mean(temps), kT, rtol=0.05)
    assert jnp.isclose(jnp.mean(x2), kT / 2.0, rtol=0.06)  # <x^2> = kT / k


def test_gradient_through_rollout_wrt_epsilon():
    space, _, R, V = _lj_system()

    def final_energy(eps):
        energy = P.pair_energy(P.truncate(P.lennard_jones, 2.5), space.displacement)
        init, step = P.velocity_verlet(
            lambda R: P.forces(energy)(R, epsilon=eps), space.shift, 2e-3
        )
        state = jax.lax.fori_loop(0, 20, lambda i, s: step(s), init(R, V))
        return P.kinetic_energy(state.velocity)

    g = jax.jit(jax.grad(final_energy))(1.0)
    fd = (final_energy(1.0 + 1e-5) - final_energy(1.0 - 1e-5)) / 2e-5
    assert jnp.isclose(g, fd, rtol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="side lengths must be positive"):
        P.periodic_space(-1.0)
    space = P.periodic_space(4.0)
    with pytest.raises(ValueError, match="exceeds half the smallest box side"):
        P.neighbor_list(space, 4.0, 2.5, capacity=8)
    with pytest.raises(ValueError, match="`capacity` must be at least 1"):
        P.neighbor_list(space, 4.0, 1.0, capacity=0)
    with pytest.raises(ValueError, match="unknown neighbour-list method 'kd'"):
        P.neighbor_list(space, 4.0, 1.0, capacity=4, method="kd")
    init, _ = P.velocity_verlet(lambda R: R, space.shift, 0.1)
    with pytest.raises(ValueError, match="differ in shape"):
        init(jnp.zeros((3, 2)), jnp.zeros((3, 3)))
