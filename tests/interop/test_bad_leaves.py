"""Leaves the bridges cannot carry get clear errors naming the leaf and the fix (PRNG
keys, float8 where the other side lacks it, non-arrays); float8 crosses to torch."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

from scidiff.interop import tensorflow as sdtf  # noqa: E402
from scidiff.interop import torch as sdtorch  # noqa: E402

KEY = jax.random.key(0)


@pytest.mark.parametrize("to, target", [(sdtorch.to_torch, "torch"), (sdtf.to_tf, "TensorFlow")])
def test_prng_keys_are_refused_with_the_fix(to, target):
    with pytest.raises(TypeError, match=rf"tree\['k'\] is a PRNG key array.*{target}.*key_data"):
        to({"k": KEY})


def test_prng_key_outputs_and_inputs_of_wrapped_functions():
    with pytest.raises(TypeError, match=r"output leaf #0 is a PRNG key array.*torch"):
        sdtorch.wrap(lambda x: jax.random.key(0))(torch.ones(2))
    with pytest.raises(TypeError, match=r"output leaf #0 is a PRNG key array.*TensorFlow"):
        sdtf.wrap(lambda x: jax.random.key(0))(tf.ones(2))
    with pytest.raises(TypeError, match=r"output leaf #0 is a PRNG key array.*TensorFlow"):
        tf.function(sdtf.wrap(lambda x: jax.random.key(0)))(tf.ones(2))  # not raw key bits
    with pytest.raises(TypeError, match=r"input leaf #0 is a PRNG key array"):
        sdtf.wrap(lambda k: jax.random.normal(k))(KEY)
    # torch keeps JAX arrays as JAX inputs: a key works there
    out = sdtorch.wrap(lambda x, k: x + jax.random.normal(k))(torch.zeros(()), KEY)
    assert float(out) == float(jax.random.normal(KEY))


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_float8_crosses_to_torch_and_back(dtype):
    x = jnp.array([1.5, -2.0, 0.25], getattr(jnp, dtype))
    t = sdtorch.to_torch(x)
    assert t.dtype == getattr(torch, dtype)
    assert t.float().tolist() == [1.5, -2.0, 0.25]
    back = sdtorch.from_torch(t)
    assert back.dtype == x.dtype and back.astype(jnp.float32).tolist() == [1.5, -2.0, 0.25]


def test_float8_is_refused_by_tensorflow():
    x = jnp.ones(2, jnp.float8_e4m3fn)
    with pytest.raises(TypeError, match="dtype float8_e4m3fn, which cannot cross to TensorFlow"):
        sdtf.to_tf(x)
    with pytest.raises(TypeError, match=r"input leaf #0 has dtype float8_e4m3fn.*cast it first"):
        sdtf.wrap(lambda a: a)(np.ones(2, jnp.float8_e4m3fn))
    with pytest.raises(TypeError, match=r"torch.float8_e4m3fnuz, which cannot cross to JAX"):
        sdtorch.from_torch(torch.ones(2).to(torch.float8_e4m3fnuz))


@pytest.mark.parametrize("to", [sdtorch.to_torch, sdtf.to_tf])
@pytest.mark.parametrize(
    "leaf, words",
    [
        (3.0, r"tree\[0\] is of type float, not a jax.Array"),
        ("s", r"tree\[0\] is of type str"),
        (object(), r"tree\[0\] is of type object"),
        (jax.ShapeDtypeStruct((2,), jnp.float32), r"is of type jax.ShapeDtypeStruct"),
        (np.zeros(2, jax.dtypes.float0), r"tree\[0\] has dtype float0"),
    ],
)
def test_bad_leaves_are_named(to, leaf, words):
    with pytest.raises(TypeError, match=words):
        to([leaf])


def test_tracers_are_refused_inside_jit():
    with pytest.raises(TypeError, match=r"traced JAX value.*scidiff.interop.tensorflow.wrap"):
        jax.jit(lambda x: sdtf.to_tf(x))(jnp.ones(2))
    with pytest.raises(TypeError, match=r"traced JAX value.*scidiff.interop.torch.wrap"):
        jax.jit(lambda x: sdtorch.to_torch(x))(jnp.ones(2))
