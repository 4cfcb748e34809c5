"""Neighbour lists under hostile input (issue 18): positions outside the periodic box,
inconsistent list parameters, and capacities sized from a configuration (allocate)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff.kernels.particles as P

BOX = 12.0
CUTOFF = 2.0
POTENTIAL = P.truncate(P.lennard_jones, CUTOFF)


def _configuration(key=0, n_side=6, dim=2):
    grid = jnp.stack(jnp.meshgrid(*[jnp.arange(n_side)] * dim, indexing="ij"), -1)
    R = (grid.reshape(-1, dim) + 0.5) * (BOX / n_side)
    return R + 0.1 * jax.random.normal(jax.random.PRNGKey(key), R.shape)


SPACE = P.periodic_space(BOX)
ENERGY = jax.jit(P.pair_energy(POTENTIAL, SPACE.displacement))
BUILD = jax.jit(P.neighbor_list(SPACE, BOX, CUTOFF, capacity=24, skin=0.3).build)  # shared


@pytest.mark.parametrize(
    "move",
    [
        lambda R: R + 10.0,  # translated: part of it beyond L (x = L + ... )
        lambda R: R - 10.0,  # translated: part of it below 0 (x = -10 + ...)
        lambda R: R.at[:6, 0].add(BOX),  # one column one period out
        lambda R: R.at[12:18, 0].add(-3 * BOX),  # the column at x ~ 5 moved to x ~ -31
    ],
)
def test_positions_outside_the_periodic_box_keep_every_pair(move):
    R_out = move(_configuration())
    assert not jnp.all((R_out >= 0) & (R_out < BOX))
    reference = ENERGY(R_out)  # all pairs with minimum images: the ground truth
    assert jnp.isclose(reference, ENERGY(_configuration()), rtol=1e-12)  # same physics
    nbrs = BUILD(R_out)
    assert not bool(nbrs.overflow)
    assert jnp.isclose(ENERGY(R_out, nbrs), reference, rtol=1e-12)


def test_partners_of_particles_given_outside_the_box():
    # x = L + 5 and x = -7 are the images x = 5 of particles next to x = 6.15 and 3.85;
    # binning them by clipping (last / first cell) lost both pairs.
    R = jnp.array([[BOX + 5.0, 3.0], [6.15, 3.0], [-7.0, 9.0], [3.85, 9.0], [1.0, 6.0]])
    reference = ENERGY(R)
    assert reference < -0.1  # two bound pairs
    nbrs = BUILD(R)
    assert not bool(nbrs.overflow)
    assert jnp.isclose(ENERGY(R, nbrs), reference, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(cutoff=2.0, skin=-0.1), r"`skin` must be finite and >= 0, got -0.1"),
        (dict(cutoff=2.0, skin=float("nan")), r"`skin` must be finite and >= 0, got nan"),
        (dict(cutoff=float("nan")), r"`cutoff` must be finite and > 0, got nan"),
        (dict(cutoff=-1.0), r"`cutoff` must be finite and > 0, got -1.0"),
        (dict(cutoff=0.0), r"`cutoff` must be finite and > 0, got 0.0"),
        (dict(cutoff=2.0, box=2 * BOX), r"box .* must equal the periodic space's box"),
        (dict(cutoff=2.0, box=0.5 * BOX), r"box .* must equal the periodic space's box"),
        (
            dict(cutoff=2.0, capacity=2.5),
            r"`capacity` must be at least 1 \(a positive integer\), got 2.5",
        ),
        (
            dict(cutoff=2.0, cell_capacity=0),
            r"`cell_capacity` must be at least 1 \(a positive integer\), got 0",
        ),
    ],
)
def test_inconsistent_list_parameters_are_refused(kwargs, match):
    args = dict(box=BOX, capacity=8, skin=0.3) | kwargs
    box = args.pop("box")
    cutoff = args.pop("cutoff")
    with pytest.raises(ValueError, match=match):
        P.neighbor_list(SPACE, box, cutoff, **args)


def test_free_space_box_must_be_finite_and_positive():
    with pytest.raises(ValueError, match=r"`box` sides must be finite and > 0"):
        P.neighbor_list(P.free_space(), float("inf"), 1.0, capacity=4)


def test_overflow_names_the_capacity_and_the_needed_size():
    R = _configuration(1)
    nbrs = P.neighbor_list(SPACE, BOX, CUTOFF, capacity=2, skin=0.3).build(R)
    assert bool(nbrs.overflow)
    needed = int(nbrs.needed_capacity)
    counts = np.sum(
        np.asarray(P.neighbor_list(SPACE, BOX, CUTOFF, capacity=64).build(R).idx) < R.shape[0],
        axis=1,
    )
    assert needed == counts.max() > 2
    with pytest.raises(ValueError, match=rf"`capacity`=2 .* needs at least {needed}"):
        P.raise_if_overflow(nbrs)
    with pytest.raises(Exception, match=r"`capacity`=2 .*needed_capacity"):
        jax.jit(P.raise_if_overflow)(nbrs).idx.block_until_ready()


def test_cell_overflow_names_cell_capacity_and_the_needed_size():
    R = _configuration(2)
    R = R.at[:12].set(jnp.linspace(0.1, 1.0, 24).reshape(12, 2))  # crowd one cell
    nbrs = P.neighbor_list(SPACE, BOX, CUTOFF, capacity=64, skin=0.3, cell_capacity=3).build(R)
    assert bool(nbrs.overflow)
    needed = int(nbrs.needed_cell_capacity)
    assert needed >= 12
    with pytest.raises(ValueError, match=rf"`cell_capacity`=3 .* needs at least {needed}"):
        P.raise_if_overflow(nbrs)


@pytest.mark.parametrize("periodic", [True, False])
def test_allocate_sizes_capacities_from_the_configuration(periodic):
    R = _configuration(3)
    space = SPACE if periodic else P.free_space()
    energy = P.pair_energy(POTENTIAL, space.displacement)
    fns, nbrs = P.allocate_neighbor_list(space, BOX, CUTOFF, R, skin=0.3, safety=1.5)
    assert not bool(nbrs.overflow)
    assert jnp.isclose(energy(R, nbrs), energy(R), rtol=1e-12)
    capacity = nbrs.idx.shape[1]
    assert capacity == int(np.ceil(1.5 * int(nbrs.needed_capacity)))
    # The returned builder keeps the sized capacities for later rebuilds.
    again = jax.jit(fns.build)(R + 0.05)
    assert again.idx.shape == nbrs.idx.shape and not bool(again.overflow)


def test_allocate_refuses_a_safety_factor_below_one():
    with pytest.raises(ValueError, match=r"`safety` must be >= 1"):
        P.allocate_neighbor_list(SPACE, BOX, CUTOFF, _configuration(), safety=0.5)
