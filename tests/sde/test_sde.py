"""solve_sde: strong and weak orders against exact solutions, reproducibility, pathwise
gradients, saving, dtypes and the static error messages."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff

MU, SIGMA = 0.5, 0.8


def gbm_drift(t, y, a):
    return a[0] * y


def gbm_diffusion(t, y, a):
    return a[1] * y


@pytest.mark.parametrize(
    "solver, order",
    [(scidiff.EulerMaruyama(), 0.5), (scidiff.Milstein(), 1.0)],
    ids=["EM", "Milstein"],
)
def test_strong_order_gbm(solver, order):
    # Geometric Brownian motion: y(T) = y0 exp((mu - sigma^2 / 2) T + sigma W(T)), with the
    # solver's own Brownian path W (sol.ws): the strong error is pathwise.
    keys = jax.random.split(jax.random.key(1), 2000)
    ns = np.array([16, 64, 256])

    @jax.jit
    def mean_error(dt):
        def one(key):
            sol = scidiff.solve_sde(gbm_drift, gbm_diffusion, (0.0, 1.0), jnp.ones(()), key=key,
                                    args=(MU, SIGMA), solver=solver, dt0=dt, max_steps=260)  # fmt: skip
            exact = jnp.exp(MU - SIGMA**2 / 2 + SIGMA * sol.ws[-1])
            return jnp.abs(sol.ys[-1] - exact)

        return jax.vmap(one)(keys).mean()

    errs = np.array([float(mean_error(1.0 / n)) for n in ns])
    slope = np.polyfit(np.log(1.0 / ns), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.15, (slope, errs)


def test_weak_order_ornstein_uhlenbeck():
    # dy = -theta y dt + sigma dW: E y(T) = y0 e^{-theta T},
    # Var y(T) = sigma^2 / (2 theta) (1 - e^{-2 theta T}). Euler--Maruyama is weakly first
    # order: the biases of the mean and of the variance halve with the step.
    theta, sigma, T = 2.0, 0.5, 1.0
    keys = jax.random.split(jax.random.key(7), 100_000)

    @jax.jit
    def moments(dt):
        def one(key):
            return scidiff.solve_sde(lambda t, y, a: -theta * y, lambda t, y, a: sigma + 0 * y,
                                     (0.0, T), jnp.ones(()), key=key, dt0=dt, max_steps=21).ys[-1]  # fmt: skip

        y = jax.vmap(one)(keys)
        return y.mean(), y.var()

    mean_exact = np.exp(-theta * T)
    var_exact = sigma**2 / (2 * theta) * (1 - np.exp(-2 * theta * T))
    hs = np.array([0.2, 0.1, 0.05])
    m, v = np.array([[float(x) for x in moments(h)] for h in hs]).T
    mean_slope = np.polyfit(np.log(hs), np.log(np.abs(m - mean_exact)), 1)[0]
    var_slope = np.polyfit(np.log(hs), np.log(np.abs(v - var_exact)), 1)[0]
    assert abs(mean_slope - 1.0) < 0.2, (m, mean_exact)
    assert abs(var_slope - 1.0) < 0.25, (v, var_exact)
    # And the moments are exactly Euler--Maruyama's own, m_{n+1} = (1 - theta h) m_n and
    # v_{n+1} = (1 - theta h)^2 v_n + sigma^2 h, within the Monte Carlo error.
    for h, m_h, v_h in zip(hs, m, v):
        n = int(round(T / h))
        m_em = (1 - theta * h) ** n
        v_em = sigma**2 * h * sum((1 - theta * h) ** (2 * k) for k in range(n))
        se_m = np.sqrt(v_em / keys.shape[0])
        se_v = v_em * np.sqrt(2 / keys.shape[0])
        assert abs(m_h - m_em) < 5 * se_m, (h, m_h, m_em)
        assert abs(v_h - v_em) < 5 * se_v, (h, v_h, v_em)


def _ou(key, **kw):
    return scidiff.solve_sde(lambda t, y, a: -y, lambda t, y, a: 0.3 + 0 * y, (0.0, 1.0),
                             jnp.ones(3), key=key, dt0=0.1, **kw)  # fmt: skip


def test_reproducible_and_vmap_over_keys():
    k1, k2 = jax.random.key(0), jax.random.key(1)
    a, b, c = _ou(k1).ys, _ou(k1).ys, _ou(k2).ys
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    keys = jax.random.split(jax.random.key(3), 3)
    batched = jax.vmap(lambda k: _ou(k).ys)(keys)
    for i in range(3):
        np.testing.assert_allclose(batched[i], _ou(keys[i]).ys, rtol=1e-12)


def test_t_eval_is_the_same_path():
    key = jax.random.key(5)
    sol = _ou(key, t_eval=jnp.array([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(sol.ts, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(sol.ys[0], jnp.ones(3))
    half = scidiff.solve_sde(lambda t, y, a: -y, lambda t, y, a: 0.3 + 0 * y, (0.0, 0.5),
                             jnp.ones(3), key=key, dt0=0.1)  # fmt: skip
    np.testing.assert_allclose(sol.ys[1], half.ys[-1], rtol=1e-12)
    np.testing.assert_allclose(sol.ys[2], _ou(key).ys[-1], rtol=1e-12)
    assert int(sol.stats["num_steps"]) == 10


def test_pathwise_gradient_matches_finite_differences():
    key = jax.random.key(11)

    def loss(params):
        sol = scidiff.solve_sde(gbm_drift, gbm_diffusion, (0.0, 1.0), jnp.ones(4), key=key,
                                args=params, solver=scidiff.Milstein(), dt0=0.05)  # fmt: skip
        return jnp.sum(sol.ys[-1] ** 2)

    p = jnp.array([MU, SIGMA])
    g = jax.grad(loss)(p)
    eps = 1e-6
    fd = [(loss(p.at[i].add(eps)) - loss(p.at[i].add(-eps))) / (2 * eps) for i in range(2)]
    np.testing.assert_allclose(np.asarray(g), np.asarray(fd), rtol=1e-6)


def test_float32_pytree_and_no_recompile():
    traces = []

    def drift(t, y, a):
        traces.append(1)
        return {"x": -y["x"], "v": -2 * y["v"]}

    def diffusion(t, y, a):
        return {"x": 0.1 * jnp.ones_like(y["x"]), "v": 0.2 * y["v"]}

    y0 = {"x": jnp.ones(2, jnp.float32), "v": jnp.ones((), jnp.float32)}

    def run(t1, dt):
        return scidiff.solve_sde(drift, diffusion, (0.0, t1), y0, key=jax.random.key(0),
                                 dt0=dt, solver=scidiff.Milstein(), max_steps=64)  # fmt: skip

    sol = run(1.0, 0.05)
    assert sol.ys["x"].dtype == jnp.float32 and sol.ys["v"].dtype == jnp.float32
    assert sol.ys["x"].shape == (1, 2)
    n = len(traces)
    run(2.0, 0.1)
    run(0.5, 0.01)
    assert len(traces) == n


def test_max_steps_reached_is_reported():
    sol = _ou(jax.random.key(0), max_steps=5, throw=False)
    assert sol.result == scidiff.RESULTS.max_steps_reached
    assert not bool(sol.ok)
    with pytest.raises(Exception, match="max_steps reached"):
        _ou(jax.random.key(0), max_steps=5).ys.block_until_ready()


def test_backwards_in_time():
    sol = scidiff.solve_sde(lambda t, y, a: jnp.ones_like(y), lambda t, y, a: 0 * y, (1.0, 0.0),
                            jnp.zeros(()), key=jax.random.key(0), dt0=0.1)  # fmt: skip
    # dy/dt = 1 from t=1 back to t=0: y(0) = -1.
    np.testing.assert_allclose(float(sol.ys[-1]), -1.0, rtol=1e-12)


KEY = jax.random.key(0)
F = lambda t, y, a: -y  # noqa: E731
G = lambda t, y, a: 0.1 * y  # noqa: E731


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: scidiff.solve_sde(F, G, (0.0, 1.0), jnp.ones(2), key=KEY, dt0=None), ValueError, "dt0="),
        (lambda: scidiff.solve_sde(F, G, (0.0, 1.0), jnp.ones(2), key=KEY, dt0=-0.1), ValueError, "must be positive"),
        (lambda: scidiff.solve_sde(F, G, (1.0, 1.0), jnp.ones(2), key=KEY, dt0=0.1), ValueError, "t1 != t0"),
        (lambda: scidiff.solve_sde(F, G, (0.0,), jnp.ones(2), key=KEY, dt0=0.1), ValueError, "pair"),
        (lambda: scidiff.solve_sde(F, lambda t, y, a: jnp.ones(3), (0.0, 1.0), jnp.ones(2), key=KEY, dt0=0.1), ValueError, "diagonal noise"),
        (lambda: scidiff.solve_sde(F, G, (0.0, 1.0), jnp.ones(2), key=KEY, dt0=0.1, solver=scidiff.Tsit5()), TypeError, "EulerMaruyama"),
        (lambda: scidiff.solve_sde(F, G, (0.0, 1.0), jnp.ones(2, int), key=KEY, dt0=0.1), TypeError, "floating-point"),
        (lambda: scidiff.solve_sde(F, 3.0, (0.0, 1.0), jnp.ones(2), key=KEY, dt0=0.1), TypeError, "must be callables"),
        (lambda: scidiff.solve_sde(F, G, (0.0, 1.0), jnp.ones(2), key=KEY, dt0=0.1, t_eval=jnp.array([0.5, 2.0])), ValueError, "inside t_span"),
        (lambda: scidiff.solve_sde(F, G, (0.0, 1.0), jnp.ones(2), key=KEY, dt0=0.1, t_eval=jnp.array([0.5, 0.2])), ValueError, "monotone"),
        (lambda: scidiff.solve_sde(F, G, (0.0, 1.0), jnp.ones(2), key=KEY, dt0=0.1, max_steps=0), ValueError, "positive int"),
        (lambda: jax.jit(lambda t1: scidiff.solve_sde(F, G, (0.0, t1), jnp.ones(2), key=KEY, dt0=0.1).ys)(1.0), ValueError, "static `max_steps=`"),
        # Found by hostile input: a complex drift kept only its real part (ok=True), and
        # a NaN/inf t1 was not rejected.
        (lambda: scidiff.solve_sde(lambda t, y, a: 1j * y, G, (0.0, 1.0), jnp.ones(2), key=KEY, dt0=0.1), ValueError, r"`f\(t, y, args\)` must return y0's dtype: leaf 0 is complex128"),
        (lambda: scidiff.solve_sde(F, lambda t, y, a: (1 + 1j) * y, (0.0, 1.0), jnp.ones(2), key=KEY, dt0=0.1), ValueError, "a complex g on a real state"),
        (lambda: scidiff.solve_sde(F, G, (0.0, jnp.nan), jnp.ones(2), key=KEY, dt0=0.1, max_steps=10), ValueError, "`t_span` must be finite, got t1=nan"),
        (lambda: scidiff.solve_sde(F, G, (-jnp.inf, 1.0), jnp.ones(2), key=KEY, dt0=0.1, max_steps=10), ValueError, "`t_span` must be finite, got t0=-inf"),
    ],
)  # fmt: skip
def test_static_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("solver", [scidiff.EulerMaruyama(), scidiff.Milstein()])
def test_repeated_save_times_are_served_and_do_not_shift_the_path(solver):
    # A save time repeated at t1 used to leave its slot NaN with ok=True, and an interior
    # repeat shifted every later Brownian increment (its zero-length step used a key).
    drift = lambda t, y, a: -y
    diffusion = lambda t, y, a: 0.3 * jnp.ones_like(y)
    kw = dict(key=jax.random.key(0), dt0=0.1, solver=solver, throw=False)
    plain = scidiff.solve_sde(
        drift, diffusion, (0.0, 1.0), jnp.ones(()), t_eval=jnp.array([0.5, 1.0]), **kw
    )
    for te, picks in (([0.5, 1.0, 1.0], [0, 1, 1]), ([0.5, 0.5, 1.0], [0, 0, 1])):
        sol = scidiff.solve_sde(
            drift, diffusion, (0.0, 1.0), jnp.ones(()), t_eval=jnp.array(te), **kw
        )
        assert bool(sol.ok) and bool(jnp.all(jnp.isfinite(sol.ys)))
        np.testing.assert_array_equal(sol.ys, plain.ys[jnp.array(picks)])
