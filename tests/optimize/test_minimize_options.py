"""minimize: ftol/xtol stopping tests, the per-iteration callback (also under jit) and
the loss history."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import scidiff


def quartic(x, c):
    # Minimum 0 at x = c; flat (quartic) so gtol is reached late.
    return jnp.sum((x - c) ** 4)


C = jnp.array([1.0, -2.0])


def test_history_is_the_loss_at_each_iterate():
    seen = []
    sol = scidiff.minimize(
        quartic,
        jnp.zeros(2),
        args=C,
        method=optax.sgd(0.01),
        maxiter=50,
        gtol=0.0,
        callback=lambda k, x, v: seen.append((int(k), np.asarray(x), float(v))),
        throw=False,
    )
    n = int(sol.stats["num_iterations"])
    assert n == 50
    h = np.asarray(sol.history)
    assert h.shape == (51,) and np.all(np.isfinite(h))
    assert h[0] == float(quartic(jnp.zeros(2), C))
    # The callback saw iterations 1..n in order, with the same x and values as history.
    assert [k for k, _, _ in seen] == list(range(1, n + 1))
    np.testing.assert_allclose([v for _, _, v in seen], h[1:], rtol=1e-14)
    np.testing.assert_allclose(seen[-1][1], sol.x, rtol=1e-14)
    assert np.all(np.diff(h) < 0)  # plain gradient descent on a convex quartic


def test_history_is_nan_after_the_last_iterate_and_callback_runs_under_jit():
    seen = []

    @jax.jit
    def run(c):
        return scidiff.minimize(
            quartic,
            jnp.zeros(2),
            args=c,
            maxiter=200,
            gtol=1e-6,
            callback=lambda k, x, v: seen.append(int(k)),
        )

    sol = run(C)
    n = int(sol.stats["num_iterations"])
    assert 0 < n < 200 and seen == list(range(1, n + 1))
    assert np.all(np.isfinite(sol.history[: n + 1])) and np.all(np.isnan(sol.history[n + 1 :]))
    assert float(sol.history[n]) == float(sol.fun)


@pytest.mark.parametrize("option,tol", [("ftol", 1e-5), ("xtol", 1e-3)])
def test_ftol_and_xtol_stop_earlier_with_success(option, tol):
    """With gtol = 0 the gradient test never holds: gradient descent on the quartic runs
    to maxiter; with ftol/xtol it stops, successfully, at the first iteration where the
    test holds (checked on the history / the iterates)."""
    sgd = optax.sgd(0.01)
    kw = dict(args=C, method=sgd, gtol=0.0, maxiter=400)
    base = scidiff.minimize(quartic, jnp.zeros(2), throw=False, **kw)
    assert base.result == scidiff.RESULTS.nonconvergence
    sol = scidiff.minimize(quartic, jnp.zeros(2), **kw, **{option: tol})
    k = int(sol.stats["num_iterations"])
    assert sol.ok and 1 < k < 400
    if option == "ftol":
        h = np.asarray(sol.history)

        def small(i):
            return abs(h[i] - h[i - 1]) <= tol * max(abs(h[i]), abs(h[i - 1]), 1)

        assert small(k) and not small(k - 1)
    else:
        xs = []
        scidiff.minimize(
            quartic, jnp.zeros(2), **kw, throw=False, callback=lambda i, x, v: xs.append(x)
        )
        xs = np.asarray(xs[: k + 1])
        step = np.abs(np.diff(np.vstack([np.zeros(2), xs]), axis=0))
        ok = np.all(step <= tol * (1 + np.abs(xs)), axis=1)
        assert ok[k - 1] and not ok[: k - 1].any()
        np.testing.assert_allclose(xs[k - 1], sol.x, rtol=1e-14)


def test_tolerance_errors():
    with pytest.raises(ValueError, match="`ftol` must be non-negative"):
        scidiff.minimize(quartic, jnp.zeros(2), args=C, ftol=-1.0)
    with pytest.raises(ValueError, match="`xtol` must be non-negative"):
        scidiff.minimize(quartic, jnp.zeros(2), args=C, xtol=-1.0)
    with pytest.raises(ValueError, match="`callback` must be a function"):
        scidiff.minimize(quartic, jnp.zeros(2), args=C, callback=3)
