"""What ``solve_ivp`` returns: saved values, dense output, events, result and stats."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PyTree

from .._results import RESULTS, AbstractSolution
from ._base import AbstractODESolver

__all__ = ["ODESolution", "DenseInterpolation"]


class DenseInterpolation(eqx.Module):
    """The accepted steps of a solve and their continuous extensions (``dense=True``).

    Stored in the loop's increasing time ``s = d t`` (``d = sign(t1 - t0)``): step ``k``
    covers ``[t0s[k], ends[k]]`` (its interpolant is defined on ``[t0s[k], t1s[k]]``;
    ``ends[k] < t1s[k]`` only for a step cut short by a terminal event).
    """

    t0s: Float[Array, " max_steps"]
    t1s: Float[Array, " max_steps"]
    ends: Float[Array, " max_steps"]
    infos: PyTree
    direction: Float[Array, ""]
    num_steps: Int[Array, ""]
    solver: AbstractODESolver

    def evaluate(self, t: Any) -> PyTree:
        return _evaluate(self, jnp.asarray(t, self.t0s.dtype), False)

    def derivative(self, t: Any) -> PyTree:
        return _evaluate(self, jnp.asarray(t, self.t0s.dtype), True)

    def _evaluate_one(self, t, derivative: bool = False):
        s = self.direction * t
        k = jnp.searchsorted(self.ends, s, side="left")
        k = jnp.clip(k, 0, jnp.maximum(self.num_steps - 1, 0))
        info = jax.tree_util.tree_map(lambda b: b[k], self.infos)

        def y_of(t_):
            return self.solver.interpolate(self.t0s[k], self.t1s[k], info, self.direction * t_)

        if derivative:
            # Every solver's interpolant is a polynomial in t on its step: its tangent
            # along t (one jvp, the step index held fixed) is the exact derivative.
            y = jax.jvp(y_of, (t,), (jnp.ones_like(t),))[1]
        else:
            y = y_of(t)
        # Outside [t0, t_final] there is no solution to interpolate: NaN, never an
        # extrapolated number.
        last = self.ends[jnp.maximum(self.num_steps - 1, 0)]
        inside = (s >= self.t0s[0]) & (s <= last) & (self.num_steps > 0)
        return jax.tree_util.tree_map(lambda v: jnp.where(inside, v, jnp.nan), y)


@eqx.filter_jit
def _evaluate(interp: DenseInterpolation, t, derivative: bool):
    one = lambda t_: interp._evaluate_one(t_, derivative)  # noqa: E731
    if t.ndim > 0:
        flat = jax.vmap(one)(t.reshape(-1))
        return jax.tree_util.tree_map(lambda v: v.reshape(t.shape + v.shape[1:]), flat)
    return one(t)


class ODESolution(AbstractSolution):
    """The result of :func:`scidiff.solve_ivp`.

    Attributes:
        ts: ``(T,)`` save times: ``t_eval``, or ``[t_final]`` without it (``t1``, or the
            time of a terminal event), or with ``save_steps=True`` ``t0`` and the end of
            every accepted step (``T = max_steps + 1``). Slots never reached (after a
            terminal event or a failure; with ``save_steps`` after the last accepted
            step) hold ``inf``, their ``ys`` too.
        ys: the state at ``ts``, a pytree like ``y0`` with a leading axis ``T``; with
            ``save_fn``, ``save_fn(t, y(t), args)`` instead.
        result: ``RESULTS.successful``, ``RESULTS.event_occurred`` (a terminal event
            stopped the solve; ``ok`` is True) or the named failure.
        stats: ``num_steps`` (accepted), ``num_rejected``, ``num_fevals``, ``num_saved``
            (how many leading slots of ``ts``/``ys`` hold a saved value).
        event_ts, event_mask, event_ys: with ``events=``, the crossing times (``inf``
            beyond the last crossing), which slots hold a crossing, and the state there
            (always the state, also with ``save_fn``); one array (pytree) per event, a
            tuple of them when ``events`` was a sequence.
        interpolation: the dense output (``dense=True``), else ``None``; use
            :meth:`evaluate` and :meth:`derivative`.
        t_final: the time the solve reached: ``t1``, a terminal event's time, or where
            it failed (with ``throw=False``, read it to see where a failure happened).
    """

    ts: Float[Array, " T"]
    ys: PyTree
    result: RESULTS
    stats: dict[str, Int[Array, ""]]
    event_ts: Any = None
    event_mask: Bool[Array, "..."] | Any = None
    event_ys: Any = None
    interpolation: DenseInterpolation | None = None
    t_final: Float[Array, ""] | Any = None

    def evaluate(self, t: Any) -> PyTree:
        """The solution at ``t`` (scalar or array of times) from the dense output.

        Inside ``[t0, t_final]`` (``t_final``: ``t1``, or where a terminal event or a
        failure stopped the solve) this is the solver's own interpolant of the step that
        contains ``t``; outside it the result is NaN (never an extrapolated value).

        Raises:
            ValueError: the solve was run without ``dense=True``.
        """
        if self.interpolation is None:
            raise ValueError(
                "`evaluate` needs dense output: call solve_ivp(..., dense=True) (or use "
                "`t_eval=` to save at known times)."
            )
        return self.interpolation.evaluate(t)

    def derivative(self, t: Any) -> PyTree:
        r"""The time derivative of the dense output at ``t`` (scalar or array of times).

        Inside ``[t0, t_final]`` this is :math:`\mathrm{d}\tilde y/\mathrm{d}t` of the
        solver's interpolant :math:`\tilde y` on the step containing ``t`` (at a step's
        end, the step that ends there), exact for its polynomial (by ``jax.jvp`` in
        ``t``): it approximates ``f(t, y(t), args)`` to about the solver's accuracy.
        NaN outside it, like :meth:`evaluate`. Differentiable with respect to ``y0``
        and ``args`` (through the solve). The state, also with ``save_fn``.

        Raises:
            ValueError: the solve was run without ``dense=True``.

        Example:
            >>> import jax.numpy as jnp, scidiff
            >>> sol = scidiff.solve_ivp(lambda t, y, a: jnp.cos(t) * jnp.ones(1), (0.0, 3.0),
            ...                         jnp.zeros(1), dense=True)
            >>> bool(jnp.allclose(sol.derivative(jnp.array([0.5, 2.0]))[:, 0],
            ...                   jnp.cos(jnp.array([0.5, 2.0])), atol=1e-4))
            True
        """
        if self.interpolation is None:
            raise ValueError(
                "`derivative` needs dense output: call solve_ivp(..., dense=True) (or save "
                "f(t, y, args) at known times with `t_eval=` and `save_fn=`)."
            )
        return self.interpolation.derivative(t)
