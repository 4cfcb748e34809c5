"""Step-size controllers are an open interface: user-written ones plug into solve_ivp."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff import RESULTS


def decay(t, y, k):
    return -k * y


class IController(scidiff.AbstractStepSizeController):
    """The textbook integral controller, written by a user: h_next = h (0.9 / err)^(1/k)."""

    def init(self, t0, t1, dt0, error_order):
        return dt0, ()

    def adapt_step_size(self, t0, t1, dt, err, state, *, step_ok, error_order):
        accept = step_ok & (err <= 1)
        safe = jnp.where(jnp.isfinite(err) & (err > 0), err, 1e-10)
        factor = jnp.clip(0.9 * safe ** (-1.0 / error_order), 0.2, 5.0)
        factor = jnp.where(accept, factor, jnp.minimum(factor, 0.9))
        return accept, (t1 - t0) * factor, state


class Doubling(scidiff.AbstractStepSizeController):
    """Accept when err <= 1, then double; halve after a rejection. Counts its rejections
    in its state (a controller state that is a pytree of arrays)."""

    def init(self, t0, t1, dt0, error_order):
        return dt0, jnp.zeros((), jnp.int32)

    def adapt_step_size(self, t0, t1, dt, err, state, *, step_ok, error_order):
        accept = err <= 1
        dt_next = jnp.where(accept, 2.0, 0.5) * (t1 - t0)
        return accept, dt_next, state + (~accept).astype(jnp.int32)


class Geometric(scidiff.AbstractStepSizeController):
    """A fixed schedule that reads no error estimate: each step 1.5 times the last."""

    @property
    def uses_error_estimate(self):
        return False

    def init(self, t0, t1, dt0, error_order):
        return dt0, ()

    def adapt_step_size(self, t0, t1, dt, err, state, *, step_ok, error_order):
        assert err is None
        return step_ok, 1.5 * dt, state


@pytest.mark.parametrize("ctrl", [IController(), Doubling()], ids=["I", "doubling"])
def test_user_controller_matches_the_analytic_solution(ctrl):
    t_eval = jnp.linspace(0.0, 3.0, 7)
    sol = scidiff.solve_ivp(
        decay, (0.0, 3.0), jnp.ones(2), args=0.7, t_eval=t_eval, controller=ctrl, rtol=1e-8,
        atol=1e-10,
    )  # fmt: skip
    assert sol.result == RESULTS.successful
    np.testing.assert_allclose(sol.ys[:, 0], np.exp(-0.7 * np.asarray(t_eval)), rtol=1e-6)
    # It really adapted: more than one step, and (for doubling) rejections happened.
    assert int(sol.stats["num_steps"]) > 5
    if isinstance(ctrl, Doubling):
        assert int(sol.stats["num_rejected"]) > 0


def test_user_controller_under_jit_vmap_and_grad():
    def y1(k):
        sol = scidiff.solve_ivp(decay, (0.0, 1.0), jnp.ones(()), args=k, controller=IController())
        return sol.ys[-1]

    ks = jnp.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(jax.jit(jax.vmap(y1))(ks), np.exp(-np.asarray(ks)), rtol=1e-5)
    np.testing.assert_allclose(jax.grad(y1)(1.0), -math.exp(-1.0), rtol=1e-5)


def test_controller_without_error_estimate_follows_its_schedule():
    """RK4 (no error estimate) on a geometric grid dt0 * 1.5^k, the last step clipped."""
    dt0 = 0.01
    sol = scidiff.solve_ivp(
        decay, (0.0, 2.0), jnp.ones(()), args=1.0, solver=scidiff.RK4(), dt0=dt0,
        controller=Geometric(), dense=True,
    )  # fmt: skip
    n = int(sol.stats["num_steps"])
    # sum_{k<n} dt0 1.5^k >= 2 first at n = ceil(log(1 + 2 * 0.5 / dt0) / log 1.5).
    assert n == math.ceil(math.log(1 + 2.0 * 0.5 / dt0) / math.log(1.5))
    widths = np.asarray(sol.interpolation.t1s[: n - 1] - sol.interpolation.t0s[: n - 1])
    np.testing.assert_allclose(widths, dt0 * 1.5 ** np.arange(n - 1), rtol=1e-9)
    # RK4's error with these steps (the largest ~0.6): about 1e-4 relative.
    np.testing.assert_allclose(sol.ys[-1], math.exp(-2.0), rtol=1e-3)


def test_controller_without_error_estimate_needs_dt0():
    with pytest.raises(ValueError, match=r"Geometric\(\)\) need the step: pass dt0"):
        scidiff.solve_ivp(decay, (0.0, 1.0), jnp.ones(()), args=1.0, controller=Geometric())


def test_interfaces_are_abstract():
    class Incomplete(scidiff.AbstractStepSizeController):
        def init(self, t0, t1, dt0, error_order):
            return dt0, ()

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()
    with pytest.raises(TypeError, match="abstract"):
        scidiff.AbstractAdjoint()
    with pytest.raises(TypeError, match=r"pass IController\(\), not the class"):
        scidiff.solve_ivp(decay, (0.0, 1.0), jnp.ones(()), args=1.0, controller=IController)


def test_error_controller_needs_an_embedded_method():
    with pytest.raises(ValueError, match="RK4 has no error estimate, so IController cannot"):
        scidiff.solve_ivp(
            decay, (0.0, 1.0), jnp.ones(()), args=1.0, solver=scidiff.RK4(), dt0=0.1,
            controller=IController(),
        )  # fmt: skip
