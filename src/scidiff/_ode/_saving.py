r"""``solve_ivp``'s saving options: a save function, and a buffer of every accepted step.

* ``save_fn(t, y, args)`` is applied wherever a value is saved (each ``t_eval`` time,
  each ``save_steps`` entry, the final save), so ``sol.ys`` holds observables rather
  than whole states. Inside the loop it is closure-converted like ``f``
  (``LoopConfig.save_fn``, its constants in ``Params.save_consts``) so that reverse mode
  reaches whatever it closes over.
* ``save_steps=True`` keeps ``(t, save_fn(t, y))`` at the start and at the end of every
  accepted step in two buffers of ``max_steps + 1`` rows (``Buffers.steps_s``,
  ``Buffers.steps_y``; rows from :func:`~._slots.step_row`). Each step's value is part of
  its :class:`~._loop.Record` (``Record.step_save``), so :class:`RecursiveCheckpoint`
  differentiates it with the step; rows after the last accepted step hold ``inf``.

The cotangents: a step's saved value gets the cotangent of its row
(:func:`step_cotangent`); the values saved from ``y0`` itself (row 0, and ``t_eval``
slots at ``t0``) are differentiated once at the end (:func:`start_cotangent`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PyTree

from ._slots import save_from_y0, save_reached, step_row

__all__ = [
    "check_save_fn_output",
    "save_value",
    "save_inputs",
    "empty_step_buffers",
    "write_step",
    "mask_steps",
    "step_cotangent",
    "start_cotangent",
]


def check_save_fn_output(save_fn: Callable, t0: Any, y0: PyTree, args: Any) -> None:
    """``save_fn(t0, y0, args)`` must be a non-empty pytree of floating arrays."""
    try:
        out = jax.eval_shape(save_fn, t0, y0, args)
    except TypeError as exc:
        raise TypeError(
            "save_fn(t, y, args) must return a pytree of JAX arrays (the values to save, e.g. "
            f"an energy jnp.sum(y ** 2)); calling it failed with: {exc}"
        ) from exc
    leaves = jax.tree_util.tree_leaves(out)
    if not leaves:
        raise ValueError(
            f"save_fn(t, y, args) returned {out!r}, an empty pytree: return the arrays to "
            "save (or drop save_fn to save the state)."
        )
    for i, leaf in enumerate(leaves):
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            raise TypeError(
                f"save_fn(t, y, args) must return floating arrays: leaf {i} has dtype "
                f"{leaf.dtype} (unreached slots are padded with inf; cast it, e.g. "
                "`.astype(y.dtype)`)."
            )


def save_value(cfg: Any, p: Any, s: Any, y: PyTree) -> PyTree:
    """What is saved at the loop time ``s`` from the state ``y``: ``y`` itself, or
    ``save_fn(d s, y, args)``."""
    if cfg.save_fn is None:
        return y
    return cfg.save_fn(p.d * s, y, p.args, *p.save_consts)


def save_inputs(p: Any) -> tuple[PyTree, Callable[[PyTree], Any]]:
    """The floating inputs of ``save_fn`` besides ``(t, y)`` (the array leaves of
    ``args`` and ``save_fn``'s closed-over constants), and ``p`` rebuilt with others."""
    sp_f, sp_i = eqx.partition((p.args, p.save_consts), eqx.is_inexact_array)

    def rebuild(sp: PyTree) -> Any:
        args, consts = eqx.combine(sp, sp_i)
        return p._replace(args=args, save_consts=consts)

    return sp_f, rebuild


def empty_step_buffers(cfg: Any, p: Any, y0: PyTree) -> dict:
    """``steps_s``/``steps_y`` before the first step: row 0 is the start, the rest ``inf``
    (as ``Buffers`` fields; empty without ``save_steps``)."""
    if not cfg.save_steps:
        return {}
    n = cfg.max_steps + 1
    steps_s = jnp.full((n,), jnp.inf, cfg.time_dtype).at[0].set(p.s0)
    v0 = save_value(cfg, p, p.s0, y0)
    steps_y = jax.tree_util.tree_map(
        lambda v: jnp.full((n,) + jnp.shape(v), jnp.inf, jnp.result_type(v)).at[0].set(v), v0
    )
    return {"steps_s": steps_s, "steps_y": steps_y}


def write_step(cfg: Any, bufs: Any, before: Any, rec: Any) -> tuple[Any, PyTree]:
    """``(steps_s, steps_y)`` with this step's end written to its row (unconditionally: a
    rejected attempt is overwritten by the next accepted one, or masked at the end)."""
    if not cfg.save_steps:
        return bufs.steps_s, bufs.steps_y
    k = step_row(before.num_steps, cfg.max_steps)
    steps_s = bufs.steps_s.at[k].set(rec.t_end)
    steps_y = jax.tree_util.tree_map(
        lambda b, v: b.at[k].set(v.astype(b.dtype)), bufs.steps_y, rec.step_save
    )
    return steps_s, steps_y


def mask_steps(cfg: Any, core: Any, bufs: Any) -> Any:
    """Rows after the last accepted step hold ``inf``."""
    if not cfg.save_steps:
        return bufs
    used = jnp.arange(cfg.max_steps + 1) <= core.num_steps

    def mask(b):
        return jnp.where(used.reshape((-1,) + (1,) * (b.ndim - 1)), b, jnp.inf).astype(b.dtype)

    steps_y = jax.tree_util.tree_map(mask, bufs.steps_y)
    return bufs._replace(steps_s=mask(bufs.steps_s), steps_y=steps_y)


def step_cotangent(cfg: Any, bufs_bar: Any, before: Any, rec: Any) -> tuple[Any, PyTree]:
    """``(t_end_bar, step_save_bar)``: the cotangent of this step's row (zero for a
    rejected attempt)."""
    if not cfg.save_steps:
        return jnp.zeros((), cfg.time_dtype), None
    k = step_row(before.num_steps, cfg.max_steps)
    acc = rec.accepted
    te_b = jnp.where(acc, bufs_bar.steps_s[k], 0).astype(cfg.time_dtype)
    sv_b = jax.tree_util.tree_map(
        lambda b, v: jnp.where(acc, b[k], 0).astype(v.dtype), bufs_bar.steps_y, rec.step_save
    )
    return te_b, sv_b


def start_cotangent(cfg: Any, p: Any, y0: PyTree, t_fin: Any, bufs_bar: Any):
    """The cotangents from the values saved from ``y0`` itself: ``t_eval`` slots at or
    before ``s0`` (when the solve reached them) and ``save_steps`` row 0.

    Returns ``(y0_bar, s0_bar, s_eval_bar, sp_bar)`` (``sp``: :func:`save_inputs`); the
    last three are ``None`` when they are zero (no ``save_fn``, no ``save_steps``).
    """
    y0_bar = jax.tree_util.tree_map(jnp.zeros_like, y0)
    s0_bar = s_eval_bar = sp_bar = None
    if cfg.n_save:
        mask = save_reached(p.s_eval, t_fin) & save_from_y0(p.s_eval, p.s0)
        cts = jax.tree_util.tree_map(
            lambda b: jnp.where(mask.reshape((-1,) + (1,) * (b.ndim - 1)), b, 0), bufs_bar.ys
        )
        if cfg.save_fn is None:  # the slots hold y0 itself
            y0_bar = jax.tree_util.tree_map(lambda g, c: g + jnp.sum(c, 0), y0_bar, cts)
        else:
            sp_f, rebuild = save_inputs(p)

            def slots(s_eval, y, sp):
                q = rebuild(sp)
                return jax.vmap(lambda s: save_value(cfg, q, s, y))(s_eval)

            out, vjp = jax.vjp(slots, p.s_eval, y0, sp_f)
            cts = jax.tree_util.tree_map(lambda c, o: c.astype(o.dtype), cts, out)
            se_b, y_b, sp_bar = vjp(cts)
            y0_bar = jax.tree_util.tree_map(lambda g, b: g + b, y0_bar, y_b)
            s_eval_bar = se_b
    if cfg.save_steps:
        s0_bar = bufs_bar.steps_s[0].astype(cfg.time_dtype)
        ct0 = jax.tree_util.tree_map(lambda b: b[0], bufs_bar.steps_y)
        if cfg.save_fn is None:
            y0_bar = jax.tree_util.tree_map(lambda g, c: g + c.astype(g.dtype), y0_bar, ct0)
        else:
            sp_f, rebuild = save_inputs(p)
            out, vjp = jax.vjp(lambda s, y, sp: save_value(cfg, rebuild(sp), s, y), p.s0, y0, sp_f)
            s_b, y_b, sp_b = vjp(jax.tree_util.tree_map(lambda c, o: c.astype(o.dtype), ct0, out))
            y0_bar = jax.tree_util.tree_map(lambda g, b: g + b, y0_bar, y_b)
            s0_bar = s0_bar + s_b
            sp_bar = sp_b if sp_bar is None else jax.tree_util.tree_map(jnp.add, sp_bar, sp_b)
    return y0_bar, s0_bar, s_eval_bar, sp_bar
