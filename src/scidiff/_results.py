"""The error policy shared by every solver: a result enumeration, `ok`, `stats`, `throw`.

Two channels, as in DESIGN.md:

* static mistakes (shapes, unknown methods, negative tolerances) raise
  ``ValueError``/``TypeError`` at call time -- see :func:`check_tolerances` and friends;
* runtime failures inside ``jit`` (max steps, step-size underflow, non-finite state,
  non-convergence) are values of :class:`RESULTS`. Every solution carries one as
  ``.result``; with ``throw=True`` :func:`raise_if_failed` turns a failure into an
  ``equinox.error_if`` error whose message names the cause (also under ``vmap``,
  where it raises if any batch member failed).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int

from ._compat import unvmap_max

__all__ = [
    "RESULTS",
    "SolveError",
    "is_successful",
    "AbstractSolution",
    "raise_if_failed",
    "raise_or_return",
    "check_tolerances",
]


class RESULTS(eqx.Enumeration):
    """Outcome of a solve. ``RESULTS.successful`` or a named failure.

    Compare with ``sol.result == scidiff.RESULTS.max_steps_reached`` (works under
    ``jit``/``vmap``); ``sol.ok`` is the same as ``sol.result == RESULTS.successful``.
    """

    successful = ""
    max_steps_reached = (
        "max_steps reached before the end of the interval: raise `max_steps`, loosen the "
        "tolerances, or use a stiff solver if the problem is stiff."
    )
    dt_underflow = (
        "step size underflow: the step size fell below the resolvable minimum 8 eps |t|; use a "
        "stiff solver (Kvaerno5, Rodas5, BDF) if the problem is stiff, check f for a "
        "singularity, or loosen tolerances the dtype cannot reach."
    )
    nonfinite = "non-finite value (NaN or Inf) in the state or its error estimate."
    nonconvergence = "the iteration did not converge within `maxiter` iterations."
    newton_nonconvergence = (
        "the Newton iteration of an implicit step did not converge (the step is rejected and "
        "retried with a smaller step)."
    )
    singular = "the matrix (or Jacobian) is singular to working precision."
    breakdown = "the Krylov iteration broke down (the operator may be singular or indefinite)."
    not_positive_definite = (
        "the Cholesky factorisation failed: the matrix is not symmetric positive definite "
        "(use method='lu')."
    )
    bracket_invalid = "the bracket (lo, hi) has no sign change: F(lo) and F(hi) have the same sign."
    line_search_failed = "the line search could not find a step that decreases the objective."
    event_occurred = "a terminal event stopped the integration."  # informational, `ok` is True
    event_overflow = (
        "an event crossed zero more often than its buffer holds: raise `Event(max_events=...)`."
    )
    nonfinite_initial = (
        "non-finite start: y0 or f(t0, y0, args) holds NaN or Inf; check the initial state and "
        "the vector field at t0."
    )
    invalid_tolerance = (
        "invalid tolerances: rtol/atol (traced) are negative, NaN, or both zero; pass "
        "non-negative values with at least one > 0."
    )
    invalid_t_eval = (
        "invalid t_eval (traced): save times must be finite, strictly monotone in the direction "
        "of integration and inside t_span."
    )
    invalid_t_span = (
        "invalid t_span (traced): t0 and t1 must be finite (t1 = +-inf only with a terminal "
        "event)."
    )
    event_nonfinite = (
        "an event's cond(t, y, args) returned NaN or Inf: its sign change cannot be located; make "
        "cond finite along the solution."
    )
    dtmin_reached = (
        "step size below dtmin: a step of PIDController(dtmin=...) was rejected and the "
        "controller asked for a smaller one; lower dtmin, loosen the tolerances, or use a stiff "
        "solver (Kvaerno5, Rodas5, BDF) if the problem is stiff."
    )
    invalid_jump_ts = (
        "invalid jump_ts (traced): jump times must be finite, sorted and inside t_span."
    )


def is_successful(result: RESULTS) -> Bool[Array, "..."]:
    """Success, or a terminal event (which is a successful way to stop)."""
    return (result == RESULTS.successful) | (result == RESULTS.event_occurred)


class AbstractSolution(eqx.Module):
    """Base for the objects every solver returns.

    Attributes:
        result: a :class:`RESULTS` value (batched under ``vmap``).
        stats: dict of integer arrays (steps, rejected steps, function evaluations,
            iterations -- each solver documents its keys).
    """

    result: eqx.AbstractVar[RESULTS]
    stats: eqx.AbstractVar[dict[str, Int[Array, "..."]]]

    @property
    def ok(self) -> Bool[Array, "..."]:
        """True where the solve succeeded (a terminal event counts as success)."""
        return is_successful(self.result)


class SolveError(eqx.EquinoxRuntimeError):
    """A solve called with ``throw=True`` failed; the message names the cause and the fix.

    Raised directly (one line, with where the solve stopped) when the solver was called
    outside ``jit``/``vmap``/``grad``; under those transformations the failure is raised by
    ``equinox.error_if`` at run time instead (an ``equinox.EquinoxRuntimeError``, or
    ``jax.errors.JaxRuntimeError`` wrapping it under a plain ``jax.jit``). A subclass of
    ``equinox.EquinoxRuntimeError``, so one ``except`` clause catches both.
    """


def raise_or_return(
    value: Any, result: RESULTS, throw: bool, describe: Any = None
) -> Any:
    """:func:`raise_if_failed`, raising at once when ``result`` is a concrete value.

    A solver whose compiled part ran without the check (``throw=False`` inside) calls this
    on its outputs: eagerly the failure becomes a :class:`SolveError` whose message is
    ``describe(message)`` (``describe`` may add the time reached, say), without equinox's
    framing; under a transformation (``result`` is a tracer) the check is traced as usual.
    """
    if not throw:
        return value
    try:
        codes = np.asarray(result._value)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        codes = None  # traced: checked at run time
    if codes is None or _FAILURE_HOOKS:
        return raise_if_failed(value, result, throw)
    codes = np.where(np.asarray(is_successful(result)), 0, codes)
    index = int(codes.max()) if codes.size else 0
    if index:
        message = RESULTS._index_to_message[index]
        raise SolveError(describe(message) if describe is not None else message)
    return value


def raise_if_failed(value: Any, result: RESULTS, throw: bool) -> Any:
    """Return ``value`` unchanged; if ``throw`` and ``result`` is a failure, raise.

    The error (an ``equinox.EquinoxRuntimeError``, raised at run time under ``jit``)
    carries the message of the failure from :class:`RESULTS`. Thread the returned value
    onwards so the check is not dead-code eliminated.
    """
    if not throw:
        return value
    # The worst failure's index (0 = none). Under vmap, `unvmap_max` reduces it across the
    # batch once; equinox's own batching of `error_if` would reduce the predicate and the
    # index separately (two reductions, four XLA kernels, more compile time).
    failed = jnp.logical_not(is_successful(result))
    index = unvmap_max(jnp.where(failed, result._value, 0))
    if _FAILURE_HOOKS:  # a graph-mode bridge is tracing: the status becomes an output
        return _FAILURE_HOOKS[-1](value, index)
    return eqx.branched_error_if(value, index > 0, index, RESULTS._index_to_message)


# Trace-time switch for the graph-mode bridges (scidiff.interop.tensorflow): equinox's
# check is a host callback, which exported/graph code cannot carry. While a bridge traces,
# it pushes ``hook(value, index) -> value`` here and carries ``index`` (0 = success, else
# the RESULTS value of the worst failure) out to the framework, which raises there.
_FAILURE_HOOKS: list[Any] = []


def check_tolerances(rtol: Any, atol: Any) -> None:
    """Raise ``ValueError`` for tolerances that are concretely negative (traced ones pass)."""
    for name, tol in (("rtol", rtol), ("atol", atol)):
        try:
            concrete = jnp.asarray(tol)
            bad = bool(jnp.any(concrete < 0))
        except jax.errors.ConcretizationTypeError:  # traced: checked at run time instead
            continue
        if bad:
            raise ValueError(f"`{name}` must be non-negative, got {tol!r}.")
