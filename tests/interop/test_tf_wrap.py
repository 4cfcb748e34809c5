"""scidiff.interop.tensorflow.wrap (eager, tf.function via jax2tf) and KerasLayer."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import scidiff  # noqa: E402
from scidiff.interop import tensorflow as sdtf  # noqa: E402


def _fn(x, p):
    y = jnp.sin(x * p["a"]) + p["b"] ** 2 * jnp.exp(-x)
    return {"y": y, "s": jnp.sum(y * x), "n": jnp.sum(x > 0.5)}


wrapped = sdtf.wrap(_fn)
X = np.linspace(0.1, 0.9, 5)
A, B = 1.3, 0.7


def _reference():
    def loss(x, p):
        out = _fn(x, p)
        return jnp.sum(out["y"]) + 3 * out["s"]

    gx, gp = jax.grad(loss, argnums=(0, 1))(jnp.asarray(X), {"a": A, "b": B})
    return np.asarray(gx), float(gp["a"]), float(gp["b"])


def _loss_and_grads(x, a, b):
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = wrapped(x, {"a": a, "b": b})
        loss = tf.reduce_sum(out["y"]) + 3 * out["s"]
    return out, tape.gradient(loss, [x, a, b])


@pytest.mark.parametrize("tape_api", ["record_operation", "custom_gradient"])
def test_eager_gradient_tape_matches_jax(tape_api, monkeypatch):
    from scidiff.interop import _tf_wrap

    if tape_api == "custom_gradient":  # the public fallback when TF internals move
        monkeypatch.setattr(_tf_wrap, "_record_operation", None)
    else:
        assert _tf_wrap._record_operation is not None
    x = tf.constant(X)
    a, b = tf.Variable(A, dtype=tf.float64), tf.Variable(B, dtype=tf.float64)
    out, (gx, ga, gb) = _loss_and_grads(x, a, b)
    assert out["n"].dtype == tf.int64 and int(out["n"]) == 2
    rx, ra, rb = _reference()
    np.testing.assert_allclose(gx.numpy(), rx, rtol=1e-12)
    np.testing.assert_allclose([ga.numpy(), gb.numpy()], [ra, rb], rtol=1e-12)


def test_tf_function_gradient_matches_jax():
    a, b = tf.Variable(A, dtype=tf.float64), tf.Variable(B, dtype=tf.float64)
    out, (gx, ga, gb) = tf.function(_loss_and_grads)(tf.constant(X), a, b)
    rx, ra, rb = _reference()
    np.testing.assert_allclose(gx.numpy(), rx, rtol=1e-12)
    np.testing.assert_allclose([ga.numpy(), gb.numpy()], [ra, rb], rtol=1e-12)


def test_tf_function_with_unknown_batch_dimension():
    g = sdtf.wrap(lambda x, w: jnp.tanh(x @ w))
    w = tf.Variable(np.ones((3, 2)), dtype=tf.float64)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float64)])
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(g(x, w) ** 2)
        return tape.gradient(loss, w)

    for n in (2, 5):
        x = np.arange(3.0 * n).reshape(n, 3) / 10
        ref = jax.grad(lambda w: jnp.sum(jnp.tanh(x @ w) ** 2))(jnp.ones((3, 2)))
        np.testing.assert_allclose(step(tf.constant(x)).numpy(), np.asarray(ref), rtol=1e-12)


def test_eager_compiles_once_and_float32_follows_inputs():
    count = {"n": 0}

    def fn(x):
        count["n"] += 1
        return jnp.cos(x) * 2

    g = sdtf.wrap(fn)
    for k in range(3):
        x = tf.constant(np.full(4, 0.1 * k, np.float32))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = g(x)
        assert y.dtype == tf.float32
        np.testing.assert_allclose(tape.gradient(y, x).numpy(), -2 * np.sin(0.1 * k), rtol=1e-6)
    assert count["n"] == 1


@pytest.mark.parametrize("mode", ["eager", "tf.function"])
def test_complex_gradient_follows_tensorflow_convention(mode):
    g = sdtf.wrap(lambda z, n: (jnp.sum(jnp.abs(z) ** 2 * jnp.real(z)), jnp.sin(z) * n, n + 1))

    def both(z):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(z)
            s, w, _ = g(z, tf.constant(2))
            ours = s + tf.math.real(tf.reduce_sum(w * tf.math.conj(w)))
            native = tf.reduce_sum(tf.abs(z) ** 2 * tf.math.real(z))
            native += tf.math.real(tf.reduce_sum(4 * tf.sin(z) * tf.math.conj(tf.sin(z))))
        return ours, native, tape.gradient(ours, z), tape.gradient(native, z)

    z = tf.constant([1 + 2j, 0.5 - 1j], dtype=tf.complex128)
    ours, native, g_ours, g_native = (tf.function(both) if mode == "tf.function" else both)(z)
    np.testing.assert_allclose(ours.numpy(), native.numpy(), rtol=1e-13)
    np.testing.assert_allclose(g_ours.numpy(), g_native.numpy(), rtol=1e-13)


def test_static_arguments_and_errors():
    g = sdtf.wrap(lambda x, *, power: x**power)
    np.testing.assert_allclose(g(tf.constant([2.0]), power=3).numpy(), [8.0])
    with pytest.raises(TypeError, match=r"\(args, kwargs\)\[1\]\['power'\] of type set"):
        g(tf.constant([2.0]), power={3})
    with pytest.raises(TypeError, match=r"has dtype string, which has no JAX equivalent"):
        g(tf.constant(["a"]), power=2)
    with pytest.raises(TypeError, match="wrap expects a callable"):
        sdtf.wrap("not a function")


def test_keras_layer_fit_plain_function():
    import keras

    layer = sdtf.KerasLayer(
        lambda p, x: jnp.tanh(x @ p["w"] + p["b"]),
        {"w": np.zeros((2, 1), np.float32), "b": np.zeros((1,), np.float32)},
    )
    assert sorted(w.path.split("/")[-1] for w in layer.trainable_weights) == ["b", "w"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = np.tanh(x @ np.array([[0.8], [-0.5]], np.float32) + 0.1)
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    hist = model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 1e-3 * hist.history["loss"][0]
    np.testing.assert_allclose(layer.params["w"].numpy().ravel(), [0.8, -0.5], atol=2e-2)


solve_ivp = getattr(scidiff, "solve_ivp", None)


@pytest.mark.skipif(solve_ivp is None, reason="scidiff.solve_ivp not built yet")
def test_keras_fit_recovers_ode_parameter():
    """Each sample is an initial value y0; the layer integrates y' = -k y to t = 1 with
    scidiff (fixed-step RK4: cheap to compile) and Keras ``fit`` (graph mode, symbolic batch)
    recovers k = 0.8 from exact data y0 exp(-k). ``throw=False``: host callbacks (the
    runtime error check) cannot be embedded in a TF graph."""
    import keras

    def model_fn(p, y0):
        sol = solve_ivp(
            lambda t, y, k: -k * y,
            (0.0, 1.0),
            y0[:, 0],
            args=p["k"],
            solver=scidiff.RK4(),
            dt0=0.05,
            throw=False,
        )
        return sol.ys[-1][:, None]

    layer = sdtf.KerasLayer(model_fn, {"k": np.float64(0.2)}, dtype="float64")
    y0 = np.linspace(0.5, 2.0, 32)[:, None]
    y1 = y0 * np.exp(-0.8)
    model = keras.Sequential([keras.Input((1,), dtype="float64"), layer])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse", jit_compile=True)
    model.fit(y0, y1, epochs=50, batch_size=16, verbose=0)
    assert float(layer.params["k"].numpy()) == pytest.approx(0.8, rel=5e-3)


def test_docstring_examples_run():
    import doctest

    from scidiff.interop import _tf_wrap
    from scidiff.interop import tensorflow as public

    for module in (public, _tf_wrap):
        result = doctest.testmod(module, raise_on_error=False)
        assert result.failed == 0 and result.attempted > 0, module.__name__
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(sdtf.KerasLayer, "KerasLayer", globs={}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


@pytest.mark.parametrize("mode", ["eager", "tf.function"])
def test_real_input_complex_output_gradient(mode):
    g = sdtf.wrap(lambda x: jnp.exp(1j * x) * x)

    def both(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = g(x)
            yn = tf.exp(tf.complex(tf.zeros_like(x), x)) * tf.complex(x, tf.zeros_like(x))
            ours = tf.reduce_sum(tf.math.real(y) * 3 + tf.math.imag(y) ** 2)
            native = tf.reduce_sum(tf.math.real(yn) * 3 + tf.math.imag(yn) ** 2)
        return tape.gradient(ours, x), tape.gradient(native, x)

    x = tf.constant([0.3, 1.1, -0.7], dtype=tf.float64)
    g_ours, g_native = (tf.function(both) if mode == "tf.function" else both)(x)
    np.testing.assert_allclose(g_ours.numpy(), g_native.numpy(), rtol=1e-13)
