"""The implicit solvers on the shared linear-algebra layer: user-written linear solvers,
named failures of the linear solves, backward-pass failures, inherited tolerances."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff import RESULTS

RUNTIME_ERRORS = (eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError)


class CountingDense(scidiff.AbstractLinearSolver):
    """A user's dense solver: jnp.linalg.solve on the matrix it is handed."""

    needs_matrix = True

    def init(self, operator):
        return operator.matrix

    def compute(self, state, b, *, x0=None, precond=None):
        zero = jnp.zeros((), jnp.int32)
        stats = {"num_iterations": zero, "num_restarts": zero}
        return jnp.linalg.solve(state, b), RESULTS.successful, stats

    def transpose(self, state, operator_t):
        return state.T


def vdp(t, y, mu):
    return jnp.stack([y[1], mu * ((1 - y[0] ** 2) * y[1] - y[0])])


Y0 = jnp.array([2.0, 0.0])


@pytest.mark.parametrize("solver_cls", [scidiff.Kvaerno5, scidiff.BDF, scidiff.Rodas5])
def test_user_linear_solver_in_solve_ivp(solver_cls):
    def final(linear_solver, mu):
        sol = scidiff.solve_ivp(
            vdp, (0.0, 1.0), Y0, args=mu, solver=solver_cls(linear_solver=linear_solver),
            rtol=1e-8, atol=1e-10,
        )  # fmt: skip
        return sol.ys[-1]

    ours = final(CountingDense(), 10.0)
    ref = final(scidiff.DenseLU(), 10.0)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    # and its gradient (the tangent / transposed solves also go through the user's solver)
    g = jax.grad(lambda mu: final(CountingDense(), mu)[0])(10.0)
    g_ref = jax.grad(lambda mu: final(scidiff.DenseLU(), mu)[0])(10.0)
    np.testing.assert_allclose(g, g_ref, rtol=1e-8)


def test_shared_solver_objects_as_linear_solver():
    ref = scidiff.solve_ivp(vdp, (0.0, 1.0), Y0, args=10.0, solver=scidiff.Kvaerno5(), rtol=1e-8)
    for ls in (scidiff.LU(), scidiff.GMRES(rtol=1e-10), scidiff.DenseJacobian(scidiff.LU()),
               scidiff.MatrixFreeJacobian(scidiff.BiCGSTAB(rtol=1e-10))):  # fmt: skip
        sol = scidiff.solve_ivp(
            vdp, (0.0, 1.0), Y0, args=10.0, solver=scidiff.Kvaerno5(linear_solver=ls), rtol=1e-8
        )
        np.testing.assert_allclose(sol.ys[-1], ref.ys[-1], rtol=1e-6)


class Broken(scidiff.AbstractLinearSolver):
    """A linear solver that always reports a Krylov breakdown."""

    def init(self, operator):
        return None

    def compute(self, state, b, *, x0=None, precond=None):
        zero = jnp.zeros((), jnp.int32)
        return b, RESULTS.breakdown, {"num_iterations": zero, "num_restarts": zero}


@pytest.mark.parametrize("solver_cls", [scidiff.Kvaerno5, scidiff.Rodas5, scidiff.BDF])
def test_failed_linear_solve_rejects_the_step_with_its_result(solver_cls):
    # Before, NewtonKrylov discarded GMRES's status; now a failed solve inside a step
    # rejects it, and when the step size underflows the solve ends naming the failure.
    sol = scidiff.solve_ivp(
        vdp, (0.0, 1.0), Y0, args=10.0, solver=solver_cls(linear_solver=Broken()), throw=False
    )
    assert sol.result == RESULTS.breakdown
    assert int(sol.stats["num_steps"]) == 0


def test_singular_jacobian_in_reverse_mode_names_it():
    # f(y) = y / dt makes the exact stage matrix I - dt J of implicit Euler zero. The stage
    # residual is zero at y0 = 0, so the forward solve succeeds; the derivative does not
    # exist, and the backward pass must say so rather than return a number.
    dt = 0.5

    def loss(y0):
        sol = scidiff.solve_ivp(
            lambda t, y, a: y / dt, (0.0, dt), y0, solver=scidiff.ImplicitEuler(), dt0=dt,
            controller=scidiff.ConstantStepSize(),
        )  # fmt: skip
        return jnp.sum(sol.ys[-1])

    assert float(loss(jnp.zeros(2))) == 0.0
    with pytest.raises(RUNTIME_ERRORS, match="implicit ODE stage.*singular"):
        jax.block_until_ready(jax.grad(loss)(jnp.zeros(2)))


def test_newton_tolerances_are_inherited_not_restated():
    solver = scidiff.Kvaerno5()
    with pytest.raises(ValueError, match="inherited from solve_ivp"):
        solver._tolerances(jnp.float64)
    rtol, atol = solver.with_tolerances(1e-3, 1e-5)._tolerances(jnp.float64)
    assert float(rtol) == 1e-3 and float(atol) == 1e-5


def test_linear_solver_type_is_checked():
    with pytest.raises(TypeError, match="subclass of scidiff.AbstractLinearSolver"):
        scidiff.BDF(linear_solver="lu")
