"""A stable digest of a problem (functions, models, pytrees of arrays) for checkpoints.

A checkpoint is only resumed by the run that wrote it: the same right-hand side or
model, the same initial state, parameters, times and options. :func:`fingerprint` turns
those into a SHA-256 hex digest that is the same in every process on every machine
(no ``id()``, no memory addresses, no Python ``hash`` randomisation):

* an array leaf contributes its dtype, shape and bytes;
* a Python function its qualified name (not its module), byte code and constants, and, recursively, the
  values its closure captures and the argument defaults;
* an ``equinox.Module`` (a model) its type, its static fields (through the pytree
  structure) and its array leaves;
* anything else its ``repr`` with memory addresses removed.
"""

from __future__ import annotations

import functools
import hashlib
import re
import types
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["fingerprint"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _strip(text: str) -> str:
    return _ADDRESS.sub("", text)


def _update(h: Any, obj: Any, depth: int) -> None:
    if depth > 8:  # deep object graphs (recursive closures): the type is enough
        h.update(type(obj).__qualname__.encode())
        return
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        h.update(repr((type(obj).__name__, obj)).encode())
        return
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        _update_array(h, obj)
        return
    if isinstance(obj, functools.partial):
        h.update(b"partial")
        _update(h, obj.func, depth + 1)
        _update(h, obj.args, depth + 1)
        _update(h, sorted(obj.keywords.items()), depth + 1)
        return
    if isinstance(obj, types.MethodType):
        h.update(b"method")
        _update(h, obj.__func__, depth + 1)
        _update(h, obj.__self__, depth + 1)
        return
    if isinstance(obj, types.FunctionType):
        _update_function(h, obj, depth)
        return
    leaves, treedef = jax.tree_util.tree_flatten(obj)
    if len(leaves) == 1 and leaves[0] is obj:  # an opaque object (not a pytree)
        h.update(_strip(f"{type(obj).__module__}.{type(obj).__qualname__}:{obj!r}").encode())
        return
    h.update(_strip(str(treedef)).encode())
    for leaf in leaves:
        _update(h, leaf, depth + 1)


def _update_array(h: Any, x: Any) -> None:
    if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        h.update(f"key<{jax.random.key_impl(x)}>".encode())
        x = jax.random.key_data(x)
    a = np.asarray(x)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())


def _update_function(h: Any, fn: types.FunctionType, depth: int) -> None:
    code = fn.__code__
    h.update(fn.__qualname__.encode())  # not the module: a script imported or run as __main__
    h.update(code.co_code)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            h.update(const.co_code)
        else:
            _update(h, const, depth + 1)
    for cell in fn.__closure__ or ():
        try:
            _update(h, cell.cell_contents, depth + 1)
        except ValueError:  # an empty cell
            h.update(b"<empty cell>")
    _update(h, fn.__defaults__, depth + 1)


def fingerprint(*parts: Any) -> str:
    """A SHA-256 digest of ``parts`` that is identical in every process.

    Arguments:
        parts: anything: arrays, pytrees, Python functions, ``equinox`` modules.

    Returns:
        A 64-character hexadecimal string.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff._chunked._fingerprint import fingerprint
        >>> fingerprint(jnp.ones(3)) == fingerprint(jnp.ones(3))
        True
        >>> fingerprint(jnp.ones(3)) == fingerprint(jnp.ones(3, jnp.float32))
        False
    """
    h = hashlib.sha256()
    for part in parts:
        _update(h, part, 0)
        h.update(b"\x00")
    return h.hexdigest()
