"""Matrix-free Newton--Krylov (GMRES) agrees with the dense-LU path on a 2-D PDE."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff

N = 8  # grid points per side: 2 * N^2 = 128 unknowns
ALPHA = 0.02
DX = 1.0 / N


def laplacian(u):
    return (
        jnp.roll(u, 1, 0) + jnp.roll(u, -1, 0) + jnp.roll(u, 1, 1) + jnp.roll(u, -1, 1) - 4 * u
    ) / DX**2


def brusselator(t, y, args):
    """2-D Brusselator, periodic: u' = A + u^2 v - (B + 1) u + a Lap u, v' = B u - u^2 v + a Lap v."""
    a, b = args
    u, v = y["u"], y["v"]
    return {
        "u": a + u * u * v - (b + 1) * u + ALPHA * laplacian(u),
        "v": b * u - u * u * v + ALPHA * laplacian(v),
    }


def initial_state():
    x = jnp.arange(N) * DX
    X, Y = jnp.meshgrid(x, x, indexing="ij")
    return {"u": 22 * Y * (1 - Y) ** 1.5, "v": 27 * X * (1 - X) ** 1.5}


ARGS = (1.0, 3.4)


def jacobi_preconditioner(t, y, args, c):
    # Diagonal of I - cJ from the diffusion terms only: 1 + 4 c alpha / dx^2.
    d = 1 + 4 * c * ALPHA / DX**2
    return lambda v: v / d


def solve(solver, rtol):
    return scidiff.solve_ivp(
        brusselator, (0.0, 0.5), initial_state(), args=ARGS, solver=solver, rtol=rtol,
        atol=rtol * 1e-2, t_eval=jnp.array([0.25, 0.5]),
    )  # fmt: skip


@pytest.fixture(scope="module")
def reference():
    # Dense LU at tight tolerance (the same compiled solve as the rtol=1e-6 one below).
    return solve(scidiff.Kvaerno5(), 1e-9).ys


def max_rel_error(ys, ref):
    errs = jax.tree_util.tree_map(
        lambda a, b: jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)), ys, ref
    )
    return float(max(jax.tree_util.tree_leaves(errs)))


@pytest.mark.parametrize(
    "solver",
    [
        scidiff.Kvaerno5(),
        scidiff.Kvaerno5(linear_solver=scidiff.NewtonKrylov()),
        scidiff.Kvaerno5(linear_solver=scidiff.NewtonKrylov(preconditioner=jacobi_preconditioner)),
        scidiff.BDF(linear_solver=scidiff.NewtonKrylov()),
    ],
    ids=["Kvaerno5-dense", "Kvaerno5-krylov", "Kvaerno5-krylov-jacobi", "BDF-krylov"],
)
def test_matrix_free_agrees_with_dense(solver, reference):
    sol = solve(solver, 1e-6)
    assert sol.ok
    assert sol.ys["u"].shape == (2, N, N)
    assert max_rel_error(sol.ys, reference) < 2e-5


def test_rodas5_krylov_matches_dense_step():
    # Rosenbrock: the linear solves are in the formula; with a tight GMRES tolerance one
    # step equals the dense-LU step to that tolerance.
    y0 = initial_state()

    @eqx.filter_jit
    def step(solver):
        return solver.step(brusselator, 0.0, 0.05, y0, ARGS, None)

    dense = step(scidiff.Rodas5())
    krylov = step(scidiff.Rodas5(linear_solver=scidiff.NewtonKrylov(rtol=1e-12)))
    assert max_rel_error(krylov.y1, dense.y1) < 1e-9
    assert np.all(np.isfinite(np.asarray(krylov.y_error["u"])))
