"""Grids and boundary conditions: coordinates, ghost values, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff.kernels as K


def test_cell_and_vertex_coordinates():
    g = K.Grid((4, 5), extent=(2.0, 1.0), lower=(-1.0, 0.0))
    assert g.ndim == 2 and g.size == 20 and g.spacing == (0.5, 0.2)
    np.testing.assert_allclose(g.axis_coordinates(0), [-0.75, -0.25, 0.25, 0.75])
    X, Y = g.meshgrid()
    assert X.shape == Y.shape == (4, 5)
    v = K.Grid(5, 1.0, centring="vertex")
    assert v.spacing == (0.25,)
    np.testing.assert_allclose(v.axis_coordinates(0), np.linspace(0, 1, 5))


@pytest.mark.parametrize("centring", ["cell", "vertex"])
def test_integrate_is_exact_for_linear_functions(centring):
    g = K.Grid((8, 6), extent=(2.0, 3.0), centring=centring)
    X, Y = g.meshgrid()
    np.testing.assert_allclose(g.integrate(1 + X + 2 * Y), 6 + 6 + 18, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(shape=()), "1, 2 or 3 axes"),
        (dict(shape=(2, 2, 2, 2)), "1, 2 or 3 axes"),
        (dict(shape=(0,)), "at least 1 point"),
        (dict(shape=(1,), centring="vertex"), "at least 2 point"),
        (dict(shape=(4,), centring="node"), "Unknown centring"),
        (dict(shape=(4,), extent=-1.0), "extent.*positive"),
        (dict(shape=(4, 4), extent=(1.0, 2.0, 3.0)), "3 entries but the grid has 2"),
    ],
)
def test_grid_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        K.Grid(**kwargs)


def test_ghosts_cell_centred():
    g = K.Grid(4)  # h = 0.25
    u = jnp.arange(1.0, 5.0)
    np.testing.assert_allclose(K.pad(u, g, K.Periodic(), 2), [3, 4, 1, 2, 3, 4, 1, 2])
    # Dirichlet: mean of ghost and its mirror is the wall value.
    np.testing.assert_allclose(K.pad(u, g, K.Dirichlet(10.0), 2), [18, 19, 1, 2, 3, 4, 16, 17])
    # Neumann(q): (ghost - mirror) / distance = q (outward derivative).
    np.testing.assert_allclose(
        K.pad(u, g, K.Neumann(2.0), 2), [2 + 1.5, 1 + 0.5, 1, 2, 3, 4, 4 + 0.5, 3 + 1.5]
    )


def test_ghosts_vertex_centred_and_per_side():
    g = K.Grid(4, 3.0, centring="vertex")  # h = 1, nodes 0..3, walls on nodes 0 and 3
    u = jnp.array([5.0, 1.0, 2.0, 7.0])
    got = K.pad(u, g, ((K.Dirichlet(5.0), K.Neumann(1.0)),), 2)
    np.testing.assert_allclose(got, [10 - 2, 10 - 1, 5, 1, 2, 7, 2 + 2, 1 + 4])


def test_face_shaped_values_and_corners():
    g = K.Grid((3, 4))
    u = jnp.zeros((3, 4))
    vals = jnp.array([1.0, 2.0, 3.0])
    up = K.pad(u, g, (K.Periodic(), (K.Dirichlet(vals), K.Neumann())), 1)
    np.testing.assert_allclose(up[1:-1, 0], 2 * vals)
    # corners follow the periodic axis: the ghost row is a copy of the opposite row
    np.testing.assert_allclose(up[0], up[-2])
    np.testing.assert_allclose(up[-1], up[1])
    # channels (leading axes) are padded alike
    up2 = K.pad(jnp.zeros((2, 3, 4)), g, (K.Periodic(), (K.Dirichlet(vals), K.Neumann())), 1)
    np.testing.assert_allclose(up2[1], up)


def test_pad_axis_one_sided_width():
    g = K.Grid((4, 3))
    assert K.pad_axis(jnp.ones((4, 3)), g, K.Periodic(), axis=-1, width=(2, 1)).shape == (4, 6)


def test_dtype_follows_field_and_value_is_differentiable():
    g = K.Grid(8)
    u = jnp.ones(8, jnp.float32)
    assert K.pad(u, g, K.Dirichlet(jnp.float64(2.0)), 2).dtype == jnp.float32

    def f(value):
        return jnp.sum(K.laplacian(jnp.zeros(8), g, K.Dirichlet(value)))

    # Only the two end points see the wall: lap = (2g - 0)/h^2 at each -> d/dg = 4/h^2.
    np.testing.assert_allclose(jax.grad(f)(1.0), 4 * 64.0)


@pytest.mark.parametrize(
    "bcs, err, match",
    [
        ("robin", ValueError, "Unknown boundary condition 'robin'"),
        (3.0, TypeError, "Unknown boundary condition 3.0"),
        ((K.Periodic(), object()), TypeError, "Unknown boundary condition"),
        ((K.Periodic(),), ValueError, "conditions for 1 axes but the grid has 2"),
        (((K.Periodic(), K.Neumann()), K.Periodic()), ValueError, "both sides"),
        (((K.Neumann(), K.Neumann(), K.Neumann()), K.Periodic()), ValueError, "pair"),
    ],
)
def test_bad_boundary_conditions(bcs, err, match):
    with pytest.raises(err, match=match):
        K.pad(jnp.zeros((4, 4)), K.Grid((4, 4)), bcs, 1)


def test_unknown_bc_subclass():
    class Robin(K.AbstractBC):
        pass

    with pytest.raises(TypeError, match="Unknown boundary condition Robin"):
        K.laplacian(jnp.zeros(4), K.Grid(4), Robin())


def test_periodic_needs_cell_grid():
    with pytest.raises(ValueError, match="cell-centred"):
        K.pad(jnp.zeros(4), K.Grid(4, centring="vertex"), K.Periodic(), 1)


def test_shape_mismatch_and_width_errors():
    with pytest.raises(ValueError, match=r"shape \(5,\), but the grid has shape \(4,\)"):
        K.pad(jnp.zeros(5), K.Grid(4), K.Periodic(), 1)
    with pytest.raises(ValueError, match="Ghost width 3 needs more than the 2 points"):
        K.pad(jnp.zeros(2), K.Grid(2), K.Neumann(), 3)
    with pytest.raises(ValueError, match="does not broadcast to the boundary face"):
        K.pad(jnp.zeros((3, 4)), K.Grid((3, 4)), K.Dirichlet(jnp.ones(5)), 1)


def test_1d_bare_pair_is_lower_upper():
    g = K.Grid(4)
    u = jnp.arange(1.0, 5.0)
    a = K.pad(u, g, (K.Dirichlet(1.0), K.Neumann(0.0)), 1)
    b = K.pad(u, g, ((K.Dirichlet(1.0), K.Neumann(0.0)),), 1)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose([a[0], a[-1]], [1.0, 4.0])


def test_pad_axis_and_width_errors():
    g = K.Grid((4, 3))
    with pytest.raises(ValueError, match="`axis` 2 is out of range for a 2D grid"):
        K.pad_axis(jnp.ones((4, 3)), g, K.Periodic(), axis=2, width=1)
    with pytest.raises(ValueError, match="Ghost widths must be non-negative"):
        K.pad(jnp.ones((4, 3)), g, K.Periodic(), -1)
