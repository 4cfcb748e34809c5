"""jit, vmap (over y0, args, tolerances, times), no recompiles when swept values change,
and the loop's handling of a solver's recoverable step failure."""

import jax
import jax.numpy as jnp
import numpy as np

import scidiff
from scidiff import RESULTS
from scidiff._ode._base import StepOutput

TRACES = {"n": 0}


def counted_decay(t, y, args):
    TRACES["n"] += 1  # runs only while JAX traces f
    return -args["k"] * y


def test_swept_values_never_recompile():
    def call(t0, t1, y0, k, rtol, atol, dt0, t_eval):
        return scidiff.solve_ivp(
            counted_decay,
            (t0, t1),
            y0,
            args={"k": k},
            rtol=rtol,
            atol=atol,
            dt0=dt0,
            t_eval=t_eval,
        )

    sol = call(0.0, 1.0, jnp.ones(2), 1.0, 1e-6, 1e-9, 0.01, jnp.linspace(0.0, 1.0, 5))
    first = TRACES["n"]
    assert first > 0
    for i in range(1, 4):
        sol = call(
            0.1 * i,
            1.0 + i,
            jnp.full(2, float(i)),
            1.0 / i,
            10.0 ** (-5 - i),
            1e-10,
            0.01 * i,
            jnp.linspace(0.1 * i, 1.0 + i, 5),
        )
        np.testing.assert_allclose(sol.ys[-1], i * np.exp(-(1.0 + i - 0.1 * i) / i), rtol=1e-4)
    assert TRACES["n"] == first, "a swept value triggered a recompile"


def logistic(t, y, args):
    return args["r"] * y * (1 - y / args["K"])


def logistic_exact(t, y0, r, K):
    return K / (1 + (K / y0 - 1) * np.exp(-r * t))


def test_vmap_over_y0_args_tolerances_and_times():
    t_eval = jnp.linspace(0.0, 4.0, 9)

    def solve(y0, r, rtol, t1):
        return scidiff.solve_ivp(
            logistic,
            (0.0, t1),
            y0,
            args={"r": r, "K": 2.0},
            t_eval=t_eval * t1 / 4.0,
            rtol=rtol,
            atol=rtol * 1e-3,
        )

    y0 = jnp.array([0.1, 0.5, 1.0, 3.0])
    r = jnp.array([1.0, 0.5, 2.0, 1.5])
    rtol = jnp.array([1e-4, 1e-6, 1e-8, 1e-10])
    t1 = jnp.array([4.0, 3.0, 2.0, 1.0])
    sol = jax.jit(jax.vmap(solve))(y0, r, rtol, t1)
    assert sol.ys.shape == (4, 9) and sol.ok.shape == (4,) and bool(sol.ok.all())
    for i in range(4):
        want = logistic_exact(
            np.asarray(t_eval) * float(t1[i]) / 4.0, float(y0[i]), float(r[i]), 2.0
        )
        np.testing.assert_allclose(sol.ys[i], want, rtol=50 * float(rtol[i]))
    # Tighter tolerances take more steps, member by member.
    steps = np.asarray(sol.stats["num_steps"])
    assert steps.shape == (4,) and steps[3] > steps[0]
    # The same under jit as eagerly.
    one = solve(y0[1], r[1], rtol[1], t1[1])
    np.testing.assert_allclose(one.ys, sol.ys[1], rtol=1e-12)


class FlakyTsit5(scidiff.Tsit5):
    """Tsit5 whose 'Newton iteration' fails for steps longer than 0.05 (like an implicit
    solver would on a too-large step): the loop must reject and shrink, not stop."""

    def step(self, f, t0, t1, y0, args, state):
        out = super().step(f, t0, t1, y0, args, state)
        bad = jnp.abs(t1 - t0) > 0.05
        return out._replace(
            result=RESULTS.where(bad, RESULTS.newton_nonconvergence, RESULTS.successful)
        )


def test_recoverable_step_failure_shrinks_the_step():
    sol = scidiff.solve_ivp(
        lambda t, y, a: -y, (0.0, 1.0), jnp.ones(()), solver=FlakyTsit5(), dt0=0.5, dense=True
    )
    assert sol.result == RESULTS.successful
    assert int(sol.stats["num_rejected"]) >= 2  # 0.5 -> 0.125 -> 0.03125
    steps = (
        sol.interpolation.ends[: int(sol.stats["num_steps"])]
        - sol.interpolation.t0s[: int(sol.stats["num_steps"])]
    )
    assert float(steps.max()) <= 0.05
    np.testing.assert_allclose(sol.ys[-1], np.exp(-1.0), rtol=1e-6)
    assert isinstance(sol, scidiff.ODESolution)
    assert StepOutput._fields[-1] == "num_fevals"


def test_pid_controller_options():
    """A PID controller with gains and dtmax: dtmax bounds every step."""
    sol = scidiff.solve_ivp(
        lambda t, y, a: jnp.cos(t) * jnp.ones_like(y),
        (0.0, 10.0),
        jnp.zeros(()),
        controller=scidiff.PIDController(pcoeff=0.3, icoeff=0.4, dcoeff=0.1, dtmax=0.25),
        dense=True,
        rtol=1e-8,
        atol=1e-8,
    )
    n = int(sol.stats["num_steps"])
    assert n >= 40
    widths = sol.interpolation.ends[:n] - sol.interpolation.t0s[:n]
    assert float(widths.max()) <= 0.25 + 1e-12
    np.testing.assert_allclose(sol.ys[-1], np.sin(10.0), atol=1e-7)
