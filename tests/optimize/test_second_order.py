"""Second derivatives through solve_ivp and through minimisers of ODE objectives (issue 18).

Decay y' = -k y, y(0) = 1 on [0, 1], RK4 with the fixed step 0.05 (relative error ~1e-8,
far below the tolerances here): y(1; k) = e^{-k}, so d/dk = -e^{-k}, d²/dk² = e^{-k}. The
fit k*(o) = argmin_k (y(1; k) - o)^2 = -log(o) has dk*/do = -1/o, d²k*/do² = 1/o².

One test per entry of the table in RecursiveCheckpoint's docstring and the README:
grad, jacfwd (ForwardMode), hessian (forward-over-reverse), jacrev∘jacrev (refused
with a message naming the alternatives), hessian of minimize / least_squares.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import scidiff
from scidiff._ode._higher_order import forward_only

K, O = 0.8, 0.27
FIXED = dict(solver=scidiff.RK4(), dt0=0.05, max_steps=32)


def y1(k, adjoint=None, **solver):
    solver = solver or FIXED
    adjoint = adjoint or scidiff.RecursiveCheckpoint()
    sol = scidiff.solve_ivp(
        lambda t, y, k: -k * y, (0.0, 1.0), jnp.ones(()), args=k, adjoint=adjoint, **solver
    )
    return sol.ys[-1]


def central(g, x, h=1e-3):
    """Fourth-order central difference of g at x."""
    return (-g(x + 2 * h) + 8 * g(x + h) - 8 * g(x - h) + g(x - 2 * h)) / (12 * h)


ADJOINTS = {"checkpoint": scidiff.RecursiveCheckpoint(), "backsolve": scidiff.Backsolve()}


# --- through solve_ivp -------------------------------------------------------------------


@pytest.mark.parametrize("name", ADJOINTS)
def test_grad(name):
    g = jax.grad(lambda k: y1(k, ADJOINTS[name]))(K)
    np.testing.assert_allclose(g, -np.exp(-K), rtol=1e-6)


def test_jacfwd_and_jacfwd_of_jacfwd_with_forward_mode():
    f = lambda k: y1(k, scidiff.ForwardMode())
    np.testing.assert_allclose(jax.jacfwd(f)(K), -np.exp(-K), rtol=1e-6)
    np.testing.assert_allclose(jax.jacfwd(jax.jacfwd(f))(K), np.exp(-K), rtol=1e-6)


@pytest.mark.parametrize("case", ["checkpoint", "backsolve", "kvaerno5"])
def test_hessian_of_a_solve(case):
    """jax.hessian = jacfwd(jacrev): forward mode through the adjoint's backward pass.
    Kvaerno5 (implicit: Newton iterations inside each step) with RecursiveCheckpoint."""
    if case == "kvaerno5":
        kw = dict(solver=scidiff.Kvaerno5(), controller=scidiff.ConstantStepSize(), dt0=0.05)
        loss = lambda k: y1(k, scidiff.RecursiveCheckpoint(), max_steps=32, **kw)
    else:
        loss = lambda k: y1(k, ADJOINTS[case])
    grad = jax.jit(jax.grad(loss))
    hess = jax.jit(jax.hessian(loss))(K)
    np.testing.assert_allclose(hess, np.exp(-K), rtol=1e-6)
    np.testing.assert_allclose(hess, central(grad, K), rtol=1e-7)


def test_hessian_vector_products_under_vmap():
    """jax.jvp of jax.grad (forward-over-reverse), batched."""
    hvp = jax.vmap(lambda k, v: jax.jvp(jax.grad(y1), (k,), (v,))[1])
    ks = jnp.array([0.5, 1.5])
    np.testing.assert_allclose(
        hvp(ks, jnp.array([1.0, 2.0])), [np.exp(-0.5), 2 * np.exp(-1.5)], rtol=1e-5
    )


@pytest.mark.parametrize("name", ADJOINTS)
@pytest.mark.parametrize("twice", ["jacrev", "grad"])
def test_reverse_over_reverse_is_refused_with_the_alternatives(name, twice):
    """Instead of JAX's bare "Reverse-mode differentiation does not work for
    lax.while_loop": a ValueError naming the adjoint and what works instead."""
    op = getattr(jax, twice)
    f = lambda k: y1(k, ADJOINTS[name])
    adjoint = type(ADJOINTS[name]).__name__
    match = rf"adjoint={adjoint}\(\) cannot be reverse-differentiated twice.*jax\.hessian\(f\)"
    with pytest.raises(ValueError, match=match):
        op(op(f))(K)


def test_reverse_mode_with_forward_mode_is_refused():
    f = lambda k: y1(k, scidiff.ForwardMode())
    for op in (jax.grad(f), jax.jit(jax.grad(f)), jax.jacrev(jax.jacfwd(f))):
        with pytest.raises(
            ValueError, match=r"ForwardMode\(\) supports forward mode only.*RecursiveCheckpoint"
        ):
            op(K)


def test_forward_only_mark():
    """The wrapper is the function in value, forward mode (nested) and linearize; only
    transposing it raises, with the given message."""
    f = forward_only(lambda x, n: (jnp.sin(x) * n, n), "no reverse here")
    x, n = jnp.array([0.3, 1.2]), jnp.array(3)
    np.testing.assert_allclose(f(x, n)[0], 3 * np.sin(x))
    np.testing.assert_allclose(
        jax.jvp(lambda x: f(x, n)[0], (x,), (jnp.ones(2),))[1], 3 * np.cos(x)
    )
    d2 = jax.jacfwd(jax.jacfwd(lambda x: f(x, n)[0]))(x)
    np.testing.assert_allclose(
        d2, np.diag(-3 * np.sin(x))[:, :, None] * np.eye(2)[None], atol=1e-12
    )
    np.testing.assert_allclose(
        jax.linearize(lambda x: f(x, n)[0], x)[1](jnp.ones(2)), 3 * np.cos(x)
    )
    np.testing.assert_allclose(jax.vmap(lambda x: f(x, n)[0])(x[:, None]), 3 * np.sin(x)[:, None])
    with pytest.raises(ValueError, match="no reverse here"):
        jax.grad(lambda x: f(x, n)[0].sum())(x)


# --- through minimisers of an ODE objective ------------------------------------------------


def _fit(method):
    if method in ("lm", "gauss-newton"):
        residual = lambda k, o: jnp.atleast_1d(y1(k) - o)
        return lambda o: (
            scidiff.least_squares(
                residual, jnp.array(0.5), args=o, method=method, rtol=1e-12, atol=1e-14
            ).x
        )
    adjoint = scidiff.Backsolve() if method == "lbfgs-backsolve" else None
    opt = {"adam": optax.adam(0.05), "lbfgs-backsolve": "lbfgs"}.get(method, method)
    loss = lambda k, o: (y1(k, adjoint) - o) ** 2
    maxiter = 2000 if method == "adam" else 100
    return lambda o: (
        scidiff.minimize(loss, jnp.array(0.5), args=o, method=opt, gtol=1e-13, maxiter=maxiter).x
    )


# ~10-20 s each (compiling a third-order program): the other methods share the machinery.
_slow = pytest.mark.slow


@pytest.mark.parametrize(
    "method",
    [
        "lbfgs",
        pytest.param("bfgs", marks=_slow),
        pytest.param("adam", marks=_slow),
        "lm",
        pytest.param("gauss-newton", marks=_slow),
        pytest.param("lbfgs-backsolve", marks=_slow),
    ],
)
def test_hessian_of_the_argmin_through_the_ode(method):
    """jacfwd of jacrev (= jax.hessian) of k*(o), the first derivative riding along as aux
    (one compilation): against the closed form and a finite difference of the first.
    Before the fix: "can't apply forward-mode autodiff (jvp) to a custom_vjp function"."""
    fit = _fit(method)
    d1 = jax.jacrev(fit)
    both = jax.jit(jax.jacfwd(lambda o: (lambda g: (g, g))(d1(o)), has_aux=True))
    d2, g = both(O)
    np.testing.assert_allclose(g, -1 / O, rtol=1e-6)
    np.testing.assert_allclose(d2, 1 / O**2, rtol=1e-5)  # RK4's error, amplified
    np.testing.assert_allclose(d2, central(lambda o: both(o)[1], O), rtol=1e-6)
