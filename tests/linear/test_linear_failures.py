"""linear_solve failure reporting (nonconvergence, breakdown, singular, not positive
definite), per-member results under vmap, no recompiles for tolerances, static errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff import RESULTS


def poisson2d(m: int) -> np.ndarray:
    T = 2 * np.eye(m) - np.eye(m, k=1) - np.eye(m, k=-1)
    return np.kron(T, np.eye(m)) + np.kron(np.eye(m), T)


def ill_conditioned(n: int, cond: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return (Q * np.logspace(0, np.log10(cond), n)) @ Q.T


def convection_diffusion(n: int, peclet: float = 20.0) -> np.ndarray:
    h = 1.0 / (n + 1)
    c = peclet * h / 2
    return (2 * np.eye(n) - (1 + c) * np.eye(n, k=-1) - (1 - c) * np.eye(n, k=1)) / h**2


def rhs(n, seed=1):
    return np.random.default_rng(seed).normal(size=n)


def test_nonconvergence_reported_and_thrown():
    A = jnp.asarray(poisson2d(8))
    b = jnp.asarray(rhs(64))
    for method in ("cg", "gmres", "bicgstab"):
        sol = scidiff.linear_solve(A, b, method=method, maxiter=3, rtol=1e-12, throw=False)
        assert sol.result == RESULTS.nonconvergence and not sol.ok
        assert int(sol.stats["num_iterations"]) == 3
        with pytest.raises(Exception, match="did not converge within `maxiter`"):
            scidiff.linear_solve(A, b, method=method, maxiter=3, rtol=1e-12)


def test_unattainable_tolerance_is_not_a_false_success():
    """cond 1e10: ||b - A x|| / ||b|| cannot reach 1e-13 in float64. The recursive residual
    of CG/BiCGSTAB would claim it; the true-residual check reports nonconvergence."""
    A = jnp.asarray(ill_conditioned(30, cond=1e10))
    b = jnp.asarray(rhs(30))
    for method in ("cg", "gmres", "bicgstab"):
        sol = scidiff.linear_solve(A, b, method=method, rtol=1e-13, maxiter=400, throw=False)
        true_res = np.linalg.norm(b - A @ sol.x) / np.linalg.norm(b)
        assert bool(sol.ok) == (true_res <= 1e-13), method
        assert not sol.ok


def test_breakdowns_and_singular():
    b = jnp.ones(4)
    indefinite = jnp.diag(jnp.array([1.0, -1.0, 2.0, -2.0]))
    sol = scidiff.linear_solve(indefinite, b, method="cg", throw=False)
    assert sol.result == RESULTS.breakdown
    singular = jnp.diag(jnp.array([1.0, 2.0, 0.0, 3.0]))
    assert scidiff.linear_solve(singular, b, method="lu", throw=False).result == RESULTS.singular
    assert (
        scidiff.linear_solve(singular, b, method="gmres", throw=False).result == RESULTS.breakdown
    )
    sol = scidiff.linear_solve(indefinite, b, method="cholesky", throw=False)
    assert sol.result == RESULTS.not_positive_definite
    with pytest.raises(Exception, match="not symmetric positive definite"):
        scidiff.linear_solve(indefinite, b, method="cholesky")
    with pytest.raises(Exception, match="singular to working precision"):
        scidiff.linear_solve(singular, b, method="lu")


def test_vmap_throw_false_per_member():
    """Under vmap each member reports its own result; good members are unaffected."""
    A = jnp.asarray(poisson2d(3))
    As = jnp.stack([A, A.at[:, 0].set(0).at[0, :].set(0)])  # second is singular
    b = jnp.ones(9)
    for method in ("lu", "gmres", "bicgstab"):
        sol = jax.vmap(lambda M: scidiff.linear_solve(M, b, method=method, throw=False))(As)
        assert sol.ok.tolist() == [True, False], method
        np.testing.assert_allclose(sol.x[0], np.linalg.solve(A, b), rtol=1e-5)


def test_vmap_over_rhs_and_operator_closure():
    A = jnp.asarray(convection_diffusion(20))
    bs = jnp.asarray(np.random.default_rng(0).normal(size=(3, 20)))
    xs = jax.vmap(lambda b: scidiff.linear_solve(A, b, method="gmres", rtol=1e-10).x)(bs)
    np.testing.assert_allclose(xs, np.linalg.solve(A, bs.T).T, rtol=1e-7)
    shifts = jnp.array([0.0, 10.0, 100.0])
    xs = jax.vmap(
        lambda s: scidiff.linear_solve(lambda v: A @ v + s * v, bs[0], method="bicgstab").x
    )(shifts)
    for s, x in zip(shifts, xs):
        np.testing.assert_allclose(x, np.linalg.solve(A + s * np.eye(20), bs[0]), rtol=1e-5)


def test_traced_tolerances_do_not_recompile():
    A = jnp.asarray(poisson2d(6))
    traces = []

    @jax.jit
    def solve(b, rtol, atol):
        traces.append(1)
        return scidiff.linear_solve(A, b, method="cg", rtol=rtol, atol=atol, throw=False)

    b = jnp.asarray(rhs(36))
    loose = solve(b, 1e-2, 0.0)
    tight = solve(b * 2, 1e-10, 1e-12)
    assert len(traces) == 1
    assert int(loose.stats["num_iterations"]) < int(tight.stats["num_iterations"])
    assert np.linalg.norm(A @ tight.x - 2 * b) <= 1e-10 * np.linalg.norm(2 * b)


def _raises(match, A, b, **kw):
    with pytest.raises((ValueError, TypeError), match=match):
        scidiff.linear_solve(A, b, **kw)


def test_static_errors():
    A = jnp.eye(3)
    b = jnp.ones(3)
    _raises("unknown method 'qr'", A, b, method="qr")
    _raises("unknown assume='pd'", A, b, assume="pd")
    _raises("must be a square 2-D matrix", jnp.ones((3, 2)), b)
    _raises("must be a 1-D array of shape", A, jnp.ones(4))
    _raises("must be a 1-D array of shape", A, {"a": b, "c": b})
    _raises("output of `A\\(b\\)` must have the same pytree structure", lambda x: x[:2], b)
    _raises("calling the matrix-free operator `A` on `b` failed", lambda x: x @ jnp.ones(5), b)
    _raises("`x0` must have the same pytree structure", A, b, x0=jnp.ones(2))
    _raises("dense preconditioner `M` must have shape", A, b, M=jnp.eye(2), method="cg")
    _raises("output of `M\\(b\\)` must have the same", A, b, M=lambda r: r[:1], method="cg")
    _raises("`maxiter` must be a positive Python int", A, b, maxiter=0)
    _raises("`restart` must be a positive Python int", A, b, restart=2.5)
    _raises("`rtol` must be non-negative", A, b, rtol=-1.0)
    _raises("`atol` must be non-negative", A, b, atol=-1e-3)
    _raises("`b` is empty", lambda x: x, {})
    _raises("must be a dense matrix \\(array\\) or a callable", "abc", b)
