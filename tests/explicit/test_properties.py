"""dtype, pytrees, jit/vmap/grad, function-evaluation counts, FSAL state, error messages."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import scidiff
from scidiff._ode._solvers.dopri8 import _dop853_error

ALL = [
    scidiff.Euler,
    scidiff.Heun,
    scidiff.Midpoint,
    scidiff.RK4,
    scidiff.Bosh3,
    scidiff.Dopri5,
    scidiff.Tsit5,
    scidiff.Dopri8,
    scidiff.Vern6,
    scidiff.Vern7,
    scidiff.Vern9,
    scidiff.Leapfrog,
    scidiff.Yoshida4,
]
RK = ALL[:11]
SYMPLECTIC = ALL[11:]
# evaluations of f per step, as the methods document them
FEVALS = {
    "Euler": 1,
    "Heun": 2,
    "Midpoint": 2,
    "RK4": 4,
    "Bosh3": 3,
    "Dopri5": 6,
    "Tsit5": 6,
    "Dopri8": 15,
    "Vern6": 8 + 3,  # stages + the interpolant's extra stages, computed every step
    "Vern7": 10 + 5,
    "Vern9": 16 + 9,
    "Leapfrog": 2,
    "Yoshida4": 7,
}


def _problem(solver, P, dtype):
    if solver in SYMPLECTIC:
        return P.kepler, P.kepler_circular_y0(dtype)
    return P.decay, P.decay_y0(dtype)


@pytest.mark.parametrize("solver", ALL, ids=lambda s: s.__name__)
def test_float32_stays_float32_and_fevals_counted(solver, problems):
    """float32 state with float64 times (x64 on): every output keeps float32. The number of
    calls of f while tracing one step equals the reported num_fevals."""
    f, y0 = _problem(solver, problems, jnp.float32)
    calls = []

    def counted(t, y, args):
        calls.append(None)
        return f(t, y, args)

    s = solver()
    t0, t1 = jnp.float64(0.0), jnp.float64(0.1)
    state = s.init(counted, t0, t1, y0, None)
    calls.clear()
    out = s.step(counted, t0, t1, y0, None, state)
    assert len(calls) == FEVALS[solver.__name__] == int(out.num_fevals)
    y_mid = s.interpolate(t0, t1, out.dense_info, jnp.float64(0.03))
    trees = [out.y1, out.state, y_mid] + ([out.y_error] if out.y_error is not None else [])
    for tree in trees:
        for leaf in jax.tree_util.tree_leaves(tree):
            assert leaf.dtype == jnp.float32, (solver.__name__, leaf.dtype)
    assert jax.tree_util.tree_structure(out.y1) == jax.tree_util.tree_structure(y0)
    assert jax.tree_util.tree_structure(y_mid) == jax.tree_util.tree_structure(y0)
    assert (out.y_error is None) == (solver.error_order is None)


@pytest.mark.parametrize("solver", RK, ids=lambda s: s.__name__)
def test_state_is_derivative_at_end(solver, problems):
    """The carried state is f(t1, y1): the next step's first stage (FSAL)."""
    f, y0 = problems.decay, problems.decay_y0(jnp.float64)
    s = solver()
    out = s.step(f, 0.0, 0.1, y0, None, s.init(f, 0.0, 0.1, y0, None))
    expected = f(0.1, out.y1, None)
    for a, b in zip(jax.tree_util.tree_leaves(out.state), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-14)


@pytest.mark.parametrize("solver", [scidiff.Tsit5, scidiff.Dopri8, scidiff.Yoshida4])
def test_step_jit_vmap_and_backwards(solver, problems):
    """vmap over initial conditions equals the loop; a step with t1 < t0 goes backwards."""
    f, _ = _problem(solver, problems, jnp.float64)
    s = solver()
    if solver is scidiff.Yoshida4:
        ys = (jnp.array([[1.0, 0.0], [0.9, 0.1]]), jnp.array([[0.0, 1.0], [0.1, 1.1]]))
    else:
        ys = {"u": jnp.array([1.0, 0.8]), "v": jnp.array([1.0, 1.2])}

    @jax.jit
    def one(y0, t0, t1):
        return s.step(f, t0, t1, y0, None, s.init(f, t0, t1, y0, None)).y1

    batched = jax.vmap(one, in_axes=(0, None, None))(ys, 0.0, 0.1)
    for i in range(2):
        single = one(jax.tree_util.tree_map(lambda x: x[i], ys), 0.0, 0.1)
        for a, b in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(single)):
            np.testing.assert_allclose(a[i], b, rtol=1e-13)
    # forwards then backwards over the same step returns to the start (to the local error)
    y0 = jax.tree_util.tree_map(lambda x: x[0], ys)
    back = one(one(y0, 0.0, 0.1), 0.1, 0.0)
    for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(y0)):
        np.testing.assert_allclose(a, b, atol=1e-9)


@pytest.mark.parametrize("solver", [scidiff.Tsit5, scidiff.Leapfrog])
def test_step_gradients_match_finite_differences(solver, problems):
    """The step, its error estimate (DOP853's guarded one included) and its interpolant
    are smooth: the Jacobian matches central differences."""
    if solver is scidiff.Leapfrog:
        f, y0 = problems.kepler, problems.kepler_circular_y0(jnp.float64)
    else:
        f, y0 = (
            (lambda t, y, a: jnp.stack([-(y[0] ** 2), -2 * t * (1 + t) * y[0] * y[1]])),
            jnp.ones(2),
        )
    s = solver()
    x0, unravel = ravel_pytree((y0, jnp.float64(0.2)))

    @jax.jit
    def g(x):
        y0, h = unravel(x)
        out = s.step(f, 0.0, h, y0, None, s.init(f, 0.0, h, y0, None))
        mid = s.interpolate(0.0, h, out.dense_info, 0.4 * h)
        return ravel_pytree((out.y1, out.y_error, mid))[0]

    jac = jax.jit(jax.jacrev(g))(x0)
    eps = 1e-6
    fd = jnp.stack([(g(x0 + eps * e) - g(x0 - eps * e)) / (2 * eps) for e in jnp.eye(x0.size)], 1)
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-8)


def test_dopri8_error_estimate_gradient():
    """DOP853's combined estimate e5 |e5| / sqrt(e5^2 + 0.01 e3^2) is differentiable in
    the stages: reverse mode matches central differences (compiling the whole 15-stage
    step in reverse mode would cost ~10 s, so the estimate is tested on its own)."""
    ks = list(jax.random.normal(jax.random.PRNGKey(0), (13, 3)))
    err = jax.jit(lambda ks, h: jnp.sum(_dop853_error(h, ks) * jnp.arange(1.0, 4.0)))
    grad = jax.jit(jax.grad(err))(ks, 0.3)
    eps = 1e-6
    for i in (0, 5, 11):
        for j in range(3):
            up = [k.at[j].add(eps) if n == i else k for n, k in enumerate(ks)]
            down = [k.at[j].add(-eps) if n == i else k for n, k in enumerate(ks)]
            fd = (err(up, 0.3) - err(down, 0.3)) / (2 * eps)
            np.testing.assert_allclose(grad[i][j], fd, rtol=1e-6, atol=1e-9)


def test_dopri8_error_estimate_zero_without_error():
    """y' = 0: both embedded errors vanish; the combined estimate is 0, not NaN, and
    its gradient is finite."""
    s = scidiff.Dopri8()
    f = lambda t, y, args: jnp.zeros_like(y) * y

    @jax.jit
    def err_and_grad(y):
        err = lambda y: s.step(f, 0.0, 0.1, y, None, 0 * y).y_error
        return err(y), jax.grad(lambda y: jnp.sum(err(y)))(y)

    err, grad = err_and_grad(jnp.ones(3))
    assert jnp.all(err == 0)
    assert jnp.all(jnp.isfinite(grad))


@pytest.mark.parametrize("solver", SYMPLECTIC, ids=lambda s: s.__name__)
def test_symplectic_needs_a_pair(solver):
    name = solver.__name__
    s = solver()
    with pytest.raises(
        TypeError,
        match=rf"{name} integrates separable Hamiltonian systems: "
        r"`y0` must be a pair `\(q, p\)`.*got ndarray|got ArrayImpl",
    ):
        s.init(lambda t, y, a: -y, 0.0, 0.1, jnp.ones(2), None)
    with pytest.raises(
        TypeError, match=r"got tuple of length 3.*`adjoint=Backsolve\(\)` integrates"
    ):
        s.init(lambda t, y, a: y, 0.0, 0.1, (jnp.ones(1),) * 3, None)
    with pytest.raises(TypeError, match=rf"{name}: `f\(t, \(q, p\), args\)` must return the pair"):
        s.init(lambda t, y, a: y[1], 0.0, 0.1, (jnp.ones(1), jnp.ones(1)), None)


def test_symplectic_through_solve_ivp_rejects_non_pair():
    with pytest.raises(TypeError, match=r"must be a pair `\(q, p\)`"):
        scidiff.solve_ivp(
            lambda t, y, a: -y,
            (0.0, 1.0),
            jnp.ones(2),
            solver=scidiff.Leapfrog(),
            dt0=0.1,
            controller=scidiff.ConstantStepSize(),
        )


@pytest.mark.parametrize("solver", SYMPLECTIC, ids=lambda s: s.__name__)
def test_list_state_keeps_list(solver):
    """A state given as a list [q, p] comes back as a list: from the step, from the
    interpolant, and from solve_ivp's saved values and dense output."""
    s = solver()
    f = lambda t, y, a: [y[1], -y[0]]
    y0 = [jnp.ones(()), jnp.zeros(())]
    out = s.step(f, 0.0, 0.1, y0, None, s.init(f, 0.0, 0.1, y0, None))
    assert isinstance(out.y1, list)
    assert isinstance(s.interpolate(0.0, 0.1, out.dense_info, 0.05), list)
    sol = scidiff.solve_ivp(
        f,
        (0.0, 1.0),
        y0,
        solver=s,
        dt0=0.05,
        controller=scidiff.ConstantStepSize(),
        t_eval=jnp.linspace(0.0, 1.0, 3),
    )
    assert isinstance(sol.ys, list)
    np.testing.assert_allclose(sol.ys[0], np.cos([0.0, 0.5, 1.0]), atol=2e-3)


def test_no_recompile_when_times_change(problems):
    """Step size, times and the state are traced: one trace for many values."""
    traces = []
    s = scidiff.Tsit5()

    @jax.jit
    def one(y0, t0, t1):
        traces.append(None)
        return s.step(problems.decay, t0, t1, y0, None, s.init(problems.decay, t0, t1, y0, None)).y1

    y0 = problems.decay_y0(jnp.float64)
    for h in (0.1, 0.05, 0.2):
        one(y0, 0.0, h)
    assert len(traces) == 1
