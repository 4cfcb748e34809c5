r"""Leapfrog / velocity Verlet (Stormer--Verlet, kick-drift-kick) for separable Hamiltonians."""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from jaxtyping import PyTree, Scalar

from ..._results import RESULTS
from .._base import StepOutput, VectorField, hermite_interpolate
from ._runge_kutta import linear_combination
from ._symplectic import AbstractSymplectic, call_pair, join_state, split_state

__all__ = ["Leapfrog"]


class Leapfrog(AbstractSymplectic):
    r"""Leapfrog (velocity Verlet): symplectic, time-reversible, order 2, fixed step.

    For ``y = (q, p)`` with ``f(t, (q, p), args) = (G(p), F(q))`` (see
    :mod:`._symplectic`), one step of size ``h`` is kick--drift--kick:

    .. math::

        p_{1/2} = p_0 + \tfrac h2 F(q_0),\quad
        q_1 = q_0 + h\, G(p_{1/2}),\quad
        p_1 = p_{1/2} + \tfrac h2 F(q_1).

    State: the force ``F(q0)``, so each step costs two evaluations of ``f`` (one for
    ``G(p_{1/2})``, one for ``F(q_1)``; ``f`` returns both halves and one of them is
    unused each time). Dense output: ``p`` by cubic Hermite with the exact end
    derivatives ``F(q0)``, ``F(q1)``; ``q`` linearly (its derivative over the step is
    the constant ``G(p_{1/2})``), so the interpolant has order 2, like the method.

    Raises:
        TypeError: if ``y0`` or the output of ``f`` is not a pair ``(q, p)``.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> f = lambda t, y, args: (y[1], -y[0])  # harmonic oscillator, H = (p^2 + q^2)/2
        >>> solver = scidiff.Leapfrog()
        >>> y0 = (jnp.ones(()), jnp.zeros(()))
        >>> out = solver.step(f, 0.0, 0.1, y0, None, solver.init(f, 0.0, 0.1, y0, None))
        >>> [round(float(x), 6) for x in out.y1]
        [0.995, -0.09975]
    """

    order: ClassVar[int] = 2

    def init(self, f: VectorField, t0: Scalar, t1: Scalar, y0: PyTree, args: Any) -> PyTree:
        del t1
        q0, p0 = split_state("Leapfrog", y0)
        return call_pair("Leapfrog", f, t0, q0, p0, args, y0)[1]

    def step(
        self, f: VectorField, t0: Scalar, t1: Scalar, y0: PyTree, args: Any, state: PyTree
    ) -> StepOutput:
        q0, p0 = split_state("Leapfrog", y0)
        force0 = state
        h = t1 - t0
        p_half = linear_combination(p0, h, (0.5,), [force0])
        vel = call_pair("Leapfrog", f, t0 + 0.5 * h, q0, p_half, args, y0)[0]
        q1 = linear_combination(q0, h, (1.0,), [vel])
        force1 = call_pair("Leapfrog", f, t1, q1, p_half, args, y0)[1]
        p1 = linear_combination(p_half, h, (0.5,), [force1])
        return StepOutput(
            y1=join_state(y0, q1, p1),
            y_error=None,
            dense_info=(y0, q1, p1, force0, force1),  # y0 keeps the container (tuple/list)
            state=force1,
            result=RESULTS.successful,
            num_fevals=jnp.asarray(2, dtype=jnp.int32),
        )

    def interpolate(self, t0: Scalar, t1: Scalar, dense_info: PyTree, t: Scalar) -> PyTree:
        y0, q1, p1, force0, force1 = dense_info
        q0, p0 = y0
        s = (t - t0) / (t1 - t0)
        q = jax.tree_util.tree_map(lambda a, b: a + jnp.asarray(s, dtype=a.dtype) * (b - a), q0, q1)
        p = hermite_interpolate(t0, t1, p0, p1, force0, force1, t)
        return join_state(y0, q, p)
