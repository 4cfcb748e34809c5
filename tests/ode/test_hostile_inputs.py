"""Bad input found by hostile testing: rejected at call time when concrete, a named
RESULTS failure when traced (under jit/vmap), and never a plausible wrong number."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff import RESULTS


def decay(t, y, args):
    return -y


Y0 = jnp.ones(2)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(y0=jnp.array([1.0, jnp.nan])), ValueError, "leaf 0 holds NaN or Inf"),
        (dict(y0={"a": jnp.ones(2), "b": jnp.array(jnp.inf)}), ValueError, "leaf 1 holds NaN"),
        (dict(rtol=float("nan")), ValueError, r"`rtol` must be non-negative \(and not NaN\)"),
        (dict(atol=jnp.nan), ValueError, r"`atol` must be non-negative \(and not NaN\)"),
        (dict(t_eval=jnp.array([0.1, jnp.nan])), ValueError, "`t_eval` holds NaN"),
        (
            dict(events=scidiff.Event(lambda t, y, a: y[0] > 0.5)),
            TypeError,
            r"events\[0\].cond must return a real floating-point scalar.*dtype bool",
        ),
        (
            dict(events=scidiff.Event(lambda t, y, a: jnp.int32(1))),
            TypeError,
            "dtype int32",
        ),
    ],
)
def test_concrete_bad_input_rejected_at_call_time(kwargs, exc, match):
    y0 = kwargs.pop("y0", Y0)
    with pytest.raises(exc, match=match):
        scidiff.solve_ivp(decay, (0.0, 1.0), y0, **kwargs)


def test_unreachable_tolerance_warns_with_the_fix():
    y0 = jnp.ones(2, jnp.float32)
    with pytest.warns(UserWarning, match=r"tolerance unreachable in float32: rtol=1e-12.*"
                      r"Use rtol >= 1\.2e-06"):  # fmt: skip
        scidiff.solve_ivp(decay, (0.0, 1.0), y0, rtol=1e-12, atol=1e-12, throw=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reachable ones (and float64) do not warn
        scidiff.solve_ivp(decay, (0.0, 1.0), y0, rtol=1e-5, atol=1e-8)
        scidiff.solve_ivp(decay, (0.0, 1.0), Y0, rtol=1e-12, atol=1e-14)


_X64_OFF = """
import warnings, numpy as np, scidiff
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    sol = scidiff.solve_ivp(lambda t, y, a: -y, (0.0, 1.0), np.array([1.0, 2.0]))
print(sol.ys.dtype, [str(m.message) for m in w if "narrowed" in str(m.message)])
"""


def test_float64_numpy_with_x64_off_warns():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _X64_OFF], capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "JAX_ENABLE_X64": "0"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("float32")
    assert "float64 NumPy data but jax_enable_x64 is off" in out.stdout


@jax.jit
def _result(t_eval, rtol):
    return scidiff.solve_ivp(decay, (0.0, 1.0), Y0, t_eval=t_eval, rtol=rtol, throw=False)


@pytest.mark.parametrize(
    "t_eval",
    [[0.5, 0.2], [0.2, 0.2], [0.2, 1.5], [-0.1, 0.5], [0.2, jnp.nan]],
    ids=["decreasing", "repeated", "after-t1", "before-t0", "nan"],
)
def test_traced_bad_t_eval_is_a_named_failure(t_eval):
    sol = _result(jnp.asarray(t_eval), 1e-6)
    assert sol.result == RESULTS.invalid_t_eval and not bool(sol.ok)
    assert int(sol.stats["num_steps"]) == 0  # stopped before the first step
    with pytest.raises(Exception, match="invalid t_eval"):
        jax.jit(lambda te: scidiff.solve_ivp(decay, (0.0, 1.0), Y0, t_eval=te).ys)(
            jnp.asarray(t_eval)
        )
    good = _result(jnp.array([0.2, 0.5]), 1e-6)
    assert good.result == RESULTS.successful


def test_traced_bad_tolerances_per_vmap_member():
    rtols = jnp.array([1e-6, -1e-3, jnp.nan, 0.0])
    atols = jnp.array([1e-9, 1e-9, 1e-9, 0.0])

    def one(rtol, atol):
        return scidiff.solve_ivp(decay, (0.0, 1.0), Y0, rtol=rtol, atol=atol, throw=False)

    sol = jax.jit(jax.vmap(one))(rtols, atols)
    assert sol.ok.tolist() == [True, False, False, False]
    assert (sol.result == RESULTS.invalid_tolerance).tolist() == [False, True, True, True]
    np.testing.assert_allclose(sol.ys[0, -1], np.exp(-1.0), rtol=1e-5)


def test_traced_bad_t_span_is_a_named_failure():
    def one(t1):
        return scidiff.solve_ivp(decay, (0.0, t1), Y0, throw=False)

    sol = jax.jit(jax.vmap(one))(jnp.array([1.0, jnp.nan, jnp.inf, -jnp.inf]))
    assert (sol.result == RESULTS.invalid_t_span).tolist() == [False, True, True, True]
    assert sol.stats["num_steps"].tolist()[1:] == [0, 0, 0]  # not 10_000 futile attempts
    np.testing.assert_allclose(sol.ys[0, -1], np.exp(-1.0), rtol=1e-5)
    # t1 == t0 is not a failure (scipy, diffrax): y0 at once, also traced (test_times_tolerances.py)


def test_nan_in_event_cond_is_a_named_failure():
    ev = scidiff.Event(lambda t, y, a: jnp.where(t > 0.3, jnp.nan, 1.0))
    sol = scidiff.solve_ivp(decay, (0.0, 1.0), Y0, events=ev, throw=False)
    assert sol.result == RESULTS.event_nonfinite
    with pytest.raises(Exception, match="cond.*returned NaN or Inf"):
        scidiff.solve_ivp(decay, (0.0, 1.0), Y0, events=ev)


def test_evaluate_outside_the_span_is_nan():
    sol = scidiff.solve_ivp(decay, (0.0, 1.0), Y0, dense=True, rtol=1e-8, atol=1e-10)
    ys = sol.evaluate(jnp.array([-0.1, 0.0, 0.5, 1.0, 3.0]))[:, 0]
    assert bool(jnp.isnan(ys[0])) and bool(jnp.isnan(ys[4]))  # was 1.1 and 0.14 (extrapolated)
    np.testing.assert_allclose(ys[1:4], np.exp(-np.array([0.0, 0.5, 1.0])), rtol=1e-7)
    # Backwards in time: the span is [t1, t0].
    back = scidiff.solve_ivp(decay, (1.0, 0.0), Y0, dense=True)
    out = back.evaluate(jnp.array([1.5, 0.5, -0.5]))[:, 0]
    assert bool(jnp.isnan(out[0])) and bool(jnp.isnan(out[2]))
    np.testing.assert_allclose(out[1], np.exp(0.5), rtol=1e-5)


def test_nonfinite_start_is_told_apart_from_a_blow_up():
    bad_f0 = lambda t, y, a: jnp.where(t == 0.0, jnp.nan, -y)  # noqa: E731
    sol = scidiff.solve_ivp(bad_f0, (0.0, 1.0), Y0, throw=False)
    assert sol.result == RESULTS.nonfinite_initial
    with pytest.raises(Exception, match=r"non-finite start: y0 or f\(t0, y0, args\)"):
        scidiff.solve_ivp(bad_f0, (0.0, 1.0), Y0)
    # A NaN only in a traced y0 (not visible at call time) is reported the same way.
    sol = jax.jit(lambda y: scidiff.solve_ivp(decay, (0.0, 1.0), y, throw=False))(
        jnp.array([1.0, jnp.nan])
    )
    assert sol.result == RESULTS.nonfinite_initial
