"""Ending a solve by its events: ``t1 = inf`` ("integrate until the event") and
``Event(terminal=n)`` (stop at the n-th crossing), against analytic event times, under
jit, vmap and grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff import RESULTS

G = 9.81
H0 = 10.0
T_GROUND = np.sqrt(2 * H0 / G)  # y = H0 - g t^2 / 2 hits 0 (forwards and backwards)
TIGHT = dict(rtol=1e-10, atol=1e-12)


def falling(t, y, args):
    return jnp.stack([y[1], -G * jnp.ones_like(y[0])])


def oscillator(t, y, args):
    """y'' = -w^2 y with w = args (1 when args is None)."""
    w = 1.0 if args is None else args
    return jnp.stack([y[1], -(w**2) * y[0]])


def position(t, y, args):
    return y[0]


GROUND = scidiff.Event(position)  # terminal=True: the first crossing, either direction
THIRD = scidiff.Event(position, terminal=3)


@pytest.mark.parametrize("t1", [jnp.inf, -jnp.inf])
def test_ball_integrates_until_the_ground(t1):
    """Mirrors scipy ``test_duplicate_timestamps`` (``solve_ivp(upward_cannon, [0, np.inf],
    ..., events=hit_ground, dense_output=True)`` with ``hit_ground.terminal = True``) and
    DifferentialEquations.jl's integrate-until-event usage (``tspan = (0.0, Inf)`` with a
    terminating ``ContinuousCallback``): the solve stops at the analytic ``+-sqrt(2h/g)``,
    backwards too, and the dense output covers exactly ``[t0, t_event]``."""
    sol = scidiff.solve_ivp(falling, (0.0, t1), jnp.array([H0, 0.0]), events=GROUND, dense=True,
                            **TIGHT)  # fmt: skip
    sign = 1.0 if t1 > 0 else -1.0
    assert sol.result == RESULTS.event_occurred and bool(sol.ok)
    assert sol.ts.shape == (1,)
    np.testing.assert_allclose(sol.ts[0], sign * T_GROUND, rtol=1e-10)
    assert float(sol.ts[0]) == float(sol.event_ts[0])
    np.testing.assert_allclose(sol.ys[0], [0.0, -sign * G * T_GROUND], rtol=1e-9, atol=1e-9)
    ts = sign * jnp.array([0.3, 1.0, 1.4])
    np.testing.assert_allclose(sol.evaluate(ts)[:, 0], H0 - 0.5 * G * ts**2, rtol=1e-9)
    assert bool(jnp.isnan(sol.evaluate(sign * 1.5)).all())  # past the event: no solution
    assert 0 < int(sol.stats["num_steps"]) < 20  # the initial step did not read the span


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(), ValueError, r"`t_span` must be finite.*integrates until a terminal event"),
        (dict(events=scidiff.Event(position, terminal=False)), ValueError, "terminal event"),
        (dict(events=scidiff.Event(position, terminal=0)), ValueError, "terminal event"),
        (dict(events=GROUND, t_span=(jnp.inf, 0.0)), ValueError, "`t_span` must be finite"),
        (dict(events=GROUND, t_span=(0.0, jnp.nan)), ValueError, "`t_span` must be finite"),
        (
            dict(events=GROUND, t_eval=jnp.array([0.5, jnp.inf])),
            ValueError,
            "`t_eval` must be finite",
        ),
    ],
)
def test_infinite_t1_needs_a_terminal_event(kwargs, exc, match):
    """Mirrors scipy's input validation of ``t_span`` (there a solve to ``inf`` without a
    terminal event would never end; here it is refused at call time, naming the fix)."""
    call = dict(t_span=(0.0, jnp.inf))
    call.update(kwargs)
    with pytest.raises(exc, match=match):
        scidiff.solve_ivp(falling, call.pop("t_span"), jnp.array([H0, 0.0]), **call)


def test_traced_infinite_t1_under_jit_and_vmap():
    """Mirrors scipy ``test_duplicate_timestamps``' ``[0, np.inf]`` span, with ``t1``
    traced: per member, ``inf`` runs to the event, a finite ``t1`` before it ends there,
    NaN is the named ``invalid_t_span``."""

    def one(t1):
        return scidiff.solve_ivp(falling, (0.0, t1), jnp.array([H0, 0.0]), events=GROUND,
                                 throw=False, **TIGHT)  # fmt: skip

    sol = jax.jit(jax.vmap(one))(jnp.array([jnp.inf, 1.0, jnp.nan, -jnp.inf]))
    assert (sol.result == RESULTS.event_occurred).tolist() == [True, False, False, True]
    assert (sol.result == RESULTS.successful).tolist() == [False, True, False, False]
    assert (sol.result == RESULTS.invalid_t_span).tolist() == [False, False, True, False]
    np.testing.assert_allclose(sol.ts[[0, 1, 3], 0], [T_GROUND, 1.0, -T_GROUND], rtol=1e-10)
    np.testing.assert_allclose(sol.ys[1, 0], [H0 - 0.5 * G, -G], rtol=1e-10)


def test_max_steps_before_the_event_is_the_named_failure():
    """Mirrors scipy's failure status when the solver gives up before ``t_bound``: an
    event that never fires with ``t1 = inf`` ends at ``max_steps``, never silently."""
    never = scidiff.Event(lambda t, y, a: y[0] - 5.0)  # |sin t| <= 1
    sol = scidiff.solve_ivp(oscillator, (0.0, jnp.inf), jnp.array([0.0, 1.0]), events=never,
                            max_steps=40, throw=False)  # fmt: skip
    assert sol.result == RESULTS.max_steps_reached and not bool(sol.ok)
    attempts = int(sol.stats["num_steps"]) + int(sol.stats["num_rejected"])
    assert bool(jnp.isfinite(sol.ts).all()) and attempts == 40
    with pytest.raises(Exception, match="max_steps"):
        scidiff.solve_ivp(oscillator, (0.0, jnp.inf), jnp.array([0.0, 1.0]), events=never,
                          max_steps=40)  # fmt: skip


def test_fixed_step_solver_until_the_event():
    """Mirrors DifferentialEquations.jl's fixed-step ``solve(prob, RK4(), dt=...)`` with
    ``tspan = (0, Inf)`` and a terminating callback: steps of ``dt0`` until the ground.
    RK4 is exact on the quadratic fall, so the located time is the analytic one."""
    dt = 0.01
    sol = scidiff.solve_ivp(falling, (0.0, jnp.inf), jnp.array([H0, 0.0]), events=GROUND,
                            solver=scidiff.RK4(), dt0=dt)  # fmt: skip
    assert sol.result == RESULTS.event_occurred
    np.testing.assert_allclose(sol.ts[0], T_GROUND, rtol=1e-10)
    assert int(sol.stats["num_steps"]) == int(np.ceil(T_GROUND / dt))


@pytest.mark.parametrize("n", [3, 4])
def test_terminal_count_harmonic_oscillator(n):
    """Mirrors scipy ``test_event_terminal_integer`` (harmonic oscillator ``y0 = [1, 0]``,
    ``event = y[0]``, ``event.terminal = n_events`` for 3 and 4 on ``(0, 100)``): the
    solve stops at the n-th zero ``(n - 1/2) pi`` and records all n crossings."""
    ev = scidiff.Event(position, terminal=n)
    sol = scidiff.solve_ivp(oscillator, (0.0, 100.0), jnp.array([1.0, 0.0]), events=ev, **TIGHT)
    assert sol.result == RESULTS.event_occurred
    expected = (np.arange(1, n + 1) - 0.5) * np.pi
    assert sol.event_ts.shape == (n,) and bool(sol.event_mask.all())
    np.testing.assert_allclose(sol.event_ts, expected, rtol=1e-9)
    np.testing.assert_allclose(sol.event_ys[:, 0], 0.0, atol=1e-9)
    assert float(sol.ts[-1]) == float(sol.event_ts[-1])


@pytest.mark.parametrize("direction, expected", [(1, [2, 4, 6]), (-1, [1, 3, 5])])
def test_terminal_count_in_the_events_direction_until_inf(direction, expected):
    """Mirrors scipy ``test_events`` (directed events) with ``terminal=3``: ``sin t`` from
    ``t = 0`` to ``inf``, only crossings in ``direction`` count; a larger buffer
    (``max_events=5``) keeps the rest unfilled, and saves after the stop are ``inf``."""
    ev = scidiff.Event(position, terminal=3, direction=direction, max_events=5)
    t_eval = jnp.array([1.0, 10.0, 30.0])
    sol = scidiff.solve_ivp(oscillator, (0.0, jnp.inf), jnp.array([0.0, 1.0]), events=ev,
                            t_eval=t_eval, **TIGHT)  # fmt: skip
    assert sol.result == RESULTS.event_occurred
    assert sol.event_mask.tolist() == [True, True, True, False, False]
    np.testing.assert_allclose(sol.event_ts[:3], np.pi * np.array(expected), rtol=1e-9)
    assert bool(jnp.isinf(sol.event_ts[3:]).all())
    stop = np.pi * expected[-1]
    filled = np.asarray(t_eval) <= stop
    np.testing.assert_allclose(sol.ys[filled, 0], np.sin(np.asarray(t_eval)[filled]), rtol=1e-8)
    assert bool(jnp.isinf(sol.ts[~filled]).all()) and bool(jnp.isinf(sol.ys[~filled]).all())


def test_terminal_zero_is_false_and_bad_counts_are_refused():
    """Mirrors scipy ``test_event_terminal_iv``: ``terminal=0`` behaves as ``False`` (the
    solve reaches t1, every crossing recorded); negative and non-integer counts, and a
    buffer smaller than the count, are refused with the fix."""
    y0 = jnp.array([1.0, 0.0])
    zero = scidiff.solve_ivp(oscillator, (0.0, 10.0), y0,
                             events=scidiff.Event(position, terminal=0))  # fmt: skip
    false = scidiff.solve_ivp(oscillator, (0.0, 10.0), y0,
                              events=scidiff.Event(position, terminal=False))  # fmt: skip
    assert zero.result == RESULTS.successful and float(zero.ts[-1]) == 10.0
    assert int(zero.event_mask.sum()) == 3  # pi/2, 3 pi/2, 5 pi/2
    np.testing.assert_array_equal(zero.event_ts, false.event_ts)
    with pytest.raises(ValueError, match="`terminal` must be a non-negative int"):
        scidiff.Event(position, terminal=-1)
    with pytest.raises(TypeError, match="`terminal` must be True, False or an int"):
        scidiff.Event(position, terminal=3.5)
    with pytest.raises(TypeError, match="`terminal` must be True, False or an int"):
        scidiff.Event(position, terminal=None)
    with pytest.raises(ValueError, match="pass max_events >= 3"):
        scidiff.Event(position, terminal=3, max_events=2)
    assert scidiff.Event(position, terminal=np.int64(2)).capacity == 2


def test_vmap_members_count_and_stop_on_their_own():
    """Mirrors scipy ``test_event_terminal_integer`` per member of a batch: ``y = sin(t +
    phi)`` crosses zero at ``k pi - phi``; with ``terminal=3`` and ``t1 = inf`` each member
    stops at its own third crossing ``3 pi - phi``."""
    phis = jnp.array([0.3, 1.0, 2.5])

    def one(phi):
        y0 = jnp.stack([jnp.sin(phi), jnp.cos(phi)])
        return scidiff.solve_ivp(oscillator, (0.0, jnp.inf), y0, events=THIRD, **TIGHT)

    sol = jax.jit(jax.vmap(one))(phis)
    expected = np.pi * np.arange(1, 4)[None, :] - np.asarray(phis)[:, None]
    np.testing.assert_allclose(sol.event_ts, expected, rtol=1e-9)
    np.testing.assert_allclose(sol.ts[:, 0], expected[:, 2], rtol=1e-9)
    assert bool(sol.event_mask.all()) and bool((sol.result == RESULTS.event_occurred).all())


def _third_zero_exact(y0, w):
    """y = a cos(w t) + (b / w) sin(w t) = R sin(w t + phi), phi = atan2(a, b / w) in
    (0, pi) for a > 0: zeros at (k pi - phi) / w."""
    return (3 * np.pi - jnp.arctan2(y0[0], y0[1] / w)) / w


@pytest.mark.parametrize("adjoint", ["checkpoint", "forward"])
def test_gradient_of_the_nth_event_time(adjoint):
    """Mirrors the finite-difference gradient checks of ``test_events.py`` (the event
    time's implicit-function-theorem derivative) for the 3rd crossing with ``t1 = inf``:
    d t_3 / d(y0, w) agrees with central differences and the analytic derivative."""
    adj = scidiff.RecursiveCheckpoint() if adjoint == "checkpoint" else scidiff.ForwardMode()
    tol = dict(rtol=1e-12, atol=1e-12)

    def t_stop(x):
        y0, w = x[:2], x[2]
        return scidiff.solve_ivp(oscillator, (0.0, jnp.inf), y0, args=w, events=THIRD,
                                 adjoint=adj, **tol).ts[0]  # fmt: skip

    x = jnp.array([0.7, 0.4, 1.3])
    diff = jax.grad if adjoint == "checkpoint" else jax.jacfwd
    g = jax.jit(diff(t_stop))(x)
    h = 1e-4
    fd = np.array([(t_stop(x.at[i].add(h)) - t_stop(x.at[i].add(-h))) / (2 * h) for i in range(3)])
    exact = jax.grad(lambda x: _third_zero_exact(x[:2], x[2]))(x)
    np.testing.assert_allclose(t_stop(x), _third_zero_exact(x[:2], x[2]), rtol=1e-10)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g, exact, rtol=1e-8, atol=1e-10)
