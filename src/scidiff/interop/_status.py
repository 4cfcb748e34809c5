r"""A solve's failure status carried *in its outputs*, for graph-mode bridges.

With ``throw=True`` a failed solve raises through ``equinox.error_if``, a host callback.
Graph code (``jax2tf.convert`` inside ``tf.function``, hence Keras ``fit``) cannot carry
host callbacks, so while a bridge converts a function it switches
:func:`scidiff._results.raise_if_failed` to :func:`status_in_outputs`' hook: the
solution arrays of a failed solve are replaced by a *tagged NaN* whose payload is the
failure's :class:`~scidiff.RESULTS` index, and the framework side
(:func:`tf_check_status`) finds the tag in the outputs and raises with the message
naming the cause. The check thus travels exactly where the solution travels -- through
inner ``jit``, ``vmap``, ``scan`` and any arithmetic that propagates NaN -- and, as with
equinox, a function whose outputs do not depend on the solution drops it.

Encoding (IEEE quiet NaNs; the payload sits in the top mantissa bits, so it survives
float64 <-> float32 conversion):

.. math::
    \text{float32 bits} = \mathtt{0x7FC00000} \,|\, p, \qquad
    \text{float64 bits} = \mathtt{0x7FF8000000000000} \,|\, (p \ll 29), \qquad
    p = \mathtt{0x5C00} \,|\, \text{index}.

A NaN the user's code makes has payload 0 (default NaN) and is not mistaken for a
failure; complex leaves carry the tag in both parts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _results
from ._common import RESULT_MESSAGES

__all__ = ["status_in_outputs", "StatusRecord", "TAG", "MESSAGES", "tf_check_status"]

TAG = 0x5C00  # payload tag; the low 8 bits hold the RESULTS index
_TAG_MASK = 0x3FFF00  # the 22 payload bits of a float32 NaN, minus the index byte
_F32_QNAN = 0x7FC00000
_F64_QNAN = 0x7FF8000000000000
_SHIFT = 29  # float64 mantissa bits dropped by a conversion to float32

# index -> message; RESULTS indices are small (asserted: they must fit the index byte).
MESSAGES = RESULT_MESSAGES
assert len(MESSAGES) <= 256


class StatusRecord:
    """What one trace found: whether any solve with ``throw=True`` was traced."""

    def __init__(self) -> None:
        self.checks = 0


def _tagged_nan(dtype: Any, index: jax.Array) -> jax.Array:
    payload = jnp.uint32(TAG) | index.astype(jnp.uint32)
    if dtype == jnp.float32:
        return jax.lax.bitcast_convert_type(jnp.uint32(_F32_QNAN) | payload, jnp.float32)
    bits = jnp.uint64(_F64_QNAN) | (payload.astype(jnp.uint64) << jnp.uint64(_SHIFT))
    return jax.lax.bitcast_convert_type(bits, jnp.float64)


def _poison_leaf(x: Any, index: jax.Array, where: str) -> Any:
    if not isinstance(x, jax.Array | np.ndarray) or not jnp.issubdtype(x.dtype, jnp.inexact):
        return x
    dtype = jnp.dtype(x.dtype)
    real = jnp.finfo(dtype).dtype
    if real not in (jnp.float32, jnp.float64):
        raise TypeError(
            f"{where}: a solve with throw=True returned {dtype} values; in graph mode its "
            "failure check travels as a tagged NaN, which needs float32 or float64. Solve "
            "in float32/float64, or pass throw=False and return `sol.ok` as an output."
        )
    nan = _tagged_nan(real, index)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        nan = jax.lax.complex(nan, nan)
    return jnp.where(index > 0, nan.astype(dtype), x)


@contextlib.contextmanager
def status_in_outputs(where: str) -> Iterator[StatusRecord]:
    """While active (at trace time), failed solves poison their outputs instead of raising.

    Yields a :class:`StatusRecord` counting the checks traced. ``where`` names the
    wrapper in error messages.
    """
    record = StatusRecord()

    def hook(value: Any, index: jax.Array) -> Any:
        leaves = jax.tree_util.tree_leaves(value)
        if not any(hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact) for x in leaves):
            raise TypeError(
                f"{where}: a solve with throw=True has no floating-point output to carry "
                "its failure check in graph mode. Pass throw=False and return `sol.ok`."
            )
        record.checks += 1
        return jax.tree_util.tree_map(lambda x: _poison_leaf(x, index, where), value)

    _results._FAILURE_HOOKS.append(hook)
    try:
        yield record
    finally:
        _results._FAILURE_HOOKS.remove(hook)


def tf_check_status(outputs: list, where: str) -> list:
    """Raise (when run) if an output carries a tagged NaN; the outputs, gated on the check.

    TensorFlow side of the protocol: ``tf.debugging.Assert`` with the RESULTS message of
    the worst failure found, e.g. ``InvalidArgumentError: ... max_steps reached ...``.
    """
    import tensorflow as tf

    codes = [tf.constant(0, tf.int32)]
    for out in outputs:
        if not (out.dtype.is_floating or out.dtype.is_complex):
            continue
        parts = [tf.math.real(out), tf.math.imag(out)] if out.dtype.is_complex else [out]
        for part in parts:
            if part.dtype == tf.float32:
                bits = tf.bitcast(part, tf.uint32)
                payload = tf.bitwise.bitwise_and(bits, tf.constant(0x3FFFFF, tf.uint32))
                quiet = tf.equal(
                    tf.bitwise.bitwise_and(bits, tf.constant(0x7FC00000, tf.uint32)),
                    tf.constant(0x7FC00000, tf.uint32),
                )
            elif part.dtype == tf.float64:
                bits = tf.bitcast(part, tf.uint64)
                payload = tf.bitwise.bitwise_and(
                    tf.bitwise.right_shift(bits, tf.constant(_SHIFT, tf.uint64)),
                    tf.constant(0x3FFFFF, tf.uint64),
                )
                quiet = tf.equal(
                    tf.bitwise.bitwise_and(bits, tf.constant(_F64_QNAN, tf.uint64)),
                    tf.constant(_F64_QNAN, tf.uint64),
                )
                payload = tf.cast(payload, tf.uint32)
            else:  # float16/bfloat16 outputs cannot hold the tag (refused when traced)
                continue
            tagged = tf.logical_and(
                quiet,
                tf.equal(
                    tf.bitwise.bitwise_and(payload, tf.constant(_TAG_MASK, tf.uint32)),
                    tf.constant(TAG, tf.uint32),
                ),
            )
            index = tf.cast(tf.bitwise.bitwise_and(payload, tf.constant(0xFF, tf.uint32)), tf.int32)
            codes.append(tf.reduce_max(tf.where(tagged, index, 0)))
    status = tf.reduce_max(tf.stack(codes))
    message = tf.gather(tf.constant(MESSAGES + ("",) * (256 - len(MESSAGES))), status)
    check = tf.debugging.Assert(
        tf.equal(status, 0),
        [f"{where}: a scidiff solve inside the wrapped function failed:", message],
        name="scidiff_status",
    )
    with tf.control_dependencies([check]):
        return [tf.identity(o) for o in outputs]
