"""A stack of pytrees of one structure, stored as one 2-D array per dtype.

The checkpointed adjoint stores loop carries (time, state, step size, counters, ...) by
row: the forward pass every ``K`` iterations, the backward pass every iteration of a
segment. Stored leaf by leaf, each write and each read is one small XLA kernel per leaf
(a dozen per carry), and on CPU XLA's compile time grows with the number of kernels
(a few milliseconds each). Packed into one row per dtype, a write is one concatenation
and one ``dynamic_update_slice`` per dtype, a read one ``dynamic_slice``.

Example:
    >>> import jax.numpy as jnp
    >>> layout = RowLayout((jnp.zeros(3), jnp.zeros((), jnp.int32), jnp.ones(())))
    >>> rows = layout.write(layout.empty(4), 2, (jnp.arange(3.0), jnp.int32(7), jnp.ones(())))
    >>> [a.shape for a in rows]  # float64 (or float32) row of 4 numbers, int32 row of 1
    [(4, 4), (4, 1)]
    >>> int(layout.read(rows, 2)[1])
    7
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import PyTree

__all__ = ["RowLayout"]


class RowLayout:
    """How a pytree like ``template`` maps onto one row per dtype (static metadata)."""

    def __init__(self, template: PyTree):
        leaves, self.treedef = jax.tree_util.tree_flatten(template)
        self.shapes = [jnp.shape(v) for v in leaves]
        self.dtypes = [jnp.result_type(v) for v in leaves]
        self.group_dtypes: list = []
        self.slots: list[tuple[int, int, int]] = []  # per leaf: (group, offset, size)
        widths: list[int] = []
        for shape, dtype in zip(self.shapes, self.dtypes):
            if dtype not in self.group_dtypes:
                self.group_dtypes.append(dtype)
                widths.append(0)
            g = self.group_dtypes.index(dtype)
            size = math.prod(shape)
            self.slots.append((g, widths[g], size))
            widths[g] += size
        self.widths = widths

    def empty(self, n: int) -> tuple:
        """``n`` zero rows."""
        return tuple(jnp.zeros((n, w), d) for w, d in zip(self.widths, self.group_dtypes))

    def write(self, rows: tuple, i, tree: PyTree) -> tuple:
        """``rows`` with row ``i`` replaced by ``tree`` (``i`` may be traced)."""
        leaves = self.treedef.flatten_up_to(tree)
        parts: list[list] = [[] for _ in self.group_dtypes]
        for (g, _, _), v, shape, dtype in zip(self.slots, leaves, self.shapes, self.dtypes):
            if jnp.shape(v) != shape or jnp.result_type(v) != dtype:
                raise TypeError(
                    f"row leaf is {jnp.result_type(v)}{list(jnp.shape(v))}, the layout "
                    f"expects {dtype}{list(shape)}"
                )
            parts[g].append(jnp.ravel(v))
        zero = jnp.zeros((), jnp.result_type(i))
        return tuple(
            jax.lax.dynamic_update_slice(r, jnp.concatenate(p)[None], (i, zero)) if p else r
            for r, p in zip(rows, parts)
        )

    def read(self, rows: tuple, i) -> PyTree:
        """Row ``i`` as a pytree like the template."""
        zero = jnp.zeros((), jnp.result_type(i))
        flat = [jax.lax.dynamic_slice(r, (i, zero), (1, w))[0] for r, w in zip(rows, self.widths)]
        leaves = [
            flat[g][off : off + size].reshape(shape)
            for (g, off, size), shape in zip(self.slots, self.shapes)
        ]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)
