"""Adaptive methods through solve_ivp against scipy's DOP853 at tight tolerance."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate

import scidiff

A, B, C, D = 1.5, 1.0, 1.0, 3.0


def lotka_volterra(t, y, args):
    x, z = y[0], y[1]
    return jnp.stack([A * x - B * x * z, C * x * z - D * z])


T = 10.0
TS = np.linspace(0.0, T, 11)


def _scipy(method, tol):
    f = lambda t, y: [A * y[0] - B * y[0] * y[1], C * y[0] * y[1] - D * y[1]]
    out = scipy.integrate.solve_ivp(
        f, (0.0, T), [1.0, 1.0], method=method, t_eval=TS, rtol=tol, atol=tol
    )
    assert out.success
    return out.y.T


@pytest.fixture(scope="module")
def reference():
    return _scipy("DOP853", 1e-13)


# tolerance per method: what each is meant for
TOLS = {"Heun": 1e-6, "Bosh3": 1e-8, "Dopri5": 1e-10, "Tsit5": 1e-10, "Dopri8": 1e-12}
PER_STEP = {"Heun": 2, "Bosh3": 3, "Dopri5": 6, "Tsit5": 6, "Dopri8": 15}
# the same method in scipy (same pair, same error norm, integral controller)
SCIPY_PEER = {"Bosh3": "RK23", "Dopri5": "RK45", "Dopri8": "DOP853"}


@pytest.mark.parametrize("name", list(TOLS))
def test_adaptive_matches_scipy(name, reference):
    solver = getattr(scidiff, name)()
    tol = TOLS[name]
    sol = scidiff.solve_ivp(
        lotka_volterra,
        (0.0, T),
        jnp.array([1.0, 1.0]),
        solver=solver,
        t_eval=jnp.asarray(TS),
        rtol=tol,
        atol=tol,
        max_steps=100_000,
    )
    assert bool(sol.ok)
    err = float(jnp.max(jnp.abs(sol.ys - reference)))
    # the global error tracks the local tolerance (Bosh3's accumulates to ~120x over
    # its ~2800 steps, exactly as scipy's RK23 does) ...
    assert err < 200 * tol, err
    # ... and is no worse than the same method's in scipy
    if name in SCIPY_PEER:
        peer_err = float(np.max(np.abs(_scipy(SCIPY_PEER[name], tol) - reference)))
        assert err < 2 * peer_err, (err, peer_err)
    steps = int(sol.stats["num_steps"]) + int(sol.stats["num_rejected"])
    assert int(sol.stats["num_fevals"]) >= PER_STEP[name] * steps


def test_tighter_tolerance_smaller_error():
    """Tolerance proportionality for Tsit5: a 100x tighter tolerance gives a much smaller
    error (rtol, atol traced: no recompilation between the two)."""
    errs = []
    ref = scipy.integrate.solve_ivp(
        lambda t, y: [A * y[0] - B * y[0] * y[1], C * y[0] * y[1] - D * y[1]],
        (0.0, T),
        [1.0, 1.0],
        method="DOP853",
        rtol=1e-13,
        atol=1e-13,
    ).y[:, -1]
    for tol in (1e-6, 1e-8):
        sol = scidiff.solve_ivp(lotka_volterra, (0.0, T), jnp.array([1.0, 1.0]), rtol=tol, atol=tol)
        errs.append(float(jnp.max(jnp.abs(sol.ys[-1] - ref))))
    assert errs[1] < errs[0] / 20, errs


@pytest.mark.parametrize("name", ["Tsit5", "Yoshida4"])
def test_float32_solve(name, problems):
    """float32 end to end through solve_ivp: float32 out, accurate to float32 level."""
    solver = getattr(scidiff, name)()
    if name == "Yoshida4":
        y0 = problems.kepler_circular_y0(jnp.float32)
        sol = scidiff.solve_ivp(
            problems.kepler,
            (0.0, 3.0),
            y0,
            solver=solver,
            dt0=0.05,
            controller=scidiff.ConstantStepSize(),
            t_eval=jnp.linspace(0.0, 3.0, 4),
        )
        exact = problems.kepler_circular_exact(3.0)
        got = [x[-1] for x in sol.ys]
    else:
        y0 = jnp.array([1.0, 1.0], jnp.float32)
        sol = scidiff.solve_ivp(lotka_volterra, (0.0, T), y0, solver=solver, rtol=1e-5, atol=1e-5)
        exact = [_scipy("DOP853", 1e-13)[-1]]
        got = [sol.ys[-1]]
    for a, b in zip(got, exact):
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(a, b, atol=5e-4)


@pytest.mark.parametrize(
    "gains, history", [((0.0, 1.0, 0.0), 0), ((0.4, 0.3, 0.0), 1), ((0.3, 0.4, 0.1), 2)]
)
def test_pid_factor_matches_the_formula_and_reads_only_its_history(gains, history):
    p, i, d = gains
    ctrl = scidiff.PIDController(pcoeff=p, icoeff=i, dcoeff=d, factormax=100.0)
    assert ctrl.history == history
    k, e0, e1, e2 = 5, 0.3, 0.5, 0.8
    expect = 0.9 * e0 ** (-(p + i + d) / k) * e1 ** ((p + 2 * d) / k) * e2 ** (-d / k)
    got = ctrl.factor(jnp.asarray(e0), *(e1, e2)[:history], accepted=True, error_order=k)
    assert abs(float(got) - expect) < 1e-12 * expect


@pytest.mark.parametrize("y0", [[1.0, 1.0], [2.0, 0.5], [1e-3, 40.0]])
def test_initial_step_matches_scipy(y0):
    # Hairer's starting-step heuristic, against scipy's own implementation (RMS norms).
    from scipy.integrate._ivp.common import select_initial_step as scipy_step

    from scidiff._ode._controller import select_initial_step

    y0 = np.asarray(y0)
    f = lambda t, y, args: lotka_volterra(t, y, args)  # noqa: E731
    f0 = np.asarray(f(0.0, jnp.asarray(y0), None))
    for error_order, rtol, atol in [(5, 1e-6, 1e-8), (4, 1e-3, 1e-6), (8, 1e-10, 1e-12)]:
        ours = select_initial_step(
            f, 0.0, jnp.asarray(y0), None, jnp.asarray(f0), 10.0, error_order, rtol, atol
        )
        ref = scipy_step(
            lambda t, y: np.asarray(f(t, jnp.asarray(y), None)),
            0.0, y0, 10.0, np.inf, f0, 1, error_order - 1, rtol, atol,
        )  # fmt: skip
        assert abs(float(ours) - ref) <= 1e-12 * ref
