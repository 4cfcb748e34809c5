"""TensorFlow <-> JAX data bridge over DLPack (implementation of ``from_tf``/``to_tf``).

TensorFlow tensors are immutable and compact, so eager tensors are always shared without
a copy. ``tf.Variable`` is read first (TensorFlow copies on write, so the JAX array is a
snapshot that later ``assign`` calls do not change). Bare DLPack capsules (what
``tf.experimental.dlpack.to_dlpack`` returns) are accepted too, after their header has
been checked. String, resource and variant tensors are rejected *before* DLPack is
touched: exporting them aborts the whole process inside TensorFlow.
"""

from __future__ import annotations

from typing import Any

import jax
import tensorflow as tf

from ._common import SHARED_DTYPES, check_x64, exportable_array, map_tree
from ._dlpack import CapsuleArray, describe_capsule, export_dlpack, import_dlpack, is_capsule

__all__ = ["from_tf", "to_tf", "tensor_to_jax", "array_to_tf", "TF_DTYPES"]

TF_DTYPES = {tf.as_dtype(name): name for name in SHARED_DTYPES}

_HINT = "e.g. `tf.cast(t, tf."


def _is_keras_variable(x: Any) -> bool:
    return type(x).__name__ == "Variable" and type(x).__module__.startswith("keras")


def read_tensor(t: Any, name: str) -> tf.Tensor:
    """A ``tf.Tensor`` from a tensor, ``tf.Variable`` or Keras variable; clear errors else."""
    if _is_keras_variable(t):
        t = t.value
    if isinstance(t, tf.Variable):
        t = t.read_value() if tf.executing_eagerly() else tf.convert_to_tensor(t)
    if isinstance(t, tf.RaggedTensor):
        raise TypeError(f"{name} is a tf.RaggedTensor; convert it with `.to_tensor()` first.")
    if isinstance(t, tf.SparseTensor):
        raise TypeError(f"{name} is a tf.SparseTensor; convert it with `tf.sparse.to_dense` first.")
    if isinstance(t, tf.IndexedSlices):
        raise TypeError(
            f"{name} is a tf.IndexedSlices; convert it with `tf.convert_to_tensor` first."
        )
    if not isinstance(t, tf.Tensor):
        raise TypeError(
            f"{name} is a {type(t).__module__}.{type(t).__qualname__}, not a TensorFlow "
            "tensor, variable or DLPack capsule."
        )
    if t.dtype not in TF_DTYPES:
        # Checked before any DLPack call: __dlpack__ on a string/resource/variant tensor
        # aborts the interpreter inside TensorFlow.
        raise TypeError(
            f"{name} has dtype {t.dtype.name}, which has no JAX equivalent (only numeric "
            "and bool tensors can be shared)."
        )
    return t


def tensor_to_jax(t: Any, name: str, copy: bool | None) -> jax.Array:
    """One eager TF tensor / variable / capsule to a JAX array."""
    if is_capsule(t):
        info = describe_capsule(t)
        if info.dtype is None:
            raise TypeError(f"{name} is a DLPack capsule of a dtype JAX does not support.")
        check_x64(info.dtype, name, "convert before exporting, " + _HINT)
        return _maybe_copy(import_dlpack(CapsuleArray(t, info)), copy)
    t = read_tensor(t, name)
    if not tf.executing_eagerly() or not hasattr(t, "numpy"):
        raise TypeError(
            f"{name} is a symbolic tensor (inside tf.function or a Keras graph): its data "
            "does not exist yet. Call JAX code from graphs with "
            "`scidiff.interop.tensorflow.wrap`, which handles graph mode."
        )
    check_x64(TF_DTYPES[t.dtype], name, _HINT)
    if hasattr(t, "__dlpack__"):
        return _maybe_copy(import_dlpack(t), copy)
    capsule = tf.experimental.dlpack.to_dlpack(t)  # older TensorFlow: capsules only
    return _maybe_copy(import_dlpack(CapsuleArray(capsule, describe_capsule(capsule))), copy)


def _maybe_copy(x: jax.Array, copy: bool | None) -> jax.Array:
    # jax.dlpack.from_dlpack(..., copy=True) still aliases on CPU (jax 0.10): copy here.
    return jax.numpy.array(x, copy=True) if copy else x


def array_to_tf(x: Any, name: str, copy: bool | None) -> tf.Tensor:
    """One JAX array to an eager TF tensor sharing its buffer (unless ``copy``)."""
    x = exportable_array(
        x, name, "TensorFlow", TF_DTYPES.values(), "Use `tf.convert_to_tensor` for numpy arrays."
    )
    if copy:
        x = x.copy()
    capsule = export_dlpack(x)
    return tf.experimental.dlpack.from_dlpack(x.__dlpack__() if capsule is None else capsule)


def from_tf(tree: Any, *, copy: bool | None = None) -> Any:
    return map_tree(tensor_to_jax, tree, copy)


def to_tf(tree: Any, *, copy: bool | None = None) -> Any:
    return map_tree(array_to_tf, tree, copy)
