"""Complex states in every implicit solver (ImplicitEuler, Kvaerno3/5, Rodas5, BDF).

Mirrors scipy's ``test_ivp.py::test_integration_complex`` (``y' = lambda y`` with complex
``lambda`` through every method, checked against ``exp(lambda t)``) and diffrax's
complex-state tests (a complex linear ODE through the implicit solvers). On top: a
non-holomorphic right-hand side (``jnp.conj``, ``jnp.abs``), which the solvers must get
right because they work on the real ``2n`` form of a complex state; measured orders;
Newton--Krylov; a mixed real/complex pytree; gradients; jit and vmap.

The test problem (analytic): with ``g(t) = exp(i w t)`` and ``e = y - g``,

    y' = a (y - g) + b conj(y - g) + g'   =>   e' = a e + b conj(e),

so ``e(t) = E(t) e(0)`` with ``E(t) = expm(t A)`` on ``(Re e, Im e)`` and the real
``2 x 2`` matrix ``A`` of ``e -> a e + b conj(e)``. ``b = 0`` is the holomorphic
``y' = a (y - g) + g'`` (``e = e0 exp(a t)``); ``b != 0`` is not holomorphic.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import scidiff

W = 3.0
Y0 = jnp.array([0.5 + 1.0j, -0.2 + 0.3j])


def field(t, y, p):
    a, b = p
    g = jnp.exp(1j * W * t)
    e = y - g
    return a * e + b * jnp.conj(e) + 1j * W * g


def exact(t, a, b, y0=Y0):
    """``y(t)`` at the times ``t`` (NumPy reference: scipy's expm of the real form)."""
    A = np.array([[a.real + b.real, b.imag - a.imag], [a.imag + b.imag, a.real - b.real]])
    e0 = np.asarray(y0) - 1.0
    out = []
    for s in np.atleast_1d(t):
        E = scipy.linalg.expm(s * A)
        e = E @ np.stack([e0.real, e0.imag])
        out.append(np.exp(1j * W * s) + e[0] + 1j * e[1])
    return np.array(out)


def params(a, b):
    return (jnp.asarray(a, jnp.complex128), jnp.asarray(b, jnp.complex128))


NK = scidiff.NewtonKrylov(rtol=1e-10)
SOLVERS = {
    "ImplicitEuler": scidiff.ImplicitEuler(),
    "Kvaerno3": scidiff.Kvaerno3(),
    "Kvaerno5": scidiff.Kvaerno5(),
    "Rodas5": scidiff.Rodas5(),
    "BDF": scidiff.BDF(),
    "Kvaerno5-NewtonKrylov": scidiff.Kvaerno5(linear_solver=NK),
    "BDF-NewtonKrylov": scidiff.BDF(linear_solver=NK),
}
# Compile time dominates: each solver is compiled once per test function (the problem
# parameters and tolerances are traced), and only the dense-LU solvers plus one Krylov
# ESDIRK run the full analytic sweep.
LINEAR = [k for k in SOLVERS if k != "BDF-NewtonKrylov"]
# First order needs a looser tolerance to finish in a reasonable number of steps, and its
# global error is ~ sqrt(local tolerance) (steps ~ sqrt(2 rtol / |y''|), each one rtol).
RTOL = {"ImplicitEuler": 1e-4}


def error_bound(name, rtol):
    return 10 * np.sqrt(rtol) if name == "ImplicitEuler" else 200 * rtol
T_EVAL = jnp.array([0.25, 0.5, 1.0])
# (a, b): mildly stiff holomorphic, stiff holomorphic, stiff and non-holomorphic (conj).
CASES = [(-1 + 10j, 0j), (-1000 + 50j, 0j), (-200 + 30j, 80 + 20j)]


@pytest.mark.parametrize("name", LINEAR)
def test_complex_linear_against_analytic(name):
    solver = SOLVERS[name]
    rtol = RTOL.get(name, 1e-7)
    for a, b in CASES:
        sol = scidiff.solve_ivp(
            field, (0.0, 1.0), Y0, args=params(a, b), solver=solver, t_eval=T_EVAL,
            rtol=rtol, atol=1e-3 * rtol, max_steps=20_000,
        )  # fmt: skip
        assert sol.ys.dtype == jnp.complex128
        err = np.abs(np.asarray(sol.ys) - exact(T_EVAL, a, b)).max()
        assert err < error_bound(name, rtol), (name, a, b, err)


def _fixed_errors(solver, ns, a, b):
    errs = []
    for n in ns:
        sol = scidiff.solve_ivp(
            field, (0.0, 1.0), Y0, args=params(a, b), solver=solver, dt0=1.0 / n,
            controller=scidiff.ConstantStepSize(),
        )  # fmt: skip
        errs.append(np.abs(np.asarray(sol.ys[-1]) - exact(1.0, a, b)[0]).max())
    return np.array(errs)


@pytest.mark.parametrize(
    "name, order, ns",
    [
        ("ImplicitEuler", 1, (20, 40, 80)),
        ("Kvaerno3", 3, (10, 20, 40)),
        ("Kvaerno5", 5, (10, 20, 40)),
        ("Rodas5", 5, (10, 20, 40)),
    ],
)
def test_measured_order_complex_non_holomorphic(name, order, ns):
    # b != 0: a Rosenbrock method with a complex (holomorphic) Jacobian would lose its
    # order here; the real 2n Jacobian keeps it.
    errs = _fixed_errors(SOLVERS[name], ns, -2 + 3j, 0.5 - 0.5j)
    assert np.all(errs > 1e-13), errs
    slope = np.polyfit(np.log(1.0 / np.asarray(ns)), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.3, (name, slope, errs)


def test_bdf_error_decreases_with_rtol():
    a, b = -50 + 10j, 10 + 5j
    errs = []
    for rtol in (1e-4, 1e-6, 1e-8):
        # The same call as test_complex_linear_against_analytic[BDF]: no new compile.
        sol = scidiff.solve_ivp(
            field, (0.0, 1.0), Y0, args=params(a, b), solver=SOLVERS["BDF"], t_eval=T_EVAL,
            rtol=rtol, atol=1e-3 * rtol, max_steps=20_000,
        )  # fmt: skip
        errs.append(np.abs(np.asarray(sol.ys[-1]) - exact(1.0, a, b)[0]).max())
        assert errs[-1] < 100 * rtol, (rtol, errs)
    assert errs[0] > 10 * errs[1] > 100 * errs[2], errs


def mixed_field(t, y, args):
    # A real leaf driven by a complex one, and a non-holomorphic (|c|^2) complex field.
    c = y["c"]
    mod2 = jnp.abs(c) ** 2
    return {"r": -y["r"] + mod2, "c": (-1 + 1j * mod2) * c}


def mixed_exact(t, r0, c0):
    # |c| = |c0| e^{-t}; arg c = arg c0 + |c0|^2 (1 - e^{-2t}) / 2;
    # r' + r = |c0|^2 e^{-2t}  =>  r = (r0 + |c0|^2) e^{-t} - |c0|^2 e^{-2t}.
    m = np.abs(c0) ** 2
    c = c0 * np.exp(-t) * np.exp(1j * m * (1 - np.exp(-2 * t)) / 2)
    return (r0 + m) * np.exp(-t) - m * np.exp(-2 * t), c


@pytest.mark.parametrize("name", ["Kvaerno5", "BDF-NewtonKrylov"])
def test_mixed_real_complex_pytree_non_holomorphic(name):
    y0 = {"r": jnp.array([1.0, 2.0]), "c": jnp.array([1.0 + 0.5j, 0.3 - 1.2j])}
    sol = scidiff.solve_ivp(
        mixed_field, (0.0, 2.0), y0, solver=SOLVERS[name], rtol=1e-8, atol=1e-11, dense=True
    )
    assert sol.ys["r"].dtype == jnp.float64 and sol.ys["c"].dtype == jnp.complex128
    mid = sol.evaluate(0.7)  # dense output (BDF: its difference array, unraveled)
    for t, r, c in [(2.0, sol.ys["r"][-1], sol.ys["c"][-1]), (0.7, mid["r"], mid["c"])]:
        r_ref, c_ref = mixed_exact(t, np.asarray(y0["r"]), np.asarray(y0["c"]))
        assert np.abs(np.asarray(r) - r_ref).max() < 1e-5, (name, t)
        assert np.abs(np.asarray(c) - c_ref).max() < 1e-5, (name, t)


@pytest.mark.parametrize("name", ["Kvaerno3"])  # the Newton / implicit-function path
def test_gradient_of_real_loss_matches_finite_differences(name):
    solver = SOLVERS[name]

    def loss(k):  # real parameter, real loss |y(1)|^2 of a non-holomorphic complex ODE
        sol = scidiff.solve_ivp(
            field, (0.0, 1.0), Y0, args=(-k + 10j, jnp.asarray(0.3 + 0.1j)), solver=solver,
            rtol=1e-10, atol=1e-12, adjoint=scidiff.RecursiveCheckpoint(),
        )  # fmt: skip
        return jnp.sum(jnp.abs(sol.ys[-1]) ** 2)

    k = jnp.asarray(2.0)
    g = float(jax.grad(loss)(k))
    eps = 1e-5
    fd = float((loss(k + eps) - loss(k - eps)) / (2 * eps))
    assert np.isfinite(g) and abs(g) > 1e-3
    assert abs(g - fd) < 1e-6 * max(1.0, abs(fd)), (g, fd)


def test_jit_and_vmap_over_complex_y0():
    a, b = -100 + 20j, 0j
    batch = jnp.array([[1.0 + 1j, 0.5 - 2j], [0.0 + 0j, 3.0 + 0.1j], [-1 + 0j, 1j]])

    @jax.jit
    def final(y0):
        sol = scidiff.solve_ivp(
            field, (0.0, 1.0), y0, args=params(a, b), solver=scidiff.Kvaerno5(), rtol=1e-8,
            atol=1e-11,
        )  # fmt: skip
        return sol.ys[-1], sol.ok

    ys, ok = jax.vmap(final)(batch)
    assert np.all(np.asarray(ok))
    for y, y0 in zip(np.asarray(ys), np.asarray(batch)):
        np.testing.assert_allclose(y, exact(1.0, a, b, y0)[0], atol=1e-6)


def test_complex_output_for_real_state_is_refused():
    with pytest.raises(ValueError, match="leaf 0 is complex128.*make f's output match"):
        scidiff.solve_ivp(
            lambda t, y, args: (-1 + 1j) * y, (0.0, 1.0), jnp.ones(2), solver=scidiff.Kvaerno3()
        )


def test_flat_layout_norm_and_refusal():
    # The flat real vector's weighted RMS equals the pytree's (|.| of complex entries,
    # each counted once), as the step-size controller computes it.
    from scidiff._linear._operator import rms_norm
    from scidiff._ode._solvers._flat_state import FlatLayout, flat_weights

    y = {"a": jnp.array([1.0, -2.0]), "b": jnp.array([[3.0 + 4.0j, 0.5j]])}
    x = {"a": jnp.array([0.1, 0.2]), "b": jnp.array([[0.3 - 0.1j, -0.2 + 0.4j]])}
    layout = FlatLayout(y)
    v = layout.ravel(y)
    assert v.dtype == jnp.float64 and v.shape == (6,)
    assert jax.tree_util.tree_all(
        jax.tree_util.tree_map(lambda p, q: bool(jnp.all(p == q)), layout.unravel(v), y)
    )
    atol, rtol = 1e-3, 1e-2
    w = flat_weights(y, v, atol, rtol)
    expect = rms_norm(jax.tree_util.tree_map(lambda e, s: e / (atol + rtol * jnp.abs(s)), x, y))
    np.testing.assert_allclose(rms_norm(layout.ravel(x) / w), expect, rtol=1e-14)
    with pytest.raises(TypeError, match="imaginary part would be dropped"):
        FlatLayout(jnp.ones(2)).ravel(jnp.ones(2, jnp.complex128), "the output of `f`")
