"""Every adjoint against central finite differences and against each other: gradients to
y0, a pytree of args, t0, t1 and t_eval, a closed-over parameter, dense output; vmap of
grad; float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff

T_SAVE = jnp.linspace(0.0, 1.0, 7)
W = jnp.array([[1.0, -0.5]]) * jnp.linspace(1.0, 2.0, 7)[:, None]


def lotka_volterra(t, y, args):
    (a, b), cd = args["ab"], args["cd"]
    x, z = y["prey"], y["pred"]
    return {"prey": a * x - b * x * z, "pred": cd[1] * x * z - cd[0] * z}


def unpack(theta):
    y0 = {"prey": theta[0], "pred": theta[1]}
    args = {"ab": (theta[2], theta[3]), "cd": theta[4:6]}
    return y0, args, theta[6], theta[7]


THETA = jnp.array([2.0, 1.0, 1.5, 1.0, 3.0, 1.0, 0.1, 1.3])


def loss_saved(theta, adjoint, rtol=1e-10):
    """Weighted sum of the trajectory at t_eval = t0 + (t1 - t0) * s (times move too)."""
    y0, args, t0, t1 = unpack(theta)
    t_eval = t0 + (t1 - t0) * T_SAVE
    sol = scidiff.solve_ivp(
        lotka_volterra,
        (t0, t1),
        y0,
        args=args,
        t_eval=t_eval,
        rtol=rtol,
        atol=rtol,
        adjoint=adjoint,
    )
    ys = jnp.stack([sol.ys["prey"], sol.ys["pred"]], -1)
    return jnp.sum(W * ys)


def loss_final(theta, adjoint, rtol=1e-10):
    y0, args, t0, t1 = unpack(theta)
    sol = scidiff.solve_ivp(
        lotka_volterra, (t0, t1), y0, args=args, rtol=rtol, atol=rtol, adjoint=adjoint
    )
    return sol.ys["prey"][-1] ** 2 + 0.3 * sol.ys["pred"][-1]


def finite_differences(loss, theta, h=1e-5):
    eye = jnp.eye(theta.size) * h
    f = jax.jit(jax.vmap(lambda th: loss(th, scidiff.ForwardMode(), rtol=1e-13)))
    return (f(theta + eye) - f(theta - eye)) / (2 * h)


@pytest.fixture(scope="module", params=[loss_saved, loss_final], ids=["t_eval", "final"])
def problem(request):
    loss = request.param
    return loss, np.asarray(finite_differences(loss, THETA))


ADJOINTS = {
    "checkpoint": (scidiff.RecursiveCheckpoint(), 1e-6),
    "checkpoint_every_3": (scidiff.RecursiveCheckpoint(checkpoint_every=3), 1e-6),
    "backsolve": (scidiff.Backsolve(), 1e-5),
}
_GRADS = {}


def gradient(loss, name):
    """Each (loss, adjoint) gradient is compiled once per test session."""
    if (loss, name) not in _GRADS:
        adjoint = ADJOINTS[name][0]
        _GRADS[loss, name] = np.asarray(jax.jit(jax.grad(lambda th: loss(th, adjoint)))(THETA))
    return _GRADS[loss, name]


@pytest.mark.parametrize("name", list(ADJOINTS))
def test_reverse_mode_matches_finite_differences(problem, name):
    loss, fd = problem
    rtol = ADJOINTS[name][1]
    np.testing.assert_allclose(gradient(loss, name), fd, rtol=rtol, atol=rtol * np.abs(fd).max())


def test_forward_mode_matches_finite_differences(problem):
    loss, fd = problem
    jac = jax.jit(jax.jacfwd(lambda th: loss(th, scidiff.ForwardMode())))(THETA)
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())


@pytest.mark.parametrize("loss", [loss_saved, loss_final], ids=["t_eval", "final"])
def test_checkpoint_segments_do_not_change_the_gradient(loss):
    """K = 3 (many segments) and the default K give the same discrete gradient, and the
    continuous adjoint agrees with both to about the tolerance."""
    g1, g2 = gradient(loss, "checkpoint"), gradient(loss, "checkpoint_every_3")
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gradient(loss, "backsolve"), g1, rtol=1e-6, atol=1e-6)


def test_gradient_through_closure_and_vmap():
    """f closes over the differentiated parameter (no args); vmap of grad over it."""

    def y1(k):
        sol = scidiff.solve_ivp(
            lambda t, y, a: -k * y, (0.0, 2.0), jnp.ones(()), rtol=1e-10, atol=1e-12
        )
        return sol.ys[-1]

    ks = jnp.array([0.5, 1.0, 2.0])
    g = jax.jit(jax.vmap(jax.grad(y1)))(ks)
    np.testing.assert_allclose(g, -2.0 * jnp.exp(-2.0 * ks), rtol=1e-8)


def test_dense_output_gradient():
    """d/dk of y(t) from sol.evaluate, y = exp(-k t): -t exp(-k t)."""

    def y_at(k, t):
        sol = scidiff.solve_ivp(
            lambda t, y, k: -k * y,
            (0.0, 2.0),
            jnp.ones(()),
            args=k,
            dense=True,
            rtol=1e-10,
            atol=1e-12,
        )
        return sol.evaluate(t)

    g = jax.grad(y_at)(0.7, 1.234)
    np.testing.assert_allclose(g, -1.234 * np.exp(-0.7 * 1.234), rtol=1e-7)


@pytest.mark.parametrize("adjoint", [scidiff.RecursiveCheckpoint(), scidiff.Backsolve()])
def test_float32_gradient(adjoint):
    def y1(k):
        sol = scidiff.solve_ivp(
            lambda t, y, k: -k * y,
            (0.0, 1.0),
            jnp.ones((), jnp.float32),
            args=k,
            rtol=1e-6,
            atol=1e-6,
            adjoint=adjoint,
        )
        return sol.ys[-1]

    g = jax.grad(y1)(jnp.float32(0.5))
    assert g.dtype == jnp.float32
    np.testing.assert_allclose(g, -np.exp(-0.5), rtol=1e-4)


@pytest.mark.parametrize("adjoint", [scidiff.RecursiveCheckpoint(), scidiff.Backsolve()])
def test_backwards_integration_gradient(adjoint):
    """t from 2 down to t1: y(t1) = exp(k (2 - t1)); d/dk and d/dt1 are analytic."""

    def y_end(k, t1):
        sol = scidiff.solve_ivp(
            lambda t, y, k: -k * y,
            (2.0, t1),
            jnp.ones(()),
            args=k,
            t_eval=jnp.stack([1.5, t1]),
            rtol=1e-10,
            atol=1e-12,
            adjoint=adjoint,
        )
        return sol.ys[-1] + sol.ys[0]

    k, t1 = 0.7, 0.25
    dk, dt1 = jax.grad(y_end, argnums=(0, 1))(k, t1)
    np.testing.assert_allclose(dk, 1.75 * np.exp(k * 1.75) + 0.5 * np.exp(k * 0.5), rtol=1e-6)
    np.testing.assert_allclose(dt1, -k * np.exp(k * 1.75), rtol=1e-6)
