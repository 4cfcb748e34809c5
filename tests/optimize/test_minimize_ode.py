"""minimize on objectives that contain solve_ivp (issue 18): the primal needs first
derivatives only, and the argmin is differentiable by the implicit function theorem.

Decay y' = -k y, y(0) = 1, loss (y(1) - o)^2: the minimiser is k* = -log(o), so
dk*/do = -1/o (both up to the ODE tolerance)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import scidiff

TOL = dict(rtol=1e-10, atol=1e-12)


def decay_loss(k, o, adjoint=None, solver=None):
    adjoint = scidiff.RecursiveCheckpoint() if adjoint is None else adjoint
    solver = scidiff.Tsit5() if solver is None else solver
    sol = scidiff.solve_ivp(
        lambda t, y, k: -k * y,
        (0.0, 1.0),
        jnp.ones(()),
        args=k,
        solver=solver,
        adjoint=adjoint,
        **TOL,
    )
    return (sol.ys[-1] - o) ** 2


@jax.jit
def fit_lbfgs(o):
    return scidiff.minimize(decay_loss, jnp.array(0.5), args=o, gtol=1e-12)


@pytest.mark.parametrize("method", ["lbfgs", "bfgs", "adam"])
def test_fit_decay_rate(method):
    """Before the fix each method raised 'Reverse-mode differentiation does not work for
    lax.while_loop' from custom_root's tangent set-up."""
    o = 0.27
    if method == "lbfgs":
        sol = fit_lbfgs(o)
    else:
        m = optax.adam(0.05) if method == "adam" else method
        sol = scidiff.minimize(
            decay_loss, jnp.array(0.5), args=o, method=m, gtol=1e-9, maxiter=3000
        )
    assert sol.ok
    np.testing.assert_allclose(sol.x, -np.log(o), rtol=1e-7)
    h = sol.history[: int(sol.stats["num_iterations"]) + 1]
    assert np.all(np.isfinite(h)) and h[-1] < h[0]


@pytest.mark.parametrize(
    "adjoint,solver",
    [(scidiff.Backsolve(), scidiff.Tsit5()), (scidiff.RecursiveCheckpoint(), scidiff.Kvaerno5())],
)
def test_other_adjoints_and_stiff_solver(adjoint, solver):
    loss = lambda k, o: decay_loss(k, o, adjoint=adjoint, solver=solver)
    sol = scidiff.minimize(loss, jnp.array(0.5), args=0.27, gtol=1e-10)
    np.testing.assert_allclose(sol.x, -np.log(0.27), rtol=1e-6)


def test_argmin_derivatives_through_the_ode():
    """jax.grad (reverse: the mixed second derivative is formed column by column) and
    jax.jacfwd (forward-over-reverse) of k*(o) against -1/o."""
    k_of = lambda o: fit_lbfgs(o).x
    np.testing.assert_allclose(jax.grad(k_of)(0.27), -1 / 0.27, rtol=1e-6)
    np.testing.assert_allclose(jax.jacfwd(k_of)(0.27), -1 / 0.27, rtol=1e-6)
    # The minimum value is 0 for every o (an exact fit): its derivative too.
    assert abs(float(jax.grad(lambda o: fit_lbfgs(o).fun)(0.27))) < 1e-8


def test_hessian_and_singular_hessian_of_the_argmin():
    """jax.hessian of a minimiser (the IFT rule re-applied to itself) against the closed
    form of ridge regression, x*(lam) = (A^T A + lam I)^{-1} A^T b; and a flat direction
    (singular Hessian) makes the derivative a named failure, not NaNs."""
    A = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, -1.0]])
    b = jnp.array([1.0, -1.0, 2.0])
    f = lambda x, lam: 0.5 * jnp.sum((A @ x - b) ** 2) + 0.5 * lam * x @ x
    ridge = lambda lam: scidiff.minimize(f, jnp.zeros(2), args=lam, gtol=1e-12).x
    exact = lambda lam: jnp.linalg.solve(A.T @ A + lam * jnp.eye(2), A.T @ b)
    np.testing.assert_allclose(jax.hessian(ridge)(0.7), jax.hessian(exact)(0.7), rtol=1e-7)
    flat = lambda x, c: (x[0] - c) ** 2  # x[1] does not enter: H = diag(2, 0)
    sol = jax.jvp(
        lambda c: scidiff.minimize(flat, jnp.zeros(2), args=c, throw=False), (1.0,), (1.0,)
    )[0]
    assert sol.result == scidiff.RESULTS.singular
