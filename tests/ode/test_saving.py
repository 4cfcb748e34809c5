"""Saving options of solve_ivp: ``save_steps=True`` (every accepted step), ``save_fn=``
(observables instead of states) and ``sol.derivative(t)``; each against the analytic
solution, finite differences or the dense output; jit, vmap, grad (RecursiveCheckpoint,
ForwardMode; Backsolve where supported), and the errors for what is refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff

MAX = 64  # small save_steps buffers keep the tests fast


def decay(t, y, k):
    return -k * y


def oscillator(t, y, w):
    """Harmonic oscillator y = (q, p): q = cos(w t), p = -w sin(w t) from (1, 0)."""
    q, p = y
    return (p, -(w**2) * q)


def oscillator_exact(t, w):
    return jnp.cos(w * t), -w * jnp.sin(w * t)


def energy(t, y, w):
    q, p = y
    return 0.5 * p**2 + 0.5 * w**2 * q**2


Y_OSC = (jnp.asarray(1.0), jnp.asarray(0.0))


def valid(sol):
    return int(sol.stats["num_saved"])


# --- save_steps ---------------------------------------------------------------------


@pytest.mark.parametrize("t_span", [(0.0, 3.0), (3.0, 0.0)], ids=["forward", "backward"])
def test_save_steps_are_the_accepted_steps(t_span):
    """Mirrors scipy test_ivp.py `test_integration` (t_eval=None saves every step) and
    diffrax test_saveat.py `test_saveat_solution` (SaveAt(steps=True)): t0, then the end
    of every accepted step in order (the dense output's step ends), inf after; values
    are the solution there."""
    t0, t1 = t_span
    sol = scidiff.solve_ivp(
        decay, t_span, jnp.ones(2), args=0.7, save_steps=True, dense=True, max_steps=MAX,
        rtol=1e-8, atol=1e-10,
    )  # fmt: skip
    n = valid(sol)
    assert sol.ts.shape == (MAX + 1,) and sol.ys.shape == (MAX + 1, 2)
    assert n == int(sol.stats["num_steps"]) + 1 and n > 3
    ts = np.asarray(sol.ts)
    d = np.sign(t1 - t0)
    assert ts[0] == t0 and ts[n - 1] == t1
    assert np.all(d * np.diff(ts[:n]) > 0)  # strictly monotone in the direction of travel
    assert np.all(np.isinf(ts[n:])) and np.all(ts[n:] > 0)
    assert np.all(np.isinf(np.asarray(sol.ys[n:])))
    # The step ends of the dense output (stored in s = d t).
    ends = d * np.asarray(sol.interpolation.ends[: n - 1])
    np.testing.assert_array_equal(ts[1:n], ends)
    exact = np.exp(-0.7 * (ts[:n] - t0))
    np.testing.assert_allclose(np.asarray(sol.ys[:n, 0]), exact, rtol=1e-7)


def test_save_steps_with_terminal_event():
    """Mirrors diffrax test_saveat.py `test_saveat_solution` with an event: the event
    state is the last saved entry (here through a save_fn, keeping the state and the
    height squared); event_ys stays the state."""
    g = 9.81

    def fall(t, y, args):
        return jnp.stack([y[1], -g])

    ev = scidiff.Event(lambda t, y, args: y[0])
    sol = scidiff.solve_ivp(
        fall, (0.0, 5.0), jnp.array([10.0, 0.0]), events=ev, save_steps=True, max_steps=MAX,
        save_fn=lambda t, y, args: {"y": y, "h2": y[0] ** 2},
    )  # fmt: skip
    n = valid(sol)
    t_hit = np.sqrt(2 * 10.0 / g)
    assert sol.result == scidiff.RESULTS.event_occurred
    np.testing.assert_allclose(float(sol.ts[n - 1]), t_hit, rtol=1e-8)
    np.testing.assert_allclose(float(sol.event_ts[0]), float(sol.ts[n - 1]), rtol=1e-14)
    assert sol.event_ys.shape == (ev.capacity, 2)  # the state, not save_fn's output
    y_last = np.asarray(sol.ys["y"][n - 1])
    np.testing.assert_allclose(y_last, np.asarray(sol.event_ys[0]), atol=1e-12)
    np.testing.assert_allclose(y_last, [0.0, -g * t_hit], rtol=1e-8, atol=1e-10)
    heights = 10.0 - 0.5 * g * np.asarray(sol.ts[:n]) ** 2
    np.testing.assert_allclose(np.asarray(sol.ys["h2"][:n]), heights**2, rtol=1e-9, atol=1e-10)
    assert np.all(np.isinf(np.asarray(sol.ts[n:]))) and np.all(np.isinf(sol.ys["h2"][n:]))


@jax.jit
def _steps_batch(k):
    sol = scidiff.solve_ivp(decay, (0.0, 2.0), jnp.ones(()), args=k, save_steps=True,
                            max_steps=MAX, throw=False,
                            save_fn=lambda t, y, k: (y, k * y))  # fmt: skip
    return sol.ts, sol.ys, sol.stats["num_saved"]


def test_save_steps_jit_vmap_counts_per_member():
    """Mirrors diffrax test_saveat.py `test_saveat_solution` under vmap: each member has
    its own number of saved entries, and equals its own unbatched solve (save_fn under
    vmap too, with its batched args)."""
    ks = jnp.array([0.5, 3.0, 20.0])
    ts, (ys, kys), n = jax.vmap(_steps_batch)(ks)
    np.testing.assert_allclose(np.asarray(kys), np.asarray(ks[:, None] * ys))
    assert len(set(np.asarray(n).tolist())) == 3  # stiffer decay: more steps
    for i, k in enumerate(ks):
        ts_i, (ys_i, _), n_i = _steps_batch(k)
        assert int(n_i) == int(n[i])
        np.testing.assert_allclose(np.asarray(ts[i]), np.asarray(ts_i), rtol=1e-9)
        m = int(n_i)
        np.testing.assert_allclose(
            np.asarray(ys[i, :m]), np.exp(-k * ts_i[:m]), rtol=1e-5, atol=1e-8
        )
        assert np.all(np.isinf(np.asarray(ys[i, m:])))


def test_save_steps_gradient_adaptive_fixed_mesh():
    """Gradient of a loss over the valid saved entries. Adaptive steps: the gradient holds
    the mesh fixed (discretise-then-optimise), so compare with the analytic derivative at
    the saved times, and RecursiveCheckpoint with ForwardMode. (Fixed steps against
    central differences: test_save_fn_gradient[save_steps].)"""
    k = 0.8

    def loss(k, adjoint):
        sol = scidiff.solve_ivp(decay, (0.0, 2.0), jnp.ones(()), args=k, save_steps=True,
                                max_steps=MAX, adjoint=adjoint, rtol=1e-9, atol=1e-12)  # fmt: skip
        w = jnp.arange(MAX + 1) < sol.stats["num_saved"]
        return jnp.sum(jnp.where(w, sol.ys, 0.0)), sol.ts

    g_rc, ts = jax.grad(lambda k: loss(k, None), has_aux=True)(k)
    g_fw = jax.jacfwd(lambda k: loss(k, scidiff.ForwardMode())[0])(k)
    t = ts[jnp.isfinite(ts)]
    exact = jnp.sum(-t * jnp.exp(-k * t))  # d/dk of sum exp(-k t_i) at fixed t_i
    np.testing.assert_allclose(float(g_rc), float(exact), rtol=1e-7)
    np.testing.assert_allclose(float(g_fw), float(g_rc), rtol=1e-10)


def test_num_saved_with_t_eval_and_a_terminal_event():
    """stats["num_saved"] counts the filled t_eval slots: a terminal event at t = 1 (of
    y = 1 - t) leaves the slots after it unfilled (inf)."""
    ev = scidiff.Event(lambda t, y, args: y[0])
    sol = scidiff.solve_ivp(lambda t, y, a: -jnp.ones(1), (0.0, 2.0), jnp.ones(1), events=ev,
                            t_eval=jnp.linspace(0.0, 2.0, 9))  # fmt: skip
    assert int(sol.stats["num_saved"]) == 5  # 0, 0.25, ..., 1.0
    assert np.all(np.isinf(np.asarray(sol.ts[5:]))) and np.all(np.isfinite(sol.ts[:5]))


def test_save_steps_refusals():
    with pytest.raises(ValueError, match="pass one of them"):
        scidiff.solve_ivp(decay, (0.0, 1.0), jnp.ones(()), args=1.0, save_steps=True,
                          t_eval=jnp.linspace(0.0, 1.0, 3))  # fmt: skip
    with pytest.raises(ValueError, match=r"Backsolve\(\).*save_steps"):
        scidiff.solve_ivp(decay, (0.0, 1.0), jnp.ones(()), args=1.0, save_steps=True,
                          adjoint=scidiff.Backsolve())  # fmt: skip
    with pytest.raises(TypeError, match="save_steps` must be True or False"):
        scidiff.solve_ivp(decay, (0.0, 1.0), jnp.ones(()), args=1.0, save_steps=1)
    with pytest.raises(ValueError, match="not supported with chunks"):
        scidiff.solve_ivp(decay, (0.0, 1.0), jnp.ones(()), args=1.0, save_steps=True, chunks=2)


# --- save_fn ------------------------------------------------------------------------

T_EVAL = jnp.linspace(0.0, 3.0, 7)


@pytest.mark.parametrize("mode", ["t_eval", "save_steps"])
def test_save_fn_energy(mode):
    """Mirrors diffrax test_saveat.py `test_saveat_solution` with SaveAt(fn=...): the
    oscillator's energy saved instead of the state equals the energy of the saved
    states (same steps), and the exact (conserved) value."""
    w = 1.7
    kw = {"t_eval": T_EVAL} if mode == "t_eval" else {"save_steps": mode == "save_steps"}
    common = dict(args=w, max_steps=MAX, rtol=1e-8, atol=1e-10, **kw)
    states = scidiff.solve_ivp(oscillator, (0.0, 3.0), Y_OSC, **common)
    saved = scidiff.solve_ivp(
        oscillator, (0.0, 3.0), Y_OSC, save_fn=lambda t, y, w: {"E": energy(t, y, w), "t": t},
        **common,
    )  # fmt: skip
    n = valid(saved)
    assert n == valid(states)
    # The same steps (to rounding: the two programs compile differently).
    np.testing.assert_allclose(np.asarray(saved.ts), np.asarray(states.ts), rtol=1e-8)
    from_states = energy(states.ts, states.ys, w)
    E = np.asarray(saved.ys["E"][:n])
    np.testing.assert_allclose(E, np.asarray(from_states[:n]), rtol=1e-8)
    np.testing.assert_allclose(E, 0.5 * w**2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(saved.ys["t"][:n]), np.asarray(saved.ts[:n]))
    assert np.all(np.isinf(np.asarray(saved.ys["E"][n:])))


C = jnp.asarray(0.3)  # closed over by the save function (reverse mode must reach it)


def _fn_loss(theta, adjoint, mode):
    w, c = theta

    def obs(t, y, w):
        q, p = y
        return jnp.stack([c * q**2 + p * w, jnp.sin(t) * q])

    if mode == "save_steps":
        kw = dict(save_steps=True, solver=scidiff.RK4(), dt0=0.15)
    elif mode == "t_eval":
        kw = dict(t_eval=T_EVAL, rtol=1e-11, atol=1e-11)
    else:
        kw = dict(rtol=1e-11, atol=1e-11)
    sol = scidiff.solve_ivp(oscillator, (0.0, 3.0), Y_OSC, args=w, save_fn=obs,
                            max_steps=MAX if mode == "save_steps" else 1000, adjoint=adjoint,
                            **kw)  # fmt: skip
    mask = (jnp.arange(sol.ys.shape[0]) < sol.stats["num_saved"])[:, None]
    return jnp.sum(jnp.where(mask, sol.ys, 0.0) * jnp.array([1.0, -2.0]))


@pytest.mark.parametrize("mode", ["t_eval", "save_steps", "final"])
def test_save_fn_gradient(mode):
    """Gradient through save_fn (to args and to a closed-over constant) against central
    differences (fixed steps for save_steps, whose saved times are the mesh; T_EVAL's
    first time is t0, saved from y0 itself), for RecursiveCheckpoint, ForwardMode
    (save_steps) and Backsolve (the final save, applied after the loop)."""
    theta = jnp.array([1.3, C])
    h = 1e-6
    fd = np.array([
        (_fn_loss(theta.at[i].add(h), None, mode) - _fn_loss(theta.at[i].add(-h), None, mode))
        / (2 * h)
        for i in range(2)
    ])  # fmt: skip
    # The final save is applied after the loop (a plain composition): shown with Backsolve.
    adjoint = scidiff.Backsolve() if mode == "final" else scidiff.RecursiveCheckpoint()
    g = jax.grad(_fn_loss)(theta, adjoint, mode)
    np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-5, atol=1e-7)
    if mode == "save_steps":
        g_fw = jax.jacfwd(_fn_loss)(theta, scidiff.ForwardMode(), mode)
        np.testing.assert_allclose(np.asarray(g_fw), np.asarray(g), rtol=1e-9)


def test_save_fn_errors():
    kw = dict(args=1.0, t_eval=T_EVAL)
    with pytest.raises(TypeError, match="must be None or callable"):
        scidiff.solve_ivp(oscillator, (0.0, 3.0), Y_OSC, save_fn="energy", **kw)
    with pytest.raises(TypeError, match="floating arrays: leaf 0 has dtype int"):
        scidiff.solve_ivp(oscillator, (0.0, 3.0), Y_OSC, save_fn=lambda t, y, a: jnp.int32(1), **kw)
    with pytest.raises(ValueError, match="empty pytree"):
        scidiff.solve_ivp(oscillator, (0.0, 3.0), Y_OSC, save_fn=lambda t, y, a: None, **kw)
    with pytest.raises(TypeError, match="pytree of JAX arrays"):
        scidiff.solve_ivp(oscillator, (0.0, 3.0), Y_OSC, save_fn=lambda t, y, a: "E", **kw)
    with pytest.raises(ValueError, match=r"Backsolve\(\).*save_fn with t_eval"):
        scidiff.solve_ivp(oscillator, (0.0, 3.0), Y_OSC, save_fn=energy,
                          adjoint=scidiff.Backsolve(), **kw)  # fmt: skip


# --- sol.derivative -----------------------------------------------------------------

SOLVERS = {
    "Tsit5": (scidiff.Tsit5(), {}, 1e-5),
    "Dopri5": (scidiff.Dopri5(), {}, 1e-5),
    "Dopri8": (scidiff.Dopri8(), {}, 1e-6),
    "Kvaerno5": (scidiff.Kvaerno5(), {}, 1e-4),
    "Rodas5": (scidiff.Rodas5(), {}, 1e-4),
    "BDF": (scidiff.BDF(), {}, 1e-3),
    "Yoshida4": (scidiff.Yoshida4(), {"dt0": 0.02}, 1e-5),
}


@pytest.mark.parametrize("name", list(SOLVERS))
def test_derivative_is_the_vector_field(name):
    """Mirrors diffrax test_interpolation.py `test_derivative`: the derivative of the
    dense output equals f(t, y(t)) at interior times and at the save (step-end) times,
    within the solver's accuracy; also when integrating backwards."""
    solver, kw, tol = SOLVERS[name]
    w = 1.5
    for t_span in [(0.0, 3.0), (3.0, 0.0)]:
        y0 = oscillator_exact(t_span[0], w)
        sol = scidiff.solve_ivp(oscillator, t_span, y0, args=w, solver=solver, dense=True,
                                save_steps=True, max_steps=200, rtol=1e-8, atol=1e-10,
                                **kw)  # fmt: skip
        # Interior times and every saved step end in one call (one shape: one compile);
        # the buffer's inf padding gives NaN, masked out.
        t_in = jnp.linspace(0.05, 2.95, 11)
        dq, dp = sol.derivative(jnp.concatenate([t_in, sol.ts]))
        eq, ep = oscillator(t_in, oscillator_exact(t_in, w), w)
        np.testing.assert_allclose(np.asarray(dq[:11]), np.asarray(eq), atol=tol)
        np.testing.assert_allclose(np.asarray(dp[:11]), np.asarray(ep), atol=tol * w)
        n = valid(sol)
        fq, fp = oscillator(sol.ts[:n], (sol.ys[0][:n], sol.ys[1][:n]), w)
        np.testing.assert_allclose(np.asarray(dq[11 : 11 + n]), np.asarray(fq), atol=tol)
        np.testing.assert_allclose(np.asarray(dp[11 : 11 + n]), np.asarray(fp), atol=tol * w)
        assert np.all(np.isnan(np.asarray(dq[11 + n :])))


def _derivative_at(k, y0):
    # Fixed steps: the mesh does not move with k, so central differences are a reference.
    sol = scidiff.solve_ivp(decay, (0.0, 1.0), y0, args=k, dense=True, solver=scidiff.RK4(),
                            dt0=0.05, max_steps=32)  # fmt: skip
    return sol.derivative(0.63)


def test_derivative_gradient():
    """Mirrors diffrax test_interpolation.py `test_derivative`, differentiated: the
    gradient of y'(t) = -k y0 e^{-k t} through sol.derivative to k and y0 against central
    differences and the analytic -(1 - k t) e^{-k t}, -k e^{-k t}."""
    k, y0, t, h = 1.2, 1.0, 0.63, 1e-6
    gk, gy = jax.grad(_derivative_at, argnums=(0, 1))(k, y0)
    fd_k = (_derivative_at(k + h, y0) - _derivative_at(k - h, y0)) / (2 * h)
    fd_y = (_derivative_at(k, y0 + h) - _derivative_at(k, y0 - h)) / (2 * h)
    np.testing.assert_allclose([float(gk), float(gy)], [float(fd_k), float(fd_y)], rtol=1e-7)
    exact = [-(1 - k * t) * np.exp(-k * t), -k * np.exp(-k * t)]
    np.testing.assert_allclose([float(gk), float(gy)], exact, rtol=1e-4)  # RK4's error


def test_derivative_jit_vmap_nan_outside():
    """Under jit and vmap: the derivative at times in the span, NaN outside it (like
    evaluate), scalar and array times."""
    ks = jnp.array([0.5, 1.0, 2.0])

    @jax.jit
    @jax.vmap
    def run(k):
        sol = scidiff.solve_ivp(decay, (0.0, 1.0), jnp.ones(2), args=k, dense=True,
                                rtol=1e-9, atol=1e-12)  # fmt: skip
        return sol.derivative(jnp.array([-0.1, 0.2, 0.9, 1.1])), sol.derivative(0.5)

    out, at_half = run(ks)
    assert out.shape == (3, 4, 2) and at_half.shape == (3, 2)
    assert np.all(np.isnan(np.asarray(out)[:, [0, 3]]))
    t = np.array([0.2, 0.9])
    exact = -ks[:, None] * np.exp(-ks[:, None] * t)
    np.testing.assert_allclose(np.asarray(out[:, 1:3, 0]), exact, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(at_half[:, 1]), -ks * np.exp(-ks * 0.5), rtol=1e-6)


def test_derivative_needs_dense():
    sol = scidiff.ODESolution(ts=jnp.zeros(1), ys=jnp.zeros(1), result=scidiff.RESULTS.successful,
                              stats={})  # fmt: skip
    with pytest.raises(ValueError, match=r"`derivative` needs dense output.*dense=True"):
        sol.derivative(0.5)
