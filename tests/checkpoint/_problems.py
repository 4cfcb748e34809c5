"""Small long-run problems shared by the checkpoint tests and their killed child process.

Each ``run(kind, checkpoint_dir)`` is a chunked run of five equal chunks
(``checkpoint_every=2``: checkpoints after chunks 2 and 4) that compiles in a second or two; with ``checkpoint_dir=None`` it is the
uninterrupted reference (the same chunking, no checkpoints).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

from scidiff._chunked import (  # noqa: E402
    rollout_model_chunked,
    run_steps,
    solve_ivp_chunked,
    solve_sde_chunked,
)

KINDS = ("rollout", "solve_sde", "solve_ivp", "langevin")
CHUNKS = 5
EVERY = 2


def ks_model(viscosity=1.0):
    from scidiff.kernels import KuramotoSivashinsky

    return KuramotoSivashinsky(32, 32.0, viscosity=viscosity)


def ks_u0():
    x = jnp.linspace(0.0, 32.0, 32, endpoint=False)
    return jnp.cos(2 * jnp.pi * x / 32) * (1 + jnp.sin(2 * jnp.pi * x / 32))


def lorenz(t, y, args):
    sigma, rho, beta = args
    return jnp.stack([sigma * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - beta * y[2]])


def ou_drift(t, y, args):
    return -y


def ou_diffusion(t, y, args):
    return 0.3 * jnp.ones_like(y)


def harmonic_force(R):
    return -2.0 * R


@functools.cache  # one `step` function: compiled once for every run of the tests
def langevin_parts():
    from scidiff.kernels.particles import free_space, langevin

    init, step = langevin(harmonic_force, free_space().shift, 0.05, 0.7, gamma=1.0)
    return init(jax.random.key(3), jnp.zeros((8, 2))), step


def positions(state):
    return state.position


def run(kind, checkpoint_dir=None, **options):
    """The chunked run ``kind``; returns a pytree of every array it produced."""
    common = dict(chunks=CHUNKS, checkpoint_dir=checkpoint_dir, checkpoint_every=EVERY)
    common.update(options)
    if kind == "rollout":
        return rollout_model_chunked(ks_model(), ks_u0(), 0.05, 100, save_every=10, **common)
    if kind == "solve_sde":
        sol = solve_sde_chunked(
            ou_drift,
            ou_diffusion,
            (0.0, 1.0),
            jnp.ones(3),
            key=jax.random.key(7),
            dt0=0.01,
            t_eval=jnp.linspace(0.1, 1.0, 10),
            **common,
        )
        return sol.ts, sol.ys, sol.ws, sol.stats
    if kind == "solve_ivp":
        sol = solve_ivp_chunked(
            lorenz,
            (0.0, 1.0),
            jnp.array([1.0, 1.0, 20.0]),
            args=(10.0, 28.0, 8.0 / 3.0),
            t_eval=jnp.linspace(0.1, 1.0, 10),
            rtol=1e-8,
            atol=1e-8,
            **common,
        )
        return sol.ts, sol.ys, sol.stats
    if kind == "langevin":
        state0, step = langevin_parts()
        return run_steps(step, state0, 50, save_every=5, observe=positions, **common)
    raise ValueError(kind)
