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
