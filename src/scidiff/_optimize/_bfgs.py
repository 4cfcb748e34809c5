"""BFGS as an optax transformation: a dense inverse-Hessian approximation ``H``.

``scale_by_bfgs()`` maps the gradient ``g`` to ``H g`` (chain it with ``optax.scale(-1)``
and a line search, as :func:`bfgs` does). After each step ``s = x_{k+1} - x_k``,
``y = g_{k+1} - g_k`` with curvature ``s^T y > 0`` (which the zoom line search's Wolfe
conditions guarantee), the inverse update is (Nocedal & Wright, eq. 6.17)

    H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T,     rho = 1 / (s^T y)

and before the first update ``H_0 = (s^T y / y^T y) I`` (eq. 6.20). Steps with
``s^T y <= 0`` skip the update. ``O(n^2)`` memory: for large ``n`` use L-BFGS.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import optax
from jaxtyping import Array

__all__ = ["scale_by_bfgs", "bfgs"]


class ScaleByBfgsState(NamedTuple):
    inv_hessian: Array
    params: Array
    grad: Array
    count: Array


def scale_by_bfgs() -> optax.GradientTransformation:
    """Precondition flat gradients by the BFGS inverse-Hessian approximation."""

    def init(params: Any) -> ScaleByBfgsState:
        if params.ndim != 1:
            raise ValueError("scale_by_bfgs works on flat (1-D) parameter vectors.")
        n = params.shape[0]
        return ScaleByBfgsState(
            jnp.eye(n, dtype=params.dtype),
            jnp.zeros_like(params),
            jnp.zeros_like(params),
            jnp.zeros((), jnp.int32),
        )

    def update(updates: Any, state: Any, params: Any = None) -> tuple[Array, ScaleByBfgsState]:
        grad = updates
        if params is None:
            raise ValueError("scale_by_bfgs needs `params` in update (the current point).")
        H = state.inv_hessian
        s = params - state.params
        y = grad - state.grad
        sy = s @ y
        good = (state.count > 0) & (sy > jnp.finfo(sy.dtype).tiny)
        rho = 1 / jnp.where(good, sy, 1)
        # First update: rescale the identity to the curvature along s (N&W 6.20).
        H = jnp.where(good & (state.count == 1), (sy / jnp.where(good, y @ y, 1)) * H, H)
        Hy = H @ y
        # Expanded form of (I - rho s y^T) H (I - rho y s^T) + rho s s^T (H symmetric).
        new = (
            H
            - rho * (jnp.outer(s, Hy) + jnp.outer(Hy, s))
            + (rho**2 * (y @ Hy) + rho) * jnp.outer(s, s)
        )
        H = jnp.where(good, new, H)
        return H @ grad, ScaleByBfgsState(H, params, grad, state.count + 1)

    return optax.GradientTransformation(init, update)


def bfgs(max_linesearch_steps: int = 15) -> optax.GradientTransformationExtraArgs:
    """BFGS with optax's zoom (strong Wolfe) line search, like ``optax.lbfgs``."""
    return optax.chain(
        scale_by_bfgs(),
        optax.scale(-1.0),
        optax.scale_by_zoom_linesearch(
            max_linesearch_steps=max_linesearch_steps, initial_guess_strategy="one"
        ),
    )
