"""Run in a subprocess with emulated CPU devices (XLA_FLAGS set by the test).

Checks that domain-decomposed stencils and sharded ensembles equal their single-device
counterparts; prints OK lines the test asserts on. With ``--distributed RANK PORT`` it
joins a two-process run on loopback and checks the same across processes.
"""

import sys

import jax

jax.config.update("jax_enable_x64", True)

if len(sys.argv) > 1 and sys.argv[1] == "--distributed":
    import scidiff.parallel as sp

    sp.initialize(f"127.0.0.1:{sys.argv[3]}", num_processes=2, process_id=int(sys.argv[2]))

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import scidiff.parallel as sp  # noqa: E402


def laplacian_2d(p):
    return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1]


def fourth_order_1d(p):  # width-2 stencil
    return (-p[:-4] + 16 * p[1:-3] - 30 * p[2:-2] + 16 * p[3:-1] - p[4:]) / 12


def host(x):
    """The whole array on this host (gathers across processes when distributed)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def main():
    n_dev = jax.device_count()
    rng = np.random.default_rng(0)
    u = rng.standard_normal((16, 24))
    v = rng.standard_normal(32)

    mesh2 = jax.make_mesh((2, n_dev // 2), ("x", "y"))
    mesh1 = jax.make_mesh((n_dev,), ("x",))
    for boundary, mode in (("periodic", "wrap"), ("zero", "constant"), ("edge", "edge")):
        ref = laplacian_2d(np.pad(u, 1, mode=mode))
        for axes in (("x", "y"), ("x", None), (None, "y")):
            fn = jax.jit(sp.sharded_stencil(laplacian_2d, mesh2, axes, 1, boundary=boundary))
            got = fn(jax.device_put(u, sp.grid_sharding(mesh2, axes)))
            np.testing.assert_allclose(host(got), ref, rtol=1e-12, atol=1e-12)
        ref1 = fourth_order_1d(np.pad(v, 2, mode=mode))
        got1 = sp.sharded_stencil(fourth_order_1d, mesh1, ("x",), 2, boundary=boundary)(v)
        np.testing.assert_allclose(host(got1), ref1, rtol=1e-12, atol=1e-12)
    print("OK stencil", n_dev, jax.process_count())

    def decay(y0, k):  # a tiny adaptive-in-spirit computation with a while loop
        def body(c):
            y, t = c
            return y * jnp.exp(-k * 0.1), t + 1

        return jax.lax.while_loop(lambda c: c[1] < 10 + jnp.int32(y0 > 0), body, (y0, 0))[0]

    y0s = jnp.asarray(rng.standard_normal(10))
    got = sp.shard_ensemble(decay, mesh1, in_axes=(0, None))(y0s, 0.5)
    ref = jax.vmap(decay, in_axes=(0, None))(y0s, 0.5)
    np.testing.assert_allclose(host(got), np.asarray(ref), rtol=1e-12)
    print("OK ensemble", n_dev, jax.process_count())


if __name__ == "__main__":
    main()
