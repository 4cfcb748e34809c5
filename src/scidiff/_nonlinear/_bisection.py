"""Bisection for a scalar equation ``F(x) = 0`` on a bracket ``[lo, hi]`` with a sign change.

Each step halves the bracket, keeping the half whose endpoints' values of ``F`` differ
in sign, so the error after ``k`` steps is at most ``|hi - lo| / 2^(k+1)``; it stops when
that half-width is ``<= atol + rtol |x|`` or ``F(x) == 0``. Robust (needs only
continuity and the sign change) but linear: about 53 steps to float64 resolution.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from .._results import RESULTS

__all__ = ["bisection"]


def bisection(
    f: Callable[[Array], Array],
    lo: Array,
    hi: Array,
    rtol: Array,
    atol: Array,
    maxiter: int,
) -> tuple[Array, tuple[RESULTS, dict[str, Array]]]:
    """Returns ``(x, (result, stats))``; ``RESULTS.bracket_invalid`` if ``F(lo)`` and
    ``F(hi)`` have the same (nonzero) sign."""
    flo, fhi = f(lo), f(hi)
    valid = jnp.sign(flo) * jnp.sign(fhi) <= 0
    # Endpoints that are already roots.
    lo = jnp.where(fhi == 0, hi, lo)
    hi = jnp.where(flo == 0, lo, hi)
    flo = jnp.where(fhi == 0, fhi, flo)

    # rtol floored at 2 eps: a bracket cannot shrink below the spacing of floats.
    rtol_eff = jnp.maximum(rtol, 2 * jnp.finfo(lo.dtype).eps)

    def done(a, b, fa):
        mid = 0.5 * (a + b)
        return (0.5 * jnp.abs(b - a) <= atol + rtol_eff * jnp.abs(mid)) | (fa == 0)

    def cond(s):
        a, b, fa, k = s
        return valid & ~done(a, b, fa) & (k < maxiter)

    def body(s):
        a, b, fa, k = s
        mid = 0.5 * (a + b)
        fm = f(mid)
        keep_b = jnp.sign(fm) == jnp.sign(fa)  # root in [mid, b]
        a_new = jnp.where(keep_b, mid, a)
        b_new = jnp.where(keep_b, b, mid)
        fa_new = jnp.where(keep_b, fm, fa)
        # An exact zero at mid collapses the bracket onto it.
        a_new = jnp.where(fm == 0, mid, a_new)
        b_new = jnp.where(fm == 0, mid, b_new)
        fa_new = jnp.where(fm == 0, fm, fa_new)
        return a_new, b_new, fa_new, k + 1

    a, b, fa, k = lax.while_loop(cond, body, (lo, hi, flo, jnp.zeros((), jnp.int32)))
    x = jnp.where(fa == 0, a, 0.5 * (a + b))
    result = RESULTS.where(
        ~valid,
        RESULTS.bracket_invalid,
        RESULTS.where(done(a, b, fa), RESULTS.successful, RESULTS.nonconvergence),
    )
    return x, (result, {"num_iterations": k, "num_fevals": k + 2})
