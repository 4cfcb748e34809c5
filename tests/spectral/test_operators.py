"""Spectral operators: exactness on trigonometric polynomials, spectral convergence on
smooth functions, Poisson residual, Leray projection, de-aliasing, linearity (hypothesis),
dtypes and error messages."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scidiff.kernels import (
    dealias_mask,
    leray_projection,
    spectral_derivative,
    spectral_divergence,
    spectral_gradient,
    spectral_laplacian,
    spectral_poisson,
    wavenumbers,
)

TOL = {jnp.float32: 2e-4, jnp.float64: 1e-10}

# One compiled program per (shape, order) instead of eager op-by-op dispatch.
_derivative = jax.jit(spectral_derivative, static_argnums=(1, 2))


def _grid(shape, extent):
    return np.meshgrid(*[np.arange(n) * L / n for n, L in zip(shape, extent)], indexing="ij")


def _trig_poly(shape, extent, seed):
    """A random trigonometric polynomial (modes below Nyquist) and its mode list, so that
    any derivative is known in closed form."""
    rng = np.random.default_rng(seed)
    xs = _grid(shape, extent)
    modes = []
    for _ in range(4):
        n = [int(rng.integers(-(s // 2) + 1, s // 2)) for s in shape]
        modes.append((n, rng.normal(), rng.uniform(0, 2 * np.pi)))

    def evaluate(alpha):
        out = np.zeros(shape)
        for n, amp, phase in modes:
            k = [2 * np.pi * ni / L for ni, L in zip(n, extent)]
            arg = sum(ki * x for ki, x in zip(k, xs)) + phase
            factor = np.prod([ki**a for ki, a in zip(k, alpha)])
            p = sum(alpha)  # d^p/dx^p cos(arg) = k^alpha cos(arg + p pi/2)
            out += amp * factor * np.cos(arg + p * np.pi / 2)
        return out

    return evaluate


SHAPES = [((16,), (2 * np.pi,)), ((12, 8), (1.0, 3.0)), ((8, 6, 10), (2.0, 1.0, 1.5))]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("shape,extent", SHAPES, ids=["1d", "2d", "3d"])
def test_derivatives_exact_on_trig_polynomials(shape, extent, dtype):
    f = _trig_poly(shape, extent, seed=len(shape))
    u = jnp.asarray(f((0,) * len(shape)), dtype)
    scale = np.max(np.abs(f((3,) + (0,) * (len(shape) - 1)))) + 1
    ndim = len(shape)
    alphas = [tuple(p * (e == d) for e in range(ndim)) for d in range(ndim) for p in (1, 2, 3)]
    alphas.append((1,) * ndim)
    if ndim > 1:
        alphas.append((2, 1) + (0,) * (ndim - 2))
    for alpha in alphas:
        du = _derivative(u, extent, alpha)
        assert du.dtype == dtype and du.shape == u.shape
        exact = f(alpha)
        err = np.max(np.abs(np.asarray(du) - exact)) / (np.max(np.abs(exact)) + scale * TOL[dtype])
        assert err < 10 * TOL[dtype], (alpha, err)
    lap = spectral_laplacian(u, extent)
    exact = sum(f(tuple(2 * (d == e) for e in range(len(shape)))) for d in range(len(shape)))
    np.testing.assert_allclose(lap, exact, atol=TOL[dtype] * np.max(np.abs(exact)) * 10)
    grad = spectral_gradient(u, extent)
    assert grad.shape == (len(shape), *shape)
    for d in range(len(shape)):
        np.testing.assert_allclose(
            grad[d], f(tuple(int(d == e) for e in range(len(shape)))), atol=TOL[dtype] * 50
        )


def test_spectral_convergence_on_smooth_periodic_function():
    """d/dx exp(sin x) = cos x exp(sin x): the error falls faster than any power of N."""
    ns = np.array([8, 12, 16, 20, 24])
    errs = []
    for n in ns:
        x = np.arange(n) * 2 * np.pi / n
        du = _derivative(jnp.exp(jnp.sin(x)), 2 * np.pi, 1)
        errs.append(np.max(np.abs(np.asarray(du) - np.cos(x) * np.exp(np.sin(x)))))
    errs = np.array(errs)
    assert errs[-1] < 1e-12
    # geometric (exponential) decay: log(err) is linear in N, so the local algebraic
    # order -dlog(err)/dlog(N) keeps growing
    local_orders = -np.diff(np.log(errs)) / np.diff(np.log(ns))
    assert np.all(np.diff(local_orders[:3]) > 0) and local_orders[2] > 20, local_orders


def test_nyquist_mode_odd_derivatives_vanish_even_keep_it():
    n = 8
    x = np.arange(n) * 2 * np.pi / n
    u = jnp.cos(n / 2 * x)  # the Nyquist mode: (-1)^j on the grid
    np.testing.assert_allclose(spectral_derivative(u, 2 * np.pi, 1), 0, atol=1e-13)
    np.testing.assert_allclose(spectral_derivative(u, 2 * np.pi, 2), -16 * u, atol=1e-12)
    np.testing.assert_allclose(spectral_derivative(u, 2 * np.pi, 3), 0, atol=1e-12)


@pytest.mark.parametrize("shape,extent", SHAPES, ids=["1d", "2d", "3d"])
def test_poisson_residual_and_zero_mean(shape, extent):
    rng = np.random.default_rng(0)
    f = rng.normal(size=shape) + 3.0
    phi = spectral_poisson(jnp.asarray(f), extent)
    np.testing.assert_allclose(np.mean(phi), 0, atol=1e-12)
    np.testing.assert_allclose(spectral_laplacian(phi, extent), f - f.mean(), atol=1e-10)


def test_poisson_matches_closed_form():
    x, y = _grid((16, 16), (2 * np.pi, np.pi))
    f = np.sin(2 * x) * np.cos(4 * y)  # -(4 + 16) phi = f
    np.testing.assert_allclose(
        spectral_poisson(jnp.asarray(f), (2 * np.pi, np.pi)), -f / 20, atol=1e-14
    )


@pytest.mark.parametrize("shape,extent", SHAPES[1:], ids=["2d", "3d"])
def test_leray_projection_divergence_free_idempotent(shape, extent):
    rng = np.random.default_rng(1)
    v = jnp.asarray(rng.normal(size=(len(shape), *shape)))
    pv = leray_projection(v, extent)
    assert pv.shape == v.shape
    np.testing.assert_allclose(spectral_divergence(pv, extent), 0, atol=1e-12)
    np.testing.assert_allclose(leray_projection(pv, extent), pv, atol=1e-12)
    # it removes gradients and keeps the mean flow
    phi = jnp.asarray(rng.normal(size=shape))
    np.testing.assert_allclose(
        leray_projection(spectral_gradient(phi, extent), extent), 0, atol=1e-12
    )
    mean = np.mean(np.asarray(v), axis=tuple(range(1, v.ndim)))
    np.testing.assert_allclose(
        np.mean(np.asarray(pv), axis=tuple(range(1, v.ndim))), mean, atol=1e-12
    )


def test_leray_keeps_divergence_free_field():
    x, y = _grid((16, 16), (1.0, 1.0))
    psi = np.sin(2 * np.pi * x) * np.cos(4 * np.pi * y)
    v = spectral_gradient(jnp.asarray(psi), 1.0)[::-1] * jnp.asarray([1.0, -1.0])[:, None, None]
    np.testing.assert_allclose(leray_projection(v, 1.0), v, atol=1e-12)


def test_batched_fields_with_tuple_extent():
    rng = np.random.default_rng(2)
    u = jnp.asarray(rng.normal(size=(3, 8, 8)))  # batch of 3 2D fields
    d = spectral_derivative(u, (1.0, 1.0), (1, 0))
    for i in range(3):
        np.testing.assert_allclose(d[i], spectral_derivative(u[i], 1.0, (1, 0)), atol=1e-13)
    np.testing.assert_allclose(
        jax.vmap(lambda a: spectral_laplacian(a, 1.0))(u),
        spectral_laplacian(u, (1.0, 1.0)),
        atol=1e-12,
    )


@pytest.mark.parametrize("n", [12, 16, 96, 128])
def test_dealias_mask_two_thirds_rule(n):
    mask = np.asarray(dealias_mask((n,)))
    kept = np.nonzero(mask)[0]
    assert kept.max() == (n - 1) // 3  # largest K with 3K < N
    # alias-free: the retained modes of the product of two masked fields equal those of
    # the exact product (computed on a grid twice as fine, where nothing aliases)
    rng = np.random.default_rng(n)
    a_hat = (rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)) * mask
    b_hat = (rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)) * mask
    a_hat[0], b_hat[0] = a_hat[0].real, b_hat[0].real
    a, b = np.fft.irfft(a_hat, n), np.fft.irfft(b_hat, n)
    prod_hat = np.fft.rfft(a * b) * mask
    fine = np.fft.rfft(np.fft.irfft(a_hat, 2 * n) * np.fft.irfft(b_hat, 2 * n) * 2 * n) / n
    np.testing.assert_allclose(prod_hat, fine[: n // 2 + 1] * mask, atol=1e-10)
    # the next mode would alias: keeping K + 1 breaks the identity (the rule is tight)
    assert 3 * (kept.max() + 1) >= n


def test_wavenumbers_layout():
    kx, ky = wavenumbers((8, 6), (2 * np.pi, np.pi))
    np.testing.assert_allclose(kx[:, 0], [0, 1, 2, 3, -4, -3, -2, -1])
    np.testing.assert_allclose(ky[0], [0, 2, 4, 6])
    kx, ky = wavenumbers((8, 6), (2 * np.pi, np.pi), zero_nyquist=True)
    assert kx[4, 0] == 0 and ky[0, 3] == 0


@settings(max_examples=25, deadline=None)
@given(
    n=st.sampled_from([4, 6, 8]),
    ndim=st.integers(1, 2),
    a=st.floats(-3, 3),
    b=st.floats(-3, 3),
    order=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_derivative_is_linear(n, ndim, a, b, order, seed):
    rng = np.random.default_rng(seed)
    shape = (n,) * ndim
    u, v = (jnp.asarray(rng.normal(size=shape)) for _ in range(2))
    alpha = (order,) + (0,) * (ndim - 1)
    lhs = _derivative(a * u + b * v, 2.0, alpha)
    rhs = a * _derivative(u, 2.0, alpha) + b * _derivative(v, 2.0, alpha)
    np.testing.assert_allclose(lhs, rhs, atol=1e-9 * (1 + abs(a) + abs(b)) * n**order)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.integers(0, 7))
def test_derivative_commutes_with_translation_and_is_antisymmetric(seed, shift):
    rng = np.random.default_rng(seed)
    u, v = (jnp.asarray(rng.normal(size=8)) for _ in range(2))
    du = spectral_derivative(u, 1.0, 1)
    np.testing.assert_allclose(
        spectral_derivative(jnp.roll(u, shift), 1.0, 1), jnp.roll(du, shift), atol=1e-10
    )
    # <u, D v> = -<D u, v> (skew-symmetry of d/dx on periodic functions)
    np.testing.assert_allclose(
        jnp.dot(u, spectral_derivative(v, 1.0, 1)), -jnp.dot(du, v), atol=1e-9
    )


def test_float32_stays_float32():
    u = jnp.ones((8, 8), jnp.float32)
    for out in (
        spectral_derivative(u, 1.0, (1, 0)),
        spectral_laplacian(u, 1.0),
        spectral_poisson(u, 1.0),
        spectral_gradient(u, 1.0),
        leray_projection(jnp.ones((2, 8, 8), jnp.float32), 1.0),
    ):
        assert out.dtype == jnp.float32


def test_traced_extent_is_differentiable():
    """d/dL of u_x for u = sin(2 pi x / L) sampled on the same points: -u_x / L."""
    n = 16

    def ux_at_point(length):
        x = jnp.arange(n) * length / n
        return spectral_derivative(jnp.sin(2 * jnp.pi * x / length), length, 1)[3]

    length = 2.0
    g = jax.jit(jax.grad(ux_at_point))(length)
    np.testing.assert_allclose(g, -jax.jit(ux_at_point)(length) / length, rtol=1e-10)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: spectral_derivative(jnp.zeros(7), 1.0, 1), "must be even"),
        (
            lambda: spectral_derivative(jnp.zeros((8, 8, 8, 8)), 1.0, (1, 0, 0, 0)),
            "1, 2 or 3 dimensions",
        ),
        (lambda: spectral_derivative(jnp.zeros((8, 8)), 1.0, 1), "one per spatial axis"),
        (lambda: spectral_derivative(jnp.zeros(8), 1.0, -1), "non-negative integer"),
        (lambda: spectral_derivative(jnp.zeros(8), (1.0, 1.0), 1), "has only 1 axes"),
        (lambda: spectral_derivative(jnp.zeros(8), jnp.ones(2), 1), "must be a scalar or a tuple"),
        (lambda: leray_projection(jnp.zeros((3, 8, 8)), (1.0, 1.0)), "component axis"),
        (lambda: spectral_divergence(jnp.zeros((8, 8)), (1.0, 1.0)), "component axis"),
        (lambda: wavenumbers((8, 8), (1.0, 1.0, 1.0)), "has 3 entries"),
        (lambda: dealias_mask((8,), 0.0), "must lie in"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_complex_or_half_precision_input_raises():
    with pytest.raises(TypeError, match="must be a real field"):
        spectral_laplacian(jnp.zeros(8, complex), 1.0)
    with pytest.raises(TypeError, match="need float32 or float64"):
        spectral_laplacian(jnp.zeros(8, jnp.bfloat16), 1.0)


def test_integer_input_is_promoted_to_float():
    out = spectral_derivative(jnp.arange(8) % 2, 1.0, 2)
    assert jnp.issubdtype(out.dtype, jnp.floating)
