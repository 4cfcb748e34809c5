"""Which derivatives of ``solve_ivp`` each adjoint supports, and a clear refusal of the rest.

``solve_ivp``'s step loop is a ``lax.while_loop`` (the number of steps depends on the
data), and so is the backward pass of :class:`~._adjoint.RecursiveCheckpoint` and
:class:`~._adjoint.Backsolve` (a ``jax.custom_vjp`` each). JAX pushes tangents forward
through a while loop but cannot reverse-differentiate one. Hence:

* forward-over-reverse (``jax.hessian`` = ``jax.jacfwd(jax.jacrev(f))``, Hessian-vector
  products ``jax.jvp(jax.grad(f), ...)``) works with both reverse adjoints: the inner
  reverse pass is the custom rule, the outer forward pass runs through its loops;
* reverse-over-anything (``jax.jacrev(jax.jacrev(f))``, ``jax.grad(jax.grad(f))``,
  ``jax.jacrev(jax.jacfwd(f))``) would have to reverse-differentiate a while loop: refused
  with a message naming the alternatives, instead of JAX's bare "Reverse-mode
  differentiation does not work for lax.while_loop".

JAX only finds out when it *transposes* the linearised loop, deep inside the outer
``jax.grad``/``jax.vjp`` call, where no scidiff code runs. So the loops are wrapped by
:func:`forward_only`: a ``jax.custom_jvp`` whose rule is plain forward mode through the
function (what JAX would do anyway) and whose output tangents pass through an identity
primitive, linear, that refuses to be transposed with scidiff's message. The tangent of a
loop's result is transposed before the loop itself, so that message comes first; the
primal program, forward mode and ``jax.linearize`` are unchanged.

Making reverse-over-reverse work would need both the forward loop and the backward pass
rewritten with static trip counts (``max_steps`` iterations always, whatever the solve
needs), so every such derivative would cost the worst case: not offered.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

__all__ = ["forward_only", "FORWARD_ONLY", "twice_reverse"]

FORWARD_ONLY = (
    "solve_ivp with adjoint=ForwardMode() supports forward mode only (jax.jvp, jax.jacfwd, "
    "jax.jacfwd(jax.jacfwd(f))); reverse mode (jax.grad, jax.vjp, jax.jacrev, "
    "jax.hessian, jax.jacrev(jax.jacfwd(f))) needs adjoint=scidiff.RecursiveCheckpoint() "
    "(the default) or scidiff.Backsolve()."
)


def twice_reverse(adjoint: str) -> str:
    """The refusal for reverse mode through ``adjoint``'s own loops (its forward pass or
    its backward pass): reverse-over-reverse."""
    return (
        f"solve_ivp with adjoint={adjoint} cannot be reverse-differentiated twice "
        "(jax.jacrev(jax.jacrev(f)), jax.grad(jax.grad(f)), "
        "jax.vjp of a gradient): its step loop and its backward pass are while loops with "
        "a data-dependent number of steps, which JAX cannot reverse-differentiate. For "
        "second derivatives use forward-over-reverse: jax.hessian(f) "
        "(= jax.jacfwd(jax.jacrev(f))), or jax.jvp(jax.grad(f), ...) for Hessian-vector "
        "products; or adjoint=scidiff.ForwardMode() with jax.jacfwd(jax.jacfwd(f))."
    )


# Identity on values and tangents; its transpose raises ValueError(message).
_mark_p = Primitive("scidiff_forward_only")
_mark_p.def_impl(lambda x, *, message: x)
_mark_p.def_abstract_eval(lambda aval, *, message: aval)
mlir.register_lowering(_mark_p, mlir.lower_fun(lambda x, *, message: x, multiple_results=False))
batching.defvectorized(_mark_p)


def _refuse_transpose(cotangent: Any, x: Any, *, message: str) -> Any:
    raise ValueError(message)


ad.deflinear2(_mark_p, _refuse_transpose)


def _mark(t: Any, message: str) -> Any:
    if jnp.issubdtype(t.dtype, jnp.inexact):
        return _mark_p.bind(t, message=message)
    return t  # float0 tangents of integer outputs


def forward_only(fn: Callable[..., Any], message: str) -> Callable[..., Any]:
    """``fn`` itself in value and in forward mode (``jax.jvp`` through it, nested too);
    transposing its linearisation (reverse mode through it) raises ``ValueError(message)``.
    """

    @jax.custom_jvp
    def wrapped(*args):
        return fn(*args)

    @functools.partial(wrapped.defjvp, symbolic_zeros=True)
    def wrapped_jvp(primals, tangents):
        leaves, tree = jax.tree_util.tree_flatten(primals)
        t_leaves = jax.tree_util.tree_leaves(
            tangents, is_leaf=lambda t: isinstance(t, SymbolicZero)
        )
        # Forward mode in the differentiated inputs only (as JAX's own JVP, which keeps
        # symbolic zeros), not in every float input.
        live = [i for i, t in enumerate(t_leaves) if not isinstance(t, SymbolicZero)]

        def of_live(*xs):
            full = list(leaves)
            for i, x in zip(live, xs):
                full[i] = x
            return fn(*jax.tree_util.tree_unflatten(tree, full))

        out, out_dot = jax.jvp(
            of_live, tuple(leaves[i] for i in live), tuple(t_leaves[i] for i in live)
        )
        return out, jax.tree_util.tree_map(lambda t: _mark(t, message), out_dot)

    return wrapped
