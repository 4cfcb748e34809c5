"""Direct solves on a dense matrix: LU with partial pivoting and Cholesky.

A matrix-free operator is materialised column by column (``A e_j`` under ``vmap``),
which costs ``n`` products with ``A``: fine for the small systems (Newton steps on
a few hundred unknowns) where a direct solve is the right tool.

One factorisation serves both ``A x = b`` and ``A^T x = b``: ``A = P L U`` gives the
transposed solve by ``lu_solve(..., trans=1)``; Cholesky ``A = L L^H`` is symmetric.

Failure detection (no exception is possible inside ``jit``):

* LU: ``RESULTS.singular`` when ``min |u_ii| <= eps max |u_ii|`` (the reciprocal
  condition estimate LAPACK's ``gecon`` would compare with ``eps``, bounded here by
  the diagonal of ``U``) or the solution is not finite;
* Cholesky: ``RESULTS.not_positive_definite`` when the factor is not finite (the
  factorisation of a matrix that is not positive definite produces NaN) or when the
  matrix is not Hermitian to working precision (``||A - A^H||_max > 100 eps ||A||_max``;
  Cholesky reads only the lower triangle, so it would otherwise solve another system).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array

from .._results import RESULTS

__all__ = ["materialise", "lu_factor", "lu_compute", "cholesky_factor", "cholesky_compute",
           "hermitian_defect", "zero_stats"]  # fmt: skip


def materialise(matvec: Callable[[Array], Array], n: int, dtype) -> Array:
    """The dense ``(n, n)`` matrix of a linear map on flat vectors."""
    return jax.vmap(matvec, in_axes=0, out_axes=1)(jnp.eye(n, dtype=dtype))


def zero_stats() -> dict[str, Array]:
    zero = jnp.zeros((), jnp.int32)
    return {"num_iterations": zero, "num_restarts": zero}


def lu_factor(matrix: Array) -> tuple[Array, Array, Array]:
    """``(lu, piv, singular)`` of ``matrix`` (see the module docstring for ``singular``)."""
    lu, piv = jsl.lu_factor(matrix)
    if matrix.shape[0] == 0:  # no unknowns (an ODE step of an empty state): nothing to solve
        return lu, piv, jnp.zeros((), bool)
    d = jnp.abs(jnp.diagonal(lu))
    eps = jnp.finfo(matrix.dtype).eps
    singular = ~(jnp.min(d) > eps * jnp.max(d)) | ~jnp.all(jnp.isfinite(d))
    return lu, piv, singular


def lu_compute(
    lu: Array, piv: Array, singular: Array, rhs: Array, trans: int
) -> tuple[Array, RESULTS, dict[str, Array]]:
    x = jsl.lu_solve((lu, piv), rhs, trans=trans)
    bad = singular | ~jnp.all(jnp.isfinite(x))
    return x, RESULTS.where(bad, RESULTS.singular, RESULTS.successful), zero_stats()


def hermitian_defect(matrix: Array) -> Array:
    """True where ``matrix`` is not Hermitian to working precision."""
    eps = jnp.finfo(matrix.dtype).eps
    scale = jnp.max(jnp.abs(matrix))
    return jnp.max(jnp.abs(matrix - jnp.conj(matrix.T))) > 100 * eps * scale


def cholesky_factor(matrix: Array) -> tuple[Array, Array]:
    """``(factor, bad)``: lower Cholesky factor, and whether ``matrix`` is not HPD."""
    factor = jnp.linalg.cholesky(matrix)
    bad = ~jnp.all(jnp.isfinite(factor)) | hermitian_defect(matrix)
    return factor, bad


def cholesky_compute(
    factor: Array, bad: Array, rhs: Array
) -> tuple[Array, RESULTS, dict[str, Array]]:
    x = jsl.cho_solve((factor, True), rhs)
    bad = bad | ~jnp.all(jnp.isfinite(x))
    return x, RESULTS.where(bad, RESULTS.not_positive_definite, RESULTS.successful), zero_stats()
