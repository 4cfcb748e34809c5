"""fixed_point never reports a run-away or blown-up iteration as success (issue 18)."""

import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff import RESULTS


@pytest.mark.parametrize("g", [lambda x, a: jnp.exp(x), lambda x, a: x**2 + 1])
def test_divergence_to_inf_is_nonfinite(g):
    """Before: |inf - x| <= atol + rtol * inf held, so the overflow was 'successful'."""
    sol = scidiff.fixed_point(g, jnp.array(0.0), throw=False)
    assert sol.result == RESULTS.nonfinite
    with pytest.raises(Exception, match="non-finite value"):
        scidiff.fixed_point(g, jnp.array(0.0))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_anderson_on_a_map_without_fixed_point(dtype):
    """x + 0.1 has no fixed point; Anderson extrapolates to |x| ~ 1e15 (float64) or ~1e7
    (float32), where x + 0.1 rounds to x. Before: reported successful there."""
    sol = scidiff.fixed_point(
        lambda x, a: x + 0.1, jnp.zeros((), dtype), method="anderson", throw=False
    )
    assert sol.result == RESULTS.nonconvergence


def test_far_fixed_points_still_converge():
    """The cap on the relative test does not break genuine fixed points far from x0."""
    for g, x_star in [
        (lambda x, a: 0.5 * x + 1e8, 2e8),
        (lambda x, a: 0.999 * x + 100.0, 1e5),
    ]:
        sol = scidiff.fixed_point(g, jnp.array(0.0), method="anderson")
        np.testing.assert_allclose(sol.x, x_star, rtol=1e-12)
