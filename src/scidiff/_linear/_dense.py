"""Direct solves: LU with partial pivoting and Cholesky, on a dense matrix.

A matrix-free operator is materialised column by column (``A e_j`` under ``vmap``),
which costs ``n`` products with ``A``: fine for the small systems (Newton steps on
a few hundred unknowns) where a direct solve is the right tool.

``solve(rhs)`` and ``transpose_solve(rhs)`` share one factorisation:
``A = P L U`` gives ``A^T x = r`` by ``lu_solve(..., trans=1)``; Cholesky
``A = L L^H`` is symmetric, so it is its own transpose.

Failure detection (no exception is possible inside ``jit``):

* LU: ``RESULTS.singular`` when ``min |u_ii| <= eps max |u_ii|`` (the reciprocal
  condition estimate LAPACK's ``gecon`` would compare with ``eps``, bounded here by
  the diagonal of ``U``) or the solution is not finite;
* Cholesky: ``RESULTS.not_positive_definite`` when the factor is not finite (the
  factorisation of a matrix that is not positive definite produces NaN).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array

from .._results import RESULTS

__all__ = ["materialise", "lu_solvers", "cholesky_solvers"]

Solver = Callable[[Callable, Array], tuple[Array, tuple[RESULTS, dict[str, Array]]]]


def materialise(matvec: Callable[[Array], Array], n: int, dtype) -> Array:
    """The dense ``(n, n)`` matrix of a linear map on flat vectors."""
    return jax.vmap(matvec, in_axes=0, out_axes=1)(jnp.eye(n, dtype=dtype))


def _stats() -> dict[str, Array]:
    zero = jnp.zeros((), jnp.int32)
    return {"num_iterations": zero, "num_restarts": zero}


def lu_solvers(matrix: Array) -> tuple[Solver, Solver]:
    """``(solve, transpose_solve)`` for ``lax.custom_linear_solve`` from one LU factorisation."""
    lu, piv = jsl.lu_factor(matrix)
    d = jnp.abs(jnp.diagonal(lu))
    eps = jnp.finfo(matrix.dtype).eps
    singular = ~(jnp.min(d) > eps * jnp.max(d)) | ~jnp.all(jnp.isfinite(d))

    def make(trans: int) -> Solver:
        def solve(_matvec, rhs):
            x = jsl.lu_solve((lu, piv), rhs, trans=trans)
            bad = singular | ~jnp.all(jnp.isfinite(x))
            return x, (RESULTS.where(bad, RESULTS.singular, RESULTS.successful), _stats())

        return solve

    return make(0), make(1)


def cholesky_solvers(matrix: Array) -> tuple[Solver, Solver]:
    """``(solve, solve)``: Cholesky ``A = L L^H`` of the lower triangle of ``matrix``."""
    factor = jnp.linalg.cholesky(matrix)
    not_pd = ~jnp.all(jnp.isfinite(factor))

    def solve(_matvec, rhs):
        x = jsl.cho_solve((factor, True), rhs)
        bad = not_pd | ~jnp.all(jnp.isfinite(x))
        return x, (RESULTS.where(bad, RESULTS.not_positive_definite, RESULTS.successful), _stats())

    return solve, solve
