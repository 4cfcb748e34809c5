r"""``solve_ivp``: the entry point. Static checks here, everything traced in one jit.

Swept values (``t_span``, ``y0``, ``args``' array leaves and Python floats, ``rtol``,
``atol``, ``dt0``, ``t_eval``) are passed as arrays through one ``eqx.filter_jit``-ed
function whose static part is the configuration (``f``, solver, controller, adjoint,
events, ``dense``, ``max_steps``, the shapes): changing a value never recompiles.
``throw`` is not part of it: the failure check runs on the compiled solve's outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, PyTree, Real

from .._results import RESULTS, raise_or_return
from ._adjoint import AbstractAdjoint, Backsolve, RecursiveCheckpoint
from ._base import AbstractODESolver
from ._controller import AbstractStepSizeController, ConstantStepSize, PIDController
from ._event import Event
from ._inputs import (
    checked_jump_times,
    checked_save_times,
    checked_state,
    checked_times,
    checked_tolerances,
    concrete,
    runtime_input_result,
)
from ._jumps import sorted_jumps
from ._loop import LoopConfig, Params
from ._open_end import allows_open_end
from ._saving import check_save_fn_output
from ._slots import save_reached
from ._solution import DenseInterpolation, ODESolution

__all__ = ["solve_ivp"]


def _float_leaves_to_arrays(args: Any) -> Any:
    """Python floats in ``args`` become (weakly typed) arrays so they are traced, not
    baked into the compiled solve. Python ints/bools stay static (they may be sizes)."""

    def conv(x):
        if isinstance(x, (float, complex)) and not isinstance(x, bool):
            return jnp.asarray(x)
        return x

    return jax.tree_util.tree_map(conv, args)


def solve_ivp(
    f: Callable[[Any, PyTree, Any], PyTree],
    t_span: Sequence[Any],
    y0: PyTree,
    *,
    args: Any = None,
    solver: AbstractODESolver | None = None,
    t_eval: Real[ArrayLike, " T"] | None = None,
    dense: bool = False,
    rtol: Any = None,
    atol: Any = None,
    dt0: Any = None,
    max_steps: int = 10_000,
    adjoint: AbstractAdjoint | None = None,
    events: Event | Sequence[Event] = (),
    throw: bool = True,
    controller: AbstractStepSizeController | None = None,
    chunks: int | None = None,
    checkpoint_dir: Any = None,
    checkpoint_every: int = 1,
    progress: bool = False,
    jump_ts: Real[ArrayLike, " J"] | None = None,
    save_steps: bool = False,
    save_fn: Callable[[Any, PyTree, Any], PyTree] | None = None,
) -> ODESolution:
    r"""Solve the initial value problem ``dy/dt = f(t, y, args)``, ``y(t0) = y0``.

    Adaptive methods accept a step when the RMS of ``error / (atol + rtol |y|)`` is at
    most 1 and choose the next one with a PID controller; fixed-step methods take steps
    of ``dt0``. ``t1 < t0`` integrates backwards. Works under ``jit``, ``vmap`` (over
    ``y0``, ``args``, times and tolerances) and ``grad`` (see ``adjoint``).

    Arguments:
        f: the vector field ``f(t, y, args) -> dy/dt``; its output must have ``y0``'s
            structure, shapes and dtypes.
        t_span: ``(t0, t1)``; ``t1 = inf`` (``-inf``) with a terminal event integrates
            until that event stops the solve.
        y0: the initial state, any pytree of floating arrays.
        args: anything ``f`` needs (a pytree; array leaves and Python floats are traced).
        solver: an :class:`AbstractODESolver` instance (default ``scidiff.Tsit5()``).
        t_eval: increasing (decreasing when integrating backwards) save times inside
            ``t_span``; ``None`` saves the final state only.
        dense: keep every step's interpolant so that ``sol.evaluate(t)`` works anywhere
            (memory ``O(max_steps)``).
        rtol, atol: relative and absolute tolerances, non-negative: scalars, or per
            component (as in scipy) an array that broadcasts to each leaf of ``y0`` or a
            pytree with ``y0``'s structure whose leaves broadcast to ``y0``'s; the error
            weight of component ``i`` is ``atol_i + rtol_i |y_i|`` (the implicit solvers'
            Newton iterations inherit them). ``None``: the dtype's defaults,
            ``rtol = max(1e-6, 100 eps)`` and ``atol = 1e-3 rtol`` with ``eps`` the
            state's machine epsilon: ``1e-6``/``1e-9`` in float64, ``1.2e-5``/``1.2e-8``
            in float32. Tolerances the dtype cannot resolve (``atol + rtol |y| <
            eps |y|``) warn at call time.
        dt0: the initial step (``None``: automatic), or the fixed step of non-adaptive
            solvers / ``ConstantStepSize``. Its magnitude is used.
        max_steps: the most steps (accepted plus rejected) before giving up.
        adjoint: how reverse mode differentiates the solve:
            :class:`RecursiveCheckpoint` (default), :class:`Backsolve`, or
            :class:`ForwardMode` for ``jax.jvp``/``jax.jacfwd``.
        events: an :class:`Event` or a sequence of them.
        throw: raise if the solve fails (``max_steps``, step-size underflow, non-finite
            state...); with ``False`` check ``sol.result``/``sol.ok`` instead.
        controller: ``None`` (a :class:`PIDController` for embedded methods, else
            :class:`ConstantStepSize`), or one of those explicitly.
        jump_ts: known discontinuities of ``f`` in time (a 1-D array, sorted, inside
            ``t_span``; traced): steps end exactly on each one, ``f`` is evaluated
            one-sided next to it and the solver restarts there (FSAL stage, BDF history),
            so the order of the method is kept across the jump (diffrax's
            ``PIDController(jump_ts=...)``, torchdiffeq's ``jump_t``).
        chunks, checkpoint_dir, checkpoint_every, progress: for long runs, solve over
            ``chunks`` consecutive equal sub-intervals on the host (not under
            ``jit``/``vmap``/``grad``; ``events`` and ``dense`` unsupported), with a
            progress bar between chunks and, with ``checkpoint_dir``, orbax checkpoints
            every ``checkpoint_every`` chunks that a rerun resumes from (bitwise the
            uninterrupted result). Needs ``pip install 'scidiff[checkpoint]'`` for
            checkpoints. See ``scidiff._chunked.solve_ivp_chunked``.
        save_steps: save ``t0`` and the end of every accepted step (SciPy's default,
            diffrax's ``SaveAt(steps=True)``) instead of ``t_eval``/the final state:
            ``sol.ts``/``sol.ys`` are then buffers of ``max_steps + 1`` rows, in order,
            padded with ``inf`` after the last saved entry (their count is
            ``sol.stats["num_saved"]``, ``num_steps + 1``); a terminal event's state is
            the last saved entry. Not with ``t_eval`` (pick one) nor ``Backsolve``.
        save_fn: ``save_fn(t, y, args) -> PyTree`` of floating arrays, applied at each
            save (``t_eval`` times, ``save_steps`` entries, the final save): ``sol.ys``
            holds ``save_fn(t, y(t), args)``, stacked along a leading axis, instead of
            the state. ``sol.evaluate``/``sol.derivative`` and ``sol.event_ys`` stay
            the state. Differentiable with ``RecursiveCheckpoint`` and ``ForwardMode``;
            ``Backsolve`` supports it for the final save only (no ``t_eval``).

    Returns:
        An :class:`ODESolution` (``ts``, ``ys``, ``result``, ``ok``, ``stats``, events,
        ``evaluate``).

    Raises:
        TypeError: ``f`` not callable, ``solver``/``adjoint``/``controller``/``events`` of
            the wrong type, non-floating ``y0``.
        ValueError: ``f``'s output does not match ``y0``; negative, NaN or mis-shaped
            tolerances; ``t_eval`` or ``jump_ts`` not sorted or outside ``t_span``; a
            fixed step without ``dt0``; ``Backsolve`` with events or dense output;
            ``save_steps`` with ``t_eval``; ``save_fn`` returning no arrays.
        scidiff.SolveError: with ``throw=True``, called eagerly: the named runtime
            failure and the time the solve reached, in one line.
        equinox.EquinoxRuntimeError: with ``throw=True`` under ``jit``/``vmap``/``grad``:
            the named runtime failure, raised at run time (``SolveError`` is a subclass,
            so ``except equinox.EquinoxRuntimeError`` catches both).

    ``t0 == t1`` returns ``y0`` at once (``ts = [t0]``, no steps), as scipy does.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.solve_ivp(lambda t, y, k: -k * y, (0.0, 2.0), jnp.ones(3),
        ...                         args=0.5, t_eval=jnp.linspace(0.0, 2.0, 5))
        >>> bool(jnp.allclose(sol.ys[:, 0], jnp.exp(-0.5 * sol.ts), rtol=1e-5))
        True
        >>> kick = lambda t, y, a: jnp.where(t < 1.0, 0.0, 1.0)  # switches on at t = 1
        >>> sol = scidiff.solve_ivp(kick, (0.0, 2.0), jnp.zeros(()), jump_ts=jnp.array([1.0]))
        >>> bool(abs(sol.ys[-1] - 1.0) < 1e-5)
        True

        Every accepted step, saving an observable (the sum of the state) only:

        >>> sol = scidiff.solve_ivp(lambda t, y, k: -k * y, (0.0, 2.0), jnp.ones(3), args=0.5,
        ...                         save_steps=True, save_fn=lambda t, y, k: y.sum(),
        ...                         max_steps=100)
        >>> n = int(sol.stats["num_saved"])
        >>> bool(jnp.allclose(sol.ys[:n], 3 * jnp.exp(-0.5 * sol.ts[:n]), rtol=1e-5))
        True
        >>> bool(jnp.isinf(sol.ts[n:]).all())  # padding after the last saved step
        True
    """
    if chunks is not None or checkpoint_dir is not None or progress:
        if jump_ts is not None:
            raise ValueError(
                "`jump_ts` is not supported with chunks/checkpoint_dir/progress (each chunk "
                "is its own solve): drop `jump_ts` or solve in one piece."
            )
        from .._chunked import solve_ivp_chunked

        if save_steps or save_fn is not None:
            raise ValueError(
                "save_steps/save_fn are not supported with chunks/checkpoint_dir/progress: "
                "save at `t_eval` and apply the function to sol.ys afterwards."
            )

        return solve_ivp_chunked(
            f, t_span, y0, chunks=chunks, checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every, progress=progress, args=args, solver=solver,
            t_eval=t_eval, dense=dense, rtol=rtol, atol=atol, dt0=dt0, max_steps=max_steps,
            adjoint=adjoint, events=events, throw=throw, controller=controller,
        )
    if not callable(f):
        raise TypeError(f"`f` must be callable as f(t, y, args), got {type(f).__name__}.")
    if solver is None:
        from .. import Tsit5

        solver = Tsit5()
    if isinstance(solver, type) and issubclass(solver, AbstractODESolver):
        raise TypeError(f"`solver` must be an instance: pass {solver.__name__}(), not the class.")
    if not isinstance(solver, AbstractODESolver):
        raise TypeError(
            "`solver` must be a scidiff ODE solver instance such as scidiff.Tsit5() or "
            f"scidiff.Kvaerno5(), got {solver!r}."
        )
    if controller is None:
        controller = PIDController() if solver.adaptive else ConstantStepSize()
    if isinstance(controller, type) and issubclass(controller, AbstractStepSizeController):
        raise TypeError(
            f"`controller` must be an instance: pass {controller.__name__}(), not the class."
        )
    if not isinstance(controller, AbstractStepSizeController):
        raise TypeError(
            "`controller` must be None, scidiff.PIDController(...), "
            "scidiff.ConstantStepSize() or another scidiff.AbstractStepSizeController, "
            f"got {controller!r}."
        )
    if controller.uses_error_estimate and not solver.adaptive:
        raise ValueError(
            f"{type(solver).__name__} has no error estimate, so {type(controller).__name__} "
            "cannot adapt its step: drop `controller` (fixed steps of `dt0`) or pick an "
            "embedded method such as Tsit5."
        )
    if adjoint is None:
        adjoint = RecursiveCheckpoint()
    if not isinstance(adjoint, AbstractAdjoint):
        raise TypeError(
            "`adjoint` must be scidiff.RecursiveCheckpoint(), scidiff.Backsolve() or "
            f"scidiff.ForwardMode(), got {adjoint!r}."
        )
    single_event = isinstance(events, Event)
    events = (events,) if single_event else events
    if not isinstance(events, (tuple, list)) or not all(isinstance(e, Event) for e in events):
        raise TypeError(f"`events` must be a scidiff.Event or a sequence of them, got {events!r}.")
    events = tuple(events)
    if not isinstance(dense, bool):
        raise TypeError(f"`dense` must be True or False, got {dense!r}.")
    if not isinstance(throw, bool):
        raise TypeError(f"`throw` must be True or False, got {throw!r}.")
    _check_saving(save_steps, save_fn, t_eval, adjoint)
    if isinstance(adjoint, Backsolve) and (events or dense):
        raise ValueError(
            "Backsolve() differentiates saved values only: it does not support `events` or "
            "`dense=True`. Use adjoint=scidiff.RecursiveCheckpoint() for those."
        )
    from ._solvers._symplectic import AbstractSymplectic

    if isinstance(adjoint, Backsolve) and isinstance(solver, AbstractSymplectic):
        raise ValueError(
            f"Backsolve() cannot run with {type(solver).__name__}(): the adjoint system is not "
            "a separable (q, p) pair. Use adjoint=scidiff.RecursiveCheckpoint() (or "
            "ForwardMode()) with symplectic solvers."
        )
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise ValueError(f"`max_steps` must be a positive int, got {max_steps!r}.")

    # --- the state, times, tolerances and steps (see _inputs.py) -----------------------
    y0, dtype = checked_state(y0)
    time_dtype = jnp.finfo(dtype).dtype
    t0, t1, span = checked_times(t_span, time_dtype, open_end=allows_open_end(events))
    rtol, atol, traced_tols = checked_tolerances(rtol, atol, time_dtype, y0)
    fixed = not (controller.uses_error_estimate and solver.adaptive)
    if dt0 is None:
        if fixed:
            raise ValueError(
                f"fixed steps ({type(solver).__name__} without error estimate, or a "
                f"controller that reads none, {type(controller).__name__}()) need the step: "
                "pass dt0=..."
            )
    else:
        dt0 = jnp.asarray(dt0, time_dtype)
        if dt0.shape != ():
            raise ValueError(f"`dt0` must be a scalar, got shape {dt0.shape}.")
        cdt = concrete(dt0)
        if cdt is not None:
            if not (np.isfinite(cdt) and cdt != 0):
                raise ValueError(f"`dt0` must be finite and non-zero, got {float(cdt)}.")
            # A magnitude (positive) is always fine; a signed step must point from t0 to t1.
            if span is not None and span[1] > span[0] and cdt < 0:
                raise ValueError(
                    f"`dt0`={float(cdt)} points against the integration direction "
                    f"(t0={span[0]} -> t1={span[1]}): pass the step's magnitude."
                )
        dt0 = jnp.abs(dt0)
    t_eval, traced_t_eval = checked_save_times(t_eval, time_dtype, span)
    jump_ts, traced_jumps = checked_jump_times(jump_ts, time_dtype, span)

    problem = _Problem(f=f, t0=t0, t1=t1, y0=y0, args=_float_leaves_to_arrays(args))
    options = _Options(
        solver=solver, controller=controller, adjoint=adjoint, events=events,
        single_event=single_event, dense=dense, max_steps=max_steps, rtol=rtol,
        atol=atol, dt0=dt0, t_eval=t_eval, check_t_span=span is None,
        check_tolerances=traced_tols,
        check_t_eval=traced_t_eval, jump_ts=jump_ts, check_jump_ts=traced_jumps,
        save_steps=save_steps, save_fn=save_fn,
    )  # fmt: skip
    # The compiled solve never checks; the check runs here, so that an eager failure is a
    # one-line SolveError with the time reached (traced: equinox's run-time check).
    sol = _solve(problem, options)
    return _checked(sol, throw)


def _checked(sol: ODESolution, throw: bool) -> ODESolution:
    """``sol`` if it succeeded (or ``throw=False``); else raise, naming where it stopped."""

    def describe(message: str) -> str:
        t = np.asarray(sol.t_final)
        where = f"t = {float(t):.6g}" if t.size == 1 else f"t up to {float(np.max(t)):.6g}"
        text = f"solve_ivp stopped at {where}: {message}"
        if np.any(np.asarray(sol.result._value) == RESULTS.nonfinite._value):
            text += (
                " y0 and f(t0, y0, args) were finite, so the NaN/Inf arose during the "
                "solve: f returned it at a later state, or the steps diverged (a stiff "
                "problem for an explicit solver?)."
            )
        return text + " (throw=False returns the solution instead: see sol.result, sol.t_final.)"

    ys = raise_or_return(sol.ys, sol.result, throw, describe)
    return eqx.tree_at(lambda s: s.ys, sol, ys)


def _check_saving(save_steps: Any, save_fn: Any, t_eval: Any, adjoint: AbstractAdjoint) -> None:
    if not isinstance(save_steps, bool):
        raise TypeError(f"`save_steps` must be True or False, got {save_steps!r}.")
    if save_steps and t_eval is not None:
        raise ValueError(
            "save_steps=True saves every accepted step, t_eval= saves at given times: pass "
            "one of them (for both, use dense=True and sol.evaluate(t_eval))."
        )
    if save_fn is not None and not callable(save_fn):
        raise TypeError(
            f"`save_fn` must be None or callable as save_fn(t, y, args), got {save_fn!r}."
        )
    in_loop = save_steps or (save_fn is not None and t_eval is not None)
    if isinstance(adjoint, Backsolve) and in_loop:
        raise ValueError(
            "Backsolve() restarts its backward solve from the saved states, so it supports "
            "neither save_steps=True nor save_fn with t_eval. Use "
            "adjoint=scidiff.RecursiveCheckpoint() (or ForwardMode()), or save the states "
            "and apply the function afterwards, jax.vmap(save_fn)(sol.ts, sol.ys, args)."
        )


class _Problem(NamedTuple):
    """What to solve: ``dy/dt = f(t, y, args)``, ``y(t0) = y0`` (validated arrays)."""

    f: Callable
    t0: Any
    t1: Any
    y0: PyTree
    args: Any


class _Options(NamedTuple):
    """How to solve it: strategies and sizes (static), tolerances and times (traced)."""

    solver: AbstractODESolver
    controller: AbstractStepSizeController
    adjoint: AbstractAdjoint
    events: tuple[Event, ...]
    single_event: bool
    dense: bool
    max_steps: int
    rtol: Any
    atol: Any
    dt0: Any  # |dt0|, or None for the automatic initial step
    t_eval: Any  # or None
    check_t_span: bool  # traced at call time: checked at run time
    check_tolerances: bool
    check_t_eval: bool
    jump_ts: Any = None  # (J,) or None
    check_jump_ts: bool = False
    save_steps: bool = False
    save_fn: Callable | None = None


def _check_output(name: str, out: Any, y0: PyTree) -> None:
    want = jax.tree_util.tree_structure(y0)
    got = jax.tree_util.tree_structure(out)
    if want != got:
        raise ValueError(
            f"{name} must return a pytree with the structure of y0: expected {want}, got {got}."
        )
    for i, (o, y) in enumerate(zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(y0))):
        if o.shape != y.shape or o.dtype != y.dtype:
            raise ValueError(
                f"{name} must return arrays shaped like y0: leaf {i} is {o.dtype}{list(o.shape)} "
                f"but y0's is {y.dtype}{list(y.shape)} (make f's output match y0's shape and "
                "dtype)."
            )


def _detach_discrete(x: Any) -> Any:
    """Strip the (float0) tangent JAX attaches to integer outputs of a ``custom_vjp``.

    ``equinox.error_if`` cannot be differentiated through a perturbed integer index, and
    ``lax.stop_gradient`` leaves integers alone; a round trip through the widest float
    (exact for counters below 2**53, or 2**24 without x64) detaches them.
    """
    if eqx.is_inexact_array(x) or not isinstance(x, jax.Array):
        return x
    wide = jax.dtypes.canonicalize_dtype(jnp.float64)
    return jax.lax.stop_gradient(x.astype(wide)).astype(x.dtype)


@eqx.filter_jit
def _solve(problem: _Problem, options: _Options) -> ODESolution:
    """Everything traced: one compiled function per static configuration (``filter_jit``
    traces the array leaves of both arguments and keys the cache on the rest)."""
    f, t0, t1, y0, args = problem
    solver, controller, adjoint, events = options[:4]
    single_event, dense, max_steps, rtol, atol, dt0, t_eval = options[4:11]
    time_dtype = t0.dtype
    _check_output("f(t, y, args)", jax.eval_shape(f, t0, y0, args), y0)
    for i, ev in enumerate(events):
        shape = jax.eval_shape(ev.cond, t0, y0, args)
        if getattr(shape, "shape", None) != ():
            raise ValueError(
                f"events[{i}].cond must return a scalar, got {shape}: reduce it to one "
                "number whose sign change is the event."
            )
        if not jnp.issubdtype(shape.dtype, jnp.floating):
            raise TypeError(
                f"events[{i}].cond must return a real floating-point scalar (a signed distance "
                f"to the event), got dtype {shape.dtype}: a bool or int has no located zero "
                "crossing; return e.g. y[0] - threshold."
            )

    d = jax.lax.stop_gradient(jnp.where(t1 >= t0, 1, -1).astype(time_dtype))
    args_dyn, args_static = eqx.partition(args, eqx.is_array)
    solver_dyn, solver_static = eqx.partition(solver, eqx.is_array)

    def f_comb(t, y, a):
        return f(t, y, eqx.combine(a, args_static))

    f_conv, f_consts = jax.closure_convert(f_comb, t0, y0, args_dyn)
    conds, ev_consts = [], []
    for ev in events:

        def c_comb(t, y, a, cond=ev.cond):
            return cond(t, y, eqx.combine(a, args_static))

        c_conv, c_consts = jax.closure_convert(c_comb, t0, y0, args_dyn)
        conds.append(c_conv)
        ev_consts.append(c_consts)

    save_steps, save_fn = options.save_steps, options.save_fn
    save_conv, save_consts = None, []
    if save_fn is not None:
        check_save_fn_output(save_fn, t0, y0, args)
        if save_steps or t_eval is not None:  # applied inside the loop

            def s_comb(t, y, a):
                return save_fn(t, y, eqx.combine(a, args_static))

            save_conv, save_consts = jax.closure_convert(s_comb, t0, y0, args_dyn)

    n_save = 0 if t_eval is None else int(t_eval.shape[0])
    cfg = LoopConfig(
        solver_static=solver_static,
        controller=controller,
        f=f_conv,
        conds=tuple(conds),
        events=events,
        args_static=args_static,
        dense=dense,
        max_steps=max_steps,
        n_save=n_save,
        auto_dt0=dt0 is None,
        time_dtype=time_dtype,
        save_fn=save_conv,
        save_steps=save_steps,
    )
    p = Params(
        args=args_dyn,
        f_consts=list(f_consts),
        ev_consts=tuple(list(c) for c in ev_consts),
        s0=d * t0,
        s1=d * t1,
        s_eval=None if t_eval is None else d * t_eval,
        solver_dyn=solver_dyn,
        rtol=rtol,
        atol=atol,
        dt0=dt0,
        d=d,
        input_result=runtime_input_result(
            t0,
            t1,
            rtol,
            atol,
            t_eval,
            span=options.check_t_span,
            tolerances=options.check_tolerances,
            save_times=options.check_t_eval,
            open_end=allows_open_end(events),
            jump_ts=options.jump_ts if options.check_jump_ts else None,
            y0=y0,
        ),  # fmt: skip
        s_jumps=None if options.jump_ts is None else sorted_jumps(options.jump_ts, d),
        save_consts=list(save_consts),
    )
    core, bufs = adjoint.integrate(cfg, p, y0)
    core = jax.tree_util.tree_map(_detach_discrete, core)

    inf = jnp.asarray(jnp.inf, time_dtype)
    if save_steps:
        saved = jnp.arange(max_steps + 1) <= core.num_steps
        ts = jnp.where(saved, d * bufs.steps_s, inf)
        ys = bufs.steps_y
        num_saved = core.num_steps + 1
    elif t_eval is not None:
        filled = save_reached(p.s_eval, core.t)
        ts = jnp.where(filled, t_eval, inf)
        ys = bufs.ys
        num_saved = jnp.sum(filled.astype(jnp.int32))
    else:
        ts = (d * core.t)[None]
        y_fin = core.y if save_fn is None else save_fn(ts[0], core.y, args)
        ys = jax.tree_util.tree_map(lambda v: jnp.asarray(v)[None], y_fin)
        num_saved = jnp.ones((), jnp.int32)
    result = core.result
    stats = {
        "num_steps": core.num_steps,
        "num_rejected": core.n_iter - core.num_steps,  # every attempt is one or the other
        "num_fevals": core.num_fevals,
        "num_saved": jnp.asarray(num_saved, jnp.int32),
    }
    event_ts = event_mask = event_ys = None
    if events:
        event_mask = tuple(
            jnp.arange(ev.capacity) < core.ev_count[e] for e, ev in enumerate(events)
        )
        event_ts = tuple(jnp.where(m, d * s, inf) for m, s in zip(event_mask, bufs.ev_s))
        event_ys = tuple(bufs.ev_y)
        if single_event:
            event_ts, event_mask, event_ys = event_ts[0], event_mask[0], event_ys[0]
    interpolation = None
    if dense:
        interpolation = DenseInterpolation(
            t0s=bufs.dense_t0,
            t1s=bufs.dense_t1,
            ends=bufs.dense_end,
            infos=bufs.dense_info,
            direction=d,
            num_steps=core.num_steps,
            solver=eqx.combine(solver_dyn, solver_static).with_tolerances(rtol, atol),
        )
    return ODESolution(
        ts=ts,
        ys=ys,
        result=result,
        stats=stats,
        event_ts=event_ts,
        event_mask=event_mask,
        event_ys=event_ys,
        interpolation=interpolation,
        t_final=d * core.t,
    )
