r"""Yoshida's fourth-order symplectic integrator (triple-jump composition of leapfrog)."""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp
from jaxtyping import PyTree, Scalar

from ..._results import RESULTS
from .._base import StepOutput, VectorField, hermite_interpolate
from ._runge_kutta import linear_combination
from ._symplectic import AbstractSymplectic, call_pair, join_state, split_state

__all__ = ["Yoshida4"]

# H. Yoshida, "Construction of higher order symplectic integrators", Phys. Lett. A 150
# (1990) 262--268: three leapfrog steps of sizes w1 h, w0 h, w1 h with
# w1 = 1 / (2 - 2^(1/3)), w0 = 1 - 2 w1 (< 0) cancel the third-order error term.
_W1 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
_W0 = 1.0 - 2.0 * _W1
_DRIFTS = (_W1, _W0, _W1)  # c_i
_KICKS = (_W1 / 2, (_W1 + _W0) / 2, (_W0 + _W1) / 2, _W1 / 2)  # d_i (adjacent halves merged)


class Yoshida4(AbstractSymplectic):
    r"""Yoshida's 4th-order symplectic method: order 4, time-reversible, fixed step.

    For ``y = (q, p)`` with ``f(t, (q, p), args) = (G(p), F(q))`` (see
    :mod:`._symplectic`), the step composes three leapfrog steps of sizes
    :math:`w_1 h, w_0 h, w_1 h` with :math:`w_1 = 1/(2 - 2^{1/3})`,
    :math:`w_0 = 1 - 2w_1`:

    .. math::

        p \mathrel{+}= d_1 h F(q),\ q \mathrel{+}= c_1 h G(p),\
        p \mathrel{+}= d_2 h F(q),\ \dots,\ q \mathrel{+}= c_3 h G(p),\
        p \mathrel{+}= d_4 h F(q),

    :math:`c = (w_1, w_0, w_1)`, :math:`d = (w_1/2, (w_1+w_0)/2, (w_0+w_1)/2, w_1/2)`.

    State: ``f(t0, y0)``. Seven evaluations of ``f`` per step: six for the stages, one
    for ``f(t1, y1)``, which gives the exact derivatives at both ends for cubic Hermite
    dense output (order 3 inside the step).

    Raises:
        TypeError: if ``y0`` or the output of ``f`` is not a pair ``(q, p)``.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> f = lambda t, y, args: (y[1], -y[0])
        >>> solver = scidiff.Yoshida4()
        >>> y0 = (jnp.ones(()), jnp.zeros(()))
        >>> out = solver.step(f, 0.0, 0.1, y0, None, solver.init(f, 0.0, 0.1, y0, None))
        >>> bool(abs(out.y1[0] - jnp.cos(0.1)) < 1e-6)
        True
    """

    order: ClassVar[int] = 4

    def init(self, f: VectorField, t0: Scalar, t1: Scalar, y0: PyTree, args: Any) -> PyTree:
        del t1
        q0, p0 = split_state("Yoshida4", y0)
        return call_pair("Yoshida4", f, t0, q0, p0, args, y0)

    def step(
        self, f: VectorField, t0: Scalar, t1: Scalar, y0: PyTree, args: Any, state: PyTree
    ) -> StepOutput:
        q, p = split_state("Yoshida4", y0)
        vel0, force0 = state
        h = t1 - t0
        p = linear_combination(p, h, (_KICKS[0],), [force0])
        elapsed = 0.0
        for i, (ci, di) in enumerate(zip(_DRIFTS, _KICKS[1:])):
            vel = call_pair("Yoshida4", f, t0 + (elapsed + ci / 2) * h, q, p, args, y0)[0]
            q = linear_combination(q, h, (ci,), [vel])
            elapsed += ci
            t_kick = t1 if i == len(_DRIFTS) - 1 else t0 + elapsed * h
            force = call_pair("Yoshida4", f, t_kick, q, p, args, y0)[1]
            p = linear_combination(p, h, (di,), [force])
        f1 = call_pair("Yoshida4", f, t1, q, p, args, y0)
        y1 = join_state(y0, q, p)
        return StepOutput(
            y1=y1,
            y_error=None,
            dense_info=(y0, y1, join_state(y0, vel0, force0), join_state(y0, *f1)),
            state=f1,
            result=RESULTS.successful,
            num_fevals=jnp.asarray(7, dtype=jnp.int32),
        )

    def interpolate(self, t0: Scalar, t1: Scalar, dense_info: PyTree, t: Scalar) -> PyTree:
        y0, y1, f0, f1 = dense_info
        return hermite_interpolate(t0, t1, y0, y1, f0, f1, t)
