"""Radau5 (Radau IIA, order 5): its constants, reference problems against scipy's Radau,
the measured order, both linear-algebra forms, dense output, derivatives, vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate

import scidiff
from scidiff import RESULTS
from scidiff._ode._solvers import _radau_linear as R

from ._problems import ROBERTSON_K, robertson, scipy_reference, van_der_pol
from .test_orders import slopes


def test_tableau_facts():
    a, b, c = R.A, R.A[-1], R.C
    np.testing.assert_allclose(a.sum(axis=1), c, atol=1e-15)
    for k in range(1, 6):  # B(5): the quadrature is exact to degree 4
        assert b @ c ** (k - 1) == pytest.approx(1 / k, abs=1e-14)
    for k in range(1, 4):  # C(3): stage order 3
        np.testing.assert_allclose(a @ c ** (k - 1), c**k / k, atol=1e-14)
    # A = T Lambda^{-1} T^{-1}: one real eigenvalue 1/gamma of A, and the pair 1/mu.
    np.testing.assert_allclose(R.T @ R.T_INV, np.eye(3), atol=1e-14)
    lam = R.T_INV @ np.linalg.inv(a) @ R.T
    mu = R.MU
    block = np.array([[R.GAMMA, 0, 0], [0, mu.real, -mu.imag], [0, mu.imag, mu.real]])
    np.testing.assert_allclose(lam, block, atol=1e-12)
    eig = np.sort_complex(np.linalg.eigvals(np.linalg.inv(a)))
    np.testing.assert_allclose(eig, np.sort_complex([R.GAMMA, mu, mu.conjugate()]), atol=1e-12)
    # Dense output: the cubic through (0, 0) and (c_i, Z_i), q = P^T Z.
    vander = c[:, None] ** np.arange(1, 4)[None, :]
    np.testing.assert_allclose(vander @ R.P.T, np.eye(3), atol=1e-12)
    # Error estimate: weights 1/gamma at t0 and b + E A on the stages form a quadrature
    # of order 3 (exact to degree 2) that is not of order 4.
    b_hat = b + R.E @ a
    nodes_weights = [(0.0, 1 / R.GAMMA)] + list(zip(c, b_hat))
    for k in range(1, 4):
        assert sum(w * x ** (k - 1) for x, w in nodes_weights) == pytest.approx(1 / k, abs=1e-14)
    assert abs(sum(w * x**3 for x, w in nodes_weights) - 0.25) > 1e-3


def scaled_error(y, ref, rtol, atol):
    return float(np.max(np.abs(np.asarray(y) - ref) / (atol + rtol * np.abs(ref))))


def solve_robertson(t1, rtol, atol):
    return scidiff.solve_ivp(
        robertson, (0.0, t1), jnp.array([1.0, 0.0, 0.0]), args=ROBERTSON_K,
        solver=scidiff.Radau5(), t_eval=jnp.array([1e-2, 1.0, t1]), rtol=rtol, atol=atol,
    )  # fmt: skip


def test_robertson_to_1e5_against_scipy():
    rtol, atol = 1e-7, 1e-12
    sol = solve_robertson(1e5, rtol, atol)
    assert sol.result == RESULTS.successful
    ys = np.asarray(sol.ys)
    # Collocation conserves linear invariants: y1 + y2 + y3 = 1.
    assert np.max(np.abs(ys.sum(axis=1) - 1.0)) < 1e-12
    assert scaled_error(ys[-1], scipy_reference("robertson", 1e5), rtol, atol) < 50
    # As economical as scipy's Radau (574 steps at rtol=1e-8): well under 1000.
    assert int(sol.stats["num_steps"]) < 1000


def test_robertson_float32_with_default_tolerances():
    y0 = jnp.array([1.0, 0.0, 0.0], jnp.float32)
    k = tuple(jnp.float32(v) for v in ROBERTSON_K)
    sol = scidiff.solve_ivp(robertson, (0.0, 1e5), y0, args=k, solver=scidiff.Radau5())
    assert sol.result == RESULTS.successful and sol.ys.dtype == jnp.float32
    # rtol defaults to 100 eps (1.2e-5) in float32; the global error stays within ~10x.
    ref = scipy_reference("robertson", 1e5)
    np.testing.assert_allclose(np.asarray(sol.ys[-1], np.float64), ref, rtol=2e-4)


def test_robertson_span_to_1e11():
    # The same compiled solve as test_robertson_to_1e5 (times and tolerances are traced).
    sol = solve_robertson(1e11, 1e-6, 1e-9)
    assert sol.result == RESULTS.successful
    # y1 ~ 2e-8 and y2 ~ 8e-14 sit below the default atol (1e-9): absolute accuracy there.
    np.testing.assert_allclose(sol.ys[-1], scipy_reference("robertson", 1e11), atol=2e-9,
                               rtol=1e-6)  # fmt: skip


def test_van_der_pol_mu_1000_against_scipy():
    sol = scidiff.solve_ivp(
        van_der_pol, (0.0, 3000.0), jnp.array([2.0, 0.0]), args=1000.0,
        solver=scidiff.Radau5(), rtol=1e-8, atol=1e-10, max_steps=20_000,
    )  # fmt: skip
    assert sol.result == RESULTS.successful
    ref = scipy_reference("vdp", 3000.0, 1000.0)
    # Through two relaxation jumps: the position error stays at tolerance level.
    assert abs(float(sol.ys[-1, 0]) - ref[0]) < 1e-4 * abs(ref[0])
    # scipy's Radau takes 3753 steps here (same tolerances, exact Jacobian).
    assert int(sol.stats["num_steps"]) < 4200


def test_measured_order_5_at_the_grid_and_3_in_between():
    # y' = -a (y - cos t) - sin t, a = (1, 5), fixed steps h = 1/10 .. 1/40 (h a <= 0.5:
    # the classical order shows; much stiffer, Radau IIA falls back to its stage order).
    (dense_slope, end_slope), errs = slopes(scidiff.Radau5(), (10, 20, 40))
    assert np.all(errs > 1e-14), errs
    assert abs(end_slope - 5) < 0.3, (end_slope, errs)
    # The cubic collocation polynomial: local error O(h^4) off the grid.
    assert dense_slope > 3.6, (dense_slope, errs)


# --- linear algebra: eigen-split, full 3n system, matrix-free -----------------------------

N_HEAT = 16


def heat(t, u, kappa):
    # Heat equation with a source on (0, 1), u = 0 at both ends, centred differences.
    dx = 1.0 / (N_HEAT + 1)
    up = jnp.pad(u, 1)
    return kappa * (up[2:] - 2 * u + up[:-2]) / dx**2 + jnp.sin(3.0 * t)


HEAT_X = jnp.arange(1, N_HEAT + 1) / (N_HEAT + 1)
HEAT_Y0 = jnp.sin(jnp.pi * HEAT_X) + 0.5 * jnp.sin(4 * jnp.pi * HEAT_X)
HEAT_TS = jnp.array([0.05, 0.2, 0.5])


@pytest.fixture(scope="module")
def heat_reference():
    def f(t, u):
        return np.asarray(heat(t, jnp.asarray(u), 1.0))

    jac = np.asarray(jax.jacfwd(lambda u: heat(0.0, u, 1.0))(HEAT_Y0))  # linear: constant
    sol = scipy.integrate.solve_ivp(
        f, (0.0, 0.5), np.asarray(HEAT_Y0), method="Radau", t_eval=np.asarray(HEAT_TS),
        rtol=1e-11, atol=1e-13, jac=jac,
    )  # fmt: skip
    assert sol.success
    return sol.y.T


@pytest.mark.parametrize(
    "linear_solver, eigen_split",
    [
        (scidiff.DenseLU(), None),
        (scidiff.DenseLU(), False),
        (scidiff.NewtonKrylov(), None),
        (scidiff.NewtonKrylov(preconditioner=lambda t, y, a, c: lambda v: v / (1 + 2 * c * 289)),
         None),
    ],
    ids=["split", "full-dense", "krylov", "krylov-jacobi"],
)  # fmt: skip
def test_linear_forms_agree_with_scipy_on_heat(linear_solver, eigen_split, heat_reference):
    solver = scidiff.Radau5(linear_solver=linear_solver, eigen_split=eigen_split)
    sol = scidiff.solve_ivp(
        heat, (0.0, 0.5), HEAT_Y0, args=1.0, solver=solver, t_eval=HEAT_TS, rtol=1e-7, atol=1e-9
    )
    assert sol.result == RESULTS.successful
    assert scaled_error(sol.ys, heat_reference, 1e-7, 1e-9) < 20


def test_eigen_split_needs_a_dense_solver():
    with pytest.raises(ValueError, match="eigen_split=True"):
        scidiff.Radau5(linear_solver=scidiff.NewtonKrylov(), eigen_split=True)
    with pytest.raises(ValueError, match="max_newton_iters"):
        scidiff.Radau5(max_newton_iters=0)
    with pytest.raises(TypeError, match="linear_solver"):
        scidiff.Radau5(linear_solver="lu")


# --- dense output, t_eval, events, float32 -------------------------------------------------

LAM = jnp.array([-1.0, -20.0])


def linear(t, y, lam):
    return lam * y


def linear_exact(t):
    return np.exp(np.asarray(LAM)[None, :] * np.atleast_1d(np.asarray(t))[:, None])


def test_dense_output_and_t_eval_match_the_exact_solution():
    ts = jnp.linspace(0.0, 2.0, 37)
    sol = scidiff.solve_ivp(
        linear, (0.0, 2.0), jnp.ones(2), args=LAM, solver=scidiff.Radau5(), dense=True,
        t_eval=ts, rtol=1e-8, atol=1e-10,
    )  # fmt: skip
    exact = linear_exact(ts)
    np.testing.assert_allclose(sol.ys, exact, rtol=1e-6, atol=1e-9)
    off_grid = ts[:-1] + 0.013
    dense = jax.vmap(sol.evaluate)(off_grid)
    np.testing.assert_allclose(dense, linear_exact(off_grid), rtol=1e-6, atol=1e-9)


def test_terminal_event_is_located():
    # y1 = exp(-t) crosses 0.25 at t = ln 4.
    event = scidiff.Event(lambda t, y, a: y[0] - 0.25)
    sol = scidiff.solve_ivp(
        linear, (0.0, 5.0), jnp.ones(2), args=LAM, solver=scidiff.Radau5(), events=event,
        rtol=1e-8, atol=1e-10,
    )  # fmt: skip
    assert sol.result == RESULTS.event_occurred
    assert float(sol.ts[-1]) == pytest.approx(np.log(4.0), rel=1e-7)


def test_backwards_in_time():
    # y' = -lam y from t = 1 down to 0: stiff and decaying in the direction of integration.
    sol = scidiff.solve_ivp(
        linear, (1.0, 0.0), jnp.exp(-LAM), args=-LAM, solver=scidiff.Radau5(), rtol=1e-9,
        atol=1e-12,
    )  # fmt: skip
    np.testing.assert_allclose(sol.ys[-1], [1.0, 1.0], rtol=1e-6)


def test_float32_stays_float32():
    sol = scidiff.solve_ivp(
        linear, (0.0, 1.0), jnp.ones(2, jnp.float32), args=LAM.astype(jnp.float32),
        solver=scidiff.Radau5(),
    )  # fmt: skip
    assert sol.result == RESULTS.successful and sol.ys.dtype == jnp.float32
    # Default float32 tolerances: rtol = 100 eps, atol = 0.1 eps (y2 ~ 2e-9 is below it).
    np.testing.assert_allclose(np.asarray(sol.ys[-1]), linear_exact(1.0)[0], rtol=1e-4,
                               atol=1e-8)  # fmt: skip


# --- vmap and derivatives --------------------------------------------------------------------


def vdp_final(y0, mu):
    sol = scidiff.solve_ivp(
        van_der_pol, (0.0, 1.0), y0, args=mu, solver=scidiff.Radau5(), rtol=1e-10, atol=1e-12
    )
    return sol.ys[-1]


def test_vmap_over_initial_conditions():
    y0s = jnp.array([[2.0, 0.0], [1.5, 0.5], [0.5, -1.0]])
    batched = jax.jit(jax.vmap(vdp_final, in_axes=(0, None)))(y0s, 10.0)
    for y0, yb in zip(y0s, batched):
        ref = scipy.integrate.solve_ivp(
            lambda t, y: np.asarray(van_der_pol(t, y, 10.0, np)), (0.0, 1.0), np.asarray(y0),
            method="Radau", rtol=1e-12, atol=1e-14,
        ).y[:, -1]  # fmt: skip
        np.testing.assert_allclose(yb, ref, rtol=1e-7, atol=1e-9)


def loss(params, adjoint):
    mu, y00 = params[0], params[1]
    sol = scidiff.solve_ivp(
        van_der_pol, (0.0, 1.0), jnp.stack([y00, jnp.zeros(())]), args=mu,
        solver=scidiff.Radau5(), rtol=1e-10, atol=1e-12, adjoint=adjoint,
    )  # fmt: skip
    return sol.ys[-1, 0] + 0.1 * sol.ys[-1, 1]


PARAMS = jnp.array([10.0, 2.0])


@pytest.fixture(scope="module")
def finite_differences():
    f = jax.jit(lambda p: loss(p, scidiff.RecursiveCheckpoint()))
    eps = 1e-6
    out = []
    for i in range(2):
        e = jnp.zeros(2).at[i].set(eps)
        out.append((f(PARAMS + e) - f(PARAMS - e)) / (2 * eps))
    return np.array(out)


@pytest.mark.parametrize(
    "adjoint, mode",
    [(scidiff.RecursiveCheckpoint(), "rev"), (scidiff.ForwardMode(), "fwd")],
    ids=["RecursiveCheckpoint", "ForwardMode"],
)  # fmt: skip
def test_gradient_matches_finite_differences(adjoint, mode, finite_differences):
    grad = jax.grad if mode == "rev" else jax.jacfwd
    g = np.asarray(jax.jit(grad(lambda p: loss(p, adjoint)))(PARAMS))
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, finite_differences, rtol=1e-5, atol=1e-7)


def test_backsolve_gradient_matches_the_exact_one():
    # Backsolve integrates y backwards too, which is ill-conditioned for strongly damped
    # problems (the van der Pol loss above): a mildly stiff linear one, exact gradient
    # d y_i(1) / d lam_i = exp(lam_i).
    lam = jnp.array([-1.0, -3.0])

    def final_sum(lam):
        sol = scidiff.solve_ivp(
            linear, (0.0, 1.0), jnp.ones(2), args=lam, solver=scidiff.Radau5(), rtol=1e-10,
            atol=1e-12, adjoint=scidiff.Backsolve(),
        )  # fmt: skip
        return jnp.sum(sol.ys[-1])

    g = jax.jit(jax.grad(final_sum))(lam)
    np.testing.assert_allclose(g, np.exp(np.asarray(lam)), rtol=1e-7)


@pytest.mark.parametrize("linear_solver", [scidiff.DenseLU(), scidiff.NewtonKrylov()])
def test_complex_state_and_per_component_tolerances(linear_solver):
    """Radau5 with the other implicit solvers' conventions: a complex state on its real
    (re, im) form (scipy's Radau accepts complex y0), and per-component tolerances (a
    loose one on a component fast to decay costs fewer steps than a tight scalar)."""
    lam = jnp.array([-1.0 + 10j, -50.0 + 1j])
    y0 = jnp.array([0.5 + 1j, 1.0 - 0.5j])
    sol = scidiff.solve_ivp(lambda t, y, a: lam * y, (0.0, 1.0), y0, rtol=1e-8, atol=1e-10,
                            solver=scidiff.Radau5(linear_solver))
    assert sol.ys.dtype == jnp.complex128
    np.testing.assert_allclose(sol.ys[-1], y0 * jnp.exp(lam), rtol=0, atol=1e-7)
    k = jnp.array([1.0, 30.0])

    def steps(rtol, atol):
        s = scidiff.solve_ivp(lambda t, y, a: -k * y, (0.0, 3.0), jnp.ones(2), rtol=rtol,
                              atol=atol, solver=scidiff.Radau5(linear_solver))
        np.testing.assert_allclose(s.ys[-1, 0], np.exp(-3.0), rtol=1e-6)
        return int(s.stats["num_steps"])

    assert steps(jnp.array([1e-9, 1e-3]), jnp.array([1e-12, 1e-3])) < steps(1e-9, 1e-12)
