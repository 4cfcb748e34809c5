"""Finite-difference operators: convergence orders, boundary closures, properties."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scidiff.kernels as K

TWO_PI = 2 * np.pi

# One compile per grid shape instead of one per primitive in eager mode (grids and
# Python-float BC values are static under filter_jit).
laplacian = eqx.filter_jit(K.laplacian)
gradient = eqx.filter_jit(K.gradient)
divergence = eqx.filter_jit(K.divergence)


def _fitted_order(ns, errs):
    """Slope of log(error) against log(h) (h ~ 1/n), least squares."""
    return -np.polyfit(np.log(ns), np.log(errs), 1)[0]


@eqx.filter_jit
def _periodic_laplacian_error(g, order):
    X = g.meshgrid()
    u = jnp.prod(jnp.stack([jnp.sin(x + 0.3 * d) for d, x in enumerate(X)]), 0)
    lap = K.laplacian(u, g, K.Periodic(), order=order)
    return jnp.max(jnp.abs(lap + g.ndim * u))


@pytest.mark.parametrize("order", [2, 4])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_laplacian_convergence_periodic(order, ndim):
    ns = [8, 16, 32] if ndim == 3 else [16, 32, 64]
    errs = [float(_periodic_laplacian_error(K.Grid((n,) * ndim, TWO_PI), order)) for n in ns]
    assert abs(_fitted_order(ns, errs) - order) < 0.2


@eqx.filter_jit
def _grad_div_errors(g, order):
    X, Y = g.meshgrid()
    u = jnp.sin(X) * jnp.cos(2 * Y)
    grad = K.gradient(u, g, K.Periodic(), order=order)
    exact = jnp.stack([jnp.cos(X) * jnp.cos(2 * Y), -2 * jnp.sin(X) * jnp.sin(2 * Y)])
    div = K.divergence(exact, g, K.Periodic(), order=order)
    return jnp.max(jnp.abs(grad - exact)), jnp.max(jnp.abs(div + 5 * u))


@pytest.mark.parametrize("order", [2, 4])
def test_gradient_and_divergence_convergence(order):
    ns = [16, 32, 64]
    eg, ed = zip(*[_grad_div_errors(K.Grid((n, n), TWO_PI), order) for n in ns])
    assert abs(_fitted_order(ns, np.array(eg)) - order) < 0.2
    assert abs(_fitted_order(ns, np.array(ed)) - order) < 0.2


@eqx.filter_jit
def _wall_errors(g, order):
    (x,) = g.coordinates()
    s, c = jnp.sin(2 * np.pi * x), jnp.cos(3 * np.pi * x)
    ls = K.laplacian(s, g, K.Dirichlet(0.0), order=order)
    lc = K.laplacian(c, g, K.Neumann(0.0), order=order)
    es = jnp.abs(ls + (2 * np.pi) ** 2 * s)
    if g.centring == "vertex":  # the wall nodes hold the boundary value, not the PDE
        es = es[1:-1]
    return jnp.max(es), jnp.max(jnp.abs(lc + (3 * np.pi) ** 2 * c))


@pytest.mark.parametrize("order", [2, 4])
@pytest.mark.parametrize("centring", ["cell", "vertex"])
def test_laplacian_dirichlet_sine_and_neumann_cosine(order, centring):
    """Sine modes vanish on the walls and cosine modes have zero normal derivative: the
    reflected ghosts are then exact, so the full interior order holds up to the wall."""
    ns = [16, 32, 64]
    es, ec = zip(*[_wall_errors(K.Grid(n, 1.0, centring=centring), order) for n in ns])
    assert abs(_fitted_order(ns, np.array(es)) - order) < 0.25
    assert abs(_fitted_order(ns, np.array(ec)) - order) < 0.25


def test_inhomogeneous_dirichlet_and_neumann_are_honoured():
    """u = 1 + 2x is harmonic: with u(0) = 1, u(1) = 3 (Dirichlet) or du/dn = -2 at x=0,
    +2 at x=1 (Neumann), the discrete Laplacian of the exact line is zero."""
    g = K.Grid(16, 1.0)
    (x,) = g.coordinates()
    u = 1 + 2 * x
    lap_d = laplacian(u, g, ((K.Dirichlet(1.0), K.Dirichlet(3.0)),), order=4)
    lap_n = laplacian(u, g, ((K.Neumann(-2.0), K.Neumann(2.0)),), order=4)
    np.testing.assert_allclose(lap_d, 0.0, atol=1e-9)
    np.testing.assert_allclose(lap_n, 0.0, atol=1e-9)
    # the boundary value read off the ghosts: mean of ghost and first point
    up = K.pad(u, g, ((K.Dirichlet(1.0), K.Dirichlet(3.0)),), 1)
    np.testing.assert_allclose([(up[0] + up[1]) / 2, (up[-1] + up[-2]) / 2], [1.0, 3.0])
    # and the normal derivative across the wall
    up = K.pad(u, g, ((K.Neumann(-2.0), K.Neumann(2.0)),), 1)
    h = g.spacing[0]
    np.testing.assert_allclose([(up[0] - up[1]) / h, (up[-1] - up[-2]) / h], [-2.0, 2.0])


def _matrix(bcs, n=6, order=2, ndim=1):
    g = K.Grid((n,) * ndim, 1.0)
    f = lambda v: laplacian(v.reshape(g.shape), g, bcs, order=order).ravel()
    return np.asarray(jax.jacfwd(f)(jnp.zeros(g.size)))


# (The order-4 stencil with reflected ghosts is not symmetric next to a wall, so only
# order 2 is claimed symmetric there.)
@pytest.mark.parametrize(
    "bcs, order",
    [(K.Periodic(), 2), (K.Periodic(), 4), (K.Dirichlet(0.0), 2), (K.Neumann(0.0), 2)],
)
def test_laplacian_symmetric_negative_semidefinite(bcs, order):
    A = _matrix(bcs, n=6, order=order, ndim=2)
    np.testing.assert_allclose(A, A.T, atol=1e-9 * np.abs(A).max())
    assert np.linalg.eigvalsh(A).max() <= 1e-9 * np.abs(A).max()


@settings(max_examples=25, deadline=None)
@given(
    a=st.floats(-3, 3),
    b=st.floats(-3, 3),
    seed=st.integers(0, 2**16),
    kind=st.sampled_from(["periodic", "dirichlet", "neumann"]),
)
def test_linearity_property(a, b, seed, kind):
    g = K.Grid((6, 5))
    rng = np.random.default_rng(seed)
    u, v = (jnp.asarray(rng.standard_normal(g.shape)) for _ in range(2))
    for op in (lambda w: laplacian(w, g, kind), lambda w: gradient(w, g, kind, order=4)):
        lhs, rhs = op(a * u + b * v), a * op(u) + b * op(v)
        np.testing.assert_allclose(lhs, rhs, atol=1e-12 * float(jnp.max(jnp.abs(lhs)) + 1))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.integers(-3, 3))
def test_periodic_operators_sum_to_zero_and_commute_with_shifts(seed, shift):
    g = K.Grid((7, 8))
    u = jnp.asarray(np.random.default_rng(seed).standard_normal(g.shape))
    lap = laplacian(u, g, K.Periodic(), order=4)
    assert abs(float(jnp.sum(lap))) < 1e-9 * float(jnp.sum(jnp.abs(lap)) + 1)
    shifted = laplacian(jnp.roll(u, shift, 1), g, K.Periodic(), order=4)
    np.testing.assert_allclose(shifted, jnp.roll(lap, shift, 1), atol=1e-9)


def test_float32_dtype_jit_vmap():
    g = K.Grid((16, 16))
    u = jnp.ones((3, 16, 16), jnp.float32)
    out = jax.jit(jax.vmap(lambda w: laplacian(w, g, K.Neumann(0.5), order=4)))(u)
    assert out.dtype == jnp.float32 and out.shape == (3, 16, 16)
    # channels behave like vmap
    np.testing.assert_allclose(laplacian(u, g, K.Neumann(0.5), order=4), out, rtol=1e-6)


def test_single_fused_loop():
    """The stencil with its ghosts compiles to one loop fusion (no materialised pad)."""
    g = K.Grid((32, 32))
    f = jax.jit(lambda u: u + 0.1 * laplacian(u, g, K.Periodic()))
    hlo = f.lower(jnp.zeros((32, 32), jnp.float32)).compile().as_text()
    entry = hlo[hlo.index("ENTRY") :]
    assert entry.count("fusion(") == 1 and "concatenate" not in entry


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda g, u: laplacian(u, g, K.Periodic(), order=3), "`order` must be 2 or 4"),
        (lambda g, u: K.derivative(u, g, K.Periodic(), axis=2), "`axis` 2 is out of range"),
        (lambda g, u: divergence(u, g, K.Periodic()), r"vector field .* has shape \(2, 8, 8\)"),
        (lambda g, u: laplacian(u[:4], g, K.Periodic()), r"shape \(4, 8\)"),
    ],
)
def test_operator_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(K.Grid((8, 8)), jnp.zeros((8, 8)))


def test_grid_type_error():
    with pytest.raises(TypeError, match="must be a scidiff.kernels.Grid"):
        laplacian(jnp.zeros(8), (8,), K.Periodic())


def test_vmap_and_grad_over_face_shaped_boundary_values():
    g = K.Grid((6, 5))
    u = jnp.zeros(g.shape)

    @jax.jit
    def wall_sum(values):  # values: (6,) along the lower y-wall
        lap = K.laplacian(u, g, (K.Periodic(), (K.Dirichlet(values), K.Neumann())))
        return jnp.sum(lap[:, 0])

    vals = jnp.stack([jnp.arange(6.0), jnp.ones(6)])
    batched = jax.vmap(wall_sum)(vals)
    np.testing.assert_allclose(batched, [wall_sum(vals[0]), wall_sum(vals[1])])
    # only the first column sees the wall: d/dg_i = 2 / h_y^2 for each i
    np.testing.assert_allclose(jax.grad(wall_sum)(vals[0]), 2 / g.spacing[1] ** 2)
