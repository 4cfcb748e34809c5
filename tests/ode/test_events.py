"""Events: terminal (bouncing ball) and non-terminal (crossing counts vs analytic),
directions, several events, buffers, jit/vmap, and the located time's derivative."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff import RESULTS

G = 9.81


def falling(t, y, args):
    return jnp.stack([y[1], -G * jnp.ones_like(y[0])])


def height(t, y, args):
    return y[0]


GROUND = scidiff.Event(height, direction=-1)


def oscillator(t, y, args):
    return jnp.stack([y[1], -y[0]])


def solve_fall(h0, **kw):
    return scidiff.solve_ivp(
        falling, (0.0, 10.0), jnp.stack([h0, 0.0 * h0]), events=GROUND, rtol=1e-10, atol=1e-10, **kw
    )


def test_bouncing_ball():
    """Three bounces with restitution 0.8: each impact time and speed is analytic."""
    e, h0 = 0.8, 10.0
    t, y = 0.0, jnp.array([h0, 0.0])
    v_impact = np.sqrt(2 * G * h0)
    t_expected = np.sqrt(2 * h0 / G)
    for k in range(3):
        sol = scidiff.solve_ivp(falling, (t, t + 10.0), y, events=GROUND, rtol=1e-10, atol=1e-10)
        assert sol.result == RESULTS.event_occurred and bool(sol.ok)
        t_hit = float(sol.event_ts[0])
        assert bool(sol.event_mask[0]) and not bool(sol.event_mask[1:].any())
        np.testing.assert_allclose(t_hit, t_expected, rtol=1e-9)
        # The solution stops at the event: final time and state are the event's.
        assert float(sol.ts[-1]) == t_hit
        np.testing.assert_allclose(sol.ys[-1, 0], 0.0, atol=1e-9)
        np.testing.assert_allclose(sol.ys[-1, 1], -v_impact * e**k, rtol=1e-8)
        np.testing.assert_allclose(sol.event_ys[0], sol.ys[-1], atol=1e-12)
        t, y = t_hit, jnp.array([0.0, -e * float(sol.ys[-1, 1])])
        t_expected = t_hit + 2 * e ** (k + 1) * v_impact / G


@pytest.mark.parametrize(
    "direction, expected", [(0, [1, 2, 3, 4, 5, 6]), (1, [2, 4, 6]), (-1, [1, 3, 5])]
)
def test_nonterminal_crossings(direction, expected):
    """x = sin t crosses zero at k*pi: counts and times match; the start on zero is not one."""
    ev = scidiff.Event(lambda t, y, a: y[0], terminal=False, direction=direction, max_events=8)
    sol = scidiff.solve_ivp(
        oscillator, (0.0, 20.0), jnp.array([0.0, 1.0]), events=ev, rtol=1e-10, atol=1e-12
    )
    assert sol.result == RESULTS.successful
    n = int(sol.event_mask.sum())
    assert n == len(expected)
    np.testing.assert_allclose(sol.event_ts[:n], np.pi * np.array(expected), rtol=1e-9)
    assert bool(jnp.all(jnp.isinf(sol.event_ts[n:])))
    np.testing.assert_allclose(sol.event_ys[:n, 0], 0.0, atol=1e-9)
    assert float(sol.ts[-1]) == 20.0  # non-terminal events do not stop the solve


def test_several_events_and_t_eval_after_terminal():
    """A terminal and a non-terminal event together; saves after the stop are inf."""
    crossing = scidiff.Event(lambda t, y, a: y[0], terminal=False)
    stop = scidiff.Event(lambda t, y, a: t - 7.0)  # stops at t = 7
    t_eval = jnp.linspace(0.0, 10.0, 11)
    sol = scidiff.solve_ivp(
        oscillator,
        (0.0, 10.0),
        jnp.array([0.0, 1.0]),
        t_eval=t_eval,
        events=(crossing, stop),
        rtol=1e-10,
        atol=1e-12,
    )
    assert isinstance(sol.event_ts, tuple) and len(sol.event_ts) == 2
    assert int(sol.event_mask[0].sum()) == 2  # pi and 2 pi; 3 pi > 7 is after the stop
    np.testing.assert_allclose(sol.event_ts[1][0], 7.0, rtol=1e-12)
    np.testing.assert_allclose(sol.ys[:8, 0], np.sin(t_eval[:8]), atol=1e-8)
    assert bool(jnp.isinf(sol.ys[8:]).all()) and bool(jnp.isinf(sol.ts[8:]).all())


def test_event_overflow_is_a_named_failure():
    ev = scidiff.Event(lambda t, y, a: y[0], terminal=False, max_events=2)
    args = (oscillator, (0.0, 20.0), jnp.array([0.0, 1.0]))
    sol = scidiff.solve_ivp(*args, events=ev, throw=False)
    assert sol.result == RESULTS.event_overflow
    np.testing.assert_allclose(sol.event_ts, [np.pi, 2 * np.pi], rtol=1e-6)
    with pytest.raises(eqx.EquinoxRuntimeError, match="Event\\(max_events=...\\)"):
        scidiff.solve_ivp(*args, events=ev)


def test_backwards_with_event_and_dense():
    """Backwards from t=10 the first downward... crossing of sin t below 10 is 3 pi."""
    ev = scidiff.Event(lambda t, y, a: y[0])
    y10 = jnp.array([np.sin(10.0), np.cos(10.0)])
    sol = scidiff.solve_ivp(
        oscillator, (10.0, 0.0), y10, events=ev, dense=True, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(sol.event_ts[0], 3 * np.pi, rtol=1e-9)
    np.testing.assert_allclose(sol.evaluate(9.6)[0], np.sin(9.6), atol=1e-8)


def test_events_under_jit_and_vmap():
    h0 = jnp.array([1.0, 5.0, 20.0])
    sol = jax.jit(jax.vmap(solve_fall))(h0)
    np.testing.assert_allclose(sol.event_ts[:, 0], np.sqrt(2 * h0 / G), rtol=1e-9)
    assert (sol.result == RESULTS.event_occurred).all()


def test_event_time_derivative_implicit_function_theorem():
    """t*(h0) = sqrt(2 h0 / g): dt*/dh0 = 1/sqrt(2 g h0) in reverse and forward mode,
    and the state at the event, v* = -sqrt(2 g h0): dv*/dh0 = -sqrt(g / (2 h0))."""
    h0 = 5.0

    def time_and_speed(h0, adjoint=None):
        sol = solve_fall(h0, adjoint=adjoint)
        return jnp.stack([sol.event_ts[0], sol.ys[-1, 1]])

    want = [1 / np.sqrt(2 * G * h0), -np.sqrt(G / (2 * h0))]
    np.testing.assert_allclose(jax.jacrev(time_and_speed)(h0), want, rtol=1e-7)
    fwd = jax.jacfwd(lambda h: time_and_speed(h, scidiff.ForwardMode()))(h0)
    np.testing.assert_allclose(fwd, want, rtol=1e-7)
