"""linear_solve against numpy/scipy on SPD (2D Poisson), nonsymmetric (convection-diffusion)
and ill-conditioned systems; matrix-free vs dense; failure reporting; jit/vmap; dtypes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import scidiff


def poisson2d(m: int) -> np.ndarray:
    """5-point Laplacian (negated, SPD) on an m x m interior grid, Dirichlet boundaries."""
    T = 2 * np.eye(m) - np.eye(m, k=1) - np.eye(m, k=-1)
    return np.kron(T, np.eye(m)) + np.kron(np.eye(m), T)


def convection_diffusion(n: int, peclet: float = 20.0) -> np.ndarray:
    """1D -u'' + c u' with central differences on n interior points: nonsymmetric."""
    h = 1.0 / (n + 1)
    c = peclet * h / 2
    return (2 * np.eye(n) - (1 + c) * np.eye(n, k=-1) - (1 - c) * np.eye(n, k=1)) / h**2


def ill_conditioned(n: int, cond: float = 1e6, seed: int = 0) -> np.ndarray:
    """SPD with prescribed condition number: Q diag(logspace) Q^T."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return (Q * np.logspace(0, np.log10(cond), n)) @ Q.T


# All of size 36 so that one compiled solver per method serves every problem.
PROBLEMS = {
    "poisson": (poisson2d(6), True),
    "convdiff": (convection_diffusion(36), False),
    "illcond": (ill_conditioned(36), True),
}
# Iterative methods see a dense A only through ``A @ v``, so matrix-free vs dense matters
# for the direct methods (which materialise a callable); test_pytree_matrix_free_equals_dense
# covers the iterative ones with a genuinely matrix-free operator.
CASES = [
    (prob, method, matrix_free)
    for prob, (_, spd) in PROBLEMS.items()
    for method in ("lu", "cholesky", "cg", "gmres", "bicgstab")
    for matrix_free in ((False, True) if method in ("lu", "cholesky") else (False,))
    if spd or method not in ("cg", "cholesky")
]


def rhs(n, seed=1):
    return np.random.default_rng(seed).normal(size=n)


@functools.partial(jax.jit, static_argnames=("method", "matrix_free"))
def jit_solve(A, b, rtol, *, method, matrix_free=False):
    """Shared compiled solver (A, b, rtol traced): one compilation per method and mode."""
    op = (lambda v: A @ v) if matrix_free else A
    # restart=36: full GMRES here (restarted GMRES stagnates on the cond-1e6 case).
    return scidiff.linear_solve(
        op, b, method=method, rtol=rtol, maxiter=2000, restart=36, throw=False
    )


@pytest.mark.parametrize("prob,method,matrix_free", CASES)
def test_against_numpy(prob, method, matrix_free):
    A, _ = PROBLEMS[prob]
    b = rhs(A.shape[0])
    x_ref = scipy.linalg.solve(A, b)
    rtol = 1e-8 if prob == "illcond" else 1e-10  # attainable: about eps * cond(A)
    sol = jit_solve(A, b, rtol, method=method, matrix_free=matrix_free)
    assert sol.ok
    # Residual criterion holds, and the error is bounded by cond(A) * residual.
    res = np.linalg.norm(b - A @ np.asarray(sol.x))
    assert res <= 1.01 * rtol * np.linalg.norm(b) or method in ("lu", "cholesky")
    err = np.linalg.norm(np.asarray(sol.x) - x_ref) / np.linalg.norm(x_ref)
    assert err <= np.linalg.cond(A) * max(rtol, 1e-15) * 10
    assert sol.stats["num_iterations"].dtype == jnp.int32


def test_pytree_matrix_free_equals_dense():
    """A coupled operator on a dict of two arrays equals the dense block matrix."""
    A = convection_diffusion(10)
    B = np.diag(np.arange(1.0, 7.0))
    C = np.random.default_rng(3).normal(size=(10, 6)) * 0.1
    Aj, Bj, Cj = map(jnp.asarray, (A, B, C))
    full = np.block([[A, C], [np.zeros((6, 10)), B]])

    def op(x):
        return {"u": Aj @ x["u"] + Cj @ x["w"].ravel(), "w": (Bj @ x["w"].ravel()).reshape(2, 3)}

    b = {"u": jnp.asarray(rhs(10)), "w": jnp.asarray(rhs(6, seed=5)).reshape(2, 3)}
    ref = np.linalg.solve(full, np.concatenate([b["u"], b["w"].ravel()]))
    for method in ("gmres", "bicgstab", "lu"):
        sol = scidiff.linear_solve(op, b, method=method, rtol=1e-11)
        assert set(sol.x) == {"u", "w"} and sol.x["w"].shape == (2, 3)
        got = np.concatenate([sol.x["u"], np.ravel(sol.x["w"])])
        np.testing.assert_allclose(got, ref, rtol=1e-8)


def test_shaped_rhs_keeps_its_shape():
    """A 2-D right-hand side with a stencil operator (CG/BiCGSTAB run on it unflattened,
    the others flatten): same answer as the dense kron matrix, with dense and callable M."""

    def stencil(u):
        up = jnp.pad(u, 1)
        return 4 * u - up[:-2, 1:-1] - up[2:, 1:-1] - up[1:-1, :-2] - up[1:-1, 2:]

    b = jnp.asarray(rhs(36)).reshape(6, 6)
    ref = np.linalg.solve(poisson2d(6), np.ravel(b)).reshape(6, 6)
    cases = [("cg", None), ("cg", 0.25 * jnp.eye(36)), ("cg", lambda r: 0.25 * r)]
    for method, M in cases + [("bicgstab", None), ("gmres", None)]:
        sol = scidiff.linear_solve(stencil, b, method=method, M=M, rtol=1e-10)
        assert sol.x.shape == (6, 6)
        np.testing.assert_allclose(sol.x, ref, rtol=1e-8)


def test_auto_picks_by_structure():
    A = poisson2d(4)
    b = jnp.asarray(rhs(16))
    dense = scidiff.linear_solve(jnp.asarray(A), b)
    spd = scidiff.linear_solve(jnp.asarray(A), b, assume="spd")
    free = scidiff.linear_solve(lambda v: jnp.asarray(A) @ v, b, rtol=1e-10)
    free_spd = scidiff.linear_solve(lambda v: jnp.asarray(A) @ v, b, assume="spd", rtol=1e-10)
    for s in (dense, spd, free, free_spd):
        np.testing.assert_allclose(s.x, np.linalg.solve(A, b), rtol=1e-8)
    assert int(dense.stats["num_iterations"]) == 0 and int(free.stats["num_iterations"]) > 0
    # CG on this SPD problem needs no more iterations than distinct eigenvalues.
    assert int(free_spd.stats["num_iterations"]) <= 16


def test_preconditioner_cuts_iterations():
    """Jacobi on a badly scaled SPD matrix: far fewer CG/GMRES/BiCGSTAB iterations."""
    D = np.diag(np.logspace(0, 4, 64))
    A = np.sqrt(D) @ (poisson2d(8) + 4 * np.eye(64)) @ np.sqrt(D)
    b = jnp.asarray(rhs(64))
    inv_diag = jnp.asarray(1 / np.diag(A))
    ref = np.linalg.solve(A, b)
    for method in ("cg", "gmres", "bicgstab"):
        plain = scidiff.linear_solve(jnp.asarray(A), b, method=method, rtol=1e-10, maxiter=5000)
        pre = scidiff.linear_solve(
            jnp.asarray(A), b, method=method, rtol=1e-10, M=lambda r: inv_diag * r
        )
        pre_mat = scidiff.linear_solve(
            jnp.asarray(A), b, method=method, rtol=1e-10, M=jnp.diag(inv_diag)
        )
        assert pre.ok and pre_mat.ok
        np.testing.assert_allclose(pre.x, ref, rtol=1e-6)
        assert int(pre.stats["num_iterations"]) < int(plain.stats["num_iterations"]) / 2
        assert int(pre_mat.stats["num_iterations"]) == int(pre.stats["num_iterations"])


def test_warm_start_and_restarts():
    A = jnp.asarray(convection_diffusion(50))
    b = jnp.asarray(rhs(50))
    x = np.linalg.solve(A, b)
    for method in ("cg", "gmres", "bicgstab"):
        A_use = jnp.asarray(poisson2d(5)) if method == "cg" else A
        b_use = b[:25] if method == "cg" else b
        x_use = jnp.linalg.solve(A_use, b_use)
        sol = scidiff.linear_solve(A_use, b_use, method=method, x0=x_use, rtol=1e-8)
        assert sol.ok and int(sol.stats["num_iterations"]) == 0
    sol = scidiff.linear_solve(A, b, method="gmres", restart=5, rtol=1e-10, maxiter=10_000)
    assert sol.ok and int(sol.stats["num_restarts"]) > 0
    np.testing.assert_allclose(sol.x, x, rtol=1e-6)


def test_complex_system():
    rng = np.random.default_rng(7)
    A = rng.normal(size=(12, 12)) + 1j * rng.normal(size=(12, 12)) + 6 * np.eye(12)
    b = rng.normal(size=12) + 1j * rng.normal(size=12)
    ref = np.linalg.solve(A, b)
    for method in ("lu", "gmres", "bicgstab"):
        sol = scidiff.linear_solve(jnp.asarray(A), jnp.asarray(b), method=method, rtol=1e-11)
        assert sol.x.dtype == jnp.complex128
        np.testing.assert_allclose(sol.x, ref, rtol=1e-8)


@pytest.mark.parametrize("method", ["lu", "cg", "gmres", "bicgstab"])
def test_float32_follows_inputs(method):
    A = poisson2d(4).astype(np.float32)
    b = rhs(16).astype(np.float32)
    sol = scidiff.linear_solve(jnp.asarray(A), jnp.asarray(b), method=method, rtol=1e-5)
    assert sol.x.dtype == jnp.float32 and sol.ok
    ref = np.linalg.solve(A.astype(float), b)
    assert np.linalg.norm(sol.x - ref) <= 1e-4 * np.linalg.norm(ref)  # cond(A) ~ 10
    # Mixed precision promotes (never silently downcasts).
    mixed = scidiff.linear_solve(jnp.asarray(A, jnp.float64), jnp.asarray(b), method=method)
    assert mixed.x.dtype == jnp.float64
