"""Chunked solves and rollouts against independent references (analytic solutions, the
unchunked solver at tight tolerance), their failure reporting, and the progress bar."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import scidiff
from scidiff._chunked import (
    rollout_model_chunked,
    run_chunked,
    run_steps,
    solve_ivp_chunked,
    solve_sde_chunked,
)
from scidiff._chunked._fingerprint import fingerprint

from . import _problems


def decay(t, y, k):
    return -k * y


@pytest.mark.parametrize("t_span", [(0.0, 2.0), (2.0, 0.0)])
def test_solve_ivp_chunked_matches_the_exact_solution(t_span):
    t0, t1 = t_span
    te = jnp.linspace(t0, t1, 9)
    sol = solve_ivp_chunked(
        decay, t_span, jnp.ones(2), args=0.7, chunks=3, t_eval=te, rtol=1e-10, atol=1e-12
    )
    assert sol.ok and sol.ts.tolist() == te.tolist()
    assert jnp.allclose(sol.ys[:, 0], jnp.exp(-0.7 * (te - t0)), rtol=1e-8, atol=0)
    one = scidiff.solve_ivp(decay, t_span, jnp.ones(2), args=0.7, rtol=1e-10, atol=1e-12)
    assert sol.stats["num_steps"] >= one.stats["num_steps"]  # summed over the chunks
    assert int(sol.stats["num_saved"]) == 9  # the run's saves, not the pieces' sum
    final = solve_ivp_chunked(decay, t_span, jnp.ones(2), args=0.7, chunks=3, rtol=1e-10)
    assert final.ts.tolist() == [t1] and final.ys.shape == (1, 2)
    assert int(final.stats["num_saved"]) == 1
    assert jnp.allclose(final.ys[0], jnp.exp(-0.7 * (t1 - t0)), rtol=1e-8)


def test_solve_ivp_chunked_failure_without_throw_stops_and_marks_unreached():
    te = jnp.linspace(0.0, 1.0, 5)
    sol = solve_ivp_chunked(
        _problems.lorenz,
        (0.0, 1.0),
        jnp.array([1.0, 1.0, 20.0]),
        args=(10.0, 28.0, 8 / 3),
        chunks=4,
        t_eval=te,
        max_steps=4,
        rtol=1e-10,
        atol=1e-10,
        throw=False,
    )
    assert not sol.ok and sol.result == scidiff.RESULTS.max_steps_reached
    assert sol.ts.shape == (5,) and bool(jnp.isinf(sol.ts[-1])) and bool(jnp.isinf(sol.ys[-1, 0]))


def test_solve_ivp_chunked_refuses_what_it_cannot_chunk():
    f, y0 = decay, jnp.ones(2)
    with pytest.raises(ValueError, match="does not support `events`"):
        solve_ivp_chunked(
            f, (0.0, 1.0), y0, args=1.0, chunks=2, events=scidiff.Event(lambda t, y, a: y[0] - 0.5)
        )
    with pytest.raises(ValueError, match="does not support dense=True"):
        solve_ivp_chunked(f, (0.0, 1.0), y0, args=1.0, chunks=2, dense=True)
    with pytest.raises(ValueError, match="`t_span` and `t_eval` must be concrete"):
        jax.jit(lambda t1: solve_ivp_chunked(f, (0.0, t1), y0, args=1.0, chunks=2).ys)(1.0)
    with pytest.raises(ValueError, match="`chunks` must be a positive int"):
        solve_ivp_chunked(f, (0.0, 1.0), y0, args=1.0, chunks=0)


def no_drift(t, y, args):
    return jnp.zeros_like(y)


def additive(t, y, sigma):
    return sigma * jnp.ones_like(y)


def test_solve_sde_chunked_brownian_path_is_continuous_across_chunks():
    # dy = sigma dW: y(t) = y0 + sigma W(t) exactly, for any scheme, so ys checks ws.
    te = jnp.linspace(0.1, 1.0, 10)

    def solve(key):
        return solve_sde_chunked(
            no_drift,
            additive,
            (0.0, 1.0),
            jnp.ones(4),
            args=0.3,
            key=key,
            dt0=0.01,
            chunks=5,
            t_eval=te,
        )

    sol = solve(jax.random.key(0))
    assert sol.ts.tolist() == te.tolist()
    # the unchunked grid of 100 steps (plus at most one short step per save time that
    # rounding puts just off the grid)
    assert 100 <= int(sol.stats["num_steps"]) <= 100 + len(te)
    assert jnp.allclose(sol.ys, 1.0 + 0.3 * sol.ws, rtol=0, atol=1e-13)
    # W(1) ~ N(0, 1): over 4 components, not all tiny, not huge
    assert 0.05 < float(jnp.max(jnp.abs(sol.ws[-1]))) < 5.0
    assert solve(jax.random.key(0)).ws.tobytes() == sol.ws.tobytes()  # same key, same path
    assert solve(jax.random.key(1)).ws.tobytes() != sol.ws.tobytes()
    with pytest.raises(ValueError, match=r"`chunks` \(200\) is more than the number of steps"):
        solve_sde_chunked(
            no_drift,
            additive,
            (0.0, 1.0),
            jnp.ones(1),
            args=0.3,
            key=jax.random.key(0),
            dt0=0.01,
            chunks=200,
        )


def test_chunked_model_rollout_matches_the_unchunked_rollout():
    model, u0 = _problems.ks_model(), _problems.ks_u0()
    whole = model.rollout(u0, 0.05, 100, save_every=10)
    chunked = rollout_model_chunked(model, u0, 0.05, 100, save_every=10, chunks=_problems.CHUNKS)
    assert chunked.shape == whole.shape
    assert jnp.allclose(chunked, whole, rtol=0, atol=1e-12)  # FFT round trips at chunk ends
    with pytest.raises(ValueError, match=r"`chunks` \(20\) is more than the number of saved"):
        rollout_model_chunked(model, u0, 0.05, 100, save_every=10, chunks=20)


def test_run_steps_langevin_equals_one_unchunked_loop_bitwise():
    state0, step = _problems.langevin_parts()
    ref = jax.jit(lambda s: jax.lax.fori_loop(0, 50, lambda i, s: step(s), s))(state0)
    for save_every in (5, None):
        state, saved = run_steps(step, state0, 50, save_every=save_every, chunks=5)
        assert state.position.tobytes() == ref.position.tobytes()
        assert jax.random.key_data(state.key).tolist() == jax.random.key_data(ref.key).tolist()
    assert saved is None
    with pytest.raises(ValueError, match=r"`num_steps` \(50\) must be a multiple of `save_every`"):
        run_steps(step, state0, 50, save_every=7)


def test_progress_bar_shows_chunks_and_changes_nothing(capsys):
    advance = jax.jit(lambda k, x: (x * 0.5, x[None]))
    quiet = run_chunked(advance, jnp.ones(3), 4)
    shown = run_chunked(advance, jnp.ones(3), 4, progress=True, description="halving")
    text = capsys.readouterr()
    assert "halving" in text.out + text.err and "4/4" in text.out + text.err
    assert shown[0].tobytes() == quiet[0].tobytes() and shown[1].tobytes() == quiet[1].tobytes()


def test_weak_typed_scalars_resume_with_the_same_promotion(tmp_path):
    # A Python-float time in the state must stay weak: float32 * t stays float32.
    def advance(k, s):
        x, t = s
        return (x * (1 + t), t + 0.5), x[None]

    s0 = (jnp.ones(2, jnp.float32), 0.0)
    ref = run_chunked(advance, s0, 3)
    run_chunked(advance, s0, 3, checkpoint_dir=tmp_path / "c")
    (x, _), out = run_chunked(advance, s0, 3, checkpoint_dir=tmp_path / "c")  # resumes at 2
    assert x.dtype == jnp.float32 and out.dtype == jnp.float32
    assert x.tobytes() == ref[0][0].tobytes() and out.tobytes() == ref[1].tobytes()


def test_fingerprint_sees_code_constants_and_captured_arrays():
    a, b = jnp.ones(3), jnp.ones(3)

    def make(c):
        return lambda t, y, args: -c * y

    assert fingerprint(make(a)) == fingerprint(make(b))
    assert fingerprint(make(a)) != fingerprint(make(2 * a))
    assert fingerprint(lambda y: y + 1) != fingerprint(lambda y: y + 2)
    assert fingerprint(_problems.ks_model()) != fingerprint(_problems.ks_model(viscosity=0.5))
    assert fingerprint(jax.random.key(0)) != fingerprint(jax.random.key(1))
