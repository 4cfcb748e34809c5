"""torch <-> JAX data bridge over DLPack (the implementation of ``from_torch``/``to_torch``).

Zero-copy is the default wherever JAX can alias torch's memory: any compact layout,
including transposes (a permutation of row-major strides), as long as the data pointer
is aligned the way XLA needs it (64 bytes on CPU). Everything else is copied explicitly
and the copy is the only thing that changes: values, dtype and device never do.
"""

from __future__ import annotations

from typing import Any

import jax
import torch

from ._common import SHARED_DTYPES, check_x64, exportable_array, map_tree
from ._dlpack import export_dlpack, import_dlpack

__all__ = ["from_torch", "to_torch", "tensor_to_jax", "array_to_torch", "TORCH_DTYPES"]

# Every dtype torch and JAX share (torch dtype -> numpy-style name). DLPack 1.1 also
# carries two float8 formats both ways (JAX and torch agree on them).
TORCH_DTYPES = {
    getattr(torch, name): name for name in (*SHARED_DTYPES, "float8_e4m3fn", "float8_e5m2")
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
            f"{name} has dtype {t.dtype}, which cannot cross to JAX by DLPack. Supported: "
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
    x = exportable_array(
        x, name, "torch", TORCH_DTYPES.values(), "Use `torch.from_numpy` for numpy arrays."
    )
    capsule = export_dlpack(x)  # CPU fast path, else the protocol (streams on GPU)
    t = torch.from_dlpack(x if capsule is None else capsule)
    return t.clone() if copy else t


def from_torch(tree: Any, *, copy: bool | None = None) -> Any:
    return map_tree(tensor_to_jax, tree, copy)


def to_torch(tree: Any, *, copy: bool | None = None) -> Any:
    return map_tree(array_to_torch, tree, copy)
