"""Graph mode (tf.function, Keras fit) with solves at their default throw=True.

A solve's failure check is a host callback, which graph code cannot carry: the bridge
carries it in the outputs as a tagged NaN and raises on the TensorFlow side with the
RESULTS message. These tests pin both halves: a successful solve works and trains, a
failed one raises with its named cause (never JAX's bare "host_callbacks" error).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import scidiff  # noqa: E402
from scidiff.interop import _status  # noqa: E402
from scidiff.interop import tensorflow as sdtf  # noqa: E402


def _decay_end(y0, max_steps=10_000):
    return scidiff.solve_ivp(lambda t, y, a: -y, (0.0, 1.0), y0, max_steps=max_steps).ys[-1]


def test_issue_reproduction_runs_in_tf_function():
    f = sdtf.wrap(lambda y0: _decay_end(y0))
    g = tf.function(lambda x: f(x))
    y0 = tf.constant([1.0, 2.0])
    out = g(y0)
    np.testing.assert_allclose(out.numpy(), np.exp(-1.0) * np.array([1.0, 2.0]), rtol=1e-5)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_failed_solve_raises_on_the_tf_side_with_its_cause(dtype):
    f = sdtf.wrap(lambda y0: 2.0 * _decay_end(y0, max_steps=2))  # arithmetic keeps the tag
    g = tf.function(lambda x: f(x))
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_steps reached"):
        g(tf.constant([1.0, 2.0], dtype))


def test_failure_under_vmap_and_inner_jit_is_still_raised():
    def fn(y0s):
        solve = jax.jit(jax.vmap(lambda y0: _decay_end(y0, max_steps=2)))
        return jnp.sum(solve(y0s), axis=0)

    g = tf.function(sdtf.wrap(fn))
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_steps reached"):
        g(tf.ones((3, 2)))


def test_throw_false_is_left_to_the_caller():
    def fn(y0):
        sol = scidiff.solve_ivp(lambda t, y, a: -y, (0.0, 1.0), y0, max_steps=2, throw=False)
        return sol.ys[-1], sol.ok

    _, ok = tf.function(sdtf.wrap(fn))(tf.constant([1.0]))
    assert not bool(ok)


def test_user_nan_is_not_a_failure():
    # A NaN the user's own code makes (default NaN, no tag) passes through unchanged.
    f = tf.function(sdtf.wrap(lambda y0: jnp.log(-_decay_end(y0))))
    out = f(tf.constant([1.0]))
    assert np.isnan(out.numpy()).all()


def test_keras_fit_trains_through_a_solve():
    keras = pytest.importorskip("keras")
    target_k = 0.7

    def model(p, y0):
        f = lambda t, y, k: -k * y
        return scidiff.solve_ivp(f, (0.0, 1.0), y0, args=p["k"]).ys[-1]

    layer = sdtf.KerasLayer(model, {"k": np.float32(0.2)})
    inputs = keras.Input(shape=(1,), dtype="float32")
    net = keras.Model(inputs, layer(inputs))
    net.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")  # fit compiles: graph
    x = np.linspace(0.5, 2.0, 16, dtype=np.float32)[:, None]
    y = x * np.exp(-target_k)
    hist = net.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 1e-2 * hist.history["loss"][0]
    np.testing.assert_allclose(float(layer.params["k"].numpy()), target_k, rtol=5e-2)


def test_keras_fit_stops_on_a_failed_solve():
    keras = pytest.importorskip("keras")

    def model(p, y0):
        f = lambda t, y, k: -k * y
        return scidiff.solve_ivp(f, (0.0, 1.0), y0, args=p["k"], max_steps=2).ys[-1]

    layer = sdtf.KerasLayer(model, {"k": np.float32(0.2)})
    inputs = keras.Input(shape=(1,), dtype="float32")
    net = keras.Model(inputs, layer(inputs))
    net.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 1), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_steps reached"):
        net.fit(x, x, epochs=1, verbose=0)


def test_half_precision_solve_is_refused_when_traced():
    f = tf.function(sdtf.wrap(lambda y0: _decay_end(y0)))
    with pytest.raises(TypeError, match="needs float32 or float64.*throw=False"):
        f(tf.constant([1.0], tf.float16))


def test_tag_encoding_round_trips_and_survives_conversion():
    idx = jnp.int32(scidiff.RESULTS.max_steps_reached._value)
    for dtype in (jnp.float32, jnp.float64):
        nan = _status._tagged_nan(jnp.dtype(dtype), idx)
        assert jnp.isnan(nan)
        for out in (nan, -nan, nan.astype(jnp.float32), nan.astype(jnp.float64)):
            t = tf.constant(np.asarray(out))[None]
            with pytest.raises(tf.errors.InvalidArgumentError, match="max_steps reached"):
                _status.tf_check_status([t], "t")  # eager: the assert runs at once
    plain = [tf.constant([np.nan, 1.0]), tf.constant([np.nan], tf.float32)]
    assert len(_status.tf_check_status(plain, "t")) == 2  # untagged NaN: no error


def test_eager_failure_names_its_cause_in_one_line():
    f = sdtf.wrap(lambda y0: _decay_end(y0, max_steps=2))
    with pytest.raises(sdtf.SolveFailedError, match="failed: max_steps reached"):
        f(tf.constant([1.0]))


def test_other_host_callbacks_are_refused_clearly_in_graph_mode():
    def fn(x):
        jax.debug.print("x = {}", x)
        return 2 * x

    g = tf.function(sdtf.wrap(fn))
    with pytest.raises(TypeError, match=r"cannot run inside tf.function.*host callback"):
        g(tf.ones(2))
