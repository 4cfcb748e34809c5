"""Looped stages (``scan_stages``) take the same steps as unrolled ones, and the packed
row storage of the checkpointed adjoint round-trips any carry."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff
from scidiff._ode._rows import RowLayout
from scidiff._ode._solvers._runge_kutta import AbstractExplicitRK

# Every explicit Runge--Kutta solver scidiff exports (a new one is covered automatically).
RK = sorted(
    (
        c
        for c in vars(scidiff).values()
        if isinstance(c, type) and issubclass(c, AbstractExplicitRK) and not inspect.isabstract(c)
    ),
    key=lambda c: c.__name__,
)


def _step(solver, dtype, P):
    y0 = P.decay_y0(dtype)
    f0 = solver.init(P.decay, 0.3, 0.5, y0, None)
    return jax.jit(lambda: solver.step(P.decay, 0.3, 0.5, y0, None, f0))()


@pytest.mark.parametrize("cls", RK, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["f32", "f64"])
def test_looped_step_matches_unrolled(cls, dtype, problems):
    unrolled = _step(cls(scan_stages=False), dtype, problems)
    looped = _step(cls(scan_stages=True), dtype, problems)
    assert jax.tree_util.tree_structure(looped) == jax.tree_util.tree_structure(unrolled)
    # Same formula, possibly another rounding order: Dopri8's coefficients reach ~1e3,
    # so cancelling combinations (error estimate, dense coefficients) carry ~1e3 eps.
    # Vern6 combines k7 and k8 (c7 = 0.9995, c8 = 1) with weights of ~2e2 in stages 7..9
    # and ~4e3 in its interpolant's stage 12, whose rounding differences then reach
    # (4e3 x 2e2) h eps ~ 1e5 eps.
    eps = float(jnp.finfo(dtype).eps)
    atol = {"Vern6": 2e5}.get(cls.__name__, 1e3) * eps
    for a, b in zip(jax.tree_util.tree_leaves(looped), jax.tree_util.tree_leaves(unrolled)):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=8 * eps, atol=atol)
    # the step did something: from u(0.3) = 1 the exact u(0.5) is 1/(1 + 0.2) (Euler: 0.8)
    assert abs(float(looped.y1["u"]) - 1 / 1.2) < 4e-2


def _loss(solver, adjoint):
    def loss(k):
        sol = scidiff.solve_ivp(
            lambda t, y, k: {"u": -k * y["u"] ** 2, "v": -k * y["u"] * y["v"]},
            (0.0, 2.0),
            {"u": jnp.asarray(1.0), "v": jnp.asarray(1.0)},
            args=k,
            solver=solver,
            adjoint=adjoint,
            t_eval=jnp.linspace(0.0, 2.0, 7),
            rtol=1e-9,
            atol=1e-9,
        )
        return jnp.sum(sol.ys["u"] ** 2 + sol.ys["v"])

    return loss


def test_reverse_pass_with_looped_stages_matches_forward_mode():
    # Default (None): unrolled forward, looped reverse pass; False: unrolled both; True: looped both.
    k = jnp.asarray(1.3)
    ref = jax.jacfwd(_loss(scidiff.Tsit5(), scidiff.ForwardMode()))(k)
    for scan in (None, False, True):
        g = jax.grad(_loss(scidiff.Tsit5(scan_stages=scan), scidiff.RecursiveCheckpoint(5)))(k)
        np.testing.assert_allclose(float(g), float(ref), rtol=1e-9)
    # and against finite differences of the solution itself
    f = _loss(scidiff.Tsit5(), scidiff.ForwardMode())
    fd = (f(k + 1e-5) - f(k - 1e-5)) / 2e-5
    np.testing.assert_allclose(float(ref), float(fd), rtol=1e-6)


def test_for_reverse_pass():
    assert scidiff.Tsit5().for_reverse_pass().scan_stages is True
    assert scidiff.Tsit5(scan_stages=False).for_reverse_pass().scan_stages is False
    stiff = scidiff.Kvaerno5()
    assert stiff.for_reverse_pass() is stiff


def test_scan_stages_must_be_bool_or_none():
    with pytest.raises(TypeError, match="`scan_stages` must be None, True or False"):
        scidiff.Dopri5(scan_stages="yes")


def test_row_layout_round_trip_mixed_dtypes_under_vmap():
    template = {
        "t": jnp.zeros(()),
        "y": jnp.zeros((2, 3), jnp.float32),
        "n": jnp.zeros((), jnp.int32),
        "done": jnp.zeros((), bool),
        "w": jnp.zeros((4,)),
    }
    layout = RowLayout(template)
    assert len(layout.group_dtypes) == 4  # t and w share the float64 row
    assert layout.widths[layout.group_dtypes.index(jnp.dtype("float64"))] == 5

    def one(seed):
        tree = {
            "t": seed * 1.5,
            "y": (jnp.arange(6.0).reshape(2, 3) + seed).astype(jnp.float32),
            "n": (seed * 3).astype(jnp.int32),
            "done": seed > 1,
            "w": jnp.arange(4.0) * seed,
        }
        rows = layout.write(layout.empty(3), 1, tree)
        return tree, layout.read(rows, 1), layout.read(rows, 0)

    tree, back, untouched = jax.vmap(one)(jnp.arange(3.0))
    for key in template:
        assert back[key].dtype == template[key].dtype
        np.testing.assert_array_equal(np.asarray(back[key]), np.asarray(tree[key]))
        assert not np.any(np.asarray(untouched[key]))
    with pytest.raises(TypeError, match="layout expects float32"):
        layout.write(layout.empty(1), 0, {**template, "y": jnp.zeros((2, 3))})


@pytest.mark.parametrize("cls", RK, ids=lambda c: c.__name__)
def test_dense_info_placeholder_has_the_layout_of_the_step(cls):
    # The loop's placeholder before the first step must match what step() returns.
    solver = cls()
    y0 = {"u": jnp.ones((2, 3), jnp.float32), "v": jnp.ones((), jnp.float64)}

    def f(t, y, args):
        return jax.tree_util.tree_map(lambda v: -v, y)

    state = solver.init(f, 0.0, 1.0, y0, None)
    want = jax.eval_shape(lambda: solver.step(f, 0.0, 0.5, y0, None, state).dense_info)
    got = solver.dense_info_placeholder(f, 0.0, y0, None, state)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert (g.shape, g.dtype) == (w.shape, w.dtype)
        assert np.all(np.isfinite(np.asarray(g)))
