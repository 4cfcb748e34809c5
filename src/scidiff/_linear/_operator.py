"""Turn ``(A, b, M, x0)`` as the user gives them into flat-vector form, checking them.

Every solver in this package works on one flat vector of length ``n``: a pytree
right-hand side is raveled (a single array leaf is just reshaped, which XLA does for
free), a matrix-free ``A`` is wrapped as ``v -> ravel(A(unravel(v)))`` and a dense
``A`` as ``v -> A @ v``. The solution is unraveled back to the structure of ``b``.

All checks here are static (shapes, dtypes, tree structure): a mistake raises
``ValueError``/``TypeError`` at call time with the fix in the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from .._results import RESULTS

__all__ = [
    "FlatProblem", "flatten_problem", "vdot_real", "norm", "rms_norm", "ravel_fns", "solve_dtype",
]  # fmt: skip


class FlatProblem(NamedTuple):
    """A linear system ``A x = b`` on flat vectors of length ``n``.

    Attributes:
        matvec: ``v -> A v`` on flat vectors.
        b: the flat right-hand side (already in the solve dtype).
        x0: flat initial guess, or ``None``.
        precond: ``v -> M v`` on flat vectors, or ``None`` (identity).
        matrix: the dense matrix when ``A`` was given as one, else ``None``.
        M_matrix: the dense preconditioner when ``M`` was given as a matrix, else ``None``.
        unravel: flat solution -> pytree with the structure of ``b``.
        n: the number of unknowns.
    """

    matvec: Callable[[Array], Array]
    b: Array
    x0: Array | None
    precond: Callable[[Array], Array] | None
    matrix: Array | None
    M_matrix: Array | None
    unravel: Callable[[Array], PyTree]
    n: int


def vdot_real(a: Array, b: Array) -> Array:
    """``Re <a, b>`` (conjugating ``a``), the inner product every Krylov method uses."""
    return jnp.real(jnp.vdot(a, b))


def krylov_result(converged: Array, broke: Array, residual: Array) -> RESULTS:
    """Outcome of a Krylov solve: success, else breakdown (flagged, or a non-finite
    residual), else non-convergence within ``maxiter``."""
    failed = RESULTS.where(
        broke | ~jnp.isfinite(residual), RESULTS.breakdown, RESULTS.nonconvergence
    )
    return RESULTS.where(converged, RESULTS.successful, failed)


def norm(a: Array) -> Array:
    """Euclidean norm of a flat vector."""
    return jnp.sqrt(vdot_real(a, a))


def rms_norm(x: PyTree) -> Array:
    """Root mean square over every element of every leaf (``|.|`` for complex leaves):
    the scaled norm of error estimates and Newton corrections (``1`` = at tolerance).
    Zero-size leaves count for nothing; with no elements at all the norm is ``0``."""
    leaves = jax.tree_util.tree_leaves(x)
    size = sum(v.size for v in leaves)
    if size == 0:  # no components (an empty state): nothing is out of tolerance
        dtype = jnp.result_type(*leaves) if leaves else jnp.float32
        return jnp.zeros((), jnp.finfo(dtype).dtype)
    total = sum(jnp.sum(jnp.abs(v) ** 2) for v in leaves if v.size)
    return jnp.sqrt(total / size)


def ravel_fns(tree: PyTree, dtype, flatten: bool = True) -> tuple[Callable, Callable]:
    """``ravel(tree) -> (n,)`` and its inverse, for trees shaped like ``tree``.

    With ``flatten=False`` a single-leaf tree keeps its leaf's shape (``ravel`` only
    casts): shape-agnostic methods (CG, BiCGSTAB) then run on the user's array as is,
    which lets XLA fuse the operator into the vector updates exactly as it would
    without scidiff in between.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    shapes = [jnp.shape(leaf) for leaf in leaves]
    sizes = [int(np.prod(s)) for s in shapes]
    splits = np.cumsum(sizes)[:-1].tolist()
    if not flatten and len(leaves) == 1:

        def keep(t):
            return jnp.asarray(jax.tree_util.tree_leaves(t)[0]).astype(dtype)

        return keep, lambda v: jax.tree_util.tree_unflatten(treedef, [v])

    def ravel(t):
        ls = jax.tree_util.tree_leaves(t)
        if len(ls) == 1:
            return jnp.reshape(ls[0], (-1,)).astype(dtype)
        return jnp.concatenate([jnp.reshape(leaf, (-1,)).astype(dtype) for leaf in ls])

    def unravel(v):
        if len(sizes) == 1:
            return jax.tree_util.tree_unflatten(treedef, [jnp.reshape(v, shapes[0])])
        parts = jnp.split(v, splits)
        return jax.tree_util.tree_unflatten(
            treedef, [jnp.reshape(p, s) for p, s in zip(parts, shapes)]
        )

    return ravel, unravel


def solve_dtype(*dtypes) -> Any:
    dtype = jnp.result_type(*dtypes)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, float)  # ints/bools -> the default float dtype
    return dtype


def _structure(tree: PyTree) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple(tuple(jnp.shape(leaf)) for leaf in leaves)


def _describe(tree: PyTree) -> str:
    """Shapes and dtypes of the leaves, e.g. ``float32[3]`` (the real dtype of each)."""

    def one(leaf):
        return f"{jnp.result_type(leaf).name}{list(jnp.shape(leaf))}"

    return str(jax.tree_util.tree_map(one, tree))


def _check_same_structure(name: str, tree: PyTree, b: PyTree, what: str) -> None:
    if _structure(tree) != _structure(b):
        raise ValueError(
            f"{name} must have the same pytree structure and leaf shapes as `b`{what}: "
            f"got {_describe(tree)} but `b` is {_describe(b)}."
        )


def flatten_problem(
    A: Any, b: PyTree, M: Any = None, x0: PyTree = None, flatten: bool = True
) -> FlatProblem:
    """Check ``A``, ``b``, ``M``, ``x0`` statically and return the flat problem
    (``flatten=False``: a single-leaf ``b`` keeps its shape, see :func:`ravel_fns`).

    Raises:
        ValueError: non-square or mis-sized dense ``A``/``M``; a callable ``A``/``M``
            whose output does not match ``b``; ``x0`` not shaped like ``b``; empty ``b``.
        TypeError: ``A`` neither an array nor a callable; non-array leaves in ``b``.
    """
    leaves = jax.tree_util.tree_leaves(b)
    if not leaves:
        raise ValueError("`b` is empty: it must contain at least one array.")
    for leaf in leaves:
        if not hasattr(leaf, "dtype") and not isinstance(leaf, (int, float, complex)):
            raise TypeError(f"every leaf of `b` must be an array, got {type(leaf).__name__}.")
    b_dtypes = [jnp.result_type(leaf) for leaf in leaves]

    if callable(A) and not hasattr(A, "shape"):
        try:
            out = jax.eval_shape(A, b)
        except Exception as err:  # the user's function failed on b: say so
            raise ValueError(
                "calling the matrix-free operator `A` on `b` failed; `A` must map a pytree "
                f"shaped like `b` to one shaped like `b` ({type(err).__name__}: {err})"
            ) from err
        _check_same_structure("the output of `A(b)`", out, b, " (A must be square)")
        dtype = solve_dtype(*b_dtypes, *[o.dtype for o in jax.tree_util.tree_leaves(out)])
        ravel, unravel = ravel_fns(b, dtype, flatten)
        matrix = None

        def matvec(v):
            return ravel(A(unravel(v)))

    else:
        try:
            A = jnp.asarray(A)
        except TypeError as err:
            raise TypeError(
                f"`A` must be a dense matrix (array) or a callable x -> A @ x, got {type(A)}."
            ) from err
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(
                f"a dense `A` must be a square 2-D matrix, got shape {A.shape}. For "
                "least-squares problems use scidiff.least_squares."
            )
        if len(leaves) != 1 or jnp.shape(leaves[0]) != (A.shape[0],):
            raise ValueError(
                f"with a dense `A` of shape {A.shape}, `b` must be a 1-D array of shape "
                f"({A.shape[0]},), got {_describe(b)}. Use vmap for several right-hand sides, "
                "or pass `A` as a callable for pytree unknowns."
            )
        dtype = solve_dtype(A.dtype, *b_dtypes)
        ravel, unravel = ravel_fns(b, dtype)
        matrix = A.astype(dtype)

        def matvec(v):
            return matrix @ v

    b_flat = ravel(b)
    n = int(b_flat.size)
    if n == 0:
        raise ValueError(
            f"the system is empty: `b` has no entries (got {_describe(b)}); a linear solve "
            "needs at least one unknown."
        )

    x0_flat = None
    if x0 is not None:
        _check_same_structure("`x0`", x0, b, "")
        x0_flat = ravel(x0)

    precond: Callable[[Array], Array] | None = None
    M_matrix = None
    if M is not None:
        if callable(M) and not hasattr(M, "shape"):
            try:
                out = jax.eval_shape(M, b)
            except Exception as err:
                raise ValueError(
                    "calling the preconditioner `M` on `b` failed; `M` must map a pytree "
                    f"shaped like `b` to one shaped like `b` ({type(err).__name__}: {err})"
                ) from err
            _check_same_structure("the output of `M(b)`", out, b, "")

            def precond_callable(v):
                return ravel(M(unravel(v)))

            precond = precond_callable

        else:
            M_matrix = jnp.asarray(M)
            if M_matrix.shape != (n, n):
                raise ValueError(
                    f"a dense preconditioner `M` must have shape ({n}, {n}) to match `b`, "
                    f"got {M_matrix.shape}."
                )
            M_matrix = M_matrix.astype(dtype)
            M_dense = M_matrix

            def precond_dense(v):
                return jnp.reshape(M_dense @ jnp.reshape(v, (-1,)), v.shape)

            precond = precond_dense

    return FlatProblem(matvec, b_flat, x0_flat, precond, matrix, M_matrix, unravel, n)
