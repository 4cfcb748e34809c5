"""Accuracy of each method's continuous extension, measured as an order.

Over one step of size h from the exact y0, the interpolant's largest error on a grid of
theta in (0, 1) behaves like h^(k+1) for an interpolant of order k. Expected local
slopes: cubic Hermite 4 (when the method itself is at least order 3), Tsit5's and
Hairer's Dopri5 extensions 5 (order 4), DOP853's 8 (order 7); lower-order methods are
limited by their own step error (Euler 2, Heun/Midpoint 3); Leapfrog interpolates q
linearly (2).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff

EXPECTED_LOCAL_SLOPE = {
    "Euler": 2,
    "Heun": 3,
    "Midpoint": 3,
    "RK4": 4,
    "Bosh3": 4,
    "Dopri5": 5,
    "Tsit5": 5,
    "Dopri8": 8,
    "Leapfrog": 2,
    "Yoshida4": 4,
}
SOLVERS = [getattr(scidiff, name) for name in EXPECTED_LOCAL_SLOPE]
THETAS = jnp.linspace(0.05, 0.95, 10)


@functools.cache
def _one_step_interp(solver, f):
    """jit: one step of size h from y0, the interpolant on THETAS and at both ends."""
    s = solver()

    @jax.jit
    def go(y0, h):
        out = s.step(f, 0.0 * h, h, y0, None, s.init(f, 0.0 * h, h, y0, None))
        mid = jax.vmap(lambda t: s.interpolate(0.0 * h, h, out.dense_info, t))(THETAS * h)
        start = s.interpolate(0.0 * h, h, out.dense_info, 0.0 * h)
        end = s.interpolate(0.0 * h, h, out.dense_info, h)
        return mid, start, end, out.y1

    return go


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
def test_interpolant_order(solver, problems):
    P = problems
    if solver in (scidiff.Leapfrog, scidiff.Yoshida4, scidiff.Dopri8):
        f, y0, exact = P.kepler, P.kepler_circular_y0(jnp.float64), P.kepler_circular_exact
    else:
        f, y0, exact = P.decay, P.decay_y0(jnp.float64), P.decay_exact
    go = _one_step_interp(solver, f)
    hs = [0.2, 0.1, 0.05]
    errs = []
    for h in hs:
        mid, start, end, y1 = go(y0, jnp.asarray(h))
        ref = [np.stack(leaf, axis=0) for leaf in zip(*[_leaves(exact(t)) for t in THETAS * h])]
        errs.append(max(float(np.max(np.abs(a - b))) for a, b in zip(_leaves(mid), ref)))
        # the interpolant reproduces both ends of the step
        for a, b in zip(_leaves(start), _leaves(y0)):
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-14)
        for a, b in zip(_leaves(end), _leaves(y1)):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert slope > EXPECTED_LOCAL_SLOPE[solver.__name__] - 0.3, (slope, errs)
