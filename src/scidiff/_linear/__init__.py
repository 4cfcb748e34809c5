"""Linear systems: dense (LU, Cholesky) and Krylov (CG, GMRES, BiCGSTAB) solvers behind
:func:`scidiff.linear_solve`, differentiated implicitly through ``lax.custom_linear_solve``."""
