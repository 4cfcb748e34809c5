"""Run in a subprocess with emulated CPU devices (XLA_FLAGS set by the test).

Checks that domain-decomposed stencils and sharded ensembles equal their single-device
counterparts; prints OK lines the test asserts on. With ``--distributed RANK PORT`` it
joins a two-process run on loopback and checks the same across processes.
"""

import sys
import warnings

import jax

jax.config.update("jax_enable_x64", True)

if len(sys.argv) > 1 and sys.argv[1] == "--distributed":
    import scidiff.parallel as sp

    sp.initialize(f"127.0.0.1:{sys.argv[3]}", num_processes=2, process_id=int(sys.argv[2]))

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import scidiff.kernels as kernels  # noqa: E402
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
    # The strings keep their old meaning ("zero"/"edge" are deprecated and say so).
    for boundary, mode in (("periodic", "wrap"), ("zero", "constant"), ("edge", "edge")):
        ref = laplacian_2d(np.pad(u, 1, mode=mode))
        for axes in (("x", "y"), ("x", None), (None, "y")):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                stencil = sp.sharded_stencil(laplacian_2d, mesh2, axes, 1, boundary=boundary)
            warned = any(issubclass(w.category, DeprecationWarning) for w in caught)
            assert warned == (boundary != "periodic"), boundary  # "periodic" is Periodic()
            got = jax.jit(stencil)(jax.device_put(u, sp.grid_sharding(mesh2, axes)))
            np.testing.assert_allclose(host(got), ref, rtol=1e-12, atol=1e-12)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            got1 = sp.sharded_stencil(fourth_order_1d, mesh1, ("x",), 2, boundary=boundary)(v)
        ref1 = fourth_order_1d(np.pad(v, 2, mode=mode))
        np.testing.assert_allclose(host(got1), ref1, rtol=1e-12, atol=1e-12)
    print("OK stencil", n_dev, jax.process_count())

    # The kernels' boundary objects: results equal the single-device kernels model.
    grid = kernels.Grid((16, 24), extent=(1.0, 1.5))
    hx, hy = grid.spacing
    kappa = 0.2

    def heat_stencil(p):  # the Heat model's order-2 (5-point) right-hand side
        return kappa * (
            (p[:-2, 1:-1] - 2 * p[1:-1, 1:-1] + p[2:, 1:-1]) / hx**2
            + (p[1:-1, :-2] - 2 * p[1:-1, 1:-1] + p[1:-1, 2:]) / hy**2
        )

    for bcs in (
        kernels.Periodic(),
        kernels.Dirichlet(0.3),
        kernels.Neumann(0.7),
        ((kernels.Dirichlet(1.0), kernels.Neumann(-0.5)), kernels.Periodic()),
    ):
        ref = np.asarray(kernels.Heat(grid, kappa, bcs)(0.0, jnp.asarray(u)))
        for axes in (("x", "y"), ("x", None), (None, "y")):
            fn = sp.sharded_stencil(heat_stencil, mesh2, axes, 1, boundary=bcs, grid=grid)
            got = jax.jit(fn)(jax.device_put(u, sp.grid_sharding(mesh2, axes)))
            np.testing.assert_allclose(host(got), ref, rtol=1e-11, atol=1e-9)

    # width 2 (order-4 Laplacian), both centrings, a different condition per side
    for centring in ("cell", "vertex"):
        g1 = kernels.Grid(32, extent=2.0, centring=centring)
        (h,) = g1.spacing
        for bcs in ((kernels.Dirichlet(-0.2), kernels.Neumann(0.7)), kernels.Neumann(1.1)):
            ref1 = np.asarray(kernels.laplacian(jnp.asarray(v), g1, bcs, order=4))
            fn = sp.sharded_stencil(
                lambda p, h=h: fourth_order_1d(p) / h**2, mesh1, ("x",), 2, boundary=bcs, grid=g1
            )
            np.testing.assert_allclose(host(fn(v)), ref1, rtol=1e-11, atol=1e-8)
    print("OK kernels boundaries", n_dev, jax.process_count())

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
