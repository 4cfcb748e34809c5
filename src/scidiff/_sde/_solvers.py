"""Fixed-step Itô SDE solvers with diagonal noise: Euler--Maruyama and Milstein.

For the Itô SDE ``dy = f(t, y) dt + g(t, y) dW`` with *diagonal* noise (``g`` has the
shape of ``y`` and multiplies an independent Brownian motion per component), one step
of size ``h`` with Brownian increment ``dW ~ N(0, h)`` is

* Euler--Maruyama: ``y_1 = y_0 + f h + g dW`` (strong order 1/2, weak order 1);
* Milstein: ``y_1 = y_0 + f h + g dW + (1/2) g (dg/dy) (dW^2 - h)`` (strong order 1,
  weak order 1), where ``dg/dy`` is the diagonal of the Jacobian of ``g``. It is computed
  as one Jacobian--vector product with a vector of ones, which equals the diagonal
  exactly when ``g_i`` depends on ``y_i`` only -- the usual meaning of diagonal noise,
  and an assumption of this solver (for noise coupling components, use Euler--Maruyama).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = ["AbstractSDESolver", "EulerMaruyama", "Milstein"]


def _axpy(y, *terms):
    return jax.tree_util.tree_map(lambda a, *b: (a + sum(b)).astype(a.dtype), y, *terms)


class AbstractSDESolver(eqx.Module):
    """One fixed step of an Itô SDE solver with diagonal noise."""

    strong_order: ClassVar[float]
    weak_order: ClassVar[float]

    @abc.abstractmethod
    def step(self, f, g, t0, h, y0, dW, args):
        """Return ``(y1, num_fevals)`` for the step ``t0 -> t0 + h`` with increment ``dW``."""


class EulerMaruyama(AbstractSDESolver):
    """Euler--Maruyama: ``y_1 = y_0 + f h + g dW``. Strong order 1/2, weak order 1.

    Example:
        >>> import jax, jax.numpy as jnp, scidiff
        >>> sol = scidiff.solve_sde(lambda t, y, a: -y, lambda t, y, a: 0.1 * jnp.ones_like(y),
        ...                         (0.0, 1.0), jnp.ones(3), key=jax.random.key(0), dt0=0.01,
        ...                         solver=scidiff.EulerMaruyama())
    """

    strong_order: ClassVar[float] = 0.5
    weak_order: ClassVar[float] = 1.0

    def step(self, f, g, t0, h, y0, dW, args):
        drift = f(t0, y0, args)
        diffusion = g(t0, y0, args)
        terms = (
            jax.tree_util.tree_map(lambda a, y: h.astype(y.dtype) * a, drift, y0),
            jax.tree_util.tree_map(lambda b, w: b * w, diffusion, dW),
        )
        return _axpy(y0, *terms), 2


class Milstein(AbstractSDESolver):
    """Itô Milstein for diagonal noise (``g_i`` depends on ``y_i`` only).

    ``y_1 = y_0 + f h + g dW + (1/2) g g' (dW^2 - h)``: strong order 1, weak order 1.

    Example:
        >>> import jax, jax.numpy as jnp, scidiff
        >>> sol = scidiff.solve_sde(lambda t, y, a: 0.5 * y, lambda t, y, a: 0.3 * y,
        ...                         (0.0, 1.0), jnp.ones(3), key=jax.random.key(0), dt0=0.01,
        ...                         solver=scidiff.Milstein())
    """

    strong_order: ClassVar[float] = 1.0
    weak_order: ClassVar[float] = 1.0

    def step(self, f, g, t0, h, y0, dW, args):
        drift = f(t0, y0, args)
        ones = jax.tree_util.tree_map(jnp.ones_like, y0)
        diffusion, dg = jax.jvp(lambda y: g(t0, y, args), (y0,), (ones,))
        terms = (
            jax.tree_util.tree_map(lambda a, y: h.astype(y.dtype) * a, drift, y0),
            jax.tree_util.tree_map(lambda b, w: b * w, diffusion, dW),
            jax.tree_util.tree_map(
                lambda b, d, w: 0.5 * b * d * (w * w - h.astype(w.dtype)), diffusion, dg, dW
            ),
        )
        return _axpy(y0, *terms), 3
