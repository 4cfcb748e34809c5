"""least_squares: LM and Gauss-Newton vs scipy.optimize.least_squares; the argmin derivative
of a linear least-squares problem in closed form (pseudo-inverse); failures; errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax.test_util import check_grads

import scidiff
from scidiff import RESULTS

T = jnp.linspace(0.0, 3.0, 30)
DATA = 2.5 * jnp.exp(-1.3 * T) + 0.5 + 0.01 * jnp.asarray(np.random.default_rng(0).normal(size=30))


def decay(p, y):
    return p[0] * jnp.exp(-p[1] * T) + p[2] - y


@functools.partial(jax.jit, static_argnames="method")
def fit(y, method):
    # Tight tolerances: the finite-difference check divides solution errors by 1e-6.
    return scidiff.least_squares(
        decay,
        jnp.array([1.0, 1.0, 0.0]),
        args=y,
        method=method,
        rtol=1e-13,
        atol=1e-13,
        throw=False,
    )


@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
def test_exponential_fit_against_scipy(method):
    ref = scipy.optimize.least_squares(
        lambda p: np.asarray(decay(p, DATA)), [1.0, 1.0, 0.0], xtol=1e-15, ftol=1e-15, gtol=1e-15
    )
    sol = fit(DATA, method)
    assert sol.ok
    np.testing.assert_allclose(sol.x, ref.x, rtol=1e-7)
    np.testing.assert_allclose(sol.cost, ref.cost, rtol=1e-9)
    # Implicit derivative of the fitted parameters w.r.t. the data, vs finite differences.
    jac = jax.jacrev(lambda y: fit(y, method).x)(DATA)
    e = jnp.zeros(30).at[7].set(1e-6)
    fd = (fit(DATA + e, method).x - fit(DATA - e, method).x) / 2e-6
    np.testing.assert_allclose(jac[:, 7], fd, rtol=1e-4, atol=1e-8)


def test_lm_from_a_poor_start_and_pytrees():
    """Rosenbrock as residuals (10 (x1 - x0^2), 1 - x0) from (-1.2, 1), with a dict for x
    and a tuple residual."""

    def res(p, a):
        return (10.0 * (p["y"] - p["x"] ** 2), a - p["x"])

    for method in ("lm", "gauss-newton"):
        sol = scidiff.least_squares(
            res, {"x": jnp.array(-1.2), "y": jnp.array(1.0)}, args=1.0, method=method
        )
        np.testing.assert_allclose([sol.x["x"], sol.x["y"]], [1.0, 1.0], atol=1e-7)


def test_linear_least_squares_derivative_closed_form():
    """r = A x - b: x* = pinv(A) b, so dx*/db = pinv(A); check_grads in both modes."""
    A = jnp.asarray(np.random.default_rng(1).normal(size=(6, 3)))
    b = jnp.asarray(np.random.default_rng(2).normal(size=6))
    f = jax.jit(lambda b: scidiff.least_squares(lambda x, b: A @ x - b, jnp.zeros(3), args=b).x)
    np.testing.assert_allclose(f(b), np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-9)
    np.testing.assert_allclose(jax.jacfwd(f)(b), np.linalg.pinv(A), rtol=1e-8, atol=1e-12)
    check_grads(f, (b,), order=1, modes=("fwd", "rev"))


def test_failures():
    few = scidiff.least_squares(
        decay, jnp.array([1.0, 1.0, 0.0]), args=DATA, maxiter=1, throw=False
    )
    assert few.result == RESULTS.nonconvergence
    with pytest.raises(Exception, match="did not converge within `maxiter`"):
        scidiff.least_squares(decay, jnp.array([1.0, 1.0, 0.0]), args=DATA, maxiter=1)


def test_static_errors():
    with pytest.raises(ValueError, match="unknown method 'trf'"):
        scidiff.least_squares(decay, jnp.ones(3), args=DATA, method="trf")
    with pytest.raises(ValueError, match="calling `residual\\(x0, args\\)` failed"):
        scidiff.least_squares(decay, jnp.ones(4), args=jnp.ones(2))
    with pytest.raises(ValueError, match="`atol` must be non-negative"):
        scidiff.least_squares(decay, jnp.ones(3), args=DATA, atol=-1.0)
