"""Every static mistake raises ValueError/TypeError naming the fix; every runtime failure
is named in the error (throw=True) and in `result` (throw=False, also under vmap)."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import scidiff
from scidiff import RESULTS

RUNTIME_ERRORS = (eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError)


def decay(t, y, args):
    return -y


Y0 = jnp.ones(2)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(f=3), TypeError, "`f` must be callable"),
        (dict(solver="tsit5"), TypeError, "must be a scidiff ODE solver instance"),
        (dict(solver=scidiff.Tsit5), TypeError, r"pass Tsit5\(\), not the class"),
        (dict(t_span=(0.0, 1.0, 2.0)), ValueError, r"`t_span` must be a pair"),
        (dict(t_span=(jnp.zeros(2), 1.0)), ValueError, "must hold two scalars"),
        (dict(dt0=jnp.ones(2)), ValueError, "`dt0` must be a scalar"),
        (dict(t_span=(0.0, jnp.inf)), ValueError, "`t_span` must be finite"),
        (dict(rtol=-1e-3), ValueError, "`rtol` must be non-negative"),
        (dict(atol=-1.0), ValueError, "`atol` must be non-negative"),
        (dict(rtol=0.0, atol=0.0), ValueError, "both zero"),
        (dict(rtol=jnp.ones(3)), ValueError, "must broadcast to y0's leaves"),
        (dict(t_eval=jnp.array([0.5, 0.2])), ValueError, "strictly monotone"),
        (dict(t_eval=jnp.array([0.5, 1.5])), ValueError, "must lie inside t_span"),
        (dict(t_eval=jnp.zeros((2, 2))), ValueError, "non-empty 1-D"),
        (dict(dt0=-0.1), ValueError, "points against the integration direction"),
        (dict(dt0=0.0), ValueError, "finite and non-zero"),
        (dict(solver=scidiff.RK4()), ValueError, r"need the step: pass dt0"),
        (dict(controller=scidiff.ConstantStepSize()), ValueError, "need the step"),
        (
            dict(solver=scidiff.RK4(), controller=scidiff.PIDController(), dt0=0.1),
            ValueError,
            "has no error estimate",
        ),
        (dict(controller="pid"), TypeError, "`controller` must be None"),
        (dict(adjoint="adjoint"), TypeError, "`adjoint` must be"),
        (dict(events=[lambda t, y, a: y[0]]), TypeError, "must be a scidiff.Event"),
        (dict(dense=1), TypeError, "`dense` must be True or False"),
        (dict(throw="yes"), TypeError, "`throw` must be True or False"),
        (dict(max_steps=0), ValueError, "`max_steps` must be a positive int"),
        (dict(y0=jnp.array([1, 2])), TypeError, "must hold floating"),
        (dict(y0={}), ValueError, "at least one array"),
        (
            dict(adjoint=scidiff.Backsolve(), dense=True),
            ValueError,
            "Backsolve.*does not support",
        ),
        (
            dict(f=lambda t, y, a: jnp.concatenate([y, y])),
            ValueError,
            r"leaf 0 is float64\[4\] but y0's is float64\[2\]",
        ),
        (dict(f=lambda t, y, a: (y, y)), ValueError, "structure of y0"),
        (
            dict(f=lambda t, y, a: y.astype(jnp.float32)),
            ValueError,
            "make f's output match y0's shape and dtype",
        ),
        (
            dict(events=scidiff.Event(lambda t, y, a: y)),
            ValueError,
            r"events\[0\].cond must return a scalar",
        ),
    ],
)
def test_static_errors(kwargs, exc, match):
    call = dict(f=decay, t_span=(0.0, 1.0), y0=Y0)
    call.update(kwargs)
    f, t_span, y0 = call.pop("f"), call.pop("t_span"), call.pop("y0")
    with pytest.raises(exc, match=match):
        scidiff.solve_ivp(f, t_span, y0, **call)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(cond=1.0), TypeError, "`cond` must be callable"),
        (dict(terminal=1.5), TypeError, "`terminal` must be True, False or an int"),
        (dict(terminal=-2), ValueError, "`terminal` must be a non-negative int"),
        (dict(direction=2), ValueError, "`direction` must be -1"),
        (dict(max_events=0), ValueError, "`max_events` must be a positive int"),
    ],
)
def test_event_errors(kwargs, exc, match):
    call = dict(cond=lambda t, y, a: y[0])
    call.update(kwargs)
    with pytest.raises(exc, match=match):
        scidiff.Event(call.pop("cond"), **call)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(safety=1.5), ValueError, r"`safety` must lie in \(0, 1\]"),
        (dict(factormin=2.0), ValueError, "0 < factormin < 1 < factormax"),
        (dict(icoeff=0.0), ValueError, "pcoeff \\+ icoeff \\+ dcoeff > 0"),
        (dict(dtmax=-1.0), ValueError, "`dtmax` must be positive"),
        (dict(pcoeff="a"), TypeError, "must be a finite Python number"),
    ],
)
def test_controller_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        scidiff.PIDController(**kwargs)


def test_checkpoint_errors_and_evaluate_without_dense():
    with pytest.raises(ValueError, match="`checkpoint_every` must be a positive int"):
        scidiff.RecursiveCheckpoint(checkpoint_every=0)
    sol = scidiff.solve_ivp(decay, (0.0, 1.0), Y0)
    with pytest.raises(ValueError, match=r"call solve_ivp\(\.\.\., dense=True\)"):
        sol.evaluate(0.5)


# --- runtime failures --------------------------------------------------------------


def blowup(t, y, args):
    return y**2  # y(t) = 1 / (1 - t): singular at t = 1


def nan_field(t, y, args):
    return jnp.where(t > 0.5, jnp.nan, -y)


@pytest.mark.parametrize(
    "f, kwargs, result, match",
    [
        (decay, dict(max_steps=3), RESULTS.max_steps_reached, "max_steps reached"),
        (blowup, dict(), RESULTS.dt_underflow, "step size underflow"),
        (nan_field, dict(), RESULTS.nonfinite, "non-finite value"),
        (
            nan_field,
            dict(dt0=0.1, controller=scidiff.ConstantStepSize()),
            RESULTS.nonfinite,
            "non-finite value",
        ),
    ],
)
def test_runtime_failures_named(f, kwargs, result, match):
    with pytest.raises(eqx.EquinoxRuntimeError, match=match):
        scidiff.solve_ivp(f, (0.0, 2.0), Y0, **kwargs)
    sol = scidiff.solve_ivp(f, (0.0, 2.0), Y0, throw=False, **kwargs)
    assert sol.result == result
    assert not bool(sol.ok)
    # The partial solution: the final state reached is finite and before t1.
    assert bool(jnp.all(jnp.isfinite(sol.ys))) and float(sol.ts[0]) < 2.0


def test_eager_failure_is_one_line_naming_the_time_and_the_origin():
    """Called eagerly, a failure is a scidiff.SolveError (an EquinoxRuntimeError) whose one
    message says where the solve stopped and, for NaN/Inf, that f produced it (y0 and
    f(t0, y0) were finite); sol.t_final holds the same time with throw=False."""
    with pytest.raises(scidiff.SolveError) as info:
        scidiff.solve_ivp(nan_field, (0.0, 2.0), Y0)
    text = str(info.value)
    assert "\n" not in text and "EQX_ON_ERROR" not in text
    stopped = float(re.search(r"stopped at t = ([0-9.e+-]+)", text).group(1))
    assert 0.3 < stopped <= 0.5 + 1e-9
    assert "non-finite value" in text and "y0 and f(t0, y0, args) were finite" in text
    sol = scidiff.solve_ivp(nan_field, (0.0, 2.0), Y0, throw=False)
    assert float(sol.t_final) == pytest.approx(stopped, rel=1e-5)
    assert float(scidiff.solve_ivp(decay, (0.0, 2.0), Y0).t_final) == 2.0
    # Other failures name their time too, without the NaN sentence.
    with pytest.raises(scidiff.SolveError, match="step size underflow") as info:
        scidiff.solve_ivp(blowup, (0.0, 2.0), Y0)
    singular_at = float(re.search(r"stopped at t = ([0-9.e+-]+)", str(info.value)).group(1))
    assert singular_at == pytest.approx(1.0, abs=1e-3)  # y = 1 / (1 - t)
    with pytest.raises(scidiff.SolveError) as info:
        scidiff.solve_ivp(decay, (0.0, 2.0), Y0, max_steps=3)
    assert "were finite" not in str(info.value) and "max_steps reached" in str(info.value)
    # Under jit the check is traced and raises at run time, with the cause named.
    with pytest.raises(RUNTIME_ERRORS, match="non-finite value"):
        jax.jit(lambda y: scidiff.solve_ivp(nan_field, (0.0, 2.0), y).ys)(Y0)


def test_partial_solution_under_vmap():
    """A batch where only one member fails: per-member results, no raise with throw=False."""
    t_eval = jnp.array([0.0, 0.5, 0.9, 1.5])

    @jax.jit
    @jax.vmap
    def solve(y0):
        return scidiff.solve_ivp(blowup, (0.0, 1.5), y0, t_eval=t_eval, throw=False)

    sol = solve(jnp.array([[-1.0], [0.5], [1.0]]))  # y0 = 1 hits the singularity at t = 1
    assert sol.ok.tolist() == [True, True, False]
    assert (sol.result == RESULTS.dt_underflow).tolist() == [False, False, True]
    # The failed member keeps its values before the singularity, inf after.
    assert bool(jnp.isfinite(sol.ys[2, :3]).all()) and bool(jnp.isinf(sol.ys[2, 3]).all())
    assert bool(jnp.isinf(sol.ts[2, 3])) and float(sol.ts[1, 3]) == 1.5
    assert jnp.allclose(sol.ys[1, :, 0], 0.5 / (1 - 0.5 * t_eval), rtol=1e-5)
    with pytest.raises(eqx.EquinoxRuntimeError, match="step size underflow"):
        jax.vmap(lambda y0: scidiff.solve_ivp(blowup, (0.0, 1.5), y0).ys)(jnp.array([[0.5], [1.0]]))


def test_backsolve_with_symplectic_solver_is_refused():
    q_p = (jnp.ones(1), jnp.zeros(1))
    osc = lambda t, y, args: (y[1], -y[0])
    with pytest.raises(ValueError, match=r"Backsolve\(\) cannot run with Leapfrog\(\)"):
        scidiff.solve_ivp(
            osc, (0.0, 1.0), q_p, solver=scidiff.Leapfrog(), dt0=0.1, adjoint=scidiff.Backsolve()
        )


def test_backwards_dt0_may_be_a_magnitude_or_signed():
    a = scidiff.solve_ivp(decay, (1.0, 0.0), Y0, solver=scidiff.RK4(), dt0=0.1)
    b = scidiff.solve_ivp(decay, (1.0, 0.0), Y0, solver=scidiff.RK4(), dt0=-0.1)
    assert jnp.allclose(a.ys, b.ys)
    assert jnp.allclose(a.ys[-1], jnp.exp(1.0), rtol=1e-5)


def test_scaled_error_is_nan_when_the_proposed_state_is_not_finite():
    # The step loop relies on this to detect a non-finite y1 in the same reduction.
    from scidiff._ode._controller import scaled_error

    y0 = jnp.ones(3)
    small = jnp.full(3, 1e-12)
    assert float(scaled_error(small, y0, y0, 1e-6, 1e-6)) < 1e-5
    for bad in (jnp.inf, -jnp.inf, jnp.nan):
        y1 = y0.at[1].set(bad)
        assert jnp.isnan(scaled_error(small, y0, y1, 1e-6, 1e-6))


def test_raise_if_failed_under_vmap_names_the_worst_failure_and_ignores_terminal_events():
    from scidiff._results import raise_if_failed

    codes = {
        "ok": RESULTS.successful,
        "event": RESULTS.event_occurred,  # a terminal event is a successful stop
        "steps": RESULTS.max_steps_reached,
        "nonfinite": RESULTS.nonfinite,
    }

    def check(names):
        def one(i):
            result = codes[names[0]]
            for k, name in enumerate(names[1:], 1):
                result = RESULTS.where(i == k, codes[name], result)
            return raise_if_failed(i * 1.0, result, throw=True)

        return eqx.filter_jit(jax.vmap(one))(jnp.arange(len(names)))

    assert check(["ok", "event", "ok"]).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(eqx.EquinoxRuntimeError, match="max_steps"):
        check(["ok", "steps", "event"])
    worst = max([RESULTS.max_steps_reached, RESULTS.nonfinite], key=lambda r: int(r._value))
    with pytest.raises(eqx.EquinoxRuntimeError, match=re.escape(RESULTS[worst][:30])):
        check(["nonfinite", "ok", "steps"])
