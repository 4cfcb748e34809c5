"""Agreement with scipy (DOP853 at rtol=atol=1e-12) and analytic invariants on standard
problems: Lotka-Volterra, a Kepler orbit (pytree state, energy), DETEST B5 (Euler's rigid
body); t_eval, dense output, backwards integration, fixed steps, float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp as scipy_solve_ivp

import scidiff


def lotka_volterra(t, y, args):
    a, b, c, d = args
    x, z = y[0], y[1]
    return jnp.stack([a * x - b * x * z, d * x * z - c * z])


LV_ARGS = (1.5, 1.0, 3.0, 1.0)


def rigid_body(t, y, args):  # DETEST B5
    return jnp.stack([y[1] * y[2], -y[0] * y[2], -0.51 * y[0] * y[1]])


def kepler(t, state, args):
    q, p = state["q"], state["p"]
    r3 = jnp.sum(q**2) ** 1.5
    return {"q": p, "p": -q / r3}


def kepler_energy(state):
    return 0.5 * jnp.sum(state["p"] ** 2, -1) - 1 / jnp.linalg.norm(state["q"], axis=-1)


def kepler_y0(e=0.6):
    return {"q": jnp.array([1 - e, 0.0]), "p": jnp.array([0.0, np.sqrt((1 + e) / (1 - e))])}


def kepler_flat(t, y, args):
    r3 = np.sum(y[:2] ** 2) ** 1.5
    return np.concatenate([y[2:], -y[:2] / r3])


def numpy_version(f):
    """The same right-hand side in NumPy (scipy calls it thousands of times)."""
    if f is lotka_volterra:
        return lambda t, y, a: np.array(
            [a[0] * y[0] - a[1] * y[0] * y[1], a[3] * y[0] * y[1] - a[2] * y[1]]
        )
    if f is rigid_body:
        return lambda t, y, a: np.array([y[1] * y[2], -y[0] * y[2], -0.51 * y[0] * y[1]])
    return f


def scipy_ref(f, t_span, y0, t_eval, args=None):
    y0 = np.asarray(y0, float)
    f_np = numpy_version(f)
    out = scipy_solve_ivp(
        lambda t, y: f_np(t, y, args),
        t_span,
        y0,
        t_eval=np.asarray(t_eval),
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
    )
    assert out.success
    return out.y.T


@pytest.mark.parametrize(
    "f, y0, t1, args",
    [
        (lotka_volterra, [10.0, 5.0], 10.0, LV_ARGS),
        (rigid_body, [0.0, 1.0, 1.0], 20.0, None),
    ],
    ids=["lotka_volterra", "detest_b5"],
)
def test_matches_scipy(f, y0, t1, args):
    t_eval = jnp.linspace(0.0, t1, 41)
    sol = scidiff.solve_ivp(
        f, (0.0, t1), jnp.asarray(y0), args=args, t_eval=t_eval, rtol=1e-10, atol=1e-10
    )
    ref = scipy_ref(f, (0.0, t1), y0, t_eval, args)
    scale = np.abs(ref).max()
    assert np.abs(np.asarray(sol.ys) - ref).max() / scale < 1e-7
    np.testing.assert_array_equal(sol.ts, t_eval)
    # A looser tolerance is less accurate, but still within ~100x the tolerance.
    loose = scidiff.solve_ivp(
        f, (0.0, t1), jnp.asarray(y0), args=args, t_eval=t_eval, rtol=1e-5, atol=1e-5
    )
    err = np.abs(np.asarray(loose.ys) - ref).max() / scale
    assert 1e-9 < err < 1e-3
    assert int(loose.stats["num_steps"]) < int(sol.stats["num_steps"])


@pytest.fixture(scope="module")
def kepler_dense():
    period = 2 * np.pi
    t_eval = jnp.linspace(0.0, 3 * period, 31)
    sol = scidiff.solve_ivp(
        kepler, (0.0, 3 * period), kepler_y0(), t_eval=t_eval, dense=True, rtol=1e-10, atol=1e-12
    )
    return sol, t_eval


def test_kepler_pytree_energy_and_period(kepler_dense):
    sol, t_eval = kepler_dense
    y0 = kepler_y0()
    assert set(sol.ys) == {"q", "p"} and sol.ys["q"].shape == (31, 2)
    energy = kepler_energy(sol.ys)
    assert np.abs(energy - kepler_energy(y0)).max() < 1e-8
    # After whole periods the orbit is back where it started.
    for k in (10, 20, 30):
        np.testing.assert_allclose(sol.ys["q"][k], y0["q"], atol=1e-7)
    ref = scipy_ref(
        kepler_flat,
        (0.0, float(t_eval[-1])),
        jnp.concatenate([y0["q"], y0["p"]]),
        t_eval,
    )
    assert np.abs(np.asarray(sol.ys["q"]) - ref[:, :2]).max() < 1e-7


def test_dense_output_matches_t_eval_and_scipy(kepler_dense):
    sol, t_eval = kepler_dense
    # At the save times the dense output is the same interpolant.
    dense = sol.evaluate(t_eval)
    np.testing.assert_allclose(dense["q"], sol.ys["q"], rtol=0, atol=1e-12)
    ts = jnp.asarray(np.random.default_rng(0).uniform(0.0, float(t_eval[-1]), 25))
    q = np.asarray(sol.evaluate(ts)["q"])
    assert q.shape == (25, 2)
    # Scalar evaluation agrees with vector evaluation.
    np.testing.assert_allclose(sol.evaluate(ts[3])["q"], q[3], rtol=1e-14)
    # The interpolant (order 4 for Tsit5) is accurate between the steps too.
    y0 = kepler_y0()
    ref = scipy_ref(
        kepler_flat,
        (0.0, float(t_eval[-1])),
        jnp.concatenate([y0["q"], y0["p"]]),
        np.sort(np.asarray(ts)),
    )
    order = np.argsort(np.asarray(ts))
    assert np.abs(q[order] - ref[:, :2]).max() < 1e-6


def test_backwards_integration():
    """t1 < t0: decreasing t_eval, a round trip returns to y0, dense output works."""
    y0 = jnp.array([10.0, 5.0])
    fwd = scidiff.solve_ivp(lotka_volterra, (0.0, 5.0), y0, args=LV_ARGS, rtol=1e-10, atol=1e-10)
    t_eval = jnp.linspace(5.0, 0.0, 11)
    back = scidiff.solve_ivp(
        lotka_volterra,
        (5.0, 0.0),
        fwd.ys[-1],
        args=LV_ARGS,
        t_eval=t_eval,
        dense=True,
        rtol=1e-10,
        atol=1e-10,
    )
    np.testing.assert_allclose(back.ys[-1], y0, rtol=1e-6)
    ref = scipy_ref(lotka_volterra, (5.0, 0.0), np.asarray(fwd.ys[-1]), t_eval, LV_ARGS)
    np.testing.assert_allclose(back.ys, ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(back.evaluate(t_eval[3]), back.ys[3], rtol=1e-12)
    np.testing.assert_allclose(
        back.evaluate(2.25),
        scipy_ref(lotka_volterra, (5.0, 0.0), np.asarray(fwd.ys[-1]), [2.25], LV_ARGS)[0],
        rtol=1e-6,
    )


@pytest.mark.parametrize("solver", [scidiff.Heun(), scidiff.RK4()], ids=["Heun", "RK4"])
def test_constant_step_size(solver):
    """Fixed steps of dt0 land exactly on t1 (the grid is t0 + k dt0, not a running sum)."""
    t_eval = jnp.array([0.0, 0.35, 1.0])
    sol = scidiff.solve_ivp(
        lambda t, y, a: -y,
        (0.0, 1.0),
        jnp.ones(()),
        t_eval=t_eval,
        dt0=0.1,
        solver=solver,
        controller=scidiff.ConstantStepSize(),
    )
    assert int(sol.stats["num_steps"]) == 10 and int(sol.stats["num_rejected"]) == 0
    err = abs(float(sol.ys[-1]) - np.exp(-1.0))
    assert err < (5e-3 if isinstance(solver, scidiff.Heun) else 5e-7)
    assert float(sol.ys[0]) == 1.0


def test_float32_keeps_dtype():
    y0 = jnp.array([10.0, 5.0], jnp.float32)
    t_eval = jnp.linspace(0.0, 10.0, 11)
    sol = scidiff.solve_ivp(
        lotka_volterra,
        (0.0, 10.0),
        y0,
        args=LV_ARGS,
        t_eval=t_eval,
        dense=True,
        rtol=1e-5,
        atol=1e-5,
    )
    assert sol.ys.dtype == jnp.float32 and sol.ts.dtype == jnp.float32
    assert sol.evaluate(2.5).dtype == jnp.float32
    ref = scipy_ref(lotka_volterra, (0.0, 10.0), [10.0, 5.0], t_eval, LV_ARGS)
    assert np.abs(np.asarray(sol.ys, np.float64) - ref).max() / np.abs(ref).max() < 1e-3


def test_f_may_be_a_module_with_arrays():
    """An eqx.Module vector field (its arrays are traced leaves, e.g. a neural ODE)."""
    import equinox as eqx

    class Linear(eqx.Module):
        A: jax.Array

        def __call__(self, t, y, args):
            return self.A @ y

    A = jnp.array([[0.0, 1.0], [-1.0, 0.0]])
    sol = scidiff.solve_ivp(
        Linear(A), (0.0, np.pi / 2), jnp.array([1.0, 0.0]), rtol=1e-10, atol=1e-10
    )
    np.testing.assert_allclose(sol.ys[-1], [0.0, -1.0], atol=1e-8)
