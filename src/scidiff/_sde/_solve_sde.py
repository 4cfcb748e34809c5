"""``scidiff.solve_sde``: fixed-step Itô SDE integration with reproducible Brownian paths.

The Brownian increment of step ``k`` is drawn from ``jax.random.fold_in(key, k)``: a
given key always gives the same path (and the same path whatever ``t_eval`` asks to
save), different keys give independent paths, and ``jax.vmap`` over a batch of keys
solves an ensemble. The integration is a ``lax.scan`` of a static number of steps, so
reverse-mode gradients flow through the path (pathwise derivatives) without any
``while_loop``; steps past ``t1`` have zero length and change nothing.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Int, PyTree

from .._ode._inputs import concrete
from .._results import RESULTS, AbstractSolution, raise_or_return
from ._solvers import AbstractSDESolver, EulerMaruyama

__all__ = ["solve_sde", "SDESolution"]


class SDESolution(AbstractSolution):
    """Result of :func:`solve_sde`.

    Attributes:
        ts: ``(T,)`` save times.
        ys: the solution at ``ts`` (pytree like ``y0``, leading axis ``T``).
        ws: the Brownian path ``W(t) - W(t0)`` at ``ts`` (same structure), e.g. to compare
            with an exact solution driven by the same noise.
        result: ``RESULTS.successful``, ``max_steps_reached`` or ``nonfinite``.
        stats: ``num_steps``, ``num_fevals`` (evaluations of ``f`` plus ``g``).
    """

    ts: Array
    ys: PyTree
    ws: PyTree
    result: RESULTS
    stats: dict[str, Int[Array, ""]]


def _check_inputs(f, g, t_span, y0, args, solver, dt0, t_eval):
    if not callable(f) or not callable(g):
        raise TypeError("solve_sde(f, g, ...): `f` (drift) and `g` (diffusion) must be callables.")
    if not isinstance(solver, AbstractSDESolver):
        raise TypeError(
            f"`solver` must be scidiff.EulerMaruyama() or scidiff.Milstein(), got {solver!r}."
        )
    if len(t_span) != 2:
        raise ValueError(f"`t_span` must be a pair (t0, t1), got {t_span!r}.")
    if dt0 is None:
        raise ValueError("solve_sde uses fixed steps: pass the step size `dt0=`.")
    leaves = jax.tree_util.tree_leaves(y0)
    if not leaves or not all(jnp.issubdtype(jnp.result_type(x), jnp.floating) for x in leaves):
        raise TypeError("`y0` must be a non-empty pytree of floating-point arrays.")
    t0, t1, dt = (concrete(x) for x in (t_span[0], t_span[1], dt0))
    for name, t in (("t0", t0), ("t1", t1)):
        if t is not None and not np.all(np.isfinite(t)):
            raise ValueError(f"`t_span` must be finite, got {name}={t}.")
    if t0 is not None and t1 is not None and t0 == t1:
        raise ValueError("`t_span` must have t1 != t0.")
    if dt is not None and not dt > 0:
        raise ValueError(f"`dt0` must be positive (the direction comes from t_span), got {dt0}.")
    y_struct = jax.eval_shape(lambda: y0)
    for name, fn in (("f", f), ("g", g)):
        out = jax.eval_shape(fn, jnp.asarray(t_span[0]), y0, args)
        if jax.tree_util.tree_structure(out) != jax.tree_util.tree_structure(y_struct) or any(
            a.shape != b.shape for a, b in zip(jax.tree_util.tree_leaves(out), leaves)
        ):
            raise ValueError(
                f"`{name}(t, y, args)` must return the structure and shapes of `y0` "
                "(diagonal noise: g(t, y, args) has the shape of y)."
            )
        for i, (a, b) in enumerate(zip(jax.tree_util.tree_leaves(out), leaves)):
            if a.dtype != jnp.result_type(b):
                raise ValueError(
                    f"`{name}(t, y, args)` must return y0's dtype: leaf {i} is {a.dtype} but "
                    f"y0's is {jnp.result_type(b)} (a complex {name} on a real state would "
                    f"lose its imaginary part: make {name}'s output match y0's dtype)."
                )
    if t_eval is not None:
        te = concrete(t_eval)
        if te is not None:
            if te.ndim != 1 or te.size == 0:
                raise ValueError("`t_eval` must be a non-empty 1-D array of times.")
            if t0 is not None and t1 is not None:
                sign = np.sign(t1 - t0)
                if np.any(np.diff(te) * sign < 0):
                    raise ValueError("`t_eval` must be monotone in the direction t0 -> t1.")
                lo, hi = min(t0, t1), max(t0, t1)
                if np.any(te < lo) or np.any(te > hi):
                    raise ValueError("`t_eval` must lie inside t_span.")


def solve_sde(
    f,
    g,
    t_span,
    y0,
    *,
    key,
    args: Any = None,
    solver: AbstractSDESolver | None = None,
    dt0,
    t_eval=None,
    max_steps: int | None = None,
    throw: bool = True,
    chunks: int | None = None,
    checkpoint_dir: Any = None,
    checkpoint_every: int = 1,
    progress: bool = False,
) -> SDESolution:
    """Solve the Itô SDE ``dy = f(t, y, args) dt + g(t, y, args) dW`` with diagonal noise.

    Arguments:
        f: drift ``f(t, y, args)``, same structure as ``y``.
        g: diffusion ``g(t, y, args)``, same structure and shapes as ``y`` (component
            ``i`` is driven by its own Brownian motion ``W_i``).
        t_span: ``(t0, t1)``; ``t1 < t0`` integrates backwards in time.
        y0: initial state (pytree of float arrays; the dtype sets the working dtype).
        key: a ``jax.random`` key; the same key gives the same Brownian path.
        args: passed to ``f`` and ``g``.
        solver: :class:`EulerMaruyama` (``None``: the default) or :class:`Milstein`.
        dt0: the (positive) fixed step; steps land exactly on ``t_eval`` and ``t1``.
        t_eval: times to save at (default: ``t1`` only).
        max_steps: static number of scan steps. ``None``: computed from concrete
            ``t_span``/``dt0`` (changing them may then change it and recompile; pass it
            explicitly to sweep ``dt0`` or ``t_span`` without recompiling, and always
            when calling under ``jit``/``vmap`` with traced times).
        throw: raise if the solve failed (else inspect ``sol.result``).
        chunks, checkpoint_dir, checkpoint_every, progress: for long runs, solve over
            ``chunks`` consecutive sub-intervals on the host (piece ``k`` draws from
            ``fold_in(key, k)``), with a progress bar and orbax checkpoints that a rerun
            resumes from, bitwise equal to the uninterrupted chunked run. See
            ``scidiff._chunked.solve_sde_chunked``.

    Returns:
        :class:`SDESolution` with ``ts``, ``ys``, ``ws``, ``result``, ``ok``, ``stats``.

    Raises:
        ValueError/TypeError: bad static input (see messages).

    Example:
        >>> import jax, jax.numpy as jnp, scidiff
        >>> keys = jax.random.split(jax.random.key(0), 100)
        >>> ou = lambda key: scidiff.solve_sde(
        ...     lambda t, y, a: -y, lambda t, y, a: 0.5 * jnp.ones_like(y), (0.0, 1.0),
        ...     jnp.ones(()), key=key, dt0=0.01).ys
        >>> paths = jax.vmap(ou)(keys)   # 100 independent paths, shape (100, 1)
    """
    if chunks is not None or checkpoint_dir is not None or progress:
        from .._chunked import solve_sde_chunked

        return solve_sde_chunked(
            f, g, t_span, y0, key=key, dt0=dt0, chunks=chunks, checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every, progress=progress, t_eval=t_eval,
            throw=throw, max_steps=max_steps, args=args, solver=solver,
        )
    solver = EulerMaruyama() if solver is None else solver
    _check_inputs(f, g, t_span, y0, args, solver, dt0, t_eval)
    num_save = 1 if t_eval is None else int(np.shape(t_eval)[0])
    if max_steps is None:
        t0, t1, dt = (concrete(x) for x in (t_span[0], t_span[1], dt0))
        if t0 is None or t1 is None or dt is None:
            raise ValueError(
                "solve_sde under jit/vmap with traced t_span or dt0 needs a static `max_steps=`."
            )
        max_steps = math.ceil(float(abs(t1 - t0) / dt) * (1 + 1e-12)) + num_save
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"`max_steps` must be a positive int, got {max_steps!r}.")
    tdtype = jnp.result_type(t_span[0], t_span[1], dt0, float)
    t0 = jnp.asarray(t_span[0], tdtype)
    t1 = jnp.asarray(t_span[1], tdtype)
    t_eval = None if t_eval is None else jnp.asarray(t_eval, tdtype)
    sol = _solve(
        f, g, solver, max_steps, t0, t1, y0, args, key, jnp.asarray(dt0, tdtype), t_eval
    )
    # Checked outside the compiled solve: an eager failure is a one-line SolveError.
    ys = raise_or_return(sol.ys, sol.result, throw, lambda message: f"solve_sde: {message}")
    return eqx.tree_at(lambda s: s.ys, sol, ys)


@eqx.filter_jit
def _solve(f, g, solver, max_steps, t0, t1, y0, args, key, dt0, t_eval):
    direction = jnp.where(t1 >= t0, 1.0, -1.0).astype(t0.dtype)
    dt = jnp.abs(dt0) * direction
    save_times = jnp.atleast_1d(t1) if t_eval is None else t_eval
    num_save = save_times.shape[0]
    # Landing targets: every save time, then t1 (index num_save is never stored).
    targets = jnp.concatenate([save_times, jnp.atleast_1d(t1)])
    leaves, treedef = jax.tree_util.tree_flatten(y0)

    def brownian(k, h):
        keys = jax.random.split(jax.random.fold_in(key, k), len(leaves))
        sqrt_h = jnp.sqrt(jnp.abs(h))
        dws = [
            jax.random.normal(kk, x.shape, x.dtype) * sqrt_h.astype(x.dtype)
            for kk, x in zip(keys, leaves)
        ]
        return jax.tree_util.tree_unflatten(treedef, dws)

    def body(carry, k):
        # n counts the steps of non-zero length: the Brownian increment of the n-th real
        # step comes from fold_in(key, n), so repeated save times (zero-length steps) do
        # not shift the path.
        t, y, w, save_i, n = carry
        target = targets[save_i]
        remaining = (target - t) * direction
        hit = remaining <= jnp.abs(dt) * (1 + 1e-6)
        t_new = jnp.where(hit, target, t + dt)
        # Still active at t1 while save times remain: a save time repeated at t1 is then
        # served by a zero-length step (before, its slot stayed NaN with ok=True).
        active = ((t1 - t) * direction > 0) | (save_i < num_save)
        t_new = jnp.where(active, t_new, t)
        h = t_new - t
        dW = brownian(n, h)
        y_new, nfe = solver.step(f, g, t, h, y, dW, args)
        y_new = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), y_new, y)
        w_new = jax.tree_util.tree_map(lambda a, b: a + b, w, dW)
        stored = active & hit & (save_i < num_save)
        slot = jnp.where(stored, save_i, num_save)  # num_save: dropped by the scatter
        # Several save times can coincide: advance past all targets equal to t_new.
        save_i = save_i + jnp.where(active & hit, 1, 0)
        n = n + jnp.where(h != 0, 1, 0).astype(n.dtype)
        return (t_new, y_new, w_new, save_i, n), (y_new, w_new, slot, active, nfe)

    zeros = jax.tree_util.tree_map(jnp.zeros_like, y0)
    # Save times equal to t0 are served by y0 directly.
    at_start = save_times == t0
    save_i0 = jnp.sum(at_start).astype(jnp.int32)
    carry0 = (t0, y0, zeros, save_i0, jnp.zeros((), jnp.int32))
    (t_end, y_end, _, _, _), (ys, ws, slots, active, nfe) = lax.scan(
        body, carry0, jnp.arange(max_steps)
    )

    def gather(path, start):
        def one(p, s):
            init = jnp.where(
                at_start.reshape((-1,) + (1,) * s.ndim),
                s[None],
                jnp.full((1,) + s.shape, jnp.nan, s.dtype),
            )
            init = jnp.broadcast_to(init, (num_save,) + s.shape)
            return init.at[slots].set(p, mode="drop")

        return jax.tree_util.tree_map(one, path, start)

    ys_saved = gather(ys, y0)
    ws_saved = gather(ws, zeros)
    reached = (t1 - t_end) * direction <= 0
    finite = jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(y_end)])
    )
    result = RESULTS.where(
        reached,
        RESULTS.where(finite, RESULTS.successful, RESULTS.nonfinite),
        RESULTS.max_steps_reached,
    )
    num_steps = jnp.sum(active).astype(jnp.int32)
    stats = {
        "num_steps": num_steps,
        "num_fevals": jnp.sum(jnp.where(active, nfe, 0)).astype(jnp.int32),
    }
    return SDESolution(ts=save_times, ys=ys_saved, ws=ws_saved, result=result, stats=stats)
