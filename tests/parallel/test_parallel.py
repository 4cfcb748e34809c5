"""scidiff.parallel: N emulated devices (and two processes on loopback) give the
single-device answers; bad input gets clear errors."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import scidiff.kernels as kernels
import scidiff.parallel as sp

SCRIPT = Path(__file__).with_name("_sharded_script.py")


def _env(devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


def test_emulated_devices_match_single_device():
    out = subprocess.run(
        [sys.executable, str(SCRIPT)], env=_env(4), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK stencil 4 1" in out.stdout
    assert "OK kernels boundaries 4 1" in out.stdout
    assert "OK ensemble 4 1" in out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_on_loopback():
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "--distributed", str(rank), port],
            env=_env(2),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (stdout, stderr) in zip(procs, outs):
        assert p.returncode == 0, stderr[-3000:]
        assert "OK stencil 4 2" in stdout
        assert "OK kernels boundaries 4 2" in stdout
        assert "OK ensemble 4 2" in stdout


@pytest.fixture(scope="module")
def mesh():
    return jax.make_mesh((1,), ("x",))


def test_errors(mesh):
    lap = lambda p: p[:-2] - 2 * p[1:-1] + p[2:]
    with pytest.raises(ValueError, match="unknown boundary 'wall'.*Dirichlet"):
        sp.sharded_stencil(lap, mesh, ("x",), 1, boundary="wall")
    with pytest.raises(TypeError, match="unknown boundary condition 3.0"):
        sp.sharded_stencil(lap, mesh, ("x",), 1, boundary=3.0)
    with pytest.raises(ValueError, match="Periodic must be set on both sides"):
        sp.sharded_stencil(lap, mesh, ("x",), 1, boundary=(kernels.Periodic(), kernels.Neumann()))
    with pytest.raises(ValueError, match="must be scalars, got shape"):
        sp.sharded_stencil(lap, mesh, ("x",), 1, boundary=kernels.Dirichlet(jnp.ones(3)))
    with pytest.raises(ValueError, match="Neumann.*needs the grid spacing: pass `grid=`"):
        sp.sharded_stencil(lap, mesh, ("x",), 1, boundary=kernels.Neumann(0.5))(jnp.zeros(4))
    with pytest.raises(ValueError, match="Periodic boundaries need a cell-centred grid"):
        sp.sharded_stencil(
            lap,
            mesh,
            ("x",),
            1,
            grid=kernels.Grid(5, centring="vertex"),
            boundary=kernels.Periodic(),
        )
    with pytest.raises(ValueError, match=r"field shape \(6,\) does not match the grid's"):
        sp.sharded_stencil(lap, mesh, ("x",), 1, grid=kernels.Grid(4), boundary=kernels.Periodic())(
            jnp.zeros(6)
        )
    with pytest.deprecated_call(match="'zero' is not Dirichlet"):
        sp.sharded_stencil(lap, mesh, ("x",), 1, boundary="zero")
    with pytest.raises(ValueError, match="mesh has no axis 'y'"):
        sp.sharded_stencil(lap, mesh, ("y",), 1)
    with pytest.raises(ValueError, match="field has 2 axes but `mesh_axes` names 1"):
        sp.sharded_stencil(lap, mesh, ("x",), 1)(jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match="halo width 9 must be in"):
        sp.sharded_stencil(lap, mesh, ("x",), 9)(jnp.zeros(4))
    f = lambda a, b: a + b
    with pytest.raises(ValueError, match="`in_axes` has 1 entries for 2 arguments"):
        sp.shard_ensemble(f, mesh, in_axes=(0,))(jnp.zeros(3), jnp.zeros(3))
    with pytest.raises(ValueError, match="disagree on the batch size"):
        sp.shard_ensemble(f, mesh)(jnp.zeros(3), jnp.zeros(4))
    with pytest.raises(ValueError, match="no batched argument"):
        sp.shard_ensemble(f, mesh, in_axes=None)(jnp.zeros(3), jnp.zeros(3))
    with pytest.raises(ValueError, match="must look like 'host:port'"):
        sp.initialize("localhost", 2, 0)
    with pytest.raises(ValueError, match="process_id 2 must be in"):
        sp.initialize("127.0.0.1:1234", 2, 2)


def test_single_device_results_and_grad(mesh):
    """On one device the wrappers are plain computations, differentiable end to end."""
    lap = sp.sharded_stencil(lambda p: p[:-2] - 2 * p[1:-1] + p[2:], mesh, ("x",), 1)
    u = jnp.sin(jnp.linspace(0, 2 * jnp.pi, 8, endpoint=False))
    ref = jnp.roll(u, 1) - 2 * u + jnp.roll(u, -1)
    assert jnp.allclose(lap(u), ref)
    g = jax.grad(lambda v: jnp.sum(lap(v) ** 2))(u)
    g_ref = jax.grad(lambda v: jnp.sum((jnp.roll(v, 1) - 2 * v + jnp.roll(v, -1)) ** 2))(u)
    assert jnp.allclose(g, g_ref)


def test_boundary_values_are_traced_and_differentiable(mesh):
    """d/dg of the sharded Dirichlet(g) stencil equals the kernels' single-device one."""
    grid = kernels.Grid(8)
    (h,) = grid.spacing
    u = jnp.sin(jnp.linspace(0.0, 3.0, 8))

    def sharded(g):
        lap = lambda p: (p[:-2] - 2 * p[1:-1] + p[2:]) / h**2
        fn = sp.sharded_stencil(lap, mesh, ("x",), 1, boundary=kernels.Dirichlet(g), grid=grid)
        return jnp.sum(fn(u) ** 2)

    def single(g):
        return jnp.sum(kernels.laplacian(u, grid, kernels.Dirichlet(g)) ** 2)

    assert jnp.allclose(sharded(0.4), single(0.4), rtol=1e-12)
    assert jnp.allclose(jax.jit(jax.grad(sharded))(0.4), jax.grad(single)(0.4), rtol=1e-10)


def test_a_custom_boundary_protocol_object(mesh):
    """Any object with `ghost_cells` works: here, ghosts fixed to 5."""

    class Five:
        def ghost_cells(self, block, width, axis, side, spacing, vertex):
            shape = list(block.shape)
            shape[axis] = width
            return jnp.full(shape, 5.0, block.dtype)

    assert isinstance(Five(), sp.HaloBoundary)
    lap = sp.sharded_stencil(lambda p: p[:-2] + p[2:], mesh, ("x",), 1, boundary=Five())
    assert jnp.allclose(lap(jnp.zeros(4)), jnp.array([5.0, 0.0, 0.0, 5.0]))
