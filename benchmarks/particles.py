"""Lennard-Jones with neighbour lists: scidiff.kernels.particles vs jax-md, same work.

Cases (periodic box, density 0.8, truncated-and-shifted LJ with r_c = 2.5, float32):
neighbour-list build, energy + forces from the list, and one velocity-Verlet step. jax-md
runs the same potential through its generic ``pair_neighbor_list`` with Dense lists, so
both evaluate the same pairs; the energies are compared (``extra.energy_rel_diff``).

    python benchmarks/particles.py [--quick] [--json PATH]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from _common import Record, finish, make_parser, time_call

import scidiff.kernels.particles as P

CUTOFF, SKIN = 2.5, 0.3


def configuration(n_side: int, dim: int):
    spacing = (1 / 0.8) ** (1 / dim)
    box = n_side * spacing
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * dim, indexing="ij"), -1).reshape(-1, dim)
    rng = np.random.default_rng(0)
    R = (grid + 0.5) * spacing + 0.05 * rng.standard_normal(grid.shape)
    return jnp.asarray(np.mod(R, box), jnp.float32), float(box)


def lj(r):
    return P.truncate(P.lennard_jones, CUTOFF)(r)


def fitted_capacity(R, box, dim):
    """Like jax-md's allocate: 1.25 x the largest neighbour count of this configuration."""
    space = P.periodic_space(box)
    nbrs = P.neighbor_list(space, box, CUTOFF, capacity=4 * 16**dim // 10, skin=SKIN).build(R)
    return int(np.ceil(1.25 * int(jnp.max(jnp.sum(nbrs.idx < R.shape[0], axis=1)))))


def bench_scidiff(R, box, capacity):
    space = P.periodic_space(box)
    fns = P.neighbor_list(space, box, CUTOFF, capacity=capacity, skin=SKIN)
    energy = P.pair_energy(lj, space.displacement)
    build = jax.jit(fns.build)
    nbrs = jax.jit(lambda R: fns.build(R))(R)  # separate compile: `build`'s stays timed
    assert not bool(nbrs.overflow), "capacity too small"
    e_and_f = jax.jit(jax.value_and_grad(energy))
    init, step = P.velocity_verlet(lambda R: -jax.grad(energy)(R, nbrs), space.shift, 1e-3)
    state = init(R, jnp.zeros_like(R))
    step = jax.jit(step)
    return {
        "build": lambda: build(R),
        "energy+forces": lambda: e_and_f(R, nbrs),
        "verlet step": lambda: step(state),
    }, float(energy(R, nbrs))


def bench_jax_md(R, box):
    from jax_md import partition, simulate, smap, space

    disp, shift = space.periodic(box)
    nb_fn = partition.neighbor_list(
        disp, box, CUTOFF + SKIN, dr_threshold=SKIN, format=partition.NeighborListFormat.Dense
    )
    metric = space.metric(disp)
    energy = smap.pair_neighbor_list(lj, metric)
    nbrs = nb_fn.allocate(R)
    # Every particle moved by more than half the skin: update() must rebuild each call.
    moved = jnp.mod(R + 0.6 * SKIN, box)
    build = jax.jit(lambda R: nb_fn.update(moved, nbrs))
    e_and_f = jax.jit(jax.value_and_grad(energy))
    init, apply = simulate.nve(lambda R, **kw: energy(R, nbrs), shift, 1e-3)
    state = init(jax.random.PRNGKey(0), R, kT=0.0)
    apply = jax.jit(apply)
    return {
        "build": lambda: build(R),
        "energy+forces": lambda: e_and_f(R, nbrs),
        "verlet step": lambda: apply(state),
    }, float(energy(R, nbrs))


def main():
    args = make_parser(__doc__.splitlines()[0]).parse_args()
    sizes = [(32, 2), (10, 3)] if args.quick else [(64, 2), (128, 2), (16, 3), (24, 3)]
    records = []
    for n_side, dim in sizes:
        R, box = configuration(n_side, dim)
        n = R.shape[0]
        capacity = fitted_capacity(R, box, dim)
        ours, e_ours = bench_scidiff(R, box, capacity)
        try:
            theirs, e_theirs = bench_jax_md(R, box)
        except ImportError:
            theirs, e_theirs = {}, None
        for case, fn in ours.items():
            label = f"{case} N={n} {dim}D"
            t, first = time_call(fn)
            records.append(Record("particles", label, "scidiff", t, first - t, n=n))
            if case in theirs:
                t2, first2 = time_call(theirs[case])
                diff = abs(e_ours - e_theirs) / abs(e_theirs)
                records.append(
                    Record("particles", label, "jax-md", t2, first2 - t2, n=n, energy_rel_diff=diff)
                )
    finish(records, args, "Lennard-Jones with neighbour lists (float32)")


if __name__ == "__main__":
    main()
