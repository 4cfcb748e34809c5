"""Solver objects, reverse mode of every method, backward-pass failures, issue-18 defects."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff import RESULTS

N = 4
_B = jax.random.normal(jax.random.PRNGKey(0), (N, N))
SYM = _B @ _B.T + N * jnp.eye(N)  # symmetric positive definite
NONSYM = SYM + 0.7 * jnp.triu(_B, 1)  # well conditioned, not symmetric
RHS = jnp.arange(1.0, N + 1.0)
# A runtime error raised by a solve outside jit arrives as JAX's callback error.
# The type depends on JAX's path (an executable reused from its cache surfaces the
# callback's error as "ValueError: INTERNAL: CpuCallback error"); the message is matched.
RUNTIME_ERRORS = (eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError, ValueError)

METHODS = ["lu", "cholesky", "cg", "gmres", "bicgstab"]
OBJECTS = {
    "lu": scidiff.LU(),
    "cholesky": scidiff.Cholesky(),
    "cg": scidiff.CG(rtol=1e-12),
    "gmres": scidiff.GMRES(rtol=1e-12),
    "bicgstab": scidiff.BiCGSTAB(rtol=1e-12),
}


def _cases():
    for method in METHODS:
        for kind in ("sym", "nonsym"):
            if kind == "nonsym" and method in ("cholesky", "cg"):
                continue  # these assume a symmetric operator
            yield method, kind


@pytest.mark.parametrize("name", METHODS)
def test_solver_object_equals_string_method(name):
    x_obj = scidiff.linear_solve(SYM, RHS, method=OBJECTS[name]).x
    x_ref = jnp.linalg.solve(SYM, RHS)
    np.testing.assert_allclose(x_obj, x_ref, rtol=1e-9)


def test_user_solver_object_in_linear_solve():
    class Dense(scidiff.AbstractLinearSolver):
        needs_matrix = True

        def init(self, operator):
            return operator.matrix

        def compute(self, state, b, *, x0=None, precond=None):
            zero = jnp.zeros((), jnp.int32)
            stats = {"num_iterations": zero, "num_restarts": zero}
            return jnp.linalg.solve(state, b), RESULTS.successful, stats

        def transpose(self, state, operator_t):
            return state.T

    loss = lambda p, s: jnp.sum(
        scidiff.linear_solve(lambda v: (NONSYM * p) @ v, RHS, method=s).x ** 2
    )
    np.testing.assert_allclose(loss(1.3, Dense()), loss(1.3, scidiff.LU()), rtol=1e-12)
    np.testing.assert_allclose(
        jax.grad(loss)(1.3, Dense()), jax.grad(loss)(1.3, scidiff.LU()), rtol=1e-10
    )


def test_tolerances_with_a_solver_object_are_refused():
    with pytest.raises(ValueError, match="set them on the object instead"):
        scidiff.linear_solve(SYM, RHS, method=scidiff.GMRES(), rtol=1e-3)
    with pytest.raises(ValueError, match="unknown method"):
        scidiff.linear_solve(SYM, RHS, method=object())


@pytest.mark.parametrize("method,kind", list(_cases()))
def test_reverse_mode_every_method_matches_dense(method, kind):
    """grad, jacrev, vmap(grad) and a lax.scan rollout, with A a callable closing over a
    traced parameter, against the same functions built on jnp.linalg.solve."""
    mat = SYM if kind == "sym" else NONSYM

    def solve(p, b, dense):
        A = lambda v: (mat * p) @ v + 0.1 * p**2 * v
        if dense:
            return jnp.linalg.solve(mat * p + 0.1 * p**2 * jnp.eye(N), b)
        return scidiff.linear_solve(A, b, method=method, rtol=1e-12).x

    def loss(p, dense=False):
        return jnp.sum(jnp.sin(solve(p, RHS * p, dense)))

    def rollout(p, dense=False):
        def step(x, _):
            x = solve(p, x + 1.0, dense)
            return x, jnp.sum(x**2)

        return jnp.sum(jax.lax.scan(step, RHS, None, length=3)[1])

    ps = jnp.array([1.1, 1.3])
    for f in (loss, rollout):
        ref = jax.grad(lambda p: f(p, True))(1.3)
        np.testing.assert_allclose(jax.grad(f)(1.3), ref, rtol=1e-8)
        np.testing.assert_allclose(jax.jacrev(f)(1.3), ref, rtol=1e-8)
        np.testing.assert_allclose(
            jax.vmap(jax.grad(f))(ps), jax.vmap(jax.grad(lambda p: f(p, True)))(ps), rtol=1e-8
        )
    # and the gradient itself is right: central finite differences
    h = 1e-6
    fd = (loss(1.3 + h) - loss(1.3 - h)) / (2 * h)
    np.testing.assert_allclose(jax.grad(loss)(1.3), fd, rtol=1e-6)


def _while_map(y, k):
    def body(c):
        i, y = c
        return i + 1, y + 0.1 * (-k * y + 0.3 * jnp.roll(y, 1))

    return jax.lax.while_loop(lambda c: c[0] < 5, body, (0, y))[1]


@pytest.mark.parametrize("method", ["lu", "gmres", "bicgstab"])
def test_operator_with_a_while_loop(method):
    """A = the forward-mode JVP of a while loop (root's tangent map of such an F): JAX
    cannot transpose it; before, custom_linear_solve failed even without differentiation
    ("Reverse-mode differentiation does not work for lax.while_loop")."""
    y0 = jnp.array([1.0, 2.0, 3.0])
    b = jnp.array([1.0, 0.0, 1.0])

    def A(v, k=1.0):
        return jax.jvp(lambda y: _while_map(y, k), (y0,), (v,))[1]

    dense = jax.jacfwd(lambda y: _while_map(y, 1.0))(y0)
    x = scidiff.linear_solve(A, b, method=method, rtol=1e-12).x
    np.testing.assert_allclose(x, jnp.linalg.solve(dense, b), rtol=1e-9)
    g = jax.grad(lambda bb: jnp.sum(scidiff.linear_solve(A, bb, method=method, rtol=1e-12).x))(b)
    np.testing.assert_allclose(g, jnp.linalg.solve(dense.T, jnp.ones(3)), rtol=1e-9)

    def in_k(k):
        Ak = lambda v: jax.jvp(lambda y: _while_map(y, k), (y0,), (v,))[1]
        return jnp.sum(scidiff.linear_solve(Ak, b, method=method, rtol=1e-12).x)

    h = 1e-6
    fd = (in_k(1.0 + h) - in_k(1.0 - h)) / (2 * h)
    np.testing.assert_allclose(jax.jvp(in_k, (1.0,), (1.0,))[1], fd, rtol=1e-6)


def test_failed_transposed_solve_raises():
    # The primal solve converges at once from the exact x0; the transposed solve (no
    # warm start, one iteration) cannot: the gradient must not be silently wrong.
    x_exact = jnp.linalg.solve(NONSYM, RHS)
    solver = scidiff.GMRES(rtol=1e-12, maxiter=1)

    def loss(b):
        return jnp.sum(scidiff.linear_solve(lambda v: NONSYM @ v, b, method=solver, x0=x_exact).x)

    assert bool(scidiff.linear_solve(NONSYM, RHS, method=solver, x0=x_exact).ok)
    with pytest.raises(RUNTIME_ERRORS, match="transposed linear solve.*did not converge"):
        jax.block_until_ready(jax.grad(loss)(RHS))


def test_cholesky_refuses_a_non_symmetric_matrix():
    A = jnp.array([[2.0, 1.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match="not symmetric: use method='lu'"):
        scidiff.linear_solve(A, jnp.ones(2), method="cholesky")
    # traced: a named failure at run time, not a wrong answer with ok=True
    sol = jax.jit(lambda a: scidiff.linear_solve(a, jnp.ones(2), method="cholesky", throw=False))(A)
    assert sol.result == RESULTS.not_positive_definite


def test_empty_system_and_nan_tolerances_are_refused():
    with pytest.raises(ValueError, match="the system is empty"):
        scidiff.linear_solve(jnp.zeros((0, 0)), jnp.zeros(0))
    with pytest.raises(ValueError, match="the system is empty"):
        scidiff.linear_solve(lambda x: x, jnp.zeros(0), method="cg")
    for kw in ({"rtol": float("nan")}, {"atol": jnp.nan}):
        with pytest.raises(ValueError, match="NaN"):
            scidiff.linear_solve(SYM, RHS, method="cg", **kw)


def test_shape_mismatch_message_names_the_dtypes():
    with pytest.raises(ValueError, match=r"got float32\[3\] but `b` is float64\[2\]"):
        scidiff.linear_solve(lambda x: x, jnp.ones(2), x0=jnp.ones(3, jnp.float32))


def test_root_singular_jacobian_in_reverse_mode_raises():
    # F has a line of roots; x0 is on it (converged at once), but dF/dx is singular, so
    # d x*/d a does not exist: the backward pass must say so, not return a number.
    def F(x, a):
        return jnp.stack([x[0] + x[1] - a, 2 * x[0] + 2 * x[1] - 2 * a])

    x0 = jnp.array([0.5, 0.5])
    assert bool(scidiff.root(F, x0, args=1.0).ok)
    with pytest.raises(RUNTIME_ERRORS, match="implicit-function-theorem.*singular"):
        jax.block_until_ready(jax.grad(lambda a: jnp.sum(scidiff.root(F, x0, args=a).x))(1.0))


def test_root_tiny_step_without_a_root_fails():
    # arctan(1e10 x) + 2 > 0.4 everywhere: Newton steps are tiny (steep F) but there is no root.
    sol = scidiff.root(lambda x, a: jnp.arctan(1e10 * x) + 2, jnp.array(0.0), throw=False)
    assert not bool(sol.ok)
    assert abs(float(jnp.arctan(1e10 * sol.x) + 2)) > 0.1
