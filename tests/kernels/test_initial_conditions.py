"""Initial-condition generators: shapes, dtypes, statistics, analytic properties."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff.kernels as K

# jit the generators (grids, sizes and dtypes are static): one compile per test case
# instead of one per primitive and shape in eager mode.
rfs = eqx.filter_jit(K.random_fourier_series)
grf = eqx.filter_jit(K.gaussian_random_field)
vortices = eqx.filter_jit(K.gaussian_vortices)
tgv = eqx.filter_jit(K.taylor_green_vortex)
mean_sq_grad = eqx.filter_jit(lambda u, g: jnp.mean(K.gradient(u, g, K.Periodic()) ** 2))


@pytest.mark.parametrize("shape", [(32,), (16, 12)])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_random_fourier_series_is_band_limited(shape, dtype):
    g = K.Grid(shape, 2.0)
    u = rfs(jax.random.key(0), g, max_wavenumber=3, dtype=dtype)
    assert u.shape == shape and u.dtype == dtype
    np.testing.assert_allclose(jnp.max(jnp.abs(u)), 1.0, rtol=1e-6)
    spec = np.abs(np.fft.fftn(np.asarray(u, np.float64)))
    freqs = np.meshgrid(*[np.abs(np.fft.fftfreq(n, 1 / n)) for n in shape], indexing="ij")
    high = np.max(np.stack(freqs), 0) > 3
    assert spec[high].max() < 1e-4 * spec.max()  # only |m| <= 3 present (f32 rounding)
    # different keys, different fields; vmap over keys builds an ensemble
    keys = jax.random.split(jax.random.key(1), 3)
    ens = eqx.filter_jit(jax.vmap(lambda k: K.random_fourier_series(k, g, max_wavenumber=3)))(keys)
    assert ens.shape == (3, *shape) and float(jnp.abs(ens[0] - ens[1]).max()) > 0.1


def test_gaussian_random_field_statistics():
    g = K.Grid((64, 64))
    u = grf(jax.random.key(2), g, length_scale=0.05)
    np.testing.assert_allclose([jnp.mean(u), jnp.mean(u**2)], [0.0, 1.0], atol=1e-10)
    # a longer correlation length gives a smoother field (smaller mean squared gradient)
    rough = mean_sq_grad(u, g)
    smooth_u = grf(jax.random.key(2), g, length_scale=0.2)
    assert float(mean_sq_grad(smooth_u, g)) < 0.5 * float(rough)


def test_vortices_and_taylor_green():
    g = K.Grid((64, 64), 2 * np.pi)
    w = vortices(g, [[2.0, 3.0], [4.5, 3.0]], [1.0, -0.5], [0.3, 0.3])
    np.testing.assert_allclose(g.integrate(w), 0.5, rtol=1e-6)  # total circulation
    tg = tgv(g, amplitude=2.0)
    X, Y = (np.asarray(c) for c in g.meshgrid())
    # vorticity = v_x - u_y of the documented velocity u = -A cos x sin y, v = A sin x cos y
    u, v = -2.0 * np.cos(X) * np.sin(Y), 2.0 * np.sin(X) * np.cos(Y)
    curl = eqx.filter_jit(
        lambda u, v: (
            K.derivative(v, g, K.Periodic(), 0, order=4)
            - K.derivative(u, g, K.Periodic(), 1, order=4)
        )
    )(u, v)
    np.testing.assert_allclose(tg, curl, atol=1e-4)
    with pytest.raises(ValueError, match="Vortices need a 2D grid"):
        K.gaussian_vortices(K.Grid(8), [[0.0, 0.0]], [1.0], [0.1])
    with pytest.raises(ValueError, match="square box"):
        K.taylor_green_vortex(K.Grid((8, 8), (1.0, 2.0)))
    with pytest.raises(ValueError, match="`max_wavenumber` must be >= 1"):
        K.random_fourier_series(jax.random.key(0), g, max_wavenumber=0)


def test_gaussian_bump_peak():
    g = K.Grid((5, 5), 1.0)
    b = K.gaussian_bump(g, (0.5, 0.5), 0.1, amplitude=3.0)
    np.testing.assert_allclose(b[2, 2], 3.0)
