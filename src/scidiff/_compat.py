"""The only place scidiff touches private parts of its dependencies.

Each entry has no public equivalent that does the same job at the same cost, is imported
lazily (so importing scidiff never imports torch/TensorFlow, and a missing entry never
breaks an import), and is pinned by a test in ``tests/test_compat.py`` that fails loudly
when an upgrade moves or changes it:

* :func:`unvmap_max` -- ``equinox.internal.unvmap_max``: the maximum over a ``vmap``-ped
  batch *as seen from outside the vmap* (one reduction, so one failure check for a whole
  batch). No public JAX or equinox API reduces across a batch axis from inside ``vmap``.
* :func:`jax_dlpack_cpu` -- ``jax._src.lib._jax``'s DLPack import/export: on CPU,
  ``jax.dlpack.from_dlpack`` spends ~8x longer in Python than the C++ call it wraps.
  Callers probe it (values and aliasing) and fall back to the public path.
* :func:`tf_record` -- ``tensorflow.python.eager.record``: the tape-recording calls that
  ``tf.custom_gradient`` makes, without its ~1 ms of Python per call. Callers fall back
  to ``tf.custom_gradient`` when it is ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["unvmap_max", "jax_dlpack_cpu", "tf_record"]


def unvmap_max(x: Any) -> Any:
    """Maximum of ``x`` over every ``vmap`` batch axis it carries (identity outside vmap).

    Under ``vmap`` the result is unbatched: the same value for every member.
    """
    import equinox.internal as eqxi

    return eqxi.unvmap_max(x)


def jax_dlpack_cpu() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """``(to_buffer, to_capsule)``: JAX's C++ DLPack import and export, or ``None``.

    ``to_buffer(capsule, device, None, None, 1)`` imports a CPU DLPack capsule as a
    ``jax.Array``; ``to_capsule(array, stream=None)`` exports one. ``None`` when this JAX
    does not have them where expected (callers then use ``jax.dlpack``).
    """
    try:
        from jax._src.lib import _jax  # pyright: ignore[reportPrivateImportUsage]

        return _jax.dlpack_managed_tensor_to_buffer, _jax.buffer_to_dlpack_managed_tensor
    except (ImportError, AttributeError):
        return None


def tf_record() -> tuple[Callable[..., Any], Callable[[], bool]] | None:
    """``(record_operation, could_possibly_record)`` of TensorFlow's eager tape, or ``None``.

    ``record_operation(name, outputs, inputs, backward)`` records a differentiable op on
    every active ``GradientTape``; ``could_possibly_record()`` says whether any tape is
    recording. Imports TensorFlow: call only from the TF bridge.
    """
    try:
        from tensorflow.python.eager import record

        return record.record_operation, record.could_possibly_record
    except (ImportError, AttributeError):
        return None
