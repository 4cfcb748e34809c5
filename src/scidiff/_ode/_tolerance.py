r"""Per-component tolerances: ``rtol``/``atol`` as scalars, arrays or pytrees like ``y``.

A tolerance is either a scalar array (the same for every component) or a pytree that is
a *prefix* of the state: one array per leaf of ``y`` that broadcasts to that leaf (an
array covering a whole subtree also works: :class:`~scidiff.Backsolve` gives its
parameter cotangents one scalar). The error weight of component ``i`` is

.. math::

    w_i = \mathrm{atol}_i + \mathrm{rtol}_i\, |y_i|,

and every norm in the loop (the step's error, the automatic initial step, the implicit
solvers' Newton test and BDF's order selection) divides by it elementwise, as scipy and
DifferentialEquations.jl do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, PyTree

__all__ = ["is_scalar_tolerance", "tol_map", "flat_tolerance", "min_tolerance", "augment_tolerance"]


def is_scalar_tolerance(tol: Any) -> bool:
    """Whether ``tol`` is one number for every component (a 0-d array or a Python number)."""
    return jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(tol)) and jnp.ndim(tol) == 0


def tol_map(fn: Callable, tol: Any, tree: PyTree, *rest: PyTree) -> PyTree:
    """``fn(tol_leaf, leaf, *rest_leaves)`` over the leaves of ``tree``, where ``tol`` is a
    prefix of ``tree`` (a single array covers the whole tree)."""

    def outer(t, sub, *subs):
        return jax.tree_util.tree_map(lambda *leaves: fn(t, *leaves), sub, *subs)

    return jax.tree_util.tree_map(outer, tol, tree, *rest)


def flat_tolerance(tol: Any, y: PyTree, dtype: Any) -> Array:
    """``tol`` for the implicit solvers' flat vector of ``y``: a scalar stays a scalar,
    anything else is broadcast to each leaf and flattened alike -- a complex leaf takes two
    slots per entry (real parts, then imaginary parts: ``_solvers/_flat_state.py``), both
    with the entry's tolerance."""
    if is_scalar_tolerance(tol):
        return jnp.asarray(tol, dtype)
    full = tol_map(lambda t, v: jnp.broadcast_to(jnp.asarray(t, dtype), jnp.shape(v)), tol, y)
    if not any(jnp.iscomplexobj(v) for v in jax.tree_util.tree_leaves(y)):
        flat, _ = ravel_pytree(full)
        return flat.astype(dtype)
    parts = []
    for t, v in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(y)):
        t = jnp.reshape(t, (-1,)).astype(dtype)
        parts += [t, t] if jnp.iscomplexobj(v) else [t]
    return jnp.concatenate(parts)


def min_tolerance(tol: Any) -> Array:
    """The smallest entry of ``tol`` (``inf`` when it has none): a scalar summary, e.g.
    for BDF's Newton tolerance, which scipy derives from a scalar ``rtol``."""
    leaves = [jnp.min(v) for v in jax.tree_util.tree_leaves(tol) if jnp.size(v) > 0]
    if not leaves:
        return jnp.asarray(jnp.inf)
    return jnp.min(jnp.stack(leaves))


def augment_tolerance(tol: Any) -> Any:
    """The tolerance of an augmented state ``(y, a, extra)`` (Backsolve's adjoint system:
    the state, its cotangent, the parameter cotangents): ``tol`` itself when scalar, else
    ``y``'s tolerance for ``y`` and ``a`` and the smallest entry for ``extra``."""
    if is_scalar_tolerance(tol):
        return tol
    low = min_tolerance(tol)
    low = jnp.where(jnp.isfinite(low), low, 1.0)
    return (tol, tol, low)  # `low` covers the whole `extra` subtree (a prefix, see tol_map)
