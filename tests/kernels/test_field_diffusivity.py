"""Spatially varying diffusivity div(D grad u) in Heat and AdvectionDiffusion (issue 18):
measured second-order convergence against manufactured solutions, conservation, the
gradient with respect to the field against finite differences, and clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff.kernels as K

TWO_PI = 2 * np.pi


def _order(errors, sizes):
    return -np.polyfit(np.log(sizes), np.log(errors), 1)[0]


def _periodic_case(x):
    """u = cos(2 pi x), D = 1 + 0.5 sin(2 pi x): (D u')' by hand."""
    u = jnp.cos(TWO_PI * x)
    d = 1.0 + 0.5 * jnp.sin(TWO_PI * x)
    du = -TWO_PI * jnp.sin(TWO_PI * x)
    dd = 0.5 * TWO_PI * jnp.cos(TWO_PI * x)
    ddu = -(TWO_PI**2) * jnp.cos(TWO_PI * x)
    return u, d, dd * du + d * ddu


def _neumann_case(x):
    """u = cos(pi x) (u' = 0 at both walls), D = 1 + x^2 on [0, 1]."""
    u = jnp.cos(np.pi * x)
    d = 1.0 + x**2
    return u, d, 2 * x * (-np.pi * jnp.sin(np.pi * x)) + d * (-(np.pi**2) * jnp.cos(np.pi * x))


def _dirichlet_case(x):
    """u = sin(pi x) (u = 0 at both walls), D = 2 + cos(x) on [0, 1]."""
    u = jnp.sin(np.pi * x)
    d = 2.0 + jnp.cos(x)
    du, ddu = np.pi * jnp.cos(np.pi * x), -(np.pi**2) * jnp.sin(np.pi * x)
    return u, d, -jnp.sin(x) * du + d * ddu


@pytest.mark.parametrize(
    ("case", "bcs"),
    [(_periodic_case, K.Periodic()), (_neumann_case, K.Neumann(0.0))],
)
def test_operator_converges_at_second_order(case, bcs):
    sizes = [16, 32, 64, 128]
    errors = []
    for n in sizes:
        g = K.Grid(n)
        (x,) = g.coordinates()
        u, d, exact = case(x)
        errors.append(float(jnp.max(jnp.abs(K.diffusion(u, d, g, bcs) - exact))))
    assert 1.9 < _order(errors, sizes) < 2.2, errors


def test_dirichlet_steady_state_converges_at_second_order():
    """Solve -(D u')' = f with u = 0 at the walls (a manufactured steady state): the
    discrete solution's error shrinks at order 2 (the reflected ghost is exact to the
    order of the scheme in the solution, though not in the boundary cell's residual)."""
    sizes = [16, 32, 64, 128]
    errors = []
    for n in sizes:
        g = K.Grid(n)
        (x,) = g.coordinates()
        u_exact, d, lu = _dirichlet_case(x)
        A = jax.jacfwd(lambda v: K.diffusion(v, d, g, K.Dirichlet(0.0)))(jnp.zeros(n))
        u = jnp.linalg.solve(A, lu)
        errors.append(float(jnp.max(jnp.abs(u - u_exact))))
    assert 1.9 < _order(errors, sizes) < 2.2, errors


def test_two_dimensional_field_matches_the_manufactured_solution():
    sizes = [16, 32, 64]
    errors = []
    for n in sizes:
        g = K.Grid((n, n))
        X, Y = g.meshgrid()
        u = jnp.cos(TWO_PI * X) * jnp.cos(TWO_PI * Y)
        d = 1.0 + 0.5 * jnp.sin(TWO_PI * X) * jnp.cos(TWO_PI * Y)
        # (D u_x)_x + (D u_y)_y by hand, D_x u_x + D_y u_y + D lap u:
        d_x = 0.5 * TWO_PI * jnp.cos(TWO_PI * X) * jnp.cos(TWO_PI * Y)
        d_y = -0.5 * TWO_PI * jnp.sin(TWO_PI * X) * jnp.sin(TWO_PI * Y)
        u_x = -TWO_PI * jnp.sin(TWO_PI * X) * jnp.cos(TWO_PI * Y)
        u_y = -TWO_PI * jnp.cos(TWO_PI * X) * jnp.sin(TWO_PI * Y)
        exact = d_x * u_x + d_y * u_y + d * (-2 * TWO_PI**2 * u)
        errors.append(float(jnp.max(jnp.abs(K.diffusion(u, d, g, K.Periodic()) - exact))))
    assert 1.9 < _order(errors, sizes) < 2.2, errors


def test_constant_field_equals_the_scalar_laplacian():
    g = K.Grid((12, 10), (1.0, 2.0))
    u = jax.random.normal(jax.random.PRNGKey(0), g.shape)
    bcs = ((K.Dirichlet(0.3), K.Neumann(0.2)), K.Periodic())
    field = K.diffusion(u, jnp.full(g.shape, 0.7), g, bcs)
    assert jnp.allclose(field, 0.7 * K.laplacian(u, g, bcs), rtol=1e-12, atol=1e-9)


def test_heat_with_field_conserves_mass_and_matches_the_operator():
    g = K.Grid(32)
    (x,) = g.coordinates()
    d = 0.05 * (1.0 + 0.8 * jnp.sin(TWO_PI * x))
    model = K.Heat(g, diffusivity=d, bcs=K.Neumann(0.0))
    u0 = jnp.exp(-40 * (x - 0.3) ** 2)
    assert jnp.allclose(model(0.0, u0), K.diffusion(u0, d, g, K.Neumann(0.0)))
    u1 = model.rollout(u0, dt=1e-3, num_steps=200, save_every=200)[-1]
    assert jnp.isclose(g.integrate(u1), g.integrate(u0), rtol=1e-12)  # insulated walls
    assert float(jnp.max(u1)) < float(jnp.max(u0))  # it diffused
    # The CFL limit uses the largest diffusivity of the field.
    assert jnp.isclose(model.max_stable_dt(u0), K.stable_dt(g, diffusivity=jnp.max(d)))


def test_advection_diffusion_with_field_diffusivity():
    g = K.Grid(32)
    (x,) = g.coordinates()
    d = 0.01 * (1.0 + 0.5 * jnp.cos(TWO_PI * x))
    u0 = jnp.sin(TWO_PI * x)
    model = K.AdvectionDiffusion(g, velocity=1.0, diffusivity=d)
    expected = K.advection(u0, 1.0, g, K.Periodic()) + K.diffusion(u0, d, g, K.Periodic())
    assert jnp.allclose(model(0.0, u0), expected, rtol=1e-12, atol=1e-12)


def test_gradient_wrt_the_diffusivity_field_matches_finite_differences():
    g = K.Grid(16)
    (x,) = g.coordinates()
    u0 = jnp.sin(TWO_PI * x) + 0.3 * jnp.cos(4 * np.pi * x)
    target = 0.5 * u0

    def loss(d):
        traj = K.Heat(g, d, K.Dirichlet(0.0)).rollout(u0, 1e-3, 20, save_every=20)
        return jnp.sum((traj[-1] - target) ** 2)

    d0 = 0.1 * (1.0 + 0.5 * jnp.sin(TWO_PI * x))
    grad = jax.grad(loss)(d0)
    direction = jax.random.normal(jax.random.PRNGKey(1), d0.shape)
    eps = 1e-6
    fd = (loss(d0 + eps * direction) - loss(d0 - eps * direction)) / (2 * eps)
    assert jnp.isclose(jnp.vdot(grad, direction), fd, rtol=1e-6)
    for i in (0, 7, 15):  # single components, walls included
        e = jnp.zeros_like(d0).at[i].set(eps)
        fd_i = (loss(d0 + e) - loss(d0 - e)) / (2 * eps)
        assert jnp.isclose(grad[i], fd_i, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda g: K.Heat(g, jnp.ones(5)),
            ValueError,
            r"Heat: `diffusivity` must be a scalar or of shape \(8,\); got shape \(5,\)",
        ),
        (
            lambda g: K.Heat(g, jnp.ones(8), order=4),
            ValueError,
            r"Heat: a diffusivity field uses the order-2 flux form",
        ),
        (
            lambda g: K.Heat(g, jnp.ones(8).at[3].set(-1.0)),
            ValueError,
            r"Heat: `diffusivity` must be >= 0 \(every value\)",
        ),
        (
            lambda g: K.Heat(g, jnp.ones(8).at[3].set(jnp.nan)),
            ValueError,
            r"Heat: `diffusivity` must be finite",
        ),
        (
            lambda g: K.Heat(g, float("nan")),
            ValueError,
            r"Heat: `diffusivity` must be finite; got nan",
        ),
        (
            lambda g: K.Heat(g, -0.1),
            ValueError,
            r"Heat: `diffusivity` must be >= 0 \(a value\); got -0.1",
        ),
        (
            lambda g: K.AdvectionDiffusion(g, 1.0, jnp.ones(8), order=4),
            ValueError,
            r"AdvectionDiffusion: a diffusivity field",
        ),
        (
            lambda g: K.AdvectionDiffusion(g, 1.0, -1.0),
            ValueError,
            r"AdvectionDiffusion: `diffusivity` must be >= 0",
        ),
        (lambda g: K.Burgers(g, float("nan")), ValueError, r"Burgers: `viscosity` must be finite"),
        (
            lambda g: K.GrayScott(g, diffusivity_u=-1.0),
            ValueError,
            r"GrayScott: `diffusivity_u` must be >= 0",
        ),
        (lambda g: K.Wave(g, float("inf")), ValueError, r"Wave: `wave_speed` must be finite"),
        (lambda g: K.Heat(g, 1j), TypeError, r"Heat: `diffusivity` must be real"),
        (
            lambda g: K.diffusion(jnp.ones(8), jnp.ones(8), g, K.Periodic(), order=4),
            ValueError,
            r"flux form at order 2 only",
        ),
        (
            lambda g: K.diffusion(jnp.ones(8), jnp.ones(3), g, K.Periodic()),
            ValueError,
            r"`diffusivity` must be a scalar or a field of the grid's shape \(8,\)",
        ),
    ],
)
def test_bad_coefficients_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make(K.Grid(8))


def test_traced_coefficients_pass_the_value_checks():
    g = K.Grid(8)
    u0 = jnp.sin(TWO_PI * g.coordinates()[0])
    out = jax.jit(lambda d: K.Heat(g, d)(0.0, u0))(jnp.full(8, 0.1))
    assert out.shape == (8,)
    out = jax.vmap(lambda k: K.Heat(g, k)(0.0, u0))(jnp.array([0.1, 0.2]))
    assert out.shape == (2, 8)
