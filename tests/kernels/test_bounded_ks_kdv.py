"""Kuramoto-Sivashinsky and KdV on bounded intervals (finite differences, Dirichlet/Neumann
walls through the ghost cells of `pad`): measured order, walls, dynamics, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff.kernels import (
    Dirichlet,
    Grid,
    KortewegDeVriesFD,
    KuramotoSivashinskyFD,
    Neumann,
    Periodic,
    pad,
)

jax.config.update("jax_enable_x64", True)


def _derivative(f, k):
    for _ in range(k):
        f = jax.grad(f)
    return jax.vmap(f)


# Manufactured solutions on [0, 1] that satisfy the walls each model imposes: Dirichlet g
# means u = g and u_xx = 0 (u - g odd about the wall); Neumann q means du/dn = q and
# u_xxx = 0 (u - q n x even about the wall).
CASES = {
    "dirichlet": (
        lambda x: 1 + x + jnp.sin(jnp.pi * x) + 0.5 * jnp.sin(2 * jnp.pi * x),
        (Dirichlet(1.0), Dirichlet(2.0)),
    ),
    "neumann": (
        lambda x: jnp.cos(jnp.pi * x) + 0.3 * jnp.cos(2 * jnp.pi * x) + 0.2 * x,
        (Neumann(-0.2), Neumann(0.2)),  # outward normal: u_x(0) = 0.2, u_x(1) = 0.2
    ),
    "mixed": (
        lambda x: 0.5 + jnp.sin(jnp.pi * x / 2) + 0.2 * jnp.sin(1.5 * jnp.pi * x),
        (Dirichlet(0.5), Neumann(0.0)),
    ),
}


MODELS = {
    "ks": lambda g, b: KuramotoSivashinskyFD(g, b, viscosity=0.01),
    "ks-gradient": lambda g, b: KuramotoSivashinskyFD(g, b, viscosity=0.01, form="gradient"),
    "kdv": lambda g, b: KortewegDeVriesFD(g, b, viscosity=0.1),
}


def _exact(model, derivs):
    u, ux, uxx, uxxx, uxxxx = derivs
    if isinstance(model, KuramotoSivashinskyFD):
        nonlinear = u * ux if model.form == "conservative" else 0.5 * ux**2
        return -nonlinear - uxx - model.viscosity * uxxxx
    return -model.nonlinearity * u * ux - model.dispersion * uxxx + model.viscosity * uxx


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("centring", ["cell", "vertex"])
def test_rhs_converges_at_second_order(case, centring):
    f, bcs = CASES[case]
    derivatives = jax.jit(lambda x: [_derivative(f, k)(x) for k in range(5)])
    errors = {name: [] for name in MODELS}
    for n in (32, 64, 128):
        g = Grid(n if centring == "cell" else n + 1, 1.0, centring=centring)
        x = g.coordinates()[0]
        derivs = derivatives(x)
        for name, make in MODELS.items():
            model = make(g, bcs)
            exact = _exact(model, derivs)
            if centring == "vertex":  # Dirichlet wall nodes are held: zero tendency
                for side, bc in enumerate(bcs):
                    if isinstance(bc, Dirichlet):
                        exact = exact.at[0 if side == 0 else -1].set(0.0)
            errors[name].append(float(jnp.max(jnp.abs(model(0.0, derivs[0]) - exact))))
    for name, errs in errors.items():
        orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
        assert np.all(orders > 1.85), (name, errs, orders)
        assert errs[-1] < 0.1, (name, errs)


def _ks_solution(n, bcs, t1=30.0, num=7, L=20.0):
    g = Grid(n, L, centring="vertex")
    x = g.coordinates()[0]
    u0 = 0.5 * jnp.sin(jnp.pi * x / L) * jnp.cos(2 * jnp.pi * x / L) + 0.3 * jnp.sin(
        3 * jnp.pi * x / L
    )
    u0 = u0 + bcs[0].value + (bcs[1].value - bcs[0].value) * x / L
    model = KuramotoSivashinskyFD(g, bcs)
    sol = scidiff.solve_ivp(
        model,
        (0.0, t1),
        u0,
        solver=scidiff.Kvaerno5(),
        t_eval=jnp.linspace(0.0, t1, num),
        rtol=1e-6,
        atol=1e-8,
        max_steps=4000,
    )
    return np.asarray(sol.ys)


def test_ks_stiff_bounded_and_grid_converged():
    walls = (Dirichlet(0.0), Dirichlet(0.0))
    coarse = _ks_solution(81, walls)
    fine = _ks_solution(161, walls)
    assert np.all(np.isfinite(fine))
    amplitude = np.abs(fine).max(axis=1)
    assert amplitude[-1] > 1.0  # the instability grew from 0.8 to cellular structure ...
    assert amplitude.max() < 5.0  # ... and saturated (stays bounded)
    # Same solution on a twice finer grid (shared nodes), to ~3% of the amplitude.
    assert np.abs(coarse - fine[:, ::2]).max() < 0.05 * amplitude.max()


def test_boundary_values_are_honoured():
    ys = _ks_solution(41, (Dirichlet(0.3), Dirichlet(-0.2)), t1=10.0, num=3)
    # Wall nodes keep the wall values (up to the rounding of u0 there).
    assert np.allclose(ys[:, 0], 0.3, rtol=0, atol=1e-14)
    assert np.allclose(ys[:, -1], -0.2, rtol=0, atol=1e-14)
    # Cell grid: the ghosts the models read put the wall value / slope where it belongs.
    g = Grid(50, 2.0)
    u = jnp.cos(g.coordinates()[0])
    h = g.spacing[0]
    p = pad(u, g, (Dirichlet(0.7), Neumann(1.5)), 2)
    assert np.isclose((p[1] + p[2]) / 2, 0.7)  # u = g half a cell left of the first point
    assert np.isclose((p[-2] - p[-3]) / h, 1.5)  # du/dn = q at the right wall
    assert np.isclose((p[-1] - p[-4]) / (3 * h), 1.5)  # second ghost: u - qx even


def test_kdv_soliton_speed_before_the_walls():
    c, x0, t1 = 1.0, 20.0, 10.0
    g = Grid(601, 60.0, centring="vertex")
    x = g.coordinates()[0]
    model = KortewegDeVriesFD(g, Dirichlet(0.0))
    u0 = 0.5 * c / jnp.cosh(0.5 * jnp.sqrt(c) * (x - x0)) ** 2
    u = np.asarray(model.rollout(u0, dt=1e-3, num_steps=10_000, save_every=10_000)[-1])
    i = int(u.argmax())
    ym, y0, yp = u[i - 1 : i + 2]
    peak = float(x[i]) + 0.5 * (ym - yp) / (ym - 2 * y0 + yp) * g.spacing[0]
    assert abs((peak - x0) / t1 - c) < 0.01  # speed c (measured 0.9995)
    assert abs(u.max() - 0.5 * c) < 0.01  # shape kept
    assert np.abs(u[:100]).max() < 1e-3 and np.abs(u[-100:]).max() < 1e-3  # walls untouched


@pytest.mark.parametrize("cls", [KuramotoSivashinskyFD, KortewegDeVriesFD])
def test_unsupported_boundaries_and_grids_raise(cls):
    g = Grid(32, 1.0)
    with pytest.raises(ValueError, match="periodic boundaries use the pseudo-spectral"):
        cls(g, Periodic())
    with pytest.raises(ValueError, match="periodic"):
        cls(g, "periodic")
    with pytest.raises(ValueError, match="Unknown boundary condition"):
        cls(g, "robin")
    with pytest.raises(ValueError, match="one-dimensional"):
        cls(Grid((8, 8)), Dirichlet(0.0))
    with pytest.raises(TypeError, match="Grid"):
        cls(32, Dirichlet(0.0))
    with pytest.raises(ValueError, match="shape"):
        cls(g, Dirichlet(0.0))(0.0, jnp.zeros(31))


def test_ks_unknown_form_and_differentiable_parameters():
    g = Grid(33, 1.0, centring="vertex")
    with pytest.raises(ValueError, match="form"):
        KuramotoSivashinskyFD(g, Dirichlet(0.0), form="flame")
    x = g.coordinates()[0]
    u = jnp.sin(jnp.pi * x)

    def loss(nu):
        return jnp.sum(KuramotoSivashinskyFD(g, Dirichlet(0.0), viscosity=nu)(0.0, u))

    # d/dnu of -nu u_xxxx summed: -sum(u_xxxx) ~ -pi^4 sum(sin) on interior nodes.
    grad = jax.grad(loss)(1.0)
    expected = -(jnp.pi**4) * jnp.sum(u[1:-1])
    assert abs(grad - expected) < 0.01 * abs(expected)
