"""TensorFlow interop: ``from_tf``, ``to_tf``, ``wrap`` and ``KerasLayer``.

Data crosses by DLPack without copies (TensorFlow tensors are always compact); functions
cross with their gradients -- eagerly with ``tf.GradientTape``, inside ``tf.function``
through ``jax2tf``, and in Keras models as :class:`KerasLayer`.

Aliasing policy: TF tensors and JAX arrays are both immutable, so sharing is safe. A
``tf.Variable`` is read into a snapshot (TF copies on write: later ``assign`` calls do
not change the JAX array -- tested). ``to_tf(x)`` shares ``x``'s buffer.
"""

from __future__ import annotations

from typing import Any

from . import _tf_bridge
from ._common import SolveFailedError as SolveFailedError
from ._tf_wrap import wrap as wrap

__all__ = ["from_tf", "to_tf", "wrap", "KerasLayer", "SolveFailedError"]  # noqa: F822  # pyright: ignore[reportUnsupportedDunderAll]


def from_tf(tree: Any, *, copy: bool | None = None) -> Any:
    """Convert a pytree of eager TF tensors to JAX arrays, sharing memory (DLPack).

    Leaves may be ``tf.Tensor`` (eager), ``tf.Variable`` / Keras variables (read as a
    snapshot) or bare DLPack capsules from ``tf.experimental.dlpack.to_dlpack`` (single
    use; their header is checked first). Every dtype both libraries have is supported:
    bool, int8-int64, uint8-uint64, float16, bfloat16, float32, float64, complex64,
    complex128.

    Args:
        tree: a pytree of TF tensors / variables / capsules.
        copy: ``None``/``False``: share; ``True``: independent copies.

    Returns:
        The same pytree with ``jax.Array`` leaves.

    Raises:
        TypeError: string/resource/variant tensors (rejected before DLPack, which would
            abort the process), ragged/sparse tensors, symbolic tensors (inside
            ``tf.function``: use :func:`wrap`), other objects.
        ValueError: 64-bit dtypes while JAX's x64 is off; a consumed capsule.
        Messages name the leaf (``tree['key'][0]``) and the fix.

    Example:
        >>> import tensorflow as tf
        >>> from scidiff.interop import tensorflow as sdtf
        >>> sdtf.from_tf({"a": tf.constant([1.0, 2.0])})["a"].tolist()
        [1.0, 2.0]
    """
    return _tf_bridge.from_tf(tree, copy=copy)


def to_tf(tree: Any, *, copy: bool | None = None) -> Any:
    """Convert a pytree of JAX arrays to eager TF tensors sharing their buffers (DLPack).

    Args:
        tree: a pytree of concrete ``jax.Array`` leaves.
        copy: ``None``/``False``: share; ``True``: independent copies.

    Returns:
        The same pytree with ``tf.Tensor`` leaves.

    Raises:
        TypeError: a leaf is not a ``jax.Array`` (numpy, tracer, float0).
        ValueError: an array sharded over several devices.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.interop import tensorflow as sdtf
        >>> sdtf.to_tf(jnp.arange(3)).shape
        TensorShape([3])
    """
    return _tf_bridge.to_tf(tree, copy=copy)


def __getattr__(name: str):
    if name == "KerasLayer":  # imports keras on first use
        from . import _tf_wrap

        return _tf_wrap.KerasLayer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
