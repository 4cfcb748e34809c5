"""Stiff solvers through every solve_ivp feature: jit/vmap, recompiles, dtypes, pytrees,
dense output, events, failures and the static error messages."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff._ode._solvers._esdirk import ESDIRKTableau

A = jnp.array([1.0, 50.0])
Y0 = jnp.array([2.0, 0.0])


def field(t, y, a):
    # y' = -a (y - cos t) - sin t  =>  y(t) = cos t + (y0 - 1) exp(-a t); stiff for a = 50
    return -a * (y - jnp.cos(t)) - jnp.sin(t)


def exact(t):
    t = np.asarray(t, dtype=np.float64)[..., None]
    return np.cos(t) + (np.asarray(Y0) - 1) * np.exp(-np.asarray(A) * t)


def test_vmap_over_tolerances_and_no_recompile():
    traces = []

    def counted(t, y, a):
        traces.append(1)
        return field(t, y, a)

    def final(rtol, t1):
        sol = scidiff.solve_ivp(counted, (0.0, t1), Y0, args=A, solver=scidiff.Rodas5(),
                                rtol=rtol, atol=rtol * 1e-3)  # fmt: skip
        return sol.ys[-1]

    rtols = jnp.array([1e-4, 1e-6, 1e-8])
    ys = jax.vmap(final, in_axes=(0, None))(rtols, 1.0)
    errs = np.abs(np.asarray(ys) - exact(1.0)).max(axis=1)
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-7
    # Plain calls: new tolerances, end time and arguments do not retrace the solve.
    final(1e-5, 1.0)
    n = len(traces)
    final(1e-7, 2.0)
    final(3e-6, 0.5)
    assert len(traces) == n


def test_vmap_over_initial_conditions_bdf_dense_output():
    y0s = jnp.stack([Y0, Y0 + 1.0, Y0 - 0.5])

    def solve(y0):
        return scidiff.solve_ivp(field, (0.0, 1.0), y0, args=A, solver=scidiff.BDF(),
                                 rtol=1e-8, atol=1e-10, dense=True)  # fmt: skip

    sols = jax.vmap(solve)(y0s)
    assert sols.ys.shape == (3, 1, 2)
    assert bool(jnp.all(sols.ok))
    # BDF dense output (the interpolating polynomial of its difference array).
    t = jnp.array([0.013, 0.31, 0.77])
    ys = jax.vmap(lambda s: s.evaluate(t))(sols)
    for k in range(3):
        shift = np.asarray(y0s[k] - Y0)
        ref = exact(t) + shift * np.exp(-np.asarray(A) * np.asarray(t)[:, None])
        np.testing.assert_allclose(np.asarray(ys[k]), ref, atol=2e-6)


def test_float32_stays_float32():
    sol = scidiff.solve_ivp(field, (0.0, 1.0), Y0.astype(jnp.float32), args=A.astype(jnp.float32),
                            solver=scidiff.Kvaerno5(), rtol=1e-4, atol=1e-6)  # fmt: skip
    assert sol.ys.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(sol.ys[-1]), exact(1.0), atol=1e-4)


def test_pytree_state_and_terminal_event():
    # y = {"fast": ..., "slow": ...}: same problem, split into a dict.
    def split_field(t, y, a):
        return {"fast": field(t, y["fast"], a[1]), "slow": field(t, y["slow"], a[0])}

    y0 = {"fast": Y0[1], "slow": Y0[0]}
    # The slow component y = cos t + exp(-t) crosses 0.5 once in [0, 3].
    event = scidiff.Event(lambda t, y, a: y["slow"] - 0.5)
    sol = scidiff.solve_ivp(split_field, (0.0, 3.0), y0, args=A, solver=scidiff.Kvaerno5(),
                            rtol=1e-9, atol=1e-11, events=event)  # fmt: skip
    assert sol.result == scidiff.RESULTS.event_occurred
    from scipy.optimize import brentq

    t_star = brentq(lambda t: np.cos(t) + np.exp(-t) - 0.5, 0.5, 3.0)
    assert abs(float(jnp.ravel(sol.event_ts)[0]) - t_star) < 1e-6
    assert abs(float(sol.ts[-1]) - t_star) < 1e-6  # the solve stopped there


def test_newton_failure_is_named():
    # kappa = 0 can never be met: every step's Newton iteration "fails", the loop shrinks
    # the step until it underflows and reports the cause.
    hopeless = scidiff.ImplicitEuler(kappa=0.0, max_newton_iters=2)
    sol = scidiff.solve_ivp(field, (0.0, 1.0), Y0, args=A, solver=hopeless, throw=False)
    assert not bool(sol.ok)
    assert sol.result == scidiff.RESULTS.newton_nonconvergence
    assert int(sol.stats["num_rejected"]) > 10
    with pytest.raises(Exception, match="Newton iteration"):
        scidiff.solve_ivp(field, (0.0, 1.0), Y0, args=A, solver=hopeless).ys.block_until_ready()


def test_static_errors():
    with pytest.raises(TypeError, match="linear_solver` must be scidiff.DenseLU"):
        scidiff.Kvaerno5(linear_solver="lu")
    with pytest.raises(TypeError, match="linear_solver` must be scidiff.DenseLU"):
        scidiff.Rodas5(linear_solver=np.eye(2))
    with pytest.raises(ValueError, match="max_order=...\\) must be an int in 1..5"):
        scidiff.BDF(max_order=6)
    with pytest.raises(ValueError, match="restart >= 1 and maxiter >= 1"):
        scidiff.NewtonKrylov(restart=0)
    with pytest.raises(TypeError, match="preconditioner=...\\) must be None or a callable"):
        scidiff.NewtonKrylov(preconditioner=3.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(a=[[0, 0], [1, 0]], b_error=[-1, 1], predictor=np.zeros((2, 2))), "one gamma > 0"),
        (dict(a=[[1, 0], [0, 1]], b_error=[-1, 1], predictor=np.zeros((2, 2))), "explicit"),
        (dict(a=[[0, 1], [0, 1]], b_error=[-1, 1], predictor=np.zeros((2, 2))), "lower-triangular"),
        (dict(a=[[0, 0], [0, 0.5]], b_error=[-1, 1], predictor=np.zeros((2, 2))), "sum to 1"),
        (dict(a=[[0, 0], [0, 1]], b_error=[1, 1], predictor=np.zeros((2, 2))), "summing to 0"),
        (dict(a=[[0, 0], [0, 1]], b_error=[-1, 1], predictor=np.ones((2, 2))), "strictly lower"),
    ],
)
def test_tableau_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ESDIRKTableau(**kwargs)
