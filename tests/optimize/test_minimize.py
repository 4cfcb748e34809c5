"""minimize: Rosenbrock in 10 and 100 dimensions vs scipy; optax transformations; the
implicit derivative of an argmin with a closed form; failures; jit/vmap; dtypes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize
from jax.test_util import check_grads

import scidiff
from scidiff import RESULTS


def rosenbrock(x, a):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (a - x[:-1]) ** 2)


@functools.partial(jax.jit, static_argnames=("method", "n"))
def jit_rosen(a, gtol, *, method, n):
    x0 = jnp.zeros(n).at[::2].set(-1.2).at[1::2].set(1.0)
    return scidiff.minimize(rosenbrock, x0, args=a, method=method, gtol=gtol, throw=False)


@pytest.mark.parametrize("n", [10, 100])
@pytest.mark.parametrize("method", ["lbfgs", "bfgs"])
def test_rosenbrock_against_scipy(method, n):
    x0 = np.zeros(n)
    x0[::2], x0[1::2] = -1.2, 1.0
    ref = scipy.optimize.minimize(
        scipy.optimize.rosen,
        x0,
        jac=scipy.optimize.rosen_der,
        method="L-BFGS-B",
        options={"gtol": 1e-10, "ftol": 0, "maxiter": 10_000},
    )
    sol = jit_rosen(1.0, 1e-8, method=method, n=n)
    assert sol.ok, sol.result
    grad = jax.grad(rosenbrock)(sol.x, 1.0)
    assert float(jnp.max(jnp.abs(grad))) <= 1e-8
    np.testing.assert_allclose(sol.x, ref.x, atol=1e-6)
    np.testing.assert_allclose(sol.x, np.ones(n), atol=1e-7)
    assert float(sol.fun) < 1e-14
    assert int(sol.stats["num_fevals"]) >= int(sol.stats["num_iterations"]) > 10


def test_optax_transformations():
    """A plain optax transformation (Adam) and an extra-args one (SGD + backtracking line
    search) both reach gtol on a convex quadratic."""
    Q = jnp.array([[3.0, 0.5], [0.5, 1.0]])
    f = lambda x, c: 0.5 * x @ Q @ x - c @ x
    c = jnp.array([1.0, -2.0])
    x_star = jnp.linalg.solve(Q, c)
    adam = scidiff.minimize(
        f, jnp.zeros(2), args=c, method=optax.adam(0.05), gtol=1e-6, maxiter=5000
    )
    np.testing.assert_allclose(adam.x, x_star, atol=1e-5)
    linesearch = optax.chain(
        optax.sgd(1.0),
        optax.scale_by_backtracking_linesearch(max_backtracking_steps=30, store_grad=True),
    )
    bt = scidiff.minimize(f, jnp.zeros(2), args=c, method=linesearch, gtol=1e-8)
    np.testing.assert_allclose(bt.x, x_star, atol=1e-7)
    assert int(bt.stats["num_iterations"]) < int(adam.stats["num_iterations"])


def test_pytree_parameters():
    f = lambda p, t: jnp.sum((p["w"] - t) ** 2) + (p["b"] - 1.0) ** 2
    sol = scidiff.minimize(f, {"w": jnp.zeros(3), "b": jnp.array(0.0)}, args=jnp.arange(3.0))
    np.testing.assert_allclose(sol.x["w"], [0.0, 1.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(sol.x["b"], 1.0, atol=1e-6)


@functools.partial(jax.jit, static_argnames="method")
def ridge(lam, b, method="lbfgs"):
    A = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, -1.0]])
    f = lambda x, p: 0.5 * jnp.sum((A @ x - p[1]) ** 2) + 0.5 * p[0] * x @ x
    return scidiff.minimize(f, jnp.zeros(2), args=(lam, b), method=method, gtol=1e-11).x


@pytest.mark.parametrize("method", ["lbfgs", "bfgs"])
def test_argmin_derivative_closed_form(method):
    """Ridge regression: x* = (A^T A + lam I)^{-1} A^T b, so dx*/dlam = -(A^T A + lam I)^{-1}
    x* and dx*/db = (A^T A + lam I)^{-1} A^T."""
    A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, -1.0]])
    b = jnp.array([1.0, -1.0, 2.0])
    lam = 0.7
    K = A.T @ A + lam * np.eye(2)
    x_star = np.linalg.solve(K, A.T @ b)
    np.testing.assert_allclose(ridge(lam, b, method), x_star, rtol=1e-9)
    dlam, db = jax.jacrev(ridge, argnums=(0, 1))(lam, b, method)
    np.testing.assert_allclose(dlam, -np.linalg.solve(K, x_star), rtol=1e-8)
    np.testing.assert_allclose(db, np.linalg.solve(K, A.T), rtol=1e-8, atol=1e-12)
    if method == "lbfgs":
        check_grads(lambda l: ridge(l, b, method), (lam,), order=1, modes=("fwd", "rev"))


def test_nonconvergence_and_vmap():
    few = scidiff.minimize(rosenbrock, jnp.zeros(10), args=1.0, maxiter=3, throw=False)
    assert few.result == RESULTS.nonconvergence
    with pytest.raises(Exception, match="did not converge within `maxiter`"):
        scidiff.minimize(rosenbrock, jnp.zeros(10), args=1.0, maxiter=3)
    # Per-member results under vmap: gtol = 1e-300 is beyond float64, so that member stops
    # (no decrease possible, or maxiter) and says so; the other one is unaffected.
    # (a = 0.3: the minimiser is not exactly representable, so the gradient never hits 0.)
    sols = jax.vmap(lambda g: jit_rosen(0.3, g, method="lbfgs", n=10))(jnp.array([1e-8, 1e-300]))
    assert sols.ok.tolist() == [True, False]
    assert float(jnp.max(jnp.abs(jax.grad(rosenbrock)(sols.x[0], 0.3)))) <= 1e-8


def test_no_recompile_for_args_and_gtol():
    traces = []

    @jax.jit
    def solve(a, gtol):
        traces.append(1)
        return scidiff.minimize(rosenbrock, jnp.zeros(4), args=a, gtol=gtol).x

    for a, gtol in ((1.0, 1e-6), (1.5, 1e-9)):
        x = solve(a, gtol)
        assert float(jnp.max(jnp.abs(jax.grad(rosenbrock)(x, a)))) <= gtol
    assert len(traces) == 1


def test_float32():
    f = lambda x, c: jnp.sum((x - c) ** 2) + 0.1 * jnp.sum(x**4)
    sol = scidiff.minimize(f, jnp.zeros(3, jnp.float32), args=jnp.ones(3, jnp.float32), gtol=1e-4)
    assert sol.x.dtype == jnp.float32 and sol.ok
    x = sol.x
    np.testing.assert_allclose(2 * (x - 1) + 0.4 * x**3, 0, atol=1e-4)


def test_static_errors():
    f = lambda x, a: jnp.sum(x**2)
    with pytest.raises(ValueError, match="unknown method 'newton'"):
        scidiff.minimize(f, jnp.ones(2), method="newton")
    with pytest.raises(
        TypeError, match="must be 'lbfgs', 'bfgs' or an optax.GradientTransformation"
    ):
        scidiff.minimize(f, jnp.ones(2), method=3)
    with pytest.raises(ValueError, match="must return a scalar"):
        scidiff.minimize(lambda x, a: x**2, jnp.ones(2))
    with pytest.raises(ValueError, match="calling `fun\\(x0, args\\)` failed"):
        scidiff.minimize(lambda x, a: x @ jnp.ones(3), jnp.ones(2))
    with pytest.raises(ValueError, match="`maxiter` must be a positive Python int"):
        scidiff.minimize(f, jnp.ones(2), maxiter=-1)
    with pytest.raises(ValueError, match="`gtol` must be non-negative"):
        scidiff.minimize(f, jnp.ones(2), gtol=-1.0)
