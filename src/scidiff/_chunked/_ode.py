r"""``solve_ivp`` and ``solve_sde`` over ``chunks`` consecutive sub-intervals, with a
progress bar and checkpoints (see :func:`scidiff.run_chunked`).

The span ``(t0, t1)`` is cut at ``t_k = t0 + (t1 - t0) k / chunks`` (for ``solve_sde`` at
the nearest multiple of ``dt0``, so the step grid is the unchunked one) and each piece is
one call of the solver from the state the previous piece reached; save times go to the
piece that contains them. A chunked solve is deterministic, so a resumed run equals the
uninterrupted run with the same ``chunks`` bit for bit. It is *not* bitwise the unchunked
solve: an adaptive solver restarts its step-size selection at every ``t_k``, and the
Brownian increments of piece ``k`` come from ``jax.random.fold_in(key, k)`` (a
different, equally valid, path than the unchunked solve's).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._results import RESULTS
from ._driver import StopChunks, run_until_stopped

__all__ = ["solve_ivp_chunked", "solve_sde_chunked"]


def _check_chunks(chunks: Any) -> int:
    if chunks is None:
        raise ValueError(
            "progress=True and checkpoint_dir= run the solve in pieces: pass chunks=N as well "
            "(the bar advances, and checkpoints are written, between pieces; the pieces "
            "restart the step-size selection, so N is part of the result)."
        )
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
        raise ValueError(f"`chunks` must be a positive int, got {chunks!r}.")
    return chunks


def _concrete_times(t_span: Any, t_eval: Any, what: str) -> tuple[float, float, Any]:
    try:
        t0, t1 = (float(np.asarray(t)) for t in t_span)
        te = None if t_eval is None else np.asarray(t_eval, np.float64)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError) as exc:
        raise ValueError(
            f"{what} with chunks/checkpoint_dir/progress runs its chunks on the host: "
            "`t_span` and `t_eval` must be concrete (call it outside jit/vmap)."
        ) from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`t_span` must be a pair of scalars (t0, t1), got {t_span!r}.") from exc
    if not (np.isfinite(t0) and np.isfinite(t1)) or t0 == t1:
        raise ValueError(f"`t_span` must be finite with t1 != t0, got {t_span!r}.")
    if te is not None and te.ndim != 1:
        raise ValueError(f"`t_eval` must be a 1-D array, got shape {te.shape}.")
    return t0, t1, te


def _split_save_times(te: Any, bounds: list[float], direction: float) -> list[Any]:
    """The save times of each piece ``(t_k, t_{k+1}]`` (the first also takes ``t0``)."""
    if te is None:
        return [None] * (len(bounds) - 1)
    s = direction * te
    out = []
    for k in range(len(bounds) - 1):
        lo, hi = direction * bounds[k], direction * bounds[k + 1]
        inside = (s > lo) & (s <= hi) if k else (s >= lo) & (s <= hi)
        out.append(te[inside])
    if sum(len(x) for x in out) != len(te):
        raise ValueError("`t_eval` must lie inside t_span.")
    return out


def _pad_inf(tree: Any, missing: int) -> Any:
    """Append ``missing`` rows of ``inf`` to every leaf (save slots never reached)."""
    return jax.tree_util.tree_map(
        lambda v: jnp.concatenate([v, jnp.full((missing, *v.shape[1:]), jnp.inf, v.dtype)]), tree
    )


def solve_ivp_chunked(
    f: Any,
    t_span: Any,
    y0: Any,
    *,
    chunks: int | None,
    checkpoint_dir: Any = None,
    checkpoint_every: int = 1,
    checkpoint_keep: int = 2,
    progress: bool = False,
    t_eval: Any = None,
    throw: bool = True,
    **kwargs: Any,
) -> Any:
    r""":func:`scidiff.solve_ivp` over ``chunks`` equal sub-intervals of ``t_span``, with
    an optional progress bar and checkpoints to resume from (see the module docstring).

    Arguments:
        f, t_span, y0, t_eval, throw, kwargs: as for ``solve_ivp`` (``max_steps``
            applies to each chunk); ``events`` and ``dense`` are not supported.
        chunks: number of sub-intervals.
        checkpoint_dir, checkpoint_every, checkpoint_keep, progress: see
            :func:`scidiff.run_chunked`.

    Returns:
        An ``ODESolution``: the save times and states of every chunk, ``stats`` summed
        over the chunks. With ``throw=False`` a failed chunk ends the run: its
        ``result`` is returned and the save slots after it hold ``inf``.

    Raises:
        ValueError: traced times, ``events``/``dense``, bad ``chunks``.
        scidiff.CheckpointError: a checkpoint of another run in ``checkpoint_dir``.

    Example:
        >>> import jax.numpy as jnp
        >>> from scidiff._chunked import solve_ivp_chunked
        >>> sol = solve_ivp_chunked(lambda t, y, a: -y, (0.0, 1.0), jnp.ones(2), chunks=4,
        ...                         t_eval=jnp.linspace(0.0, 1.0, 5))
        >>> sol.ys.shape
        (5, 2)
    """
    from .._ode._solution import ODESolution
    from .._ode._solve_ivp import solve_ivp

    chunks = _check_chunks(chunks)
    if kwargs.get("events"):
        raise ValueError(
            "solve_ivp with chunks/checkpoint_dir/progress does not support `events` (an "
            "event would have to stop the chunk loop); solve without them, or in one piece."
        )
    if kwargs.get("dense"):
        raise ValueError(
            "solve_ivp with chunks/checkpoint_dir/progress does not support dense=True; save "
            "at the times you need with t_eval=."
        )
    t0, t1, te = _concrete_times(t_span, t_eval, "solve_ivp")
    direction = 1.0 if t1 > t0 else -1.0
    bounds = [t0 + (t1 - t0) * k / chunks for k in range(chunks)] + [t1]
    pieces = _split_save_times(te, bounds, direction)

    def advance(k: int, y: Any) -> tuple[Any, Any]:
        # Save this piece's times and its end t_{k+1} (the next piece's start).
        n, te_k = 0, None
        if te is not None:
            n = len(pieces[k])
            end = bounds[k + 1]
            te_k = pieces[k] if n and pieces[k][-1] == end else np.append(pieces[k], end)
        sol = solve_ivp(f, (bounds[k], bounds[k + 1]), y, t_eval=te_k, throw=throw, **kwargs)
        y_end = jax.tree_util.tree_map(lambda v: v[-1], sol.ys)
        out = {
            "ts": sol.ts[:n],
            "ys": jax.tree_util.tree_map(lambda v: v[:n], sol.ys),
            "stats": {name: jnp.reshape(v, (1,)) for name, v in sol.stats.items()},
        }
        if not bool(sol.ok):
            raise StopChunks(y_end, out, sol)
        return y_end, out

    y, out, stopped = run_until_stopped(
        advance,
        y0,
        chunks,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        checkpoint_keep=checkpoint_keep,
        progress=progress,
        description="solve_ivp",
        fingerprint=("solve_ivp", f, y0, (t0, t1), te, throw, sorted(kwargs.items())),
        chunking={"kind": "solve_ivp", "chunks": chunks},
    )
    stats = {name: jnp.sum(v, dtype=v.dtype) for name, v in out["stats"].items()}
    result = RESULTS.successful if stopped is None else stopped[1].result
    if te is None:
        ts = jnp.asarray([t1], jnp.result_type(out["ts"]))
        ys = jax.tree_util.tree_map(lambda v: v[None], y)
        if stopped is not None:
            ts, ys = stopped[1].ts, stopped[1].ys
        return ODESolution(ts=ts, ys=ys, result=result, stats=_with_num_saved(stats, ts))
    ts, ys = out["ts"], out["ys"]
    missing = len(te) - ts.shape[0]
    if missing:  # a failed chunk ended the run: the slots never reached hold inf
        ts, ys = _pad_inf(ts, missing), _pad_inf(ys, missing)
    return ODESolution(ts=ts, ys=ys, result=result, stats=_with_num_saved(stats, ts))


def _with_num_saved(stats: dict, ts: Any) -> dict:
    """``num_saved`` of the whole run (the valid save slots), not the pieces' sum (each
    piece also saves its end)."""
    if "num_saved" not in stats:
        return stats
    return {**stats, "num_saved": jnp.sum(jnp.isfinite(ts)).astype(stats["num_saved"].dtype)}


def _sde_bounds(t0: float, t1: float, dt0: float, chunks: int) -> tuple[list[float], int]:
    """Piece ends on the step grid ``t0 + j dt0`` (the last is ``t1``), and the most
    steps any piece takes."""
    n = max(1, math.ceil(abs(t1 - t0) / dt0 * (1 - 1e-12)))
    if chunks > n:
        raise ValueError(
            f"`chunks` ({chunks}) is more than the number of steps ({n}) of dt0={dt0}: "
            "use fewer chunks."
        )
    direction = 1.0 if t1 > t0 else -1.0
    steps = [round(k * n / chunks) for k in range(chunks + 1)]
    bounds = [t0 + direction * j * dt0 for j in steps[:-1]] + [t1]
    return bounds, max(b - a for a, b in zip(steps, steps[1:]))


def solve_sde_chunked(
    f: Any,
    g: Any,
    t_span: Any,
    y0: Any,
    *,
    key: Any,
    dt0: Any,
    chunks: int | None,
    checkpoint_dir: Any = None,
    checkpoint_every: int = 1,
    checkpoint_keep: int = 2,
    progress: bool = False,
    t_eval: Any = None,
    throw: bool = True,
    max_steps: int | None = None,
    **kwargs: Any,
) -> Any:
    r""":func:`scidiff.solve_sde` over ``chunks`` sub-intervals that end on the step grid,
    with an optional progress bar and checkpoints to resume from.

    Piece ``k`` draws its Brownian increments from ``jax.random.fold_in(key, k)``, so the
    path depends only on ``key`` and the chunking, never on where a run was interrupted.
    ``ws`` is the Brownian path from ``t0`` (the pieces' increments summed).

    Arguments:
        f, g, t_span, y0, key, dt0, t_eval, throw, kwargs: as for ``solve_sde``.
        chunks: number of pieces (at most the number of steps).
        max_steps: per piece (``None``: enough for the longest piece).
        checkpoint_dir, checkpoint_every, checkpoint_keep, progress: see
            :func:`scidiff.run_chunked`.

    Returns:
        An ``SDESolution`` (``stats`` summed over the pieces).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from scidiff._chunked import solve_sde_chunked
        >>> sol = solve_sde_chunked(lambda t, y, a: -y, lambda t, y, a: 0.1 * jnp.ones_like(y),
        ...                         (0.0, 1.0), jnp.ones(3), key=jax.random.key(0), dt0=0.01,
        ...                         chunks=4)
        >>> sol.ys.shape
        (1, 3)
    """
    from .._sde._solve_sde import SDESolution, solve_sde

    chunks = _check_chunks(chunks)
    t0, t1, te = _concrete_times(t_span, t_eval, "solve_sde")
    try:
        dt = float(np.asarray(dt0))
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError) as exc:
        raise ValueError("solve_sde with chunks needs a concrete `dt0`.") from exc
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"`dt0` must be positive and finite, got {dt0!r}.")
    direction = 1.0 if t1 > t0 else -1.0
    bounds, longest = _sde_bounds(t0, t1, dt, chunks)
    pieces = _split_save_times(te, bounds, direction)
    if max_steps is None:
        max_steps = longest + 2 + max((0 if p is None else len(p)) for p in pieces)

    def advance(k: int, state: Any) -> tuple[Any, Any]:
        y, w = state
        n, te_k = 0, None
        if te is not None:
            n = len(pieces[k])
            end = bounds[k + 1]
            te_k = pieces[k] if n and pieces[k][-1] == end else np.append(pieces[k], end)
        sol = solve_sde(
            f,
            g,
            (bounds[k], bounds[k + 1]),
            y,
            key=jax.random.fold_in(key, k),
            dt0=dt,
            t_eval=te_k,
            max_steps=max_steps,
            throw=throw,
            **kwargs,
        )
        last = jax.tree_util.tree_map(lambda v: v[-1], sol.ys)
        w_end = jax.tree_util.tree_map(lambda a, b: a + b[-1], w, sol.ws)
        out = {
            "ts": sol.ts[:n],
            "ys": jax.tree_util.tree_map(lambda v: v[:n], sol.ys),
            "ws": jax.tree_util.tree_map(lambda a, b: a[None] + b[:n], w, sol.ws),
            "stats": {name: jnp.reshape(v, (1,)) for name, v in sol.stats.items()},
        }
        if not bool(sol.ok):
            raise StopChunks((last, w_end), out, sol)
        return (last, w_end), out

    w0 = jax.tree_util.tree_map(jnp.zeros_like, y0)
    (y, w), out, stopped = run_until_stopped(
        advance,
        (y0, w0),
        chunks,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        checkpoint_keep=checkpoint_keep,
        progress=progress,
        description="solve_sde",
        fingerprint=(
            "solve_sde",
            f,
            g,
            y0,
            key,
            (t0, t1),
            dt,
            te,
            throw,
            max_steps,
            sorted(kwargs.items()),
        ),
        chunking={"kind": "solve_sde", "chunks": chunks},
    )
    stats = {name: jnp.sum(v, dtype=v.dtype) for name, v in out["stats"].items()}
    result = RESULTS.successful if stopped is None else stopped[1].result
    if te is None:
        ts = jnp.asarray([t1], out["ts"].dtype)
        ys = jax.tree_util.tree_map(lambda v: v[None], y)
        ws = jax.tree_util.tree_map(lambda v: v[None], w)
        return SDESolution(ts=ts, ys=ys, ws=ws, result=result, stats=stats)
    ts, ys, ws = out["ts"], out["ys"], out["ws"]
    missing = len(te) - ts.shape[0]
    if missing:
        ts, ys, ws = (_pad_inf(x, missing) for x in (ts, ys, ws))
    return SDESolution(ts=ts, ys=ys, ws=ws, result=result, stats=stats)
