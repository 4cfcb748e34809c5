"""least_squares: success only at a stationary point (issue 18), and residuals that
contain solve_ivp (jacrev chosen where jacfwd is refused)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff import RESULTS


@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
def test_kink_is_not_a_minimum(method):
    """r = |x - 1| + 0.1 has no stationary point (the cost's gradient is +-0.1 next to the
    kink). Before: LM let its damping grow until the step was tiny and called that
    success."""
    sol = scidiff.least_squares(
        lambda x, a: jnp.abs(x - 1) + 0.1, jnp.array([3.0]), method=method, throw=False
    )
    assert sol.result == RESULTS.line_search_failed
    with pytest.raises(Exception, match="could not find a step"):
        scidiff.least_squares(lambda x, a: jnp.abs(x - 1) + 0.1, jnp.array([3.0]), method=method)


@pytest.mark.parametrize("method", ["lm", "gauss-newton"])
@pytest.mark.parametrize("x0", [0.0, 0.99])
def test_nan_region_is_a_named_failure(method, x0):
    """r = sqrt(1 - x) decreases towards x = 1 where it stops being defined (NaN beyond);
    the gradient of the cost there is -1/2, not 0. Before: 'successful' with both."""
    sol = scidiff.least_squares(
        lambda x, a: jnp.sqrt(1 - x), jnp.array([x0]), method=method, throw=False
    )
    assert sol.result in (RESULTS.nonfinite, RESULTS.line_search_failed)
    assert not bool(sol.ok)


def _decay(k, ts):
    sol = scidiff.solve_ivp(
        lambda t, y, k: -k * y,
        (0.0, 1.0),
        jnp.ones(()),
        args=k[0],
        t_eval=ts,
        rtol=1e-10,
        atol=1e-12,
    )
    return sol.ys


def test_fit_ode_parameter_and_its_derivative():
    """Residual y(t; k) - data with data = exp(-0.8 t): k* = 0.8; the fit is exact, so
    dk*/d(data) = (J^T J)^{-1} J^T with J = dy/dk = -t exp(-k t)."""
    ts = jnp.linspace(0.1, 1.0, 5)
    data = jnp.exp(-0.8 * ts)
    fit = lambda d: scidiff.least_squares(lambda k, d: _decay(k, ts) - d, jnp.array([0.3]), args=d)
    sol = fit(data)
    assert sol.ok
    np.testing.assert_allclose(sol.x, [0.8], rtol=1e-8)
    J = -ts * jnp.exp(-0.8 * ts)
    expected = J / (J @ J)
    np.testing.assert_allclose(jax.grad(lambda d: fit(d).x[0])(data), expected, rtol=1e-6)
