"""Reading DLPack capsules without consuming them, and importing them into JAX.

Older TensorFlow (``tf.experimental.dlpack.to_dlpack``) and ``torch.utils.dlpack`` hand out
bare ``PyCapsule`` objects, while ``jax.dlpack.from_dlpack`` only accepts objects with
``__dlpack__``/``__dlpack_device__``. :class:`CapsuleArray` adapts a capsule to that
protocol after :func:`describe_capsule` has read its header (dtype, shape, strides,
device) with ``ctypes`` -- so a float64 capsule can be rejected when x64 is off instead of
being silently narrowed by JAX.

The structs follow ``dlpack.h`` (v0.8 ``DLManagedTensor`` and v1.x
``DLManagedTensorVersioned``).
"""

from __future__ import annotations

import ctypes
from typing import Any, NamedTuple

import jax
import numpy as np

from .._compat import jax_dlpack_cpu

__all__ = [
    "CapsuleInfo",
    "describe_capsule",
    "CapsuleArray",
    "is_capsule",
    "DTYPE_NAMES",
    "import_dlpack",
    "export_dlpack",
]

_LEGACY = b"dltensor"
_VERSIONED = b"dltensor_versioned"


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("major", ctypes.c_uint32),
        ("minor", ctypes.c_uint32),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", _DLTensor),
    ]


_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_is_valid.restype = ctypes.c_int
_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]

# (type code, bits) -> numpy-style dtype name. Codes: 0 int, 1 uint, 2 float, 4 bfloat,
# 5 complex, 6 bool.
DTYPE_NAMES = {
    (6, 8): "bool",
    (0, 8): "int8",
    (0, 16): "int16",
    (0, 32): "int32",
    (0, 64): "int64",
    (1, 8): "uint8",
    (1, 16): "uint16",
    (1, 32): "uint32",
    (1, 64): "uint64",
    (2, 16): "float16",
    (4, 16): "bfloat16",
    (2, 32): "float32",
    (2, 64): "float64",
    (5, 64): "complex64",
    (5, 128): "complex128",
}


class CapsuleInfo(NamedTuple):
    """Header of a DLPack tensor: ``dtype`` is a numpy-style name or ``None`` if unknown."""

    data_ptr: int
    device: tuple[int, int]
    dtype: str | None
    shape: tuple[int, ...]
    strides: tuple[int, ...] | None  # in elements; None means compact row-major
    versioned: bool


def is_capsule(x: Any) -> bool:
    return type(x).__name__ == "PyCapsule"


def describe_capsule(capsule: Any) -> CapsuleInfo:
    """Read a DLPack capsule's header without consuming it.

    Raises:
        ValueError: if the capsule was already consumed (DLPack capsules are single-use)
            or is not a DLPack capsule.
    """
    if _is_valid(capsule, _LEGACY):
        tensor = _DLTensor.from_address(_get_pointer(capsule, _LEGACY))
        versioned = False
    elif _is_valid(capsule, _VERSIONED):
        managed = _DLManagedTensorVersioned.from_address(_get_pointer(capsule, _VERSIONED))
        tensor = managed.dl_tensor
        versioned = True
    else:
        raise ValueError(
            "the PyCapsule is not an unused DLPack capsule: DLPack capsules can be imported "
            "only once (it may already have been consumed), and other capsules are not "
            "tensors. Export the tensor again."
        )
    ndim = tensor.ndim
    shape = tuple(tensor.shape[i] for i in range(ndim))
    strides = tuple(tensor.strides[i] for i in range(ndim)) if tensor.strides else None
    dtype = None
    if tensor.dtype.lanes == 1:
        dtype = DTYPE_NAMES.get((tensor.dtype.code, tensor.dtype.bits))
    return CapsuleInfo(
        data_ptr=(tensor.data or 0) + tensor.byte_offset,
        device=(tensor.device.device_type, tensor.device.device_id),
        dtype=dtype,
        shape=shape,
        strides=strides,
        versioned=versioned,
    )


class CapsuleArray:
    """Adapts a bare capsule to the ``__dlpack__`` protocol that ``jax.dlpack`` expects.

    The capsule is handed out once; the producer already synchronised its stream when
    it created the capsule (the legacy protocol has no stream argument).
    """

    def __init__(self, capsule: Any, info: CapsuleInfo):
        self._capsule = capsule
        self._info = info

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        del stream, max_version, dl_device, copy
        capsule, self._capsule = self._capsule, None
        if capsule is None:
            raise ValueError("this DLPack capsule was already imported once.")
        return capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._info.device


# --- fast import on CPU ------------------------------------------------------------------
# `jax.dlpack.from_dlpack` spends ~8x longer in Python (backend lookup, stream query, and a
# `jnp.asarray` dtype canonicalisation) than the C++ import it wraps. On CPU, where there
# are no streams to synchronise, the bridges call that C++ function directly. It is not a
# public JAX API, so it is probed once on a small numpy array (values and aliasing must
# match); if anything differs or is missing, the public path is used everywhere.
# The dtype canonicalisation skipped here is done -- as an error -- by `check_x64`.

_KDL_CPU = 1


def _probe(check):
    """``check(to_buffer, to_capsule)`` on JAX's private DLPack calls, or ``None``.

    ``check`` returns the fast function after testing it on a small array; any failure
    (the calls missing, moved or behaving differently) means: use the public path.
    """
    fns = jax_dlpack_cpu()  # private JAX API: guarded by the checks below
    if fns is None:
        return None
    try:
        return check(*fns)
    except Exception:  # noqa: BLE001 -- any failure means: use the public path
        return None


def _check_import(to_buffer, _):
    cpu = jax.local_devices(backend="cpu")[0]
    probe = np.arange(16, dtype=np.float32)
    arr = to_buffer(probe.__dlpack__(), cpu, None, None, _KDL_CPU)
    if not (
        isinstance(arr, jax.Array)
        and arr.dtype == probe.dtype
        and np.array_equal(np.asarray(arr), probe)
    ):
        return None
    return lambda capsule: to_buffer(capsule, cpu, None, None, _KDL_CPU)


def _probe_fast_import():
    return _probe(_check_import)


_FAST_CPU_IMPORT = None
_PROBED = False


def import_dlpack(obj: Any, copy: bool | None = None) -> Any:
    """``jax.dlpack.from_dlpack(obj, copy=copy)``, faster for CPU producers with copy=None.

    GPU producers always take the public path, which passes JAX's stream to the
    producer's ``__dlpack__`` so both libraries' streams are ordered.
    """
    global _FAST_CPU_IMPORT, _PROBED
    if copy is None and obj.__dlpack_device__()[0] == _KDL_CPU:
        if not _PROBED:
            _FAST_CPU_IMPORT, _PROBED = _probe_fast_import(), True
        if _FAST_CPU_IMPORT is not None:
            return _FAST_CPU_IMPORT(obj.__dlpack__(stream=None))
    return jax.dlpack.from_dlpack(obj, copy=copy)


def _check_export(_, to_capsule):
    x = jax.device_put(np.arange(16, dtype=np.float32), jax.local_devices(backend="cpu")[0])
    capsule = to_capsule(x, stream=None)
    info = describe_capsule(capsule)
    back = np.from_dlpack(CapsuleArray(capsule, info))
    if not (
        info.data_ptr == x.unsafe_buffer_pointer()
        and info.dtype == "float32"
        and back.ctypes.data == x.unsafe_buffer_pointer()
        and np.array_equal(back, np.arange(16, dtype=np.float32))
    ):
        return None
    return lambda arr: to_capsule(arr, stream=None)


def _probe_fast_export():
    return _probe(_check_export)


_FAST_CPU_EXPORT = None
_PROBED_EXPORT = False


def export_dlpack(x: Any) -> Any:
    """A DLPack capsule of the single-device JAX array ``x`` if it lives on the CPU and the
    fast export is available, else ``None`` (callers then use ``x.__dlpack__`` through the
    consumer's ``from_dlpack``, which passes the consumer's stream on GPUs)."""
    global _FAST_CPU_EXPORT, _PROBED_EXPORT
    if not _PROBED_EXPORT:
        _FAST_CPU_EXPORT, _PROBED_EXPORT = _probe_fast_export(), True
    if _FAST_CPU_EXPORT is None or x.device.platform != "cpu":
        return None
    return _FAST_CPU_EXPORT(x)
