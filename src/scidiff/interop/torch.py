"""PyTorch interop: ``from_torch``, ``to_torch``, ``wrap`` and ``TorchModule``.

Data (``from_torch``/``to_torch``) crosses by DLPack, without copying wherever the memory
layout allows; functions (``wrap``) cross with their gradients, so torch autograd can
differentiate through any JAX computation, scidiff's solvers included.

Aliasing policy (zero-copy means shared memory):

* ``from_torch(t)`` aliases ``t``'s storage. JAX assumes arrays never change, so do not
  write into ``t`` in place while the JAX array is in use -- the write *would* show through
  (tested). Pass ``copy=True`` for an independent snapshot.
* ``to_torch(x)`` aliases the JAX array's buffer: writing into the tensor in place would
  change an immutable JAX array. Pass ``copy=True`` if you will modify the tensor.
* ``copy=False`` guarantees sharing and raises ``ValueError`` where a copy is unavoidable
  (conjugate/negative-bit views, step-sliced or expanded strides, buffers not aligned to
  64 bytes on CPU).
"""

from __future__ import annotations

from typing import Any

from . import _torch_bridge
from ._common import SolveFailedError as SolveFailedError
from ._torch_wrap import TorchModule as TorchModule
from ._torch_wrap import wrap as wrap

__all__ = ["from_torch", "to_torch", "wrap", "TorchModule", "SolveFailedError"]


def from_torch(tree: Any, *, copy: bool | None = None) -> Any:
    """Convert a pytree of torch tensors to JAX arrays, zero-copy where DLPack allows.

    Every dtype both libraries have is supported: bool, int8-int64, uint8-uint64,
    float16, bfloat16, float32, float64, complex64, complex128. The result lives on the
    device the tensor is on (a CUDA tensor becomes an array on the matching JAX GPU).

    * ``requires_grad`` tensors are detached: data carries no gradient (use :func:`wrap`).
    * Conjugate- and negative-bit views are resolved (copied) first -- exporting them raw
      would return unconjugated or wrongly signed values.
    * Layouts XLA cannot alias (step slices, ``expand``-ed stride-0 axes) are copied into
      a compact tensor; transposes are shared as they are.

    Args:
        tree: a pytree whose leaves are torch tensors.
        copy: ``None`` (default): share memory where possible, copy otherwise.
            ``True``: always copy. ``False``: never copy; raise if unavoidable.

    Returns:
        The same pytree with ``jax.Array`` leaves.

    Raises:
        TypeError: a leaf is not a dense torch tensor, or its dtype has no JAX equivalent.
        ValueError: a 64-bit dtype while JAX's x64 mode is off (it would be narrowed),
            a meta tensor, or ``copy=False`` where a copy is needed.
        Each message names the leaf (``tree['key'][0]``) and the fix.

    Example:
        >>> import torch
        >>> from scidiff.interop import torch as sdtorch
        >>> t = torch.arange(6.0, dtype=torch.float32).reshape(2, 3)
        >>> x = sdtorch.from_torch({"a": t})["a"]
        >>> x.unsafe_buffer_pointer() == t.data_ptr()
        True
    """
    return _torch_bridge.from_torch(tree, copy=copy)


def to_torch(tree: Any, *, copy: bool | None = None) -> Any:
    """Convert a pytree of JAX arrays to torch tensors, zero-copy (JAX arrays are compact).

    Args:
        tree: a pytree whose leaves are ``jax.Array`` (concrete, not traced).
        copy: ``None``/``False``: share the buffer; ``True``: return independent tensors.

    Returns:
        The same pytree with ``torch.Tensor`` leaves on the array's device.

    Raises:
        TypeError: a leaf is not a ``jax.Array`` (or is a tracer inside ``jit``, or float0).
        ValueError: an array sharded over several devices.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff.interop import torch as sdtorch
        >>> sdtorch.to_torch((jnp.ones(2, dtype=jnp.float32),))
        (tensor([1., 1.]),)
    """
    return _torch_bridge.to_torch(tree, copy=copy)
