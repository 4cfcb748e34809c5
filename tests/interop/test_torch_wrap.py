"""scidiff.interop.torch.wrap and TorchModule: gradients, compilation count, pytrees."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import scidiff
from scidiff.interop import torch as sdtorch
from scidiff.interop.torch import SolveFailedError

F64 = torch.float64


def _rand(*shape, dtype=F64, grad=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=dtype).requires_grad_(grad)


def _nonlinear(x, p):
    # a non-trivial pytree function: dict in, tuple + nested dict out, integer output
    y = jnp.sin(x * p["a"]) + p["b"] ** 2 * jnp.exp(-x)
    return y, {"sum": jnp.sum(y * x), "count": jnp.sum(x > 0.5)}


wrapped_nonlinear = sdtorch.wrap(_nonlinear)


def test_matches_jax_values_and_gradients():
    x, a, b = _rand(6), _rand((), seed=1), _rand((), seed=2)
    y, aux = wrapped_nonlinear(x, {"a": a, "b": b})
    assert aux["count"].dtype == torch.int64 and not aux["count"].requires_grad
    (y.sum() + 3 * aux["sum"]).backward()
    xj, pj = sdtorch.from_torch((x, {"a": a, "b": b}))

    def loss(x, p):
        y, aux = _nonlinear(x, p)
        return jnp.sum(y) + 3 * aux["sum"]

    gx, gp = jax.grad(loss, argnums=(0, 1))(xj, pj)
    np.testing.assert_allclose(x.grad.numpy(), np.asarray(gx), rtol=1e-12)
    np.testing.assert_allclose(a.grad.item(), float(gp["a"]), rtol=1e-12)
    np.testing.assert_allclose(b.grad.item(), float(gp["b"]), rtol=1e-12)


def test_gradcheck_and_gradgradcheck_real():
    f = lambda x, a, b: wrapped_nonlinear(x, {"a": a, "b": b})[1]["sum"]
    args = (_rand(4), _rand((), seed=1), _rand((), seed=2))
    assert torch.autograd.gradcheck(f, args)
    assert torch.autograd.gradgradcheck(f, args)


def test_gradcheck_and_gradgradcheck_complex():
    # non-holomorphic on purpose: checks torch's conjugate-Wirtinger convention
    f = sdtorch.wrap(lambda z: jnp.abs(z) ** 2 * jnp.real(z) + jnp.sin(z) * jnp.conj(z))
    z = torch.tensor([1 + 2j, 0.5 - 1j, -0.3j], dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(f, (z,))
    assert torch.autograd.gradgradcheck(f, (z,))


def test_float32_dtype_follows_inputs():
    x = _rand(5, dtype=torch.float32)
    y, aux = wrapped_nonlinear(x, {"a": torch.tensor(2.0), "b": torch.tensor(1.0)})
    assert y.dtype == torch.float32 and aux["sum"].dtype == torch.float32
    y.sum().backward()
    assert x.grad.dtype == torch.float32


def test_compiled_once_per_signature():
    """Forward, VJP rule and backward are each traced once per shape/dtype signature."""
    count = {"fn": 0, "fwd_rule": 0, "bwd_rule": 0}

    @jax.custom_vjp
    def h(x):
        return jnp.sin(x)

    def h_fwd(x):
        count["fwd_rule"] += 1
        return jnp.sin(x), x

    def h_bwd(x, g):
        count["bwd_rule"] += 1
        return (jnp.cos(x) * g,)

    h.defvjp(h_fwd, h_bwd)

    def fn(x, a):
        count["fn"] += 1
        return h(x) * a

    g = sdtorch.wrap(fn)
    for k in range(4):
        x, a = _rand(5, seed=k), torch.tensor(k + 1.0, dtype=F64)
        g(x, a).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), np.cos(x.detach().numpy()) * (k + 1))
    assert count == {"fn": 1, "fwd_rule": 1, "bwd_rule": 1}
    with torch.no_grad():  # no gradient needed: plain compiled forward, traced once
        for k in range(3):
            g(_rand(5, seed=k), torch.tensor(1.0, dtype=F64))
    assert count["fn"] == 2
    g(_rand(7), torch.tensor(1.0, dtype=F64)).sum().backward()  # new shape: new trace
    assert count == {"fn": 3, "fwd_rule": 2, "bwd_rule": 2}


def test_needs_input_grad_is_respected():
    """Reverse mode through a while_loop fails in JAX: it must only be requested for `p`
    when torch actually needs the gradient of `p`."""

    def fn(x, p):
        c = jax.lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * p, c[1] + 1), (p, 0))[0]
        return x * c

    g = sdtorch.wrap(fn)
    x, p = _rand(3), _rand((), grad=False, seed=1)
    g(x, p).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), p.item() ** 4 * np.ones(3))
    assert p.grad is None
    p.requires_grad_(True)
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        g(x, p).sum().backward()


def test_integer_static_and_numpy_inputs():
    def fn(x, idx, weights, *, power, name):
        assert name == "demo"  # static leaves arrive as Python values
        return jnp.sum(x[idx] ** power * weights)

    g = sdtorch.wrap(fn)
    x = _rand(6)
    idx = torch.tensor([0, 2, 2], dtype=torch.int32)
    w = np.array([1.0, 2.0, 3.0])
    out_jax_w = g(x, idx, jnp.asarray(w), power=3, name="demo")  # JAX arrays are inputs too
    out = g(x, idx, w, power=3, name="demo")
    out.backward()
    expected = np.zeros(6)
    np.add.at(expected, [0, 2, 2], 3 * x.detach().numpy()[[0, 2, 2]] ** 2 * w)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
    assert out_jax_w.item() == out.item()
    with pytest.raises(
        TypeError,
        match=r"wrap\(fn\): \(args, kwargs\)\[1\]\['power'\] of type set is neither a tensor nor hashable",
    ):
        g(x, idx, w, power={3}, name="demo")


def test_in_place_write_before_backward_is_caught():
    g = sdtorch.wrap(jnp.exp)
    x = _rand(4)
    y = g(x)
    y.mul_(2)  # JAX's residual aliases y's memory: torch's version check must fire
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_not_callable():
    with pytest.raises(TypeError, match="wrap expects a callable JAX function"):
        sdtorch.wrap(3)


def test_torch_module_holds_copied_parameters():
    init = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
    m = sdtorch.TorchModule(lambda p, x: x @ p["w"] + p["b"], init)
    assert sorted(n for n, _ in m.named_parameters()) == ["b", "w"]
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    x = torch.ones(3, 2, dtype=F64)
    loss = (m(x) ** 2).sum()
    loss.backward()
    np.testing.assert_allclose(m.w.grad.numpy(), 2 * 3 * (1 - 2 + 0.5) * np.ones(2))
    opt.step()
    assert float(init["w"][0]) == 1.0  # the optimiser wrote into the copy only
    assert m.w.data[0].item() == pytest.approx(1.0 + 0.1 * 3.0)
    assert set(m.state_dict()) == {"b", "w"}


# --- through scidiff.solve_ivp -----------------------------------------------------------


def _decay(p, y0, ts):
    """y' = -k y + c, solved by scidiff; analytic y = c/k + (y0 - c/k) exp(-k t)."""
    sol = scidiff.solve_ivp(
        lambda t, y, args: -args[0] * y + args[1],
        (0.0, ts[-1]),
        y0,
        args=(p["k"], p["c"]),
        t_eval=ts,
        rtol=1e-10,
        atol=1e-12,
    )
    return sol.ys


# One wrapped function and one signature for the three tests below: they share compiles.
decay = sdtorch.wrap(_decay)
TS = torch.linspace(0.2, 2.0, 8, dtype=F64)
Y0 = torch.ones(1, dtype=F64)


def _exact(k, c):
    return c / k + (1 - c / k) * np.exp(-k * TS.numpy())[:, None]


def test_gradcheck_through_solve_ivp():
    f = lambda k, c: decay({"k": k, "c": c}, Y0, TS)
    k = torch.tensor(0.7, dtype=F64, requires_grad=True)
    c = torch.tensor(0.3, dtype=F64, requires_grad=True)
    np.testing.assert_allclose(f(k, c).detach().numpy(), _exact(0.7, 0.3), rtol=1e-8)
    assert torch.autograd.gradcheck(f, (k, c), atol=1e-6)


@pytest.mark.slow
def test_double_backward_through_solve_ivp_follows_jax():
    """Double backward through the bridge is exactly JAX's reverse-over-reverse: where JAX
    supports it for solve_ivp, gradgradcheck must pass; where JAX refuses (a while_loop in
    the adjoint), torch must see the same error rather than a wrong number."""

    def f_jax(k):  # y' = -k y, y(0) = 1, fixed-step RK4 (cheap to compile)
        return scidiff.solve_ivp(
            lambda t, y, k: -k * y, (0.0, 1.0), jnp.ones(1), args=k, solver=scidiff.RK4(), dt0=0.1
        ).ys[-1, 0]

    g = sdtorch.wrap(f_jax)
    k = torch.tensor(0.7, dtype=F64, requires_grad=True)
    try:
        jax.grad(jax.grad(f_jax))(0.7)
    except ValueError as err:
        (dk,) = torch.autograd.grad(g(k), k, create_graph=True)
        np.testing.assert_allclose(dk.item(), -np.exp(-0.7), rtol=1e-5)  # first order is fine
        with pytest.raises(ValueError, match=re.escape(str(err).split(".")[0])):
            torch.autograd.grad(dk, k)
    else:
        assert torch.autograd.gradgradcheck(g, (k,), atol=1e-6)


def test_torch_training_loop_recovers_ode_parameter():
    k_true, c_true = 1.3, 0.4
    data = torch.from_numpy(_exact(k_true, c_true))
    model = sdtorch.TorchModule(decay, {"k": jnp.array(0.5), "c": jnp.array(0.0)})
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(150):
        opt.zero_grad()
        loss = ((model(Y0, TS) - data) ** 2).mean()
        loss.backward()
        opt.step()
    assert model.k.item() == pytest.approx(k_true, rel=2e-2)
    assert model.c.item() == pytest.approx(c_true, rel=5e-2)


def test_docstring_examples_run():
    import doctest

    from scidiff.interop import _torch_wrap
    from scidiff.interop import torch as public

    for module in (public, _torch_wrap):
        result = doctest.testmod(module, raise_on_error=False)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_callable_objects_can_be_wrapped():
    class Scale:  # e.g. an equinox.Module holding a model
        def __call__(self, x, *, k):
            return x * k

    g = sdtorch.wrap(Scale())
    assert g(torch.ones(2), k=2.0).tolist() == [2.0, 2.0]
    with pytest.raises(TypeError, match=r"wrap\(Scale\): .*\['k'\] of type set"):
        g(torch.ones(2), k={1})


def _decay_end(y0, max_steps):
    return scidiff.solve_ivp(lambda t, y, a: -y, (0.0, 1.0), y0, max_steps=max_steps).ys[-1]


_decay = sdtorch.wrap(_decay_end)


def test_failed_solve_names_its_cause_in_one_line():
    with pytest.raises(SolveFailedError, match=r"inside wrap\(_decay_end\) failed: max_steps"):
        _decay(torch.tensor([1.0, 2.0]), 2)


def test_torch_compile_runs_the_wrapper_eagerly_with_its_check():
    """torch.compile cannot trace JAX: the wrapper is a graph break, run eagerly, so
    results, gradients and the failure check all behave as without compile."""
    g = torch.compile(lambda x, n: _decay(x, n) * 2)
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    out = g(x, 100)
    torch.testing.assert_close(out, 2 * np.exp(-1.0) * x.detach(), rtol=1e-5, atol=0)
    out.sum().backward()
    torch.testing.assert_close(
        x.grad, torch.full((2,), 2 * np.exp(-1.0), dtype=torch.float64), rtol=1e-5, atol=0
    )
    with pytest.raises(SolveFailedError, match="max_steps reached"):
        g(x.detach(), 2)
