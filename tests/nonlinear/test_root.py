"""root and fixed_point: against scipy.optimize and closed forms; damping; implicit
gradients (closed form, finite differences, check_grads); failures; jit/vmap; dtypes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax.test_util import check_grads

import scidiff
from scidiff import RESULTS


def scipy_example(x, a):
    """The nonlinear system of scipy.optimize.root's documentation, scaled by a."""
    return jnp.stack([x[0] + 0.5 * (x[0] - x[1]) ** 3 - a, 0.5 * (x[1] - x[0]) ** 3 + x[1]])


@functools.partial(jax.jit, static_argnames=("method", "linear_method"))
def jit_root(x0, a, *, method, linear_method="lu"):
    return scidiff.root(
        scipy_example, x0, args=a, method=method, linear_method=linear_method, throw=False
    )


@pytest.mark.parametrize(
    "method,linear_method", [("newton", "lu"), ("newton", "gmres"), ("broyden", "lu")]
)
def test_against_scipy(method, linear_method):
    ref = scipy.optimize.root(lambda x: np.asarray(scipy_example(x, 1.0)), [0.0, 0.0], tol=1e-14)
    sol = jit_root(jnp.zeros(2), 1.0, method=method, linear_method=linear_method)
    assert sol.ok
    np.testing.assert_allclose(sol.x, ref.x, rtol=1e-7, atol=1e-9)
    assert int(sol.stats["num_iterations"]) < 50


def test_newton_quadratic_convergence_and_damping():
    """arctan(x) = 0 from x0 = 10: undamped Newton diverges (|x| grows each step); the
    backtracking line search converges, and the last steps are quadratic."""
    x, xs = 10.0, []
    for _ in range(3):  # plain Newton: x - (1 + x^2) arctan(x)
        x = x - (1 + x**2) * np.arctan(x)
        xs.append(abs(x))
    assert xs[0] < xs[1] < xs[2]  # diverges
    sol = scidiff.root(lambda x, a: jnp.arctan(x), jnp.array(10.0), atol=1e-12)
    assert sol.ok and abs(float(sol.x)) < 1e-12
    assert int(sol.stats["num_fevals"]) > int(sol.stats["num_iterations"])  # it backtracked


def test_newton_krylov_bratu_matches_dense():
    """Bratu: -u'' = lam exp(u), u(0)=u(1)=0, n = 60; matrix-free GMRES Newton == LU Newton."""
    n = 60
    h = 1.0 / (n + 1)

    def bratu(u, lam):
        up = jnp.pad(u, 1)
        return -(up[2:] - 2 * up[1:-1] + up[:-2]) / h**2 - lam * jnp.exp(u)

    dense = scidiff.root(bratu, jnp.zeros(n), args=1.0, atol=1e-10)
    free = scidiff.root(bratu, jnp.zeros(n), args=1.0, atol=1e-10, linear_method="gmres")
    assert dense.ok and free.ok
    np.testing.assert_allclose(free.x, dense.x, rtol=1e-7)
    assert float(jnp.max(jnp.abs(bratu(dense.x, 1.0)))) <= 1e-10
    # Known value: max u for lam = 1 is about 0.1405 (lower branch).
    assert abs(float(jnp.max(dense.x)) - 0.1405) < 2e-3


def test_pytree_unknowns():
    def F(x, a):
        return {"u": x["u"] ** 2 - a, "v": x["v"] - 2 * x["u"]}

    sol = scidiff.root(
        F, {"u": jnp.array([1.0, 3.0]), "v": jnp.zeros(2)}, args=jnp.array([2.0, 9.0])
    )
    np.testing.assert_allclose(sol.x["u"], [np.sqrt(2), 3.0], rtol=1e-10)
    np.testing.assert_allclose(sol.x["v"], [2 * np.sqrt(2), 6.0], rtol=1e-10)


@pytest.mark.parametrize("method", ["newton", "broyden"])
def test_implicit_gradient(method):
    """x^3 = a  ->  dx/da = 1 / (3 x^2), per component; and check_grads (fwd + rev)."""
    F = lambda x, a: x**3 - a
    f = jax.jit(lambda a: scidiff.root(F, jnp.ones(3), args=a, method=method, atol=1e-13).x)
    a = jnp.array([2.0, 8.0, 27.0])
    jac = jax.jacrev(f)(a)
    np.testing.assert_allclose(jnp.diag(jac), 1 / (3 * a ** (2 / 3)), rtol=1e-9)
    np.testing.assert_allclose(jac - jnp.diag(jnp.diag(jac)), 0, atol=1e-12)
    check_grads(f, (a,), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)
    # jacfwd (vmap of JVPs) too: the primal solve must stay unbatched.
    np.testing.assert_allclose(jax.jacfwd(f)(a), jac, rtol=1e-9, atol=1e-12)


def test_gradient_to_args_pytree_system():
    """Gradient of the scipy system's root with respect to a, vs finite differences."""
    g = jax.grad(lambda a: jnp.sum(jit_root(jnp.zeros(2), a, method="newton").x ** 2))
    a = 1.3
    fd = (
        jnp.sum(jit_root(jnp.zeros(2), a + 1e-6, method="newton").x ** 2)
        - jnp.sum(jit_root(jnp.zeros(2), a - 1e-6, method="newton").x ** 2)
    ) / 2e-6
    np.testing.assert_allclose(g(a), fd, rtol=1e-6)


def test_bisection():
    F = lambda x, a: jnp.cos(x) - a * x
    sol = scidiff.root(F, (0.0, 2.0), args=1.0, method="bisection", rtol=0.0, atol=1e-14)
    assert sol.ok and abs(float(sol.x) - 0.7390851332151607) < 1e-13
    # Implicit derivative: dx/da = -x / (sin x + a).
    x = sol.x
    g = jax.grad(lambda a: scidiff.root(F, (0.0, 2.0), args=a, method="bisection").x)(1.0)
    np.testing.assert_allclose(g, -x / (jnp.sin(x) + 1.0), rtol=1e-6)
    # Reversed bracket and a root on an endpoint.
    rev = scidiff.root(F, (2.0, 0.0), args=1.0, method="bisection", atol=1e-12)
    np.testing.assert_allclose(rev.x, x, atol=1e-11)
    end = scidiff.root(lambda x, a: x - 1.0, (1.0, 3.0), method="bisection")
    assert float(end.x) == 1.0 and end.ok


def test_bisection_invalid_bracket():
    F = lambda x, a: x**2 + a
    with pytest.raises(ValueError, match="has no sign change"):
        scidiff.root(F, (0.0, 1.0), args=1.0, method="bisection")
    traced = jax.jit(
        lambda a: scidiff.root(F, (0.0, 1.0), args=a, method="bisection", throw=False).result
    )
    assert traced(1.0) == RESULTS.bracket_invalid
    assert traced(-0.25) == RESULTS.successful
    with pytest.raises(Exception, match="no sign change"):
        jax.jit(lambda a: scidiff.root(F, (0.0, 1.0), args=a, method="bisection").x)(1.0)


def test_failures_reported_under_vmap():
    """x^2 + a = 0 has no real root for a > 0: from x = 1 Newton lands on the minimum of
    |F| at x = 0, where the Jacobian is singular -- reported per member, never silently."""
    F = lambda x, a: x**2 + a
    sols = jax.vmap(lambda a: scidiff.root(F, jnp.array(1.0), args=a, throw=False))(
        jnp.array([-4.0, 1.0])
    )
    assert sols.ok.tolist() == [True, False]
    assert (sols.result == RESULTS.singular).tolist() == [False, True]
    np.testing.assert_allclose(sols.x[0], 2.0)
    # From x = 0.5 the damped steps stall near the minimum of |F|: the line search fails.
    stall = scidiff.root(F, jnp.array(0.5), args=1.0, throw=False)
    assert stall.result == RESULTS.line_search_failed
    few = scidiff.root(F, jnp.array(100.0), args=-4.0, maxiter=2, throw=False)
    assert few.result == RESULTS.nonconvergence
    with pytest.raises(Exception, match="did not converge within `maxiter`"):
        scidiff.root(F, jnp.array(100.0), args=-4.0, maxiter=2)


def test_no_recompile_for_args_and_tolerances():
    traces = []

    @jax.jit
    def solve(a, rtol, atol):
        traces.append(1)
        return scidiff.root(lambda x, a: x**3 - a, jnp.array(1.0), args=a, rtol=rtol, atol=atol).x

    np.testing.assert_allclose(solve(8.0, 1e-8, 1e-8), 2.0)
    np.testing.assert_allclose(solve(27.0, 1e-10, 1e-12), 3.0)
    assert len(traces) == 1


def test_float32():
    """Default tolerances (1e-8) are below float32 resolution: the step test's rtol is
    floored at 2 eps, so every method still converges instead of hitting maxiter."""
    a = jnp.float32(2.0)
    for method in ("newton", "broyden"):
        sol = scidiff.root(lambda x, a: x**2 - a, jnp.ones(2, jnp.float32), args=a, method=method)
        assert sol.x.dtype == jnp.float32 and sol.ok
        np.testing.assert_allclose(sol.x, np.sqrt(2.0), rtol=1e-6)
    bis = scidiff.root(
        lambda x, a: x**2 - a,
        (jnp.float32(0), jnp.float32(2)),
        args=a,
        method="bisection",
        rtol=0.0,
        atol=0.0,
    )
    assert bis.ok and bis.x.dtype == jnp.float32
    fp = scidiff.fixed_point(lambda x, a: jnp.cos(x), jnp.float32(1.0))
    assert fp.ok and abs(float(fp.x) - 0.7390851) < 1e-6


# ------------------------------------------------------------------------ fixed points


def test_fixed_point_against_scipy_and_anderson_speedup():
    g = lambda x, c: jnp.sqrt(c / (x + 10.0))
    c = jnp.array([10.0, 12.0])
    ref = scipy.optimize.fixed_point(
        lambda x: np.sqrt(np.asarray(c) / (x + 10)), [1.0, 1.0], xtol=1e-14
    )
    plain = scidiff.fixed_point(g, jnp.ones(2), args=c, rtol=1e-12, atol=1e-14)
    acc = scidiff.fixed_point(g, jnp.ones(2), args=c, method="anderson", rtol=1e-12, atol=1e-14)
    for s in (plain, acc):
        assert s.ok
        np.testing.assert_allclose(s.x, ref, rtol=1e-11)
    assert int(acc.stats["num_iterations"]) < int(plain.stats["num_iterations"])


def test_anderson_converges_where_iteration_does_not():
    """g(x) = -1.5 x + 1: |g'| > 1, plain iteration diverges; Anderson (a secant method for
    linear g) finds x = 0.4 in a couple of steps."""
    g = lambda x, a: -1.5 * x + a
    plain = scidiff.fixed_point(g, jnp.array(0.0), args=1.0, maxiter=50, throw=False)
    assert not plain.ok
    acc = scidiff.fixed_point(g, jnp.array(0.0), args=1.0, method="anderson")
    np.testing.assert_allclose(acc.x, 0.4, rtol=1e-10)


@pytest.mark.parametrize("method", ["iteration", "anderson"])
def test_fixed_point_gradient(method):
    """x = cos(a x): dx/da = -x sin(a x) / (1 + a sin(a x)); and finite differences."""
    f = jax.jit(
        lambda a: (
            scidiff.fixed_point(
                lambda x, a: jnp.cos(a * x),
                jnp.array(1.0),
                args=a,
                method=method,
                rtol=1e-13,
                atol=1e-14,
            ).x
        )
    )
    a = 0.9
    x = f(a)
    closed = -x * jnp.sin(a * x) / (1 + a * jnp.sin(a * x))
    np.testing.assert_allclose(jax.grad(f)(a), closed, rtol=1e-9)
    check_grads(f, (a,), order=1, modes=("fwd", "rev"), atol=1e-7, rtol=1e-7)


# ---------------------------------------------------------------------- static errors


def test_static_errors():
    F = lambda x, a: x**2 - 2.0
    with pytest.raises(ValueError, match="unknown method 'secant'"):
        scidiff.root(F, jnp.ones(2), method="secant")
    with pytest.raises(ValueError, match="`x0` does not match `F\\(x0, args\\)`"):
        scidiff.root(lambda x, a: x[:1], jnp.ones(2))
    with pytest.raises(ValueError, match="calling `F\\(x0, args\\)` failed"):
        scidiff.root(lambda x, a: x @ jnp.ones(3), jnp.ones(2))
    with pytest.raises(ValueError, match="`maxiter` must be a positive Python int"):
        scidiff.root(F, jnp.ones(2), maxiter=0)
    with pytest.raises(ValueError, match="`rtol` must be non-negative"):
        scidiff.root(F, jnp.ones(2), rtol=-1.0)
    with pytest.raises(ValueError, match="unknown linear_method 'cholesky'"):
        scidiff.root(F, jnp.ones(2), linear_method="cholesky")
    with pytest.raises(ValueError, match="needs the bracket as x0=\\(lo, hi\\)"):
        scidiff.root(F, jnp.ones(2), method="bisection")
    with pytest.raises(ValueError, match="lo and hi must be scalars"):
        scidiff.root(F, (jnp.zeros(2), jnp.ones(2)), method="bisection")
    with pytest.raises(ValueError, match="needs a scalar F"):
        scidiff.root(lambda x, a: jnp.stack([x, x]), (0.0, 2.0), method="bisection")
    with pytest.raises(ValueError, match="`x0` is empty"):
        scidiff.root(F, {})
    with pytest.raises(ValueError, match="`x0` does not match `g\\(x0, args\\)`"):
        scidiff.fixed_point(lambda x, a: x.sum(), jnp.ones(2))
    with pytest.raises(ValueError, match="`memory` must be a positive Python int"):
        scidiff.fixed_point(F, jnp.ones(2), method="anderson", memory=0)
    with pytest.raises(ValueError, match="unknown method 'newton'"):
        scidiff.fixed_point(F, jnp.ones(2), method="newton")
