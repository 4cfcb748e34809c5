"""ETDRK1-4: contour coefficients against a series/closed-form reference (float64 and
float32), measured temporal orders against scipy, exactness for linear problems, jit
without recompiles, and the error messages."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate

from scidiff.kernels import ETDRK, etdrk_coefficients

# jitted once per (order, shape): eager op-by-op dispatch would dominate the test time
_coefficients = jax.jit(etdrk_coefficients, static_argnums=2)


def _phi_reference(z: np.ndarray, k: int) -> np.ndarray:
    """phi_k(z) = sum_j z^j / (j + k)!, by its Taylor series for |z| < 1/2 and the closed
    form (e^z - sum_{j<k} z^j/j!) / z^k elsewhere, all in float64/complex128."""
    z = np.asarray(z, complex)
    series = sum(z**j / math.factorial(j + k) for j in range(40))
    head = sum(z**j / math.factorial(j) for j in range(k))
    with np.errstate(all="ignore"):
        closed = (np.exp(z) - head) / z**k
    return np.where(np.abs(z) < 0.5, series, closed)


def _reference(z, h):
    p1, p2, p3 = (_phi_reference(z, k) for k in (1, 2, 3))
    return {
        "E": np.exp(z),
        "Q": h * p1,
        "P": h * p2,
        "F1": h * (p1 - 3 * p2 + 4 * p3),
        "F2": h * (p2 - 2 * p3),
        "F3": h * (4 * p3 - p2),
        "Q2": h / 2 * _phi_reference(z / 2, 1),
        "E2": np.exp(z / 2),
    }


Z_REAL = np.concatenate([-np.logspace(-9, 3, 25), np.logspace(-9, 0.5, 10), [0.0]])
Z_IMAG = 1j * np.concatenate([-np.logspace(-9, 2, 12), np.logspace(-9, 2, 12)]) - 1e-3


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("z", [Z_REAL, Z_IMAG], ids=["real", "imaginary"])
def test_coefficients_float64_match_reference(order, z):
    h = 0.3
    coef = _coefficients(jnp.asarray(z / h), h, order)
    ref = _reference(z, h)
    for name, value in coef.items():
        value = np.asarray(value)
        assert value.dtype in (np.float64, np.complex128)
        np.testing.assert_allclose(
            value,
            ref[name].real if np.isrealobj(z) else ref[name],
            rtol=1e-12,
            atol=1e-14 * h,
            err_msg=name,
        )


@pytest.mark.parametrize("order", [2, 4])
def test_coefficients_float32_accurate_for_small_hL(order):
    """With x64 off the contour runs in float32: no cancellation, so small |hL| keeps
    float32 accuracy, unlike the closed form (which is useless there)."""
    z = -np.logspace(-7, 1, 30)
    h = 1.0
    ref = _reference(z, h)
    with jax.enable_x64(False):
        coef = jax.jit(etdrk_coefficients, static_argnums=2)(jnp.asarray(z, jnp.float32), h, order)
        coef = {k: np.asarray(v) for k, v in coef.items()}
        zc = jnp.asarray(z, jnp.float32)
        naive_f1 = np.asarray((-4 - zc + jnp.exp(zc) * (4 - 3 * zc + zc * zc)) / zc**3)
    for name, value in coef.items():
        assert value.dtype == np.float32, name
        np.testing.assert_allclose(value, ref[name].real, rtol=2e-6, atol=1e-7, err_msg=name)
    if order == 4:  # the closed form cancels catastrophically: demonstrate what we avoid
        small = np.abs(z) < 1e-3
        assert np.max(np.abs(naive_f1[small] - ref["F1"].real[small])) > 1e-2


# A small diagonal semi-linear system u' = L u + N(t, u) with a stiff component and a
# time-dependent nonlinearity: ETDRK must reach its classical order on it.
L_TEST = np.array([-1.0, -20.0, 0.5])


def _n_np(t, u):
    return np.array([u[1] * u[2], -(u[0] ** 2), np.sin(u[0])]) + 0.1 * np.cos(t)


def _n_jax(t, u, args):
    return jnp.stack([u[1] * u[2], -(u[0] ** 2), jnp.sin(u[0])]) + 0.1 * jnp.cos(t)


U0 = np.array([1.0, 0.5, -0.3])
T_END = 1.0


@pytest.fixture(scope="module")
def reference_solution():
    sol = scipy.integrate.solve_ivp(
        lambda t, u: L_TEST * u + _n_np(t, u),
        (0.0, T_END),
        U0,
        method="DOP853",
        rtol=1e-13,
        atol=1e-14,
    )
    return sol.y[:, -1]


@eqx.filter_jit
def _integrate(scheme, u0, num_steps):
    # forward only (no reverse mode here), so a traced trip count is fine: one compile
    def body(_, carry):
        u, t = carry
        return scheme.step(_n_jax, t, u), t + scheme.dt

    u, _ = jax.lax.fori_loop(0, num_steps, body, (u0, jnp.zeros_like(scheme.dt)))
    return u


# ETD3RK leaves its pre-asymptotic regime late on this problem (an error component
# changes sign near 20 steps): fit it on finer steps.
_STEPS = {1: [10, 20, 40, 80], 2: [10, 20, 40, 80], 3: [80, 160, 320, 640], 4: [10, 20, 40, 80]}


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_temporal_order_by_fitted_slope(order, reference_solution):
    steps = np.array(_STEPS[order])
    errors = []
    for n in steps:
        scheme = ETDRK(jnp.asarray(L_TEST), T_END / n, order)
        u = _integrate(scheme, jnp.asarray(U0), jnp.asarray(n))
        errors.append(np.max(np.abs(np.asarray(u) - reference_solution)))
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.25, (order, slope, errors)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_exact_for_linear_plus_constant_forcing(order):
    """u' = L u + c has the exact step e^{hL}u + h phi_1(hL) c: every order reproduces it."""
    lin = jnp.asarray([-3.0, 0.0, -1e-6, 2.0])
    c = jnp.asarray([1.0, -2.0, 0.5, 0.25])
    h = 0.7
    u0 = jnp.asarray([0.3, 1.0, -1.0, 0.1])
    u1 = jax.jit(lambda: ETDRK(lin, h, order).step(lambda t, u, a: c, 0.0, u0))()
    exact = np.asarray(u0) * np.exp(h * np.asarray(lin)) + h * _phi_reference(
        h * np.asarray(lin), 1
    ).real * np.asarray(c)
    np.testing.assert_allclose(u1, exact, rtol=1e-12)


def test_mask_multiplies_nonlinear_term_only():
    lin = jnp.asarray([-1.0, -1.0])
    mask = jnp.asarray([1.0, 0.0])
    u1 = jax.jit(
        lambda: ETDRK(lin, 0.1, 4, mask=mask).step(lambda t, u, a: jnp.ones(2), 0.0, jnp.ones(2))
    )()
    np.testing.assert_allclose(u1[1], np.exp(-0.1), rtol=1e-14)  # pure linear decay
    assert u1[0] > u1[1]


def test_dtype_follows_state():
    scheme = ETDRK(jnp.asarray([-1.0, -2.0]), 0.1, 4, dtype=jnp.float32)
    assert all(v.dtype == jnp.float32 for v in scheme.coefficients.values())
    scheme = ETDRK(jnp.asarray([1j, -2j]), 0.1, 2, dtype=jnp.float32)
    assert all(v.dtype == jnp.complex64 for v in scheme.coefficients.values())


def test_changing_dt_does_not_recompile():
    traces = []

    @jax.jit
    def run(dt, u):
        traces.append(1)
        return ETDRK(jnp.asarray([-1.0, -5.0]), dt, 4).step(lambda t, v, a: v * v, 0.0, u)

    u = jnp.asarray([0.1, 0.2])
    for dt in (0.1, 0.05, 0.01):
        run(dt, u)
    assert len(traces) == 1


def test_gradient_of_coefficients_wrt_dt_matches_finite_differences():
    lin = jnp.asarray([-4.0, -1e-7, 1.5])

    def f(h):
        c = etdrk_coefficients(lin, h, 4)
        return sum(jnp.sum(v) for v in c.values())

    h, eps = 0.3, 1e-6
    f = jax.jit(f)
    fd = (f(h + eps) - f(h - eps)) / (2 * eps)
    np.testing.assert_allclose(jax.jit(jax.grad(f))(h), fd, rtol=1e-7)


@pytest.mark.parametrize("order", [0, 5, 2.5, True])
def test_bad_order_raises(order):
    with pytest.raises(ValueError, match="order` must be 1, 2, 3 or 4"):
        ETDRK(jnp.asarray([-1.0]), 0.1, order)


def test_bad_num_points_raises():
    with pytest.raises(ValueError, match="num_points` must be at least 2"):
        etdrk_coefficients(jnp.asarray([-1.0]), 0.1, 4, num_points=1)
