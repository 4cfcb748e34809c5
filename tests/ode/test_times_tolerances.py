"""Times and tolerances of solve_ivp: empty states, per-component rtol/atol, t0 == t1,
known discontinuities (jump_ts), and PIDController's dtmax/dtmin.

Each test names the peer test it mirrors (scipy's tests/test_ivp.py, diffrax's
test/test_integrate.py, torchdiffeq's tests)."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate

import scidiff
from scidiff import RESULTS


def decay(t, y, args):
    return jax.tree_util.tree_map(jnp.negative, y)


# --- empty states ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "solver", [scidiff.Tsit5(), scidiff.Kvaerno5(), scidiff.BDF()], ids=["Tsit5", "Kvaerno5", "BDF"]
)
def test_empty_state(solver):
    """scipy test_ivp.py `test_empty`: a state with no components integrates trivially
    (ts as usual, ys empty, ok, at most one step), also with t_eval."""
    sol = scidiff.solve_ivp(decay, (0.0, 10.0), jnp.zeros((0,)), solver=solver)
    assert sol.ok and sol.result == RESULTS.successful
    assert sol.ts.tolist() == [10.0] and sol.ys.shape == (1, 0)
    assert int(sol.stats["num_steps"]) <= 1 and int(sol.stats["num_rejected"]) == 0
    te = jnp.linspace(0.0, 10.0, 4)
    sol = scidiff.solve_ivp(decay, (0.0, 10.0), jnp.zeros((0, 3)), solver=solver, t_eval=te)
    assert sol.ok and sol.ys.shape == (4, 0, 3) and sol.ts.tolist() == te.tolist()


def _mixed(k, empty_shape=(0, 3), solver=None):
    y0 = {"e": jnp.zeros(empty_shape), "y": jnp.array([1.0, 2.0])}
    f = lambda t, y, k: {"e": -k * y["e"], "y": -k * y["y"]}
    return scidiff.solve_ivp(f, (0.0, 1.0), y0, args=k, solver=solver)


def test_empty_leaves_in_a_pytree_under_jit_vmap_grad():
    """scipy `test_empty`, extended to pytrees: empty leaves count for nothing in the norm,
    so the solve equals the one without them, under jit, vmap and grad."""
    for solver in (scidiff.Tsit5(),):  # implicit solvers with empty leaves: test_empty_state
        mixed = _mixed(1.0, solver=solver)
        plain = scidiff.solve_ivp(lambda t, y, a: -y, (0.0, 1.0), jnp.array([1.0, 2.0]),
                                  solver=solver)  # fmt: skip
        assert mixed.ok and mixed.ys["e"].shape == (1, 0, 3)
        np.testing.assert_allclose(mixed.ys["y"], plain.ys, rtol=1e-12)
        assert int(mixed.stats["num_steps"]) == int(plain.stats["num_steps"])
    np.testing.assert_allclose(mixed.ys["y"][-1], np.exp(-1.0) * np.array([1, 2]), rtol=1e-5)
    ks = jnp.array([0.5, 1.0])
    batched = jax.jit(jax.vmap(lambda k: _mixed(k).ys["y"][-1]))(ks)
    np.testing.assert_allclose(batched, np.exp(-ks)[:, None] * np.array([1, 2]), rtol=1e-5)
    grad = jax.grad(lambda k: _mixed(k).ys["y"][-1].sum())(1.0)
    np.testing.assert_allclose(grad, -3 * np.exp(-1.0), rtol=1e-5)


# --- per-component tolerances -----------------------------------------------------------


def fast_slow(t, y, args):
    return jnp.array([-50.0, -1.0]) * y


Y_FS = jnp.array([1.0, 1.0])


def _exact_fs(t):
    return np.array([np.exp(-50.0 * t), np.exp(-t)])


def test_per_component_atol_changes_steps_like_scipy():
    """scipy test_ivp.py array tolerances (`test_integration_const_jac`-style atol/rtol
    arrays): a loose atol on the fast-decaying component and a tight one on the slow one
    cut the steps against the tight scalar, in scidiff (Dopri5) as in scipy (RK45) given
    the same arrays; each component keeps its own accuracy."""
    span, rtol = (0.0, 2.0), 1e-6
    cases = {"scalar": (rtol, 1e-9), "array": (np.array([1e-1, 1e-6]), np.array([1e-2, 1e-9]))}
    ours, theirs = {}, {}
    for name, (rt, at) in cases.items():
        sol = scidiff.solve_ivp(fast_slow, span, Y_FS, solver=scidiff.Dopri5(), rtol=rt, atol=at)
        ours[name] = (int(sol.stats["num_steps"]), np.asarray(sol.ys[-1]))
        ref = scipy.integrate.solve_ivp(
            lambda t, y: np.array([-50.0, -1.0]) * y, span, np.ones(2), method="RK45",
            rtol=rt, atol=at,
        )  # fmt: skip
        theirs[name] = ref.t.size - 1
    # The same direction as scipy, and a large change in both.
    assert ours["array"][0] < 0.6 * ours["scalar"][0]
    assert theirs["array"] < 0.6 * theirs["scalar"]
    exact = _exact_fs(2.0)
    # Slow component: held to its tight tolerance in both runs.
    for name in cases:
        assert abs(ours[name][1][1] - exact[1]) < 1e-6 * exact[1] * 20
    # Fast component: far below its loose atol (1e-2) -- and not needlessly accurate.
    assert abs(ours["array"][1][0] - exact[0]) < 1e-2
    assert abs(ours["scalar"][1][0] - exact[0]) < 1e-8


def test_tolerance_pytrees_and_broadcasting():
    """scipy array tolerances, generalised to pytrees (DifferentialEquations.jl's
    per-component abstol): a pytree like y0, an array broadcasting to a leaf, and its
    explicit full-size version give the same solve; the implicit solvers (Newton tests,
    BDF's order selection) take them too."""
    y0 = {"a": jnp.ones((2, 3)), "b": jnp.ones(())}
    k = {"a": jnp.array([[1.0], [20.0]]) * jnp.ones((2, 3)), "b": jnp.asarray(2.0)}
    f = lambda t, y, k: jax.tree_util.tree_map(lambda v, c: -c * v, y, k)
    col = jnp.array([[1e-9], [1e-4]])
    full = {"a": jnp.broadcast_to(col, (2, 3)), "b": jnp.asarray(1e-9)}
    by_leaf = {"a": col, "b": 1e-9}
    one = scidiff.solve_ivp(f, (0.0, 1.0), y0, args=k, atol=by_leaf)
    two = scidiff.solve_ivp(f, (0.0, 1.0), y0, args=k, atol=full)
    assert one.ok and int(one.stats["num_steps"]) == int(two.stats["num_steps"])
    np.testing.assert_array_equal(one.ys["a"], two.ys["a"])
    for solver in (scidiff.Tsit5(), scidiff.Kvaerno5(), scidiff.BDF()):
        one = scidiff.solve_ivp(f, (0.0, 1.0), y0, args=k, solver=solver, atol=by_leaf)
        assert one.ok
        exact_a = np.exp(-np.asarray(k["a"]))
        err = np.abs(np.asarray(one.ys["a"][-1]) - exact_a)
        assert err[0].max() < 1e-4 * exact_a[0].max()  # the tight row: rtol-limited
        assert err[1].max() < 1e-3  # the loose row: atol 1e-4 per step
        np.testing.assert_allclose(one.ys["b"][-1], np.exp(-2.0), rtol=1e-4)
    # A single array broadcasting to every leaf of a one-leaf state; a list, as in scipy.
    a = scidiff.solve_ivp(fast_slow, (0.0, 1.0), Y_FS, atol=[1e-3, 1e-9])
    b = scidiff.solve_ivp(fast_slow, (0.0, 1.0), Y_FS, atol=jnp.array([1e-3, 1e-9]))
    np.testing.assert_array_equal(a.ys, b.ys)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(atol=jnp.ones(3)), r"`atol` must broadcast to y0's leaves.*shape \(3,\)"),
        (dict(rtol=[1e-3, [1e-3]]), r"`rtol` must be a number.*pytree with y0's structure"),
        (dict(atol=jnp.array([1e-9, -1.0])), r"`atol` must be non-negative.*got -1.0"),
        (dict(rtol=jnp.array([1e-3, jnp.nan])), r"`rtol` must be non-negative \(and not NaN\)"),
        (dict(rtol=jnp.array([1e-3, 0.0]), atol=jnp.array([1e-6, 0.0])), "both zero for a"),
    ],
)
def test_bad_array_tolerances_raise(kwargs, match):
    """scipy test_ivp.py `test_wrong_tolerance` style: mis-shaped, negative, NaN or
    both-zero entries raise at call time, naming the fix."""
    with pytest.raises(ValueError, match=match):
        scidiff.solve_ivp(fast_slow, (0.0, 1.0), Y_FS, **kwargs)
    y0 = {"a": jnp.ones(2)}
    with pytest.raises(ValueError, match=r"y0 is PyTreeDef\(\{'a': \*\}\)"):
        scidiff.solve_ivp(decay, (0.0, 1.0), y0, atol={"b": 1e-9})


def test_array_tolerances_traced_under_jit_and_vmap():
    """DESIGN.md's vmap over tolerances, with arrays: a batch of per-component atols is one
    compiled solve; a bad traced entry is RESULTS.invalid_tolerance for that member."""

    @jax.jit
    @jax.vmap
    def run(atol):
        return scidiff.solve_ivp(fast_slow, (0.0, 2.0), Y_FS, atol=atol, throw=False)

    atols = jnp.array([[1e-9, 1e-9], [1e-2, 1e-9], [1e-2, -1.0], [1e-2, jnp.nan]])
    sol = run(atols)
    assert sol.ok.tolist() == [True, True, False, False]
    assert (sol.result == RESULTS.invalid_tolerance).tolist() == [False, False, True, True]
    steps = sol.stats["num_steps"].tolist()
    assert steps[1] < steps[0] and steps[2:] == [0, 0]
    np.testing.assert_allclose(sol.ys[:2, -1, 1], np.exp(-2.0), rtol=1e-5)


def test_unreachable_array_tolerance_warns():
    """scipy warns on `rtol < 100 eps`; here an entry the dtype cannot resolve warns once,
    naming the leaf."""
    with pytest.warns(UserWarning, match=r"tolerance unreachable.*for a component of y0 leaf 0"):
        scidiff.solve_ivp(fast_slow, (0.0, 0.1), Y_FS, rtol=jnp.array([1e-6, 1e-19]),
                          atol=0.0, throw=False)  # fmt: skip


# --- t0 == t1 ----------------------------------------------------------------------------


@pytest.mark.parametrize("solver", [scidiff.Tsit5(), scidiff.BDF()], ids=["Tsit5", "BDF"])
def test_no_integration(solver):
    """scipy test_ivp.py `test_no_integration` (and diffrax/torchdiffeq): t0 == t1 returns
    y0 at once, with t_eval = [t0] too."""
    y0 = jnp.array([1.0, 2.0])
    sol = scidiff.solve_ivp(decay, (3.0, 3.0), y0, solver=solver)
    assert sol.ok and sol.ts.tolist() == [3.0]
    np.testing.assert_array_equal(sol.ys, y0[None])
    assert int(sol.stats["num_steps"]) == 0
    if isinstance(solver, scidiff.Tsit5):  # (one compile less for BDF)
        sol = scidiff.solve_ivp(decay, (3.0, 3.0), y0, solver=solver, t_eval=jnp.array([3.0]))
        assert sol.ok and sol.ts.tolist() == [3.0]
        np.testing.assert_array_equal(sol.ys, y0[None])
    with pytest.raises(ValueError, match="must lie inside t_span"):
        scidiff.solve_ivp(decay, (3.0, 3.0), y0, solver=solver, t_eval=jnp.array([3.5]))


def test_no_integration_traced():
    """scipy `test_no_integration` under jit/vmap/grad: a traced t0 == t1 is no failure, no
    NaN from dividing by the span, and dy(t1)/dy0 is the identity."""

    @jax.jit
    def run(t1, y0):
        return scidiff.solve_ivp(decay, (0.0, t1), y0, throw=False)

    y0 = jnp.array([1.0, 2.0])
    sol = run(0.0, y0)
    assert bool(sol.ok) and int(sol.stats["num_steps"]) == 0
    np.testing.assert_array_equal(sol.ys, y0[None])
    batch = jax.vmap(run, in_axes=(0, None))(jnp.array([0.0, 1.0]), y0)
    assert batch.ok.tolist() == [True, True]
    np.testing.assert_allclose(batch.ys[:, -1, 0], [1.0, np.exp(-1.0)], rtol=1e-5)
    jac = jax.jacrev(lambda y: run(0.0, y).ys[-1])(y0)
    np.testing.assert_array_equal(jac, np.eye(2))


# --- jump_ts: known discontinuities -------------------------------------------------------

T_JUMP = 1.3


def switched(t, y, args):
    """dy/dt = -y + u(t), with the forcing u switching from 0 to 5 at T_JUMP."""
    return -y + jnp.where(t < T_JUMP, 0.0, 5.0)


def switched_exact(t):
    t = np.asarray(t)
    yj = np.exp(-T_JUMP)
    return np.where(t < T_JUMP, np.exp(-t), 5 + (yj - 5) * np.exp(-(t - T_JUMP)))


def _step_ends(sol):
    """The accepted steps' ends, in t, from the dense output."""
    interp = sol.interpolation
    n = int(sol.stats["num_steps"])
    return np.asarray(interp.direction * interp.t1s[:n])


def _errors_at_step_ends(sol, after):
    ends = _step_ends(sol)
    sel = ends >= after if sol.interpolation.direction > 0 else ends <= after
    return np.abs(np.asarray(sol.evaluate(jnp.asarray(ends[sel]))) - switched_exact(ends[sel]))


@pytest.mark.parametrize(
    "solver, gain",
    [(scidiff.Tsit5(), 5.0), (scidiff.Kvaerno5(), 5.0), (scidiff.BDF(), None)],
    ids=["Tsit5", "Kvaerno5", "BDF"],
)
def test_jump_ts(solver, gain):
    """diffrax test_integrate.py `test_jump_ts` / torchdiffeq `test_jump_t`: with the jump
    time given, an accepted step ends exactly on it, the FSAL stage (Tsit5, Kvaerno5) or
    BDF's history restarts there, and the solve after the jump is more accurate (Tsit5,
    Kvaerno5: `gain` times; BDF's error is tolerance-limited either way, so: no worse) for
    far fewer rejected steps and evaluations of f."""
    kw = dict(solver=solver, rtol=1e-6, atol=1e-9, dense=True)
    with_j = scidiff.solve_ivp(switched, (0.0, 3.0), jnp.ones(()), jump_ts=[T_JUMP], **kw)
    without = scidiff.solve_ivp(switched, (0.0, 3.0), jnp.ones(()), **kw)
    assert T_JUMP in _step_ends(with_j).tolist()
    assert T_JUMP not in _step_ends(without).tolist()
    err_j = _errors_at_step_ends(with_j, T_JUMP).max()
    err_0 = _errors_at_step_ends(without, T_JUMP).max()
    if gain is not None:
        assert err_j * gain < err_0
    else:
        assert err_j < 1.5 * err_0
    assert err_j < 1e-5
    rej_j, rej_0 = int(with_j.stats["num_rejected"]), int(without.stats["num_rejected"])
    assert rej_j <= 5 and rej_j * 3 < rej_0
    assert int(with_j.stats["num_fevals"]) < 0.75 * int(without.stats["num_fevals"])


@pytest.mark.parametrize("solver", [scidiff.Tsit5(), scidiff.BDF()], ids=["Tsit5", "BDF"])
def test_jump_ts_backward(solver):
    """diffrax `test_jump_ts` backwards in time: from t = 3 down to 0 the step lands on the
    jump from above, f is evaluated on the side the step comes from."""
    y3 = jnp.asarray(switched_exact(3.0))
    sol = scidiff.solve_ivp(switched, (3.0, 0.0), y3, solver=solver, jump_ts=jnp.array([T_JUMP]),
                            rtol=1e-7, atol=1e-10, dense=True)  # fmt: skip
    assert sol.ok and T_JUMP in _step_ends(sol).tolist()
    # Backwards, y' = -y + u amplifies errors by up to e^3 ~ 20 (BDF: order <= 5 at 1e-7).
    assert _errors_at_step_ends(sol, 0.0).max() < 3e-4
    np.testing.assert_allclose(sol.ys[-1], 1.0, rtol=3e-4)


def test_jump_ts_fixed_step_keeps_the_grid():
    """diffrax `test_step_ts` / torchdiffeq `test_jump_t` with a fixed-step method: RK4
    cuts the step at the jump and then rejoins the grid t0 + k dt (no step longer than
    dt), and its error drops from O(dt) to O(dt^4)."""
    dt = 0.125  # 1.3 is off the grid
    kw = dict(solver=scidiff.RK4(), dt0=dt, dense=True)
    sol = scidiff.solve_ivp(switched, (0.0, 3.0), jnp.ones(()), jump_ts=[T_JUMP], **kw)
    plain = scidiff.solve_ivp(switched, (0.0, 3.0), jnp.ones(()), **kw)
    ends = _step_ends(sol)
    assert T_JUMP in ends.tolist() and ends.size == 25
    np.testing.assert_array_equal(np.delete(ends, np.searchsorted(ends, T_JUMP)),
                                  np.arange(1, 25) * dt)  # fmt: skip
    assert np.diff(np.concatenate([[0.0], ends])).max() <= dt
    err = abs(float(sol.ys[-1]) - switched_exact(3.0))
    err_plain = abs(float(plain.ys[-1]) - switched_exact(3.0))
    assert err < 1e-5 and err * 1000 < err_plain


def _forced(t, y, args):
    k, tj = args
    return -k * y + jnp.where(t < tj, 0.0, 5.0)


@jax.jit
def _solve_forced(k, tj):
    return scidiff.solve_ivp(_forced, (0.0, 3.0), jnp.ones(()), args=(k, tj), jump_ts=tj[None],
                             throw=False)  # fmt: skip


def _forced_exact(k, tj, t=3.0):
    yj = np.exp(-k * tj)
    return 5 / k + (yj - 5 / k) * np.exp(-k * (t - tj))


def test_jump_ts_traced_under_jit_vmap_grad():
    """diffrax `test_jump_ts` with traced jump times: one compiled solve for a batch of jump
    times (each with few rejections), bad traced values a named failure per member, and
    gradients through the solve (RecursiveCheckpoint, Backsolve) match finite differences."""
    ks, tjs = jnp.array([1.0, 2.0, 1.0]), jnp.array([1.3, 0.7, 2.9])
    sol = jax.vmap(_solve_forced)(ks, tjs)
    assert sol.ok.tolist() == [True] * 3
    want = [_forced_exact(float(k), float(tj)) for k, tj in zip(ks, tjs)]
    np.testing.assert_allclose(sol.ys[:, 0], want, rtol=1e-5)
    assert max(sol.stats["num_rejected"].tolist()) <= 2
    bad = jax.vmap(_solve_forced)(jnp.ones(3), jnp.array([jnp.nan, 4.0, -0.5]))
    assert (bad.result == RESULTS.invalid_jump_ts).tolist() == [True] * 3
    assert bad.stats["num_steps"].tolist() == [0, 0, 0]
    fd = (_forced_exact(1 + 1e-6, 1.3) - _forced_exact(1 - 1e-6, 1.3)) / 2e-6
    for adjoint in (scidiff.RecursiveCheckpoint(), scidiff.Backsolve()):

        def loss(k, adjoint=adjoint):
            return scidiff.solve_ivp(_forced, (0.0, 3.0), jnp.ones(()), args=(k, 1.3),
                                     jump_ts=[1.3], adjoint=adjoint, rtol=1e-8, atol=1e-10).ys[-1]  # fmt: skip

        np.testing.assert_allclose(jax.grad(loss)(1.0), fd, rtol=1e-5)


@pytest.mark.parametrize(
    "jump_ts, match",
    [
        ([0.5, 1.5, 1.0], r"`jump_ts` must be sorted"),
        ([0.5, 4.0], r"`jump_ts` must lie inside t_span \[0.0, 3.0\]"),
        ([jnp.nan], "`jump_ts` holds NaN or Inf"),
        ([[0.5]], "must be a 1-D array"),
    ],
)
def test_bad_jump_ts_raise(jump_ts, match):
    """diffrax validates jump_ts; here concrete mistakes raise at call time, naming the fix."""
    with pytest.raises(ValueError, match=match):
        scidiff.solve_ivp(switched, (0.0, 3.0), jnp.ones(()), jump_ts=jnp.asarray(jump_ts))


# --- dtmax / dtmin -----------------------------------------------------------------------


@pytest.mark.parametrize("solver", [scidiff.Tsit5(), scidiff.BDF()], ids=["Tsit5", "BDF"])
def test_max_step(solver):
    """scipy test_ivp.py `test_max_step`: PIDController(dtmax=...) (scipy's max_step) caps
    every step, the first and those BDF chooses itself, with the solution still accurate."""
    ctrl = scidiff.PIDController(dtmax=0.05)
    sol = scidiff.solve_ivp(decay, (0.0, 2.0), jnp.ones(()), solver=solver, controller=ctrl,
                            dense=True, rtol=1e-6, atol=1e-9)  # fmt: skip
    widths = np.diff(np.concatenate([[0.0], _step_ends(sol)]))
    assert widths.max() <= 0.05 * (1 + 1e-12) and widths.size >= 40
    np.testing.assert_allclose(sol.ys[-1], np.exp(-2.0), rtol=1e-5)


def stiff(t, y, args):
    return -1000.0 * (y - jnp.cos(t))


def test_min_step_failure_is_named():
    """diffrax's PIDController(dtmin=...) (without force_dtmin): an explicit method on a
    stiff problem needs steps ~2e-3; with dtmin=0.01 the solve stops with
    RESULTS.dtmin_reached (named in the raised error), not after max_steps; a floor the
    problem does not reach changes nothing but the smallest steps."""
    kw = dict(solver=scidiff.Tsit5(), dense=True)
    ctrl = scidiff.PIDController(dtmin=0.01)
    sol = scidiff.solve_ivp(stiff, (0.0, 1.0), jnp.ones(()), controller=ctrl, throw=False, **kw)
    assert sol.result == RESULTS.dtmin_reached and int(sol.stats["num_steps"]) < 50
    with pytest.raises(eqx.EquinoxRuntimeError, match=re.escape("PIDController(dtmin=...)")):
        scidiff.solve_ivp(stiff, (0.0, 1.0), jnp.ones(()), controller=ctrl, **kw)
    loose = scidiff.PIDController(dtmin=1e-5)
    sol = scidiff.solve_ivp(stiff, (0.0, 1.0), jnp.ones(()), controller=loose, **kw)
    assert sol.ok
    widths = np.diff(np.concatenate([[0.0], _step_ends(sol)]))
    assert widths[:-1].min() >= 1e-5 * (1 - 1e-9)
    ref = scipy.integrate.solve_ivp(lambda t, y: -1000.0 * (y - np.cos(t)), (0.0, 1.0), [1.0],
                                    method="Radau", rtol=1e-10, atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(sol.ys[-1], ref.y[0, -1], rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(dtmin=-1.0), ValueError, "`dtmin` must be positive"),
        (dict(dtmin=float("nan")), ValueError, "`dtmin` must be positive"),
        (dict(dtmin=float("inf")), ValueError, "`dtmin` must be finite"),
        (dict(dtmin=0.5, dtmax=0.1), ValueError, "dtmin <= dtmax"),
        (dict(dtmax="big"), TypeError, "`dtmax` must be a Python number or None"),
    ],
)
def test_bad_step_bounds_raise(kwargs, exc, match):
    """diffrax validates its step bounds; scidiff names the field and the fix."""
    with pytest.raises(exc, match=match):
        scidiff.PIDController(**kwargs)
