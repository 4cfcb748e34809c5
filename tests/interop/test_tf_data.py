"""from_tf / to_tf: every shared dtype, zero-copy proofs, variables, capsules, errors."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from scidiff.interop import tensorflow as sdtf  # noqa: E402
from scidiff.interop._dlpack import describe_capsule  # noqa: E402

DTYPES = [
    (tf.bool, jnp.bool_),
    (tf.int8, jnp.int8),
    (tf.int16, jnp.int16),
    (tf.int32, jnp.int32),
    (tf.int64, jnp.int64),
    (tf.uint8, jnp.uint8),
    (tf.uint16, jnp.uint16),
    (tf.uint32, jnp.uint32),
    (tf.uint64, jnp.uint64),
    (tf.float16, jnp.float16),
    (tf.bfloat16, jnp.bfloat16),
    (tf.float32, jnp.float32),
    (tf.float64, jnp.float64),
    (tf.complex64, jnp.complex64),
    (tf.complex128, jnp.complex128),
]


def tf_ptr(t) -> int:
    """Address of an eager tensor's buffer, read from the DLPack header TF exports."""
    return describe_capsule(tf.experimental.dlpack.to_dlpack(t)).data_ptr


def _sample(dtype, n=29):
    rng = np.random.default_rng(1)
    if dtype == tf.bool:
        return tf.constant(rng.integers(0, 2, n).astype(bool))
    if dtype.is_complex:
        v = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        return tf.cast(tf.constant(v), dtype)
    if dtype.is_floating:
        return tf.cast(tf.constant(rng.standard_normal(n) * 50), dtype)
    lo, hi = max(dtype.min, -(2**40)), min(dtype.max, 2**40)
    v = rng.integers(lo, hi, n, dtype=np.int64, endpoint=True)
    v[0], v[1] = lo, hi
    return tf.cast(tf.constant(v), dtype)


def _np(x):
    if x.dtype in (tf.bfloat16, jnp.bfloat16):
        x = tf.cast(x, tf.float32) if isinstance(x, tf.Tensor) else x.astype(jnp.float32)
    return x.numpy() if isinstance(x, tf.Tensor) else np.asarray(x)


@pytest.mark.parametrize("tdtype, jdtype", DTYPES, ids=[d[0].name for d in DTYPES])
def test_every_dtype_round_trip_zero_copy(tdtype, jdtype):
    t = _sample(tdtype)
    x = sdtf.from_tf(t)
    assert x.dtype == jdtype and x.shape == tuple(t.shape)
    assert x.unsafe_buffer_pointer() == tf_ptr(t)
    np.testing.assert_array_equal(_np(x), _np(t))
    back = sdtf.to_tf(x)
    assert back.dtype == tdtype and tf_ptr(back) == x.unsafe_buffer_pointer()
    np.testing.assert_array_equal(_np(back), _np(t))


@pytest.mark.parametrize("jdtype", [d[1] for d in DTYPES], ids=[d[0].name for d in DTYPES])
def test_every_dtype_jax_to_tf_and_copy(jdtype):
    x = jnp.asarray(np.arange(-4, 30) % 9 - 3.5).astype(jdtype)
    t = sdtf.to_tf(x)
    assert tf_ptr(t) == x.unsafe_buffer_pointer()
    np.testing.assert_array_equal(_np(t), _np(x))
    t2 = sdtf.to_tf(x, copy=True)
    assert tf_ptr(t2) != x.unsafe_buffer_pointer()
    np.testing.assert_array_equal(_np(t2), _np(x))


def test_copy_true_is_a_fresh_buffer():
    t = tf.range(100.0)
    x = sdtf.from_tf(t, copy=True)
    assert x.unsafe_buffer_pointer() != tf_ptr(t)
    np.testing.assert_array_equal(np.asarray(x), t.numpy())


def test_pytree_scalars_and_empty():
    out = sdtf.from_tf({"s": tf.constant(2.5), "e": [tf.zeros((0, 3))], "n": None})
    assert out["s"].shape == () and float(out["s"]) == 2.5
    assert out["e"][0].shape == (0, 3) and out["n"] is None
    assert sdtf.to_tf(out)["e"][0].shape == (0, 3)


def test_capsules_are_accepted_once():
    t = tf.constant([[1.0, 2.0], [3.0, 4.0]], dtype=tf.float64)
    capsule = tf.experimental.dlpack.to_dlpack(t)
    x = sdtf.from_tf(capsule)
    assert x.unsafe_buffer_pointer() == tf_ptr(t)
    np.testing.assert_array_equal(np.asarray(x), t.numpy())
    with pytest.raises(ValueError, match="DLPack capsules can be imported only once"):
        sdtf.from_tf(capsule)


def test_variable_is_read_as_a_snapshot():
    v = tf.Variable(tf.range(6.0))
    x = sdtf.from_tf({"v": v})["v"]
    v.assign_add(tf.ones(6))
    v.assign(tf.zeros(6))
    np.testing.assert_array_equal(np.asarray(x), np.arange(6.0))
    np.testing.assert_array_equal(np.asarray(sdtf.from_tf(v)), np.zeros(6))


def test_string_and_resource_tensors_are_rejected_before_dlpack():
    # __dlpack__ on these aborts the process; reaching the assertion proves we never call it
    with pytest.raises(TypeError, match=r"tree\['s'\] has dtype string, which has no JAX"):
        sdtf.from_tf({"s": tf.constant(["a", "b"])})
    v = tf.Variable(1.0)
    with pytest.raises(TypeError, match=r"tree has dtype resource"):
        sdtf.from_tf(v.handle)


def test_errors_name_the_leaf_and_the_fix():
    with pytest.raises(TypeError, match=r"tree\[1\] is a tf.RaggedTensor.*to_tensor"):
        sdtf.from_tf([tf.ones(1), tf.ragged.constant([[1], [2, 3]])])
    with pytest.raises(TypeError, match=r"tf.SparseTensor.*tf.sparse.to_dense"):
        sdtf.from_tf(tf.sparse.from_dense(tf.eye(2)))
    with pytest.raises(TypeError, match=r"tree is a numpy.ndarray, not a TensorFlow tensor"):
        sdtf.from_tf(np.ones(2))
    with pytest.raises(TypeError, match=r"tree\['x'\] is of type numpy.ndarray, not a jax.Array"):
        sdtf.to_tf({"x": np.ones(2)})
    with pytest.raises(TypeError, match="traced JAX value"):
        jax.jit(sdtf.to_tf)(jnp.ones(2))
    with pytest.raises(TypeError, match=r"tf.IndexedSlices.*tf.convert_to_tensor"):
        sdtf.from_tf(tf.IndexedSlices(tf.ones((1, 2)), tf.constant([0])))
    g = jax.grad(lambda x, n: x * n, argnums=1, allow_int=True)(1.0, 3)
    with pytest.raises(TypeError, match="float0"):
        sdtf.to_tf(g)

    @tf.function
    def graph(t):
        return sdtf.from_tf(t)

    with pytest.raises(TypeError, match=r"symbolic tensor .* use|symbolic tensor"):
        graph(tf.ones(2))
