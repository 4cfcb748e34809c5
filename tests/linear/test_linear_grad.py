"""Implicit gradients of linear_solve: vs a dense jnp.linalg.solve, vs finite differences
(jax.test_util.check_grads), through matrix-free closures, under vmap."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import scidiff

N = 8
_rng = np.random.default_rng(42)
A_GEN = jnp.asarray(_rng.normal(size=(N, N)) + 4 * np.eye(N))
A_SPD = jnp.asarray(A_GEN @ A_GEN.T / N + np.eye(N))
B = jnp.asarray(_rng.normal(size=N))
W = jnp.asarray(_rng.normal(size=N))


@functools.partial(jax.jit, static_argnames=("method", "matrix_free"))
def loss(A, b, *, method, matrix_free):
    op = (lambda v: A @ v) if matrix_free else A
    x = scidiff.linear_solve(op, b, method=method, rtol=1e-13, atol=1e-15).x
    return W @ x + 0.5 * x @ x


def reference(A, b):
    x = jnp.linalg.solve(A, b)
    return W @ x + 0.5 * x @ x


@pytest.mark.parametrize(
    "method,matrix_free",
    [("lu", False), ("lu", True), ("cholesky", False), ("cg", True), ("gmres", True)]
    + [("gmres", False), ("bicgstab", True)],
)
def test_grad_matches_dense_solve(method, matrix_free):
    A = A_SPD if method in ("cg", "cholesky") else A_GEN
    grad = jax.grad(loss, argnums=(0, 1))(A, B, method=method, matrix_free=matrix_free)
    gA_ref, gb_ref = jax.grad(reference, argnums=(0, 1))(A, B)
    if method in ("cg", "cholesky"):
        # Symmetric methods see only the symmetric part of a perturbation of A.
        gA_ref = 0.5 * (gA_ref + gA_ref.T)
        grad = (0.5 * (grad[0] + grad[0].T), grad[1])
    np.testing.assert_allclose(grad[0], gA_ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(grad[1], gb_ref, rtol=1e-8, atol=1e-10)
    # Forward mode agrees too.
    tA = jnp.asarray(np.random.default_rng(1).normal(size=(N, N)))
    if method in ("cg", "cholesky"):
        tA = tA + tA.T
    _, jvp = jax.jvp(
        lambda A, b: loss(A, b, method=method, matrix_free=matrix_free), (A, B), (tA, B)
    )
    _, jvp_ref = jax.jvp(reference, (A, B), (tA, B))
    np.testing.assert_allclose(jvp, jvp_ref, rtol=1e-8)


@pytest.mark.parametrize("method,order", [("lu", 2), ("gmres", 1)])
def test_check_grads_finite_differences(method, order):
    """check_grads: forward and reverse mode against finite differences (second order for
    LU: the tangent solves are themselves differentiable)."""
    f = functools.partial(loss, method=method, matrix_free=True)
    check_grads(f, (A_GEN, B), order=order, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)


_n = 12
_h = 1.0 / (_n + 1)
_c = jnp.linspace(0.5, 2.0, _n)
_b = jnp.sin(jnp.pi * jnp.linspace(_h, 1 - _h, _n))


def _lap(u):
    up = jnp.pad(u, 1)
    return -(up[2:] - 2 * up[1:-1] + up[:-2]) / _h**2


@functools.partial(jax.jit, static_argnames="method")
def _solve_theta(theta, method):
    op = lambda u: _lap(u) + theta * _c * u
    return scidiff.linear_solve(op, _b, method=method, rtol=1e-12, atol=1e-14).x


@pytest.mark.parametrize("method", ["cg", "bicgstab"])
def test_grad_through_operator_closure(method):
    """A(theta) = -Laplacian + theta * diag(c), matrix-free: d x / d theta vs finite
    differences and vs the closed form d x/d theta = -A^{-1} diag(c) x."""
    theta = jnp.array([3.0, 3.0 + 1e-5, 3.0 - 1e-5])
    xs = jax.vmap(_solve_theta, in_axes=(0, None))(theta, method)
    jac = jax.jit(jax.jacrev(_solve_theta), static_argnames="method")(theta[0], method)
    dense = jax.vmap(lambda e: _lap(e) + theta[0] * _c * e, out_axes=1)(jnp.eye(_n))
    closed = -jnp.linalg.solve(dense, _c * xs[0])
    np.testing.assert_allclose(jac, closed, rtol=1e-7, atol=1e-12)
    fd = (xs[1] - xs[2]) / 2e-5
    np.testing.assert_allclose(jac, fd, rtol=1e-5, atol=1e-9)


def test_grad_pytree_rhs_and_vmap_of_grad():
    def op(x):
        return {
            "a": 3.0 * x["a"] + x["b"][:2],
            "b": 2.0 * x["b"] - jnp.concatenate([x["a"], 0 * x["a"][:1]]),
        }

    b = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([0.5, -1.0, 2.0])}

    def f(scale):
        bb = jax.tree_util.tree_map(lambda v: scale * v, b)
        x = scidiff.linear_solve(op, bb, method="gmres", rtol=1e-12).x
        return jnp.sum(x["a"]) + jnp.sum(x["b"] ** 2)

    s = jnp.array([1.0, 2.0])
    g = jax.jit(jax.vmap(jax.grad(f)))(s)
    vals = jax.jit(jax.vmap(f))(jnp.concatenate([s + 1e-6, s - 1e-6]))
    np.testing.assert_allclose(g, (vals[:2] - vals[2:]) / 2e-6, rtol=1e-6)


def test_grad_float32():
    A = A_GEN.astype(jnp.float32)
    b = B.astype(jnp.float32)
    f = lambda A, b: jnp.sum(scidiff.linear_solve(lambda v: A @ v, b, method="bicgstab").x)
    gA, gb = jax.grad(f, argnums=(0, 1))(A, b)
    assert gA.dtype == jnp.float32 and gb.dtype == jnp.float32
    rA, rb = jax.grad(lambda A, b: jnp.sum(jnp.linalg.solve(A, b)), argnums=(0, 1))(A, b)
    np.testing.assert_allclose(gb, rb, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(gA, rA, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("method", ["gmres", "bicgstab"])
def test_grad_with_preconditioner(method):
    """Reverse mode with a callable preconditioner: the transposed solve uses M^T from
    jax.linear_transpose (here a non-symmetric M, so the transpose matters for speed only
    -- the gradient must match the dense reference either way)."""
    P = jnp.eye(N) + 0.1 * jnp.triu(jnp.ones((N, N)), 1)
    M = lambda r: jnp.linalg.solve(jnp.diag(jnp.diag(A_GEN)) @ P, r)

    def f(A, b):
        x = scidiff.linear_solve(lambda v: A @ v, b, method=method, M=M, rtol=1e-13).x
        return W @ x + 0.5 * x @ x

    g = jax.jit(jax.grad(f, argnums=(0, 1)))(A_GEN, B)
    ref = jax.grad(reference, argnums=(0, 1))(A_GEN, B)
    np.testing.assert_allclose(g[0], ref[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(g[1], ref[1], rtol=1e-8, atol=1e-10)
