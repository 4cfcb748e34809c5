"""torch <-> JAX data bridge over DLPack (the implementation of ``from_torch``/``to_torch``).

Zero-copy is the default wherever JAX can alias torch's memory: any compact layout,
including transposes (a permutation of row-major strides), as long as the data pointer
is aligned the way XLA needs it (64 bytes on CPU). Everything else is copied explicitly
and the copy is the only thing that changes: values, dtype and device never do.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import torch

from ._common import check_x64, leaf_name
from ._dlpack import export_dlpack, import_dlpack

__all__ = ["from_torch", "to_torch", "tensor_to_jax", "array_to_torch", "TORCH_DTYPES"]

# Every dtype both torch and JAX have (torch name -> numpy-style name).
TORCH_DTYPES = {
    torch.bool: "bool",
    torch.int8: "int8",
    torch.int16: "int16",
    torch.int32: "int32",
    torch.int64: "int64",
    torch.uint8: "uint8",
    torch.uint16: "uint16",
    torch.uint32: "uint32",
    torch.uint64: "uint64",
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.float32: "float32",
    torch.float64: "float64",
    torch.complex64: "complex64",
    torch.complex128: "complex128",
}


def is_compact(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """True if ``strides`` are a permutation of compact row-major strides for ``shape``.

    That is the set of layouts XLA can alias (a transposed view qualifies; a step-sliced,
    expanded (stride 0) or overlapping one does not). Size-1 axes may have any stride.
    """
    if 0 in shape:
        return True
    dims = sorted(((st, n) for n, st in zip(shape, strides) if n != 1), reverse=True)
    expected = 1
    for st, n in reversed(dims):
        if st != expected:
            return False
        expected *= n
    return True


def tensor_to_jax(t: Any, name: str, copy: bool | None) -> jax.Array:
    """One torch tensor to a JAX array; ``name`` is used in error messages."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(
            f"{name} is a {type(t).__module__}.{type(t).__qualname__}, not a torch.Tensor."
        )
    if t.layout != torch.strided:
        raise TypeError(
            f"{name} is a {t.layout} tensor; only dense (strided) tensors can be shared. "
            "Call `.to_dense()` first."
        )
    dtype = TORCH_DTYPES.get(t.dtype)
    if dtype is None:
        raise TypeError(
            f"{name} has dtype {t.dtype}, which JAX does not support. Supported: "
            + ", ".join(str(d).removeprefix("torch.") for d in TORCH_DTYPES)
            + "."
        )
    check_x64(dtype, name, "e.g. `t.to(torch.")
    if t.device.type == "meta":
        raise ValueError(f"{name} is a meta tensor: it has no data to share.")
    if t.requires_grad:
        t = t.detach()  # the data bridge carries no autograd history (use `wrap` for that)
    reasons = []
    if t.is_conj():  # a lazily conjugated view: DLPack has no conjugate bit
        reasons.append("its conjugate bit is set")
        t = t.resolve_conj()
    if t.is_neg():  # a lazily negated view: exporting it would drop the sign
        reasons.append("its negative bit is set")
        t = t.resolve_neg()
    if not t.is_contiguous() and not is_compact(tuple(t.shape), tuple(t.stride())):
        reasons.append(f"its strides {tuple(t.stride())} are not a compact layout")
        t = t.contiguous()
    if reasons and copy is False:
        raise ValueError(
            f"{name} cannot be shared without a copy because {' and '.join(reasons)}, "
            "but copy=False was given. Pass copy=None (copy only when needed) or copy=True."
        )
    if copy and not reasons:
        # jax.dlpack.from_dlpack(..., copy=True) still aliases on CPU (jax 0.10): copy here.
        t = t.clone()
    try:
        return import_dlpack(t, None if copy is None else False)
    except ValueError as err:  # JAX's "not aligned" message for copy=False
        raise ValueError(f"{name}: {err}") from None
    except RuntimeError as err:
        if t.device.type != "cpu":
            raise ValueError(
                f"{name} lives on {t.device}, which this JAX installation cannot use "
                f"(JAX devices: {jax.devices()}). Move it with `.cpu()` or install JAX "
                f"with support for that device. ({err})"
            ) from None
        raise


def array_to_torch(x: Any, name: str, copy: bool | None) -> torch.Tensor:
    """One JAX array to a torch tensor; ``name`` is used in error messages."""
    if isinstance(x, jax.core.Tracer):
        raise TypeError(
            f"{name} is a traced JAX value (you are inside jit/grad/vmap): only concrete "
            "arrays can be handed to torch. To use a JAX function from torch, wrap it with "
            "`scidiff.interop.torch.wrap`."
        )
    if getattr(x, "dtype", None) == jax.dtypes.float0:
        raise TypeError(
            f"{name} has dtype float0 (the tangent type of integer inputs), which has no "
            "torch equivalent."
        )
    if not isinstance(x, jax.Array):
        hint = " Use `torch.from_numpy` for numpy arrays." if isinstance(x, np.ndarray) else ""
        raise TypeError(
            f"{name} is a {type(x).__module__}.{type(x).__qualname__}, not a jax.Array.{hint}"
        )
    if len(x.sharding.device_set) > 1:
        if not x.is_fully_replicated:
            raise ValueError(
                f"{name} is sharded over {len(x.sharding.device_set)} devices; DLPack "
                "shares one buffer on one device. Gather it first (e.g. "
                "`jax.device_put(x, jax.devices()[0])`)."
            )
        x = x.addressable_data(0)
    capsule = export_dlpack(x)  # CPU fast path, else the protocol (streams on GPU)
    t = torch.from_dlpack(x if capsule is None else capsule)
    return t.clone() if copy else t


def from_torch(tree: Any, *, copy: bool | None = None) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    out = [tensor_to_jax(t, leaf_name("tree", p), copy) for p, t in leaves]
    return jax.tree_util.tree_unflatten(treedef, out)


def to_torch(tree: Any, *, copy: bool | None = None) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    out = [array_to_torch(x, leaf_name("tree", p), copy) for p, x in leaves]
    return jax.tree_util.tree_unflatten(treedef, out)
