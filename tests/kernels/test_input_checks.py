"""Bad configuration refused with a clear error (issue 18): grids with infinite/NaN bounds
or float sizes, NaN steps, spectral boxes with zero/NaN extent. Traced values pass."""

import jax
import jax.numpy as jnp
import pytest

import scidiff.kernels as K

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: K.Grid(8, INF),
            ValueError,
            r"`extent` must be finite on every axis, got \(inf,\)",
        ),
        (lambda: K.Grid(8, NAN), ValueError, r"`extent` must be finite on every axis"),
        (lambda: K.Grid((8, 8), (1.0, NAN)), ValueError, r"`extent` must be finite on every axis"),
        (
            lambda: K.Grid(8, lower=-INF),
            ValueError,
            r"`lower` must be finite on every axis, got \(-inf,\)",
        ),
        (lambda: K.Grid(8, lower=NAN), ValueError, r"`lower` must be finite on every axis"),
        (
            lambda: K.Grid(64.5),
            TypeError,
            r"Grid sizes must be integers \(numbers of points\), got 64.5",
        ),
        (lambda: K.Grid(64.0), TypeError, r"Grid sizes must be integers"),
        (lambda: K.Grid((8, 7.5)), TypeError, r"Grid sizes must be integers"),
        (lambda: K.Grid(True), TypeError, r"Grid sizes must be integers"),
        (lambda: K.Grid(8, -1.0), ValueError, r"`extent` must be positive"),
    ],
)
def test_bad_grids_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_integer_like_sizes_are_accepted():
    import numpy as np

    assert K.Grid(np.int64(8)).shape == (8,)
    assert K.Grid((np.int32(4), 6)).shape == (4, 6)
    assert K.Grid(jnp.int32(8)).shape == (8,)


@pytest.mark.parametrize("dt", [NAN, INF, -INF])
def test_nan_or_infinite_dt_is_refused(dt):
    g = K.Grid(16)
    u0 = jnp.sin(2 * jnp.pi * g.coordinates()[0])
    heat = K.Heat(g, 0.1)
    with pytest.raises(ValueError, match=r"`dt` must be a finite number"):
        heat.rollout(u0, dt, 4)
    with pytest.raises(ValueError, match=r"`dt` must be a finite number"):
        heat.rollout(u0, dt, 4, check_stability=False)
    ks = K.KuramotoSivashinsky(16, 22.0, order=2)  # no CFL limit at order 2
    with pytest.raises(ValueError, match=r"`dt` must be a finite number"):
        ks.rollout(jnp.cos(2 * jnp.pi * jnp.arange(16) / 16), dt, 4)


def test_nan_dt_under_jit_is_a_runtime_error():
    g = K.Grid(16)
    u0 = jnp.sin(2 * jnp.pi * g.coordinates()[0])
    heat = K.Heat(g, 0.1)
    run = jax.jit(lambda dt: heat.rollout(u0, dt, 4))
    assert jnp.all(jnp.isfinite(run(1e-4)))
    with pytest.raises(Exception, match=r"unstable Heat step: .*not finite"):
        jax.block_until_ready(run(NAN))


def test_check_cfl_refuses_non_scalar_limits():
    with pytest.raises(ValueError, match=r"check_cfl compares scalars: got dt of shape \(\)"):
        K.check_cfl(1e-3, jnp.ones(3))


@pytest.mark.parametrize("extent", [0.0, NAN, INF, -1.0])
def test_spectral_functions_refuse_bad_extents(extent):
    u = jnp.cos(2 * jnp.pi * jnp.arange(16) / 16)
    match = r"`extent` must be positive and finite on every axis"
    with pytest.raises(ValueError, match=match):
        K.wavenumbers((16,), extent)
    with pytest.raises(ValueError, match=match):
        K.spectral_derivative(u, extent, 1)
    with pytest.raises(ValueError, match=match):
        K.spectral_laplacian(u, (extent,))
    with pytest.raises(ValueError, match=match):
        K.KuramotoSivashinsky(16, extent)
    with pytest.raises(ValueError, match=match):
        K.NavierStokes2D((8, 8), (1.0, extent))


def test_traced_extents_still_differentiate():
    u = jnp.sin(2 * jnp.pi * jnp.arange(16) / 16)
    grad = jax.grad(lambda L: jnp.sum(K.spectral_derivative(u, L, 1) ** 2))(1.0)
    assert jnp.isfinite(grad) and grad != 0.0


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: K.NavierStokes2D((8, 8), viscosity=NAN),
            r"NavierStokes2D: `viscosity` must be finite",
        ),
        (
            lambda: K.NavierStokes2D((8, 8), viscosity=-0.1),
            r"NavierStokes2D: `viscosity` must be >= 0",
        ),
        (lambda: K.NavierStokes2D((8, 8), drag=-1.0), r"NavierStokes2D: `drag` must be >= 0"),
        (
            lambda: K.KuramotoSivashinsky(16, 22.0, viscosity=0.0),
            r"KuramotoSivashinsky: `viscosity` must be > 0",
        ),
        (
            lambda: K.KortewegDeVries(16, 10.0, viscosity=NAN),
            r"KortewegDeVries: `viscosity` must be finite",
        ),
        (
            lambda: K.KortewegDeVriesFD(K.Grid(16), viscosity=-1.0),
            r"KortewegDeVriesFD: `viscosity` must be >= 0",
        ),
        (
            lambda: K.KuramotoSivashinskyFD(K.Grid(16), viscosity=NAN),
            r"KuramotoSivashinskyFD: `viscosity` must be finite",
        ),
        (
            lambda: K.ShallowWater(K.Grid((8, 8)), gravity=-9.81),
            r"ShallowWater: `gravity` must be >= 0",
        ),
    ],
)
def test_bad_model_coefficients_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_traced_spectral_viscosity_passes():
    u0 = jnp.cos(2 * jnp.pi * jnp.arange(16) / 16)
    out = jax.jit(lambda nu: K.KuramotoSivashinsky(16, 22.0, viscosity=nu)(0.0, u0))(1.0)
    assert out.shape == (16,)
