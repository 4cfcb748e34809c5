r"""The integration loop: one ``lax.while_loop`` shared by every solver and every adjoint.

Time reversal. The loop always integrates in ``s = d t`` with ``d = sign(t1 - t0)`` (a
traced ``+-1``, so ``t_span`` stays traced), i.e. it solves
``dy/ds = d f(d s, y, args)`` with ``s`` increasing. Save times, events and dense output
are stored in ``s`` and mapped back by the caller.

The body is split in two so that the adjoints can differentiate it cheaply:

* :func:`attempt` -- a pure function ``core -> (core', record)``: one attempted step,
  the accept/reject decision, the next step size (gradient-free: the mesh is treated as
  fixed, the usual discretise-then-optimise convention), events on accepted steps.
  ``core`` is the small carry (time, state, step size, solver state, counters);
  ``record`` the step's outputs (its interval and dense information, located events).
* :func:`write` -- scatters a record into the dense-output and event buffers.
  Buffers never enter ``attempt``, so reverse mode never pays ``O(len(t_eval))`` or
  ``O(max_steps)`` per step: the cotangent of a record is gathered from the buffers'
  cotangents (``record_cotangent`` in ``_adjoint.py``).

Saving at ``t_eval`` does not force steps onto save times: :func:`run` scans over the
save times, runs the step loop until the current step passes each one, and evaluates
that step's interpolant there (see :func:`run` for why the values are not a loop carry).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PyTree

from .._results import RESULTS
from ._base import AbstractODESolver, tree_where
from ._controller import AbstractStepSizeController, scaled_error, select_initial_step
from ._event import Event, any_terminal, crossed, locate_crossing, stops_at
from ._jumps import clip_to_jump, one_sided_field, restart_at_jump
from ._open_end import finite_span
from ._rows import RowLayout
from ._saving import empty_step_buffers, mask_steps, save_value, write_step
from ._slots import dense_row, event_row, save_from_y0, save_reached

__all__ = ["LoopConfig", "Params", "Core", "Record", "Buffers", "run", "init_core", "attempt"]


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Everything static about one solve (hashable Python objects only)."""

    solver_static: Any  # the solver with its array leaves removed (see Params.solver_dyn)
    controller: AbstractStepSizeController
    f: Callable  # closure-converted: f(t, y, args_dyn, *f_consts)
    conds: tuple[Callable, ...]  # closure-converted: cond(t, y, args_dyn, *consts)
    events: tuple[Event, ...]
    args_static: Any
    dense: bool
    max_steps: int
    n_save: int  # 0: save the final state only
    auto_dt0: bool
    time_dtype: Any
    reverse_pass: bool = False  # step with solver.for_reverse_pass() (same steps)
    save_fn: Callable | None = None  # closure-converted: save_fn(t, y, args_dyn, *consts)
    save_steps: bool = False  # keep every accepted step (see _saving.py)

    @property
    def uses_error(self) -> bool:
        """Whether steps are judged by the error norm (an adaptive controller and a
        solver with an error estimate); otherwise the loop computes no error norm."""
        return self.controller.uses_error_estimate and self.solver_static.adaptive

    def for_field(self, f: Callable) -> LoopConfig:
        """The same solver, controller and limits for another vector field (closure-
        converted like ``f``), without events, dense output or save times: the
        configuration of an adjoint system (``Backsolve``)."""
        return dataclasses.replace(
            self, f=f, conds=(), events=(), args_static=None, dense=False, n_save=0,
            reverse_pass=False, save_fn=None, save_steps=False,
        )  # fmt: skip


class Params(NamedTuple):
    """The traced inputs of the loop (``args`` .. ``s_eval`` are differentiable)."""

    args: PyTree  # the array leaves of `args`
    f_consts: list
    ev_consts: tuple
    s0: Any
    s1: Any
    s_eval: Any  # (n_save,) increasing save times in s, or None
    solver_dyn: PyTree
    rtol: Any
    atol: Any
    dt0: Any  # |dt0| or None
    d: Any  # +-1
    input_result: Any = None  # RESULTS of run-time input checks (None: none needed)
    s_jumps: Any = None  # (J,) increasing jump times of f in s (see _jumps.py), or None
    save_consts: Any = ()  # the constants save_fn closes over


class Core(NamedTuple):
    """The while-loop carry that matters for the solution (small, fixed shape)."""

    t: Any
    y: PyTree
    dt: Any
    state: PyTree
    ctrl_state: PyTree  # the controller's state (PID: its previous accepted error norms)
    c_prev: tuple
    counts: Any  # int32[3]: attempts, accepted steps, evaluations of f (one kernel to update)
    ev_count: tuple
    result: RESULTS

    @property
    def n_iter(self):
        return self.counts[0]

    @property
    def num_steps(self):
        return self.counts[1]

    @property
    def num_fevals(self):
        return self.counts[2]


class Record(NamedTuple):
    """What one attempted step hands to the output buffers."""

    accepted: Any
    t_prev: Any
    t_next: Any  # the step's end (interpolant bounds are [t_prev, t_next])
    t_end: Any  # where the solution stops inside it (t_next, or a terminal event)
    dense_info: PyTree
    ev_record: tuple  # per event: a crossing recorded in this step
    ev_s: tuple  # per event: its time
    ev_y: tuple  # per event: the state there
    step_save: PyTree = None  # with save_steps: what is saved at (t_end, y_end)


class Buffers(NamedTuple):
    ys: PyTree | None  # (n_save, ...) per leaf
    dense_t0: Any  # (max_steps,) or None
    dense_t1: Any
    dense_end: Any
    dense_info: PyTree | None
    ev_s: tuple  # per event (capacity,)
    ev_y: tuple  # per event pytree (capacity, ...)
    steps_s: Any = None  # with save_steps: (max_steps + 1,) step ends, row 0 = s0
    steps_y: PyTree = None  # with save_steps: the values saved there


def solver_of(cfg: LoopConfig, p: Params) -> AbstractODESolver:
    solver = eqx.combine(jax.lax.stop_gradient(p.solver_dyn), cfg.solver_static)
    if cfg.reverse_pass:
        solver = solver.for_reverse_pass()
    return solver.with_tolerances(p.rtol, p.atol)


def vector_field(cfg: LoopConfig, p: Params) -> Callable:
    """``(s, y, args_dyn) -> d * f(d s, y, args)``: the field in the increasing time ``s``."""

    def vf(s, y, args):
        dy = cfg.f(p.d * s, y, args, *p.f_consts)
        return jax.tree_util.tree_map(lambda v: (p.d * v).astype(v.dtype), dy)

    return vf


def _cond_value(cfg, p, e, s, y):
    c = cfg.conds[e](p.d * s, y, p.args, *p.ev_consts[e])
    return jnp.asarray(c).astype(cfg.time_dtype).reshape(())


def _all_finite(tree) -> Any:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in leaves]))


def init_core(cfg: LoopConfig, p: Params, y0: PyTree) -> Core:
    """The carry at ``s0``: solver state, first step size, event values, counters."""
    solver = solver_of(cfg, p)
    vf = vector_field(cfg, p)
    dtype = cfg.time_dtype
    state = solver.init(vf, p.s0, p.s1, y0, p.args)
    f0 = vf(p.s0, y0, p.args)
    num_fevals = jnp.asarray(1 + getattr(solver, "init_fevals", 0), jnp.int32)
    if cfg.auto_dt0:
        dt = select_initial_step(
            vf, p.s0, y0, p.args, f0, p.s1 - p.s0, solver.error_order, p.rtol, p.atol
        )
        num_fevals = num_fevals + 1
    else:
        dt = jax.lax.stop_gradient(p.dt0)
    dt, ctrl_state = cfg.controller.init(p.s0, p.s1, jnp.asarray(dt, dtype), solver.error_order)
    finite = _all_finite((y0, f0))
    zero_i = jnp.asarray(0, jnp.int32)
    return Core(
        t=p.s0,
        y=y0,
        dt=jnp.asarray(dt, dtype),
        state=state,
        ctrl_state=ctrl_state,
        c_prev=tuple(_cond_value(cfg, p, e, p.s0, y0) for e in range(len(cfg.events))),
        counts=jnp.stack([zero_i, zero_i, num_fevals]),
        ev_count=tuple(zero_i for _ in cfg.events),
        result=_initial_result(p, finite),
    )


def _initial_result(p: Params, finite) -> RESULTS:
    """Bad inputs only known at run time, then a non-finite start: either stops the loop
    before its first step."""
    result = RESULTS.where(finite, RESULTS.successful, RESULTS.nonfinite_initial)
    if p.input_result is not None:
        result = RESULTS.where(p.input_result == RESULTS.successful, result, p.input_result)
    return result


def finished(p: Params, core: Core):
    """Whether the solve is over: it reached ``s1`` (only an accepted step that ends there
    moves ``t`` to ``s1``) or stopped with a result (failure, terminal event, overflow).
    Derived rather than carried: one loop-carried leaf less."""
    return (core.t >= p.s1) | (core.result != RESULTS.successful)


def attempt(cfg: LoopConfig, p: Params, core: Core) -> tuple[Core, Record]:
    """One attempted step from ``core.t``: accept/reject, next step size, events."""
    solver = solver_of(cfg, p)
    vf = vector_field(cfg, p)
    dtype = cfg.time_dtype
    eps = jnp.finfo(dtype).eps
    t, y = core.t, core.y

    ctrl = cfg.controller
    t_try = ctrl.step_end(t, core.dt, p.s0, core.num_steps)
    step_vf = vf
    if p.s_jumps is not None:  # land on the next jump time (see _jumps.py)
        t_try, at_jump, from_jump = clip_to_jump(p.s_jumps, t, t_try)
    near_end = p.s1 - t_try <= 64 * eps * jnp.maximum(jnp.abs(p.s1), jnp.abs(t))
    near_end = near_end & jnp.isfinite(p.s1)  # t1 = inf: until a terminal event
    t_next = jnp.where(near_end, p.s1, t_try)
    if p.s_jumps is not None:
        step_vf = one_sided_field(vf, t, t_next, from_jump, at_jump)

    out = solver.step(step_vf, t, t_next, y, p.args, core.state)
    # Explicit methods return the constant RESULTS.successful: keep that static (Python
    # True) rather than comparing constants, which JAX would evaluate eagerly while tracing.
    static_ok = out.result is RESULTS.successful
    step_ok = True if static_ok else out.result == RESULTS.successful
    if cfg.uses_error:
        err = scaled_error(out.y_error, y, out.y1, p.rtol, p.atol).astype(dtype)
        finite = jnp.isfinite(err)  # NaN also when y1 is not finite
        ctrl_ok = step_ok
    else:  # the controller sees no error norm: it learns of a non-finite y1 from step_ok
        err = None
        finite = _all_finite(out.y1)
        ctrl_ok = finite if static_ok else step_ok & finite
    keep, dt_next, ctrl_state = ctrl.adapt_step_size(
        t, t_next, core.dt, err, core.ctrl_state, step_ok=ctrl_ok, error_order=solver.error_order
    )
    accept = keep & finite if static_ok else keep & step_ok & finite
    new_state = tree_where(accept, out.state, solver.state_after_reject(core.state, out))
    if cfg.uses_error and solver.chooses_step_size:  # BDF: its order selection decides
        h = t_next - t
        dt_next = ctrl.bound_step(h * solver.step_size_factor(new_state, dt_next / h))
    dt_next, below_dtmin = ctrl.floor_step(t, t_next, jnp.asarray(dt_next, dtype), accept)
    dt_next = jax.lax.stop_gradient(jnp.asarray(dt_next, dtype))
    # The smallest step that still moves t: it scales with |t| only (a long span must not
    # forbid the small steps of an initial transient). eps * |s1 - s0| * eps bounds the
    # shrinking near t = 0, far below any step a solve within max_steps could need
    # (an infinite span counts as 1, see _open_end.py).
    dt_min = 8 * eps * jnp.maximum(jnp.abs(t_next), eps * finite_span(p.s0, p.s1))
    if ctrl.retries_rejected_steps:
        failed = ~accept & (dt_next < jax.lax.stop_gradient(dt_min))
    else:
        failed = ~accept
    solver_failure = (
        RESULTS.dt_underflow
        if static_ok
        else RESULTS.where(step_ok, RESULTS.dt_underflow, out.result)
    )
    fail_result = RESULTS.where(finite, solver_failure, RESULTS.nonfinite)

    # Events: sign changes over the accepted step, located on its interpolant.
    n_ev = len(cfg.events)
    c_new, hits, ev_s = [], [], []
    for e, event in enumerate(cfg.events):
        ce = _cond_value(cfg, p, e, t_next, out.y1)
        hit = accept & crossed(core.c_prev[e], ce, event.direction)

        def g(s, e=e):
            return _cond_value(cfg, p, e, s, solver.interpolate(t, t_next, out.dense_info, s))

        c_new.append(ce)
        hits.append(hit)
        ev_s.append(locate_crossing(g, t, t_next, core.c_prev[e], ce, hit))
    inf = jnp.asarray(jnp.inf, dtype)
    s_term = inf
    for e, event in enumerate(cfg.events):
        if event.stop_count:  # terminal=n: its n-th crossing
            stop = stops_at(event, hits[e], core.ev_count[e])
            s_term = jnp.minimum(s_term, jnp.where(stop, ev_s[e], inf))
    terminal = s_term < inf
    # Never interpolate at inf: even masked out, its derivative would be 0 * inf = nan.
    s_term = jnp.where(terminal, s_term, t_next)
    t_end = s_term
    ev_record = tuple(hits[e] & (ev_s[e] <= t_end) for e in range(n_ev))
    ev_y = tuple(solver.interpolate(t, t_next, out.dense_info, s) for s in ev_s)
    overflow = jnp.asarray(False)
    for e, event in enumerate(cfg.events):
        overflow = overflow | (ev_record[e] & (core.ev_count[e] >= event.capacity))

    y_end = out.y1
    if any_terminal(cfg.events):
        y_term = solver.interpolate(t, t_next, out.dense_info, s_term)
        y_end = tree_where(terminal, y_term, out.y1)
    t_new = jnp.where(accept, t_end, t)
    y_new = tree_where(accept, y_end, y)

    result = RESULTS.where(terminal, RESULTS.event_occurred, core.result)
    result = RESULTS.where(overflow, RESULTS.event_overflow, result)
    if cfg.events:  # a NaN cond would silently never cross: name it
        cond_finite = jnp.all(jnp.isfinite(jnp.stack(c_new)))
        result = RESULTS.where(accept & ~cond_finite, RESULTS.event_nonfinite, result)
    if below_dtmin is not None:
        result = RESULTS.where(below_dtmin, RESULTS.dtmin_reached, result)
    result = RESULTS.where(failed, fail_result, result)
    new_core = Core(
        t=t_new,
        y=y_new,
        dt=dt_next,
        state=new_state,
        ctrl_state=ctrl_state,
        c_prev=tuple(jnp.where(accept, c_new[e], core.c_prev[e]) for e in range(n_ev)),
        counts=core.counts
        + jnp.stack(
            [
                jnp.ones((), jnp.int32),
                accept.astype(jnp.int32),
                jnp.asarray(out.num_fevals, jnp.int32),
            ]
        ),
        ev_count=tuple(
            jnp.minimum(core.ev_count[e] + ev_record[e].astype(jnp.int32), event.capacity)
            for e, event in enumerate(cfg.events)
        ),
        result=result,
    )
    if p.s_jumps is not None:  # restart the solver (FSAL stage, BDF history) after a jump
        jumped = accept & at_jump & (t_next < p.s1)
        state_j, fevals_j = restart_at_jump(
            solver, vf, t_next, p.s1, y_new, p.args, new_core.state, jumped
        )
        new_core = new_core._replace(state=state_j, counts=new_core.counts.at[2].add(fevals_j))
    record = Record(
        accepted=accept,
        t_prev=t,
        t_next=t_next,
        t_end=t_end,
        dense_info=out.dense_info,
        ev_record=ev_record,
        ev_s=tuple(ev_s),
        ev_y=ev_y,
        step_save=save_value(cfg, p, t_end, y_end) if cfg.save_steps else None,
    )
    return new_core, record


def empty_buffers(cfg: LoopConfig, y0: PyTree, dense_info: PyTree) -> Buffers:
    """Dense-output and event buffers before the first step (``ys`` is filled by ``run``)."""
    dtype = cfg.time_dtype
    ys = None
    d_t0 = d_t1 = d_end = d_info = None
    if cfg.dense:
        n = cfg.max_steps
        d_t0 = jnp.zeros((n,), dtype)
        d_t1 = jnp.ones((n,), dtype)
        d_end = jnp.full((n,), jnp.inf, dtype)
        d_info = jax.tree_util.tree_map(lambda v: jnp.zeros((n,) + v.shape, v.dtype), dense_info)
    ev_s = tuple(jnp.full((ev.capacity,), jnp.inf, dtype) for ev in cfg.events)
    ev_y = tuple(
        jax.tree_util.tree_map(
            lambda v, ev=ev: jnp.full((ev.capacity,) + v.shape, jnp.inf, v.dtype), y0
        )
        for ev in cfg.events
    )
    return Buffers(ys, d_t0, d_t1, d_end, d_info, ev_s, ev_y)


def write(cfg: LoopConfig, p: Params, bufs: Buffers, before: Core, after: Core, rec: Record):
    """Scatter one step's record into the dense-output and event buffers."""
    del p, after
    d_t0, d_t1, d_end, d_info = bufs.dense_t0, bufs.dense_t1, bufs.dense_end, bufs.dense_info
    if cfg.dense:
        # Unconditional write at the accepted-step counter: a rejected attempt is
        # overwritten by the next accepted one; unused slots are masked at the end.
        k = dense_row(before.num_steps, cfg.max_steps)
        d_t0 = d_t0.at[k].set(rec.t_prev)
        d_t1 = d_t1.at[k].set(rec.t_next)
        d_end = d_end.at[k].set(rec.t_end)
        d_info = jax.tree_util.tree_map(lambda b, v: b.at[k].set(v), d_info, rec.dense_info)
    ev_s, ev_y = list(bufs.ev_s), list(bufs.ev_y)
    for e, event in enumerate(cfg.events):
        k, r = event_row(before.ev_count[e], rec.ev_record[e], event.capacity)
        ev_s[e] = ev_s[e].at[k].set(jnp.where(r, rec.ev_s[e], ev_s[e][k]))
        ev_y[e] = jax.tree_util.tree_map(
            lambda b, v, r=r, k=k: b.at[k].set(jnp.where(r, v, b[k])), ev_y[e], rec.ev_y[e]
        )
    steps_s, steps_y = write_step(cfg, bufs, before, rec)
    return Buffers(bufs.ys, d_t0, d_t1, d_end, d_info, tuple(ev_s), tuple(ev_y), steps_s, steps_y)


def finalize(cfg: LoopConfig, p: Params, core: Core, bufs: Buffers) -> tuple[Core, Buffers]:
    """Name a loop that ran out of steps; mask the unused dense slots."""
    result = RESULTS.where(finished(p, core), core.result, RESULTS.max_steps_reached)
    core = core._replace(result=result)
    if cfg.dense:
        used = jnp.arange(cfg.max_steps) < core.num_steps
        bufs = bufs._replace(dense_end=jnp.where(used, bufs.dense_end, jnp.inf))
    return core, mask_steps(cfg, core, bufs)


def run(cfg: LoopConfig, p: Params, y0: PyTree, checkpoint_every: int | None = None):
    """The plain loop. With ``checkpoint_every=K`` it also returns the carry at every
    K-th iteration (the forward pass of :class:`RecursiveCheckpoint`).

    With ``t_eval``, a ``lax.scan`` over the save times runs the step loop until the
    current step passes each save time, then interpolates that step (the carry keeps the
    last accepted step's record). So the ``T x state`` output never sits in a while-loop
    carry: under ``vmap`` a batched while loop selects its whole carry every iteration,
    which would cost ``O(T)`` per step. Steps are exactly those of one uninterrupted loop.

    Returns ``(core, buffers, checkpoints_or_None)``.
    """
    core0 = init_core(cfg, p, y0)
    solver = solver_of(cfg, p)
    info0 = solver.dense_info_placeholder(vector_field(cfg, p), p.s0, y0, p.args, core0.state)
    last0 = (p.s0, p.s0 + 1, info0)  # a dummy step, never zero-width
    bufs0 = empty_buffers(cfg, y0, info0)._replace(**empty_step_buffers(cfg, p, y0))
    ckpts0 = None
    if checkpoint_every is not None:
        n_ckpt = -(-cfg.max_steps // checkpoint_every)
        layout = RowLayout(core0)
        ckpts0 = layout.empty(n_ckpt + 1)

    def body(carry):
        core, last, bufs, ckpts = carry
        if ckpts is not None and checkpoint_every is not None:
            # Row ceil(n / K): the last carry written to row r is the one at n = r K,
            # the start of segment r; rows of segments never started are never read.
            n = core.n_iter
            slot = jax.lax.div(n + (checkpoint_every - 1), jnp.asarray(checkpoint_every, n.dtype))
            ckpts = layout.write(ckpts, slot, core)
        new_core, rec = attempt(cfg, p, core)
        bufs = write(cfg, p, bufs, core, new_core, rec)
        # No select needed: an inner loop that stops because t passed a save time ends
        # on an accepted step (a rejection leaves t unchanged); for any other stop
        # (failure, max_steps) the save slot is not filled anyway.
        last = (rec.t_prev, rec.t_next, rec.dense_info)
        return new_core, last, bufs, ckpts

    def steps_until(carry, s_stop):
        def cond(carry):
            core = carry[0]
            go = ~finished(p, core) & (core.n_iter < cfg.max_steps)
            return go if s_stop is None else go & (core.t < s_stop)

        return jax.lax.while_loop(cond, body, carry)

    carry = (core0, last0, bufs0, ckpts0)
    ys = None
    if cfg.n_save:

        def save(carry, s_i):
            carry = steps_until(carry, s_i)
            core, last = carry[0], carry[1]
            val = solver.interpolate(*last, s_i)
            at_start = save_from_y0(s_i, p.s0)
            filled = save_reached(s_i, core.t)
            val = jax.tree_util.tree_map(
                lambda v, y: jnp.where(at_start, y, v.astype(y.dtype)), val, y0
            )
            val = jax.tree_util.tree_map(
                lambda v: jnp.where(filled, v, jnp.inf).astype(v.dtype),
                save_value(cfg, p, s_i, val),
            )
            return carry, val

        # One more "save" at s1 finishes the solve inside the same scan: the step body
        # then appears once in the program, not twice (XLA compile time is about
        # proportional to it). Reaching s1 finishes the solve, so the stop is the same.
        assert p.s_eval is not None
        s_stops = jnp.concatenate([p.s_eval, jnp.reshape(p.s1, (1,)).astype(p.s_eval.dtype)])
        carry, ys = jax.lax.scan(save, carry, s_stops)
        ys = jax.tree_util.tree_map(lambda v: v[:-1], ys)
    else:
        carry = steps_until(carry, None)
    core, _, bufs, ckpts = carry
    bufs = bufs._replace(ys=ys)
    core, bufs = finalize(cfg, p, core, bufs)
    return core, bufs, ckpts
