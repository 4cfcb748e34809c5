r"""The flat vector an implicit solver works on; complex leaves as (real, imaginary) pairs.

The implicit solvers (ESDIRK, Rosenbrock, BDF) run their Newton iterations and linear
algebra on one flat vector. For a real state it is ``jax.flatten_util.ravel_pytree(y0)``,
as it always was. A state with complex leaves is flattened to a **real** vector of
length ``n_real + 2 n_complex``: each complex leaf contributes its real parts, then its
imaginary parts; real leaves keep their values (mixed real/complex pytrees are fine).

Why the real ``2n`` form rather than a complex Jacobian. Writing ``y = u + i v``, the
ODE ``y' = f(t, y)`` is the real system ``(u, v)' = (Re f, Im f)``, whose Jacobian

.. math::  \begin{pmatrix} \partial_u \mathrm{Re} f & \partial_v \mathrm{Re} f \\
                           \partial_u \mathrm{Im} f & \partial_v \mathrm{Im} f \end{pmatrix}

exists for *every* real-differentiable ``f``. A complex ``n x n`` Jacobian
(``jax.jacfwd(..., holomorphic=True)``) represents it only when ``f`` is holomorphic
(Cauchy--Riemann: ``\partial_u \mathrm{Re} f = \partial_v \mathrm{Im} f``,
``\partial_v \mathrm{Re} f = -\partial_u \mathrm{Im} f``); a right-hand side with
``jnp.conj``, ``jnp.abs``, ``jnp.real`` (a Schrödinger equation with ``|psi|^2 psi``, a
damping ``-gamma conj(y)``) would get a wrong Newton matrix, which for Rodas5 (the
Jacobian is part of the formula) and for the implicit-function-theorem derivatives of
every method means wrong answers, not just slower convergence. The real form is right
for all of them, costs about twice the flops of a complex LU of size ``n`` (``(2n)^3``
real versus ``n^3`` complex multiply-adds, a complex one being four real ones) and the
same number of Jacobian--vector products, and reuses the real linear algebra
(``LU``, ``GMRES``, a user's ``AbstractLinearSolver``) and its derivative rules as is.
Time, step sizes and tolerances stay real.

Norms. An error weight is ``atol + rtol |y_i|`` with ``|y_i|`` the *modulus* of the
complex entry (both of its slots get the same weight), and the RMS norm counts a
complex entry once (as :func:`scidiff._linear._operator.rms_norm` does on the pytree):
the weights returned by :func:`flat_weights` carry the factor ``sqrt(N / N_flat)``
(``N`` entries, ``N_flat`` slots), so that the RMS over the flat vector equals the RMS
over the entries with ``|.|``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, PyTree

__all__ = ["FlatLayout", "flat_weights"]


_DROPPED_IMAG = (
    "{what} has a complex leaf where `y0` has a real one: the imaginary part would be "
    "dropped. Make that leaf of `y0` complex (e.g. `y0.astype(jnp.complex128)`)."
)


def _is_complex(leaf) -> bool:
    return bool(jnp.issubdtype(jnp.result_type(leaf), jnp.complexfloating))


class FlatLayout:
    """How a state pytree shaped like ``y0`` maps to the solvers' flat vector (static).

    ``ravel``/``unravel`` convert (the output of ``f`` is raveled by ``ravel`` too);
    ``modulus`` gives ``|y_i|`` per slot (a complex entry's modulus on both its slots).
    """

    def __init__(self, y0: PyTree):
        leaves, self.treedef = jax.tree_util.tree_flatten(y0)
        self.complex = any(_is_complex(leaf) for leaf in leaves)
        self.shapes = [tuple(jnp.shape(leaf)) for leaf in leaves]
        self.dtypes = [jnp.result_type(leaf) for leaf in leaves]
        self.leaf_complex = [_is_complex(leaf) for leaf in leaves]
        sizes = [int(np.prod(s)) for s in self.shapes]
        self.num_entries = sum(sizes)
        if not self.complex:
            _, self._unravel_real = ravel_pytree(y0)
            self.dtype = None if not leaves else jnp.result_type(*self.dtypes)
            self.num_slots = self.num_entries
            return
        self.dtype = jnp.finfo(jnp.result_type(*self.dtypes)).dtype
        # Slot ranges per leaf: (start, size, is_complex); complex leaves take 2 * size.
        self.ranges = []
        partner = []
        start = 0
        for size, cplx in zip(sizes, self.leaf_complex):
            self.ranges.append((start, size, cplx))
            idx = np.arange(start, start + size)
            partner.append(np.concatenate([idx + size, idx]) if cplx else idx)
            start += 2 * size if cplx else size
        self.num_slots = start
        self.partner = np.concatenate(partner) if partner else np.zeros((0,), np.int64)
        self.slot_complex = self.partner != np.arange(self.num_slots)

    def ravel(self, tree: PyTree, what: str = "the state") -> Array:
        """The flat vector of ``tree`` (structured like ``y0``)."""
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        if not self.complex:
            if any(_is_complex(leaf) for leaf in leaves):
                raise TypeError(_DROPPED_IMAG.format(what=what))
            flat, _ = ravel_pytree(tree)
            return flat
        shapes = [tuple(jnp.shape(leaf)) for leaf in leaves]
        if treedef != self.treedef or shapes != self.shapes:
            raise ValueError(
                f"{what} must have the structure and leaf shapes of `y0` "
                f"({self.treedef}, shapes {self.shapes}), got {treedef}, shapes {shapes}."
            )
        parts = []
        for leaf, cplx in zip(leaves, self.leaf_complex):
            leaf = jnp.reshape(jnp.asarray(leaf), (-1,))
            if cplx:
                parts += [jnp.real(leaf).astype(self.dtype), jnp.imag(leaf).astype(self.dtype)]
            elif _is_complex(leaf):
                raise TypeError(_DROPPED_IMAG.format(what=what))
            else:
                parts.append(leaf.astype(self.dtype))
        return jnp.concatenate(parts)

    def unravel(self, v: Array) -> PyTree:
        """The pytree (the dtypes of ``y0``) of a flat vector."""
        if not self.complex:
            return self._unravel_real(v)
        leaves = []
        for (start, size, cplx), shape, dtype in zip(self.ranges, self.shapes, self.dtypes):
            if cplx:
                z = lax.complex(v[start : start + size], v[start + size : start + 2 * size])
            else:
                z = v[start : start + size]
            leaves.append(jnp.reshape(z, shape).astype(dtype))
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def modulus(self, v: Array) -> Array:
        """``|y_i|`` on every slot of ``v`` (the modulus of a complex entry on both)."""
        if not self.complex:
            return jnp.abs(v)
        mask = jnp.asarray(self.slot_complex)
        # |re + i im| through the complex abs, whose derivative at 0 is finite (0).
        return jnp.where(mask, jnp.abs(lax.complex(v, v[self.partner])), jnp.abs(v))


def flat_weights(y0: PyTree, v: Array, atol: Array, rtol: Array) -> Array:
    """Error weights ``atol + rtol |y|`` on the flat vector ``v`` of a state shaped like
    ``y0``, so that ``rms_norm(x / weights)`` over the flat slots is the RMS over the
    state's entries (``|.|`` for complex ones; see the module docstring)."""
    layout = FlatLayout(y0)
    w = atol + rtol * layout.modulus(v)
    if layout.num_slots == layout.num_entries:
        return w
    return w * jnp.asarray(np.sqrt(layout.num_entries / layout.num_slots), w.dtype)
