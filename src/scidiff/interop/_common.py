"""Framework-independent pieces of the torch and TensorFlow bridges.

* naming a leaf of a pytree in error messages (``args[0]['y']``);
* the float64/int64-with-x64-off check (JAX would otherwise silently downcast);
* :class:`CompiledFunction`: a JAX function compiled once per input signature, with a
  forward that also returns its VJP residuals and a backward that applies them.

Nothing here imports torch or tensorflow.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from .._results import RESULTS

__all__ = [
    "leaf_name",
    "check_x64",
    "X64_DTYPES",
    "CompiledFunction",
    "split_static",
    "SolveFailedError",
    "WrappedFunction",
    "exportable_array",
    "map_tree",
    "reject_prng_key",
    "SHARED_DTYPES",
]

# Every dtype (numpy-style name) torch, TensorFlow and JAX all have, in one order.
SHARED_DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
)

# Dtypes (by numpy name) that exist in JAX only with ``jax_enable_x64``.
X64_DTYPES = frozenset({"float64", "int64", "uint64", "complex128"})


def leaf_name(root: str, path: tuple) -> str:
    """``root`` followed by the pytree key path, e.g. ``tree['y'][0]``."""
    return root + jax.tree_util.keystr(path)


def check_x64(dtype_name: str, where: str, framework_hint: str) -> None:
    """Raise ``ValueError`` if ``dtype_name`` needs x64 and JAX runs with x64 off.

    ``jax.dlpack.from_dlpack`` silently narrows float64 to float32 (and int64 to int32)
    when x64 is disabled; a bridge must never change values behind the caller's back.
    """
    if dtype_name in X64_DTYPES and jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
        narrow = {
            "float64": "float32",
            "int64": "int32",
            "uint64": "uint32",
            "complex128": "complex64",
        }[dtype_name]
        raise ValueError(
            f"{where} has dtype {dtype_name}, but JAX runs with 64-bit types disabled, so it "
            f"would be silently narrowed to {narrow}. Either enable them before creating "
            f'arrays (`jax.config.update("jax_enable_x64", True)`) or convert the tensor '
            f"yourself first ({framework_hint}{narrow})."
        )


def split_static(
    leaves: Sequence[Any], is_dynamic: Callable[[Any], bool], where: str, tree: Any = None
) -> tuple[list[int], tuple]:
    """Indices of dynamic leaves, and the static leaves (``None`` in dynamic slots).

    Static leaves become part of the compilation key, so they must be hashable.
    """
    dyn_idx, static = [], []
    for i, leaf in enumerate(leaves):
        if is_dynamic(leaf):
            dyn_idx.append(i)
            static.append(None)
        else:
            try:
                hash(leaf)
            except TypeError:
                name = f"argument leaf #{i}"
                if tree is not None:  # name it by its path: (args, kwargs)[...]
                    path = jax.tree_util.tree_flatten_with_path(tree)[0][i][0]
                    name = leaf_name("(args, kwargs)", path)
                raise TypeError(
                    f"{where}: {name} of type {type(leaf).__name__} is neither a "
                    "tensor nor hashable. Non-tensor arguments are compile-time constants "
                    "and must be hashable (numbers, strings, tuples); pass arrays as tensors."
                ) from None
            static.append(leaf)
    return dyn_idx, tuple(static)


def _is_inexact(x: Any) -> bool:
    return jnp.issubdtype(x.dtype, jnp.inexact)


def _conj_complex(xs: Sequence[Any]) -> list[Any]:
    # torch and TensorFlow use the conjugate of JAX's cotangent convention for complex
    # numbers: for real L(z), torch/TF report dL/dRe z + i dL/dIm z while JAX's VJP of
    # the cotangent 1 gives dL/dRe z - i dL/dIm z. Conjugating cotangents on the way in
    # and gradients on the way out maps one convention onto the other.
    return [jnp.conj(x) if jnp.iscomplexobj(x) else x for x in xs]


class SolveFailedError(RuntimeError):
    """A scidiff solve (``throw=True``) inside a wrapped function failed; names the cause."""


@contextlib.contextmanager
def _named_failures(fn: Callable) -> Iterator[None]:
    """Re-raise a failed solve's runtime error as one line naming its RESULTS cause.

    Under ``jax.jit`` equinox's check arrives as ``JaxRuntimeError: INTERNAL: CpuCallback
    error`` with some 30 lines of boilerplate around the message; the message itself is
    one of :class:`~scidiff.RESULTS`' own, so it is found by matching those.
    """
    try:
        yield
    except jax.errors.JaxRuntimeError as err:
        text = str(err)
        causes = [m for m in RESULT_MESSAGES if m and m in text]
        if not causes:
            raise
        name = getattr(fn, "__name__", type(fn).__name__)
        raise SolveFailedError(
            f"a scidiff solve inside wrap({name}) failed: {max(causes, key=len)} (pass "
            "throw=False to the solver to get the partial solution and `sol.result`)."
        ) from None


RESULT_MESSAGES: tuple[str, ...] = tuple(RESULTS._index_to_message)


class CompiledFunction:
    """A JAX function of a fixed pytree structure, compiled per shape/dtype signature.

    The wrapped call is ``fn(*args, **kwargs)`` where ``(args, kwargs)`` flattens to
    ``treedef``; leaves at ``dyn_idx`` are arrays passed at call time, the others are the
    ``static`` constants. ``diff_mask[k]`` says whether dynamic leaf ``k`` is
    differentiated (only inexact leaves may be).

    ``jax.jit`` keys its cache on shapes and dtypes, so each method compiles once per
    signature; the bridges keep one :class:`CompiledFunction` per
    ``(treedef, static, diff_mask)``.

    Methods (all take and return flat lists of JAX arrays):

    ``forward(dyn)``
        the outputs.
    ``forward_vjp(dyn)``
        ``(outputs, residuals)``. ``residuals`` is the VJP closure returned by ``jax.vjp``
        (a ``jax.tree_util.Partial``, i.e. a pytree of arrays) -- computing it inside
        ``jit`` avoids evaluating the forward twice when a backward pass follows.
    ``backward(residuals, cotangents)``
        gradients of the differentiated leaves, in the framework's complex convention
        (see ``_conj_complex``); ``cotangents`` has one entry per inexact output.
    ``vjp_function()``
        the pure JAX function ``(dyn, cotangents) -> gradients`` used for double backward
        (re-computes the forward from the primal inputs so it can be differentiated again).

    After the first forward, ``out_tree`` is the output treedef and ``out_inexact`` flags
    which flat outputs are differentiable.
    """

    def __init__(
        self,
        fn: Callable,
        treedef: Any,
        dyn_idx: Sequence[int],
        static: tuple,
        diff_mask: Sequence[bool],
    ):
        self.fn = fn
        self.treedef = treedef
        self.dyn_idx = tuple(dyn_idx)
        self.static = static
        self.diff_mask = tuple(diff_mask)
        self.out_tree: Any = None
        self.out_inexact: tuple[bool, ...] = ()
        self.vjp_wrapped: Any = None  # the backward as a bridge function (double backward)
        self._forward = jax.jit(self._flat_call)
        self._forward_vjp = jax.jit(self._flat_vjp)
        self._backward = jax.jit(self._apply_vjp)
        self._vjp_fn = None

    # -- pure functions (traced) ------------------------------------------------------
    def _flat_call(self, dyn):
        leaves = list(self.static)
        for i, x in zip(self.dyn_idx, dyn):
            leaves[i] = x
        args, kwargs = jax.tree_util.tree_unflatten(self.treedef, leaves)
        out = self.fn(*args, **kwargs)
        out_leaves, out_tree = jax.tree_util.tree_flatten(out)
        out_leaves = [jnp.asarray(o) for o in out_leaves]
        self.out_tree = out_tree
        self.out_inexact = tuple(_is_inexact(o) for o in out_leaves)
        return out_leaves

    def _merge(self, diff, rest):
        diff_it, rest_it = iter(diff), iter(rest)
        return [next(diff_it) if m else next(rest_it) for m in self.diff_mask]

    def _split(self, dyn):
        diff = [x for x, m in zip(dyn, self.diff_mask) if m]
        rest = [x for x, m in zip(dyn, self.diff_mask) if not m]
        return diff, rest

    def _flat_vjp(self, dyn):
        diff, rest = self._split(dyn)

        def f(diff_):
            outs = self._flat_call(self._merge(diff_, rest))
            inexact = [o for o in outs if _is_inexact(o)]
            return inexact, outs

        _, vjp, outs = jax.vjp(f, diff, has_aux=True)
        return outs, vjp

    @staticmethod
    def _apply_vjp(vjp, cotangents):
        (grads,) = vjp(_conj_complex(cotangents))
        return _conj_complex(grads)

    # -- public entry points ----------------------------------------------------------
    def forward(self, dyn: list) -> list:
        with _named_failures(self.fn):
            return self._forward(dyn)

    def forward_vjp(self, dyn: list) -> tuple[list, Any]:
        with _named_failures(self.fn):
            return self._forward_vjp(dyn)

    def backward(self, residuals: Any, cotangents: list) -> list:
        with _named_failures(self.fn):
            return self._backward(residuals, cotangents)

    def vjp_function(self) -> Callable:
        """``g(dyn, cotangents) -> gradients``: the backward as a function of the primals.

        Used to make the backward itself differentiable (double backward): the bridges
        wrap ``g`` again, so its own backward is in turn a compiled JAX VJP.
        """
        if self._vjp_fn is None:

            def g(dyn, cotangents):
                _, vjp = self._flat_vjp(list(dyn))
                return self._apply_vjp(vjp, list(cotangents))

            self._vjp_fn = g
        return self._vjp_fn


def map_tree(convert: Callable[[Any, str, Any], Any], tree: Any, copy: bool | None) -> Any:
    """``tree`` with each leaf replaced by ``convert(leaf, name, copy)`` (name: its path)."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    out = [convert(x, leaf_name("tree", p), copy) for p, x in leaves]
    return jax.tree_util.tree_unflatten(treedef, out)


def reject_prng_key(dtype: Any, name: str, target: str) -> None:
    """Raise ``TypeError`` if ``dtype`` is a JAX PRNG key type (``target`` cannot hold it)."""
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        raise TypeError(
            f"{name} is a PRNG key array (dtype {dtype}), which {target} cannot hold: pass "
            "its raw bits, `jax.random.key_data(key)`, and rebuild the key with "
            "`jax.random.wrap_key_data` where it is used."
        )


def exportable_array(x: Any, name: str, target: str, supported: Iterable[str], hint: str) -> Any:
    """Check that ``x`` is a concrete JAX array ``target`` can share; its one buffer.

    Rejected with a message naming the leaf and the fix: tracers (inside jit/grad/vmap),
    PRNG key arrays, float0 tangents, dtypes ``target`` lacks (``supported`` lists its
    numpy-style names), non-JAX objects (``hint`` says how to convert numpy arrays) and
    arrays sharded over several devices (a fully replicated one gives its local copy).
    """
    if isinstance(x, Tracer):
        raise TypeError(
            f"{name} is a traced JAX value (you are inside jit/grad/vmap): only concrete "
            f"arrays can be handed to {target}. To use a JAX function from {target}, wrap it "
            f"with `scidiff.interop.{target.lower()}.wrap`."
        )
    dtype = getattr(x, "dtype", None)
    reject_prng_key(dtype, name, target)
    if dtype == jax.dtypes.float0:
        raise TypeError(
            f"{name} has dtype float0 (the tangent type of integer inputs), which has no "
            f"{target} equivalent."
        )
    if not isinstance(x, jax.Array):
        kind = f"{type(x).__module__}.{type(x).__qualname__}".removeprefix("builtins.")
        extra = f" {hint}" if isinstance(x, np.ndarray) else ""
        raise TypeError(f"{name} is of type {kind}, not a jax.Array.{extra}")
    supported = frozenset(supported)
    if str(x.dtype) not in supported:
        raise TypeError(
            f"{name} has dtype {x.dtype}, which cannot cross to {target} by DLPack. "
            f"Supported: {', '.join(sorted(supported))}; cast it first (e.g. "
            "`x.astype(jnp.float32)`)."
        )
    if len(x.sharding.device_set) > 1:
        if not x.is_fully_replicated:
            raise ValueError(
                f"{name} is sharded over {len(x.sharding.device_set)} devices; DLPack "
                "shares one buffer on one device. Gather it first (e.g. "
                "`jax.device_put(x, jax.devices()[0])`)."
            )
        x = x.addressable_data(0)
    return x


class WrappedFunction:
    """What the torch and TF ``wrap`` share: the function, its per-signature compiled
    forms, and the split of a call's arguments into tensors and static constants.

    Subclasses implement ``__call__`` with :meth:`split` and :meth:`compiled`.
    """

    def __init__(self, fn: Callable):
        self.fn = fn
        self._cache: dict[Any, CompiledFunction] = {}
        functools.update_wrapper(self, fn)  # pyright: ignore[reportArgumentType]
        self._where = f"wrap({getattr(fn, '__name__', type(fn).__name__)})"

    @classmethod
    def of(cls, fn: Callable) -> WrappedFunction:
        """``wrap(fn)``: idempotent (a wrapped function shares its compiled cache)."""
        if isinstance(fn, cls):
            return fn
        if not callable(fn):
            raise TypeError(f"wrap expects a callable JAX function, got {type(fn).__name__}.")
        return cls(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def is_dynamic(x: Any) -> bool:
        """Whether a leaf is passed at run time (a tensor) rather than as a constant."""
        raise NotImplementedError

    def split(self, args: tuple, kwargs: dict) -> tuple[list, Any, list[int], tuple]:
        """``(leaves, treedef, dyn_idx, static)`` of a call's ``(args, kwargs)``."""
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        dyn_idx, static = split_static(leaves, self.is_dynamic, self._where, (args, kwargs))
        return leaves, treedef, dyn_idx, static

    def compiled(self, treedef: Any, dyn_idx: Sequence[int], static: tuple,
                 diff_mask: tuple[bool, ...]) -> CompiledFunction:  # fmt: skip
        """The :class:`CompiledFunction` of this structure (created on first use)."""
        key = (treedef, static, diff_mask)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = CompiledFunction(self.fn, treedef, dyn_idx, static, diff_mask)
            self._cache[key] = compiled
        return compiled
