"""Robertson's stiff kinetics (Hairer & Wanner II, VI.10) at the extremes that found two
defects: float32 with the default tolerances, and the span to t = 1e11.

Before the fix the defaults (atol=1e-9) sat below float32's resolution and the minimum
step was 8 eps max(|t|, |t1 - t0|), so a long span forbade the initial transient's small
steps: both stopped with a spurious step-size underflow at t = 0.
"""

import functools

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp as scipy_solve_ivp

import scidiff
from scidiff import RESULTS


def robertson(t, y, args):
    y1, y2, y3 = y[0], y[1], y[2]
    return jnp.stack(
        [-0.04 * y1 + 1e4 * y2 * y3, 0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2**2, 3e7 * y2**2]
    )


@functools.cache
def reference(t1):
    """scipy's Radau in float64 at tight tolerances (an independent implementation)."""

    def f(t, y):
        return np.asarray(robertson(t, y, None))

    sol = scipy_solve_ivp(f, (0.0, t1), [1.0, 0.0, 0.0], method="Radau", rtol=1e-10,
                          atol=1e-20)  # fmt: skip
    assert sol.success
    return sol.y[:, -1]


@pytest.mark.parametrize("solver", [scidiff.Kvaerno5(), scidiff.Rodas5(), scidiff.BDF()],
                         ids=["Kvaerno5", "Rodas5", "BDF"])  # fmt: skip
def test_float32_with_default_tolerances(solver):
    y0 = jnp.array([1.0, 0.0, 0.0], jnp.float32)
    sol = scidiff.solve_ivp(robertson, (0.0, 1e5), y0, solver=solver)
    assert sol.result == RESULTS.successful
    assert sol.ys.dtype == jnp.float32
    ref = reference(1e5)
    # rtol defaults to 100 eps (1.2e-5) in float32; the global error stays within ~10x.
    np.testing.assert_allclose(np.asarray(sol.ys[-1], np.float64), ref, rtol=2e-4)


def test_float32_defaults_follow_the_dtype():
    from scidiff._ode._inputs import default_tolerances

    assert default_tolerances(jnp.float64) == (1e-6, 1e-9)
    rtol, atol = default_tolerances(jnp.float32)
    eps = float(jnp.finfo(jnp.float32).eps)
    assert rtol == pytest.approx(100 * eps) and atol == pytest.approx(0.1 * eps)


@pytest.mark.parametrize("solver", [scidiff.Rodas5(), scidiff.Kvaerno5()],
                         ids=["Rodas5", "Kvaerno5"])  # fmt: skip
def test_span_to_1e11(solver):
    sol = scidiff.solve_ivp(robertson, (0.0, 1e11), jnp.array([1.0, 0.0, 0.0]), solver=solver)
    assert sol.result == RESULTS.successful
    ref = reference(1e11)
    # y1 ~ 2e-8 and y2 ~ 8e-14 sit below the default atol (1e-9): absolute accuracy there.
    np.testing.assert_allclose(sol.ys[-1], ref, atol=2e-9, rtol=1e-6)
