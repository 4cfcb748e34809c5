"""A JAX function as a TensorFlow function: ``wrap`` (eager and graph) and ``KerasLayer``.

Eager mode: inputs cross to JAX by DLPack, the compiled forward also returns the VJP
residuals, and a ``tf.custom_gradient`` applies the compiled VJP when a
``tf.GradientTape`` asks -- the same scheme as the torch bridge. For ``y = f(x)`` the
tape supplies ``dy = dL/dy`` and receives ``dL/dx = dy^T (df/dx)``, the VJP of ``f``.

Graph mode (inside ``tf.function``, hence Keras ``fit``): eager tensors do not exist, so
the function is converted with JAX's own ``jax2tf.convert(..., with_gradient=True)``,
which embeds the compiled JAX computation (StableHLO) and its VJP in the TF graph.
Unknown dimensions (``None``, e.g. Keras' batch axis) become symbolic shapes: every
unknown *leading* dimension shares the symbol ``b``; other unknown dimensions get their
own symbol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import tensorflow as tf

from .._compat import tf_record
from ._common import (
    CompiledFunction,
    WrappedFunction,
    _conj_complex,
    check_x64,
    exportable_array,
    reject_prng_key,
)
from ._status import StatusRecord, status_in_outputs, tf_check_status
from ._tf_bridge import _HINT, TF_DTYPES, array_to_tf, read_tensor, tensor_to_jax

# TensorFlow's eager tape API (what `tf.custom_gradient` itself calls, minus ~1 ms of
# Python per call). Private, so it lives in scidiff._compat; without it,
# `tf.custom_gradient` is used and every call records.
_record_operation, _could_record = tf_record() or (None, None)

__all__ = ["wrap"]  # and KerasLayer, created on first access (imports keras)


def _is_tf(x: Any) -> bool:
    return isinstance(x, (tf.Tensor, tf.Variable)) or (
        type(x).__name__ == "Variable" and type(x).__module__.startswith("keras")
    )


def _is_dynamic(x: Any) -> bool:
    return _is_tf(x) or isinstance(x, (np.ndarray, jax.Array))


def _input_tensor(x: Any, name: str) -> tf.Tensor:
    """A TF tensor for one dynamic input leaf (tensors are read, arrays become constants)."""
    if _is_tf(x):
        return read_tensor(x, name)
    if isinstance(x, jax.Array):
        x = exportable_array(x, name, "TensorFlow", TF_DTYPES.values(), "")
    if str(x.dtype) not in TF_DTYPES.values():
        raise TypeError(
            f"{name} has dtype {x.dtype}, which TensorFlow cannot hold here. Supported: "
            f"{', '.join(sorted(TF_DTYPES.values()))}; cast it first."
        )
    return tf.constant(np.asarray(x))


def _polymorphic_spec(tensors) -> list[str] | None:
    specs, any_unknown = [], False
    for k, t in enumerate(tensors):
        dims = []
        for axis, d in enumerate(t.shape.as_list()):
            if d is None:
                any_unknown = True
                dims.append("b" if axis == 0 else f"d{k}_{axis}")
            else:
                dims.append(str(d))
        specs.append("(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")")
    return specs if any_unknown else None


class _Wrapped(WrappedFunction):
    """The TF-callable returned by :func:`wrap` (see its docstring)."""

    is_dynamic = staticmethod(_is_dynamic)

    def __init__(self, fn: Callable):
        super().__init__(fn)
        self._converted: dict[Any, tuple[Callable, list[StatusRecord]]] = {}

    def __call__(self, *args, **kwargs):
        leaves, treedef, dyn_idx, static = self.split(args, kwargs)
        dyn = [_input_tensor(leaves[i], f"input leaf #{i}") for i in dyn_idx]
        diff_mask = tuple(x.dtype.is_floating or x.dtype.is_complex for x in dyn)
        compiled = self.compiled(treedef, dyn_idx, static, diff_mask)
        if tf.executing_eagerly():
            outs = self._eager(compiled, dyn)
        else:
            outs = self._graph(compiled, dyn)
        return jax.tree_util.tree_unflatten(compiled.out_tree, list(outs))

    @staticmethod
    def _eager(compiled: CompiledFunction, dyn: list) -> list:
        jax_in = [tensor_to_jax(x, f"input leaf #{i}", None) for i, x in enumerate(dyn)]
        record = any(compiled.diff_mask) and (_could_record is None or _could_record())
        if record:
            outs, residuals = compiled.forward_vjp(jax_in)
        else:  # no tape is recording: no residuals to keep
            outs, residuals = compiled.forward(jax_in), None
        outs_tf = [array_to_tf(o, f"output leaf #{i}", None) for i, o in enumerate(outs)]
        if not record:
            return outs_tf

        def backward(*dys):
            # the tape's dL/dy for each output -> dL/dx = VJP(dL/dy) for each input
            cts = [
                tensor_to_jax(dy, f"gradient #{i}", None)
                if dy is not None
                else jax.numpy.zeros(o.shape, o.dtype)
                for i, (dy, o, inexact) in enumerate(zip(dys, outs, compiled.out_inexact))
                if inexact
            ]
            grads = iter(compiled.backward(residuals, cts))
            return [
                array_to_tf(next(grads), f"gradient #{i}", None) if d else None
                for i, d in enumerate(compiled.diff_mask)
            ]

        if _record_operation is not None:
            _record_operation("scidiff_wrap", outs_tf, dyn, backward)
            return outs_tf

        @tf.custom_gradient  # public fallback: same semantics, more Python overhead
        def op(*xs):
            return [tf.identity(o) for o in outs_tf], lambda *dys: backward(*dys)

        return op(*dyn)  # pyright: ignore[reportReturnType]  (custom_gradient typing)

    @tf.autograph.experimental.do_not_convert
    def _graph(self, compiled: CompiledFunction, dyn: list) -> list:
        from jax.experimental import jax2tf

        for i, x in enumerate(dyn):  # jax2tf would narrow these silently
            check_x64(TF_DTYPES[x.dtype], f"input leaf #{i}", _HINT)
        poly = _polymorphic_spec(dyn)
        key = (id(compiled), None if poly is None else tuple(poly))
        converted = self._converted.get(key)
        records: list[StatusRecord] = []
        if converted is None:

            def flat(*xs):
                # A solve with throw=True cannot raise from a graph (equinox's check is a
                # host callback): while tracing, its failure rides in the outputs instead.
                with status_in_outputs(self._where) as record:
                    out = tuple(compiled._flat_call(list(xs)))
                for i, o in enumerate(out):  # jax2tf would hand out the raw key bits
                    reject_prng_key(o.dtype, f"output leaf #{i}", "TensorFlow")
                records.append(record)
                return out

            converted = jax2tf.convert(
                _tf_complex_convention(flat), with_gradient=True, polymorphic_shapes=poly
            )
            self._converted[key] = (converted, records)
        else:
            converted, records = converted
        try:
            outs = list(converted(*dyn))
        except NotImplementedError as err:
            if "host_callback" not in str(err):
                raise
            raise TypeError(
                f"{self._where} cannot run inside tf.function (graph mode): the function "
                "calls a host callback (`jax.debug.print`/`callback`, `equinox.error_if`, "
                "`jax.pure_callback`, ...), which a TF graph cannot carry. scidiff's own "
                "solvers carry their throw=True check through graphs; remove the callback "
                "or call the wrapper eagerly."
            ) from None
        if any(r.checks for r in records):  # ... and is raised here, on the TF side
            outs = tf_check_status(outs, self._where)
        return outs


def _tf_complex_convention(fn: Callable) -> Callable:
    """``fn`` with a VJP in TensorFlow's complex convention, for jax2tf's gradient.

    jax2tf hands TF's cotangents straight to JAX's VJP, but for complex leaves TF's
    convention is the conjugate of JAX's: conjugate the cotangents on the way in and the
    gradients on the way out (as ``CompiledFunction.backward`` does in eager mode).
    """

    @jax.custom_vjp
    def g(*xs):
        return fn(*xs)

    def g_fwd(*xs):
        return jax.vjp(fn, *xs)

    def g_bwd(vjp, cts):
        return tuple(_conj_complex(vjp(tuple(_conj_complex(cts)))))

    g.defvjp(g_fwd, g_bwd)
    return g


def wrap(fn: Callable) -> Callable:
    """Turn a JAX function into a TensorFlow function, differentiable by ``GradientTape``.

    ``g = wrap(fn)`` takes ``fn``'s arguments as pytrees with TF tensors (or variables)
    where ``fn`` expects arrays and returns ``fn``'s output pytree with TF tensors.

    * Eager: DLPack in and out (no copies on CPU), compiled once per shape/dtype
      signature, gradients from the compiled ``jax.vjp`` via ``tf.custom_gradient``.
    * Inside ``tf.function`` (and so in Keras ``fit``): converted by
      ``jax.experimental.jax2tf.convert(fn, with_gradient=True)``; ``None`` dimensions
      become symbolic (all unknown leading dimensions are the same batch size ``b``).
    * Floating and complex inputs are differentiable (their gradients are computed when a
      tape records); integer/bool inputs and outputs are not. Complex gradients follow
      TF's convention (the conjugate of JAX's), eagerly and in graphs.
    * Non-tensor leaves are compile-time constants (must be hashable); numpy and JAX
      arrays become constant tensors. ``tf.Variable`` inputs are read (the tape sees it).

    Args:
        fn: a function of JAX arrays (pytrees in, pytree out), traceable by ``jax.jit``.

    Returns:
        A callable on TF tensors, usable eagerly, in ``tf.function`` and in Keras layers.

    Raises:
        TypeError: string/resource tensors, ragged/sparse tensors, non-hashable non-tensor
            arguments. ValueError: a 64-bit tensor (eager) while JAX's x64 is off.

    Example:
        >>> import jax.numpy as jnp, tensorflow as tf
        >>> from scidiff.interop import tensorflow as sdtf
        >>> f = sdtf.wrap(lambda x: jnp.sum(jnp.sin(x)))
        >>> x = tf.constant([0.0, 1.0])
        >>> with tf.GradientTape() as tape:
        ...     tape.watch(x)
        ...     y = f(x)
        >>> bool(tf.reduce_all(tf.abs(tape.gradient(y, x) - tf.cos(x)) < 1e-6))
        True
    """
    return _Wrapped.of(fn)


def _make_keras_layer():
    import keras

    class KerasLayer(keras.layers.Layer):
        """A Keras layer computing ``fn(params, *inputs)`` with trainable ``params``.

        ``params`` (a pytree of arrays) become Keras weights, trained by ``fit`` or any
        optimiser; the computation is the JAX function ``fn`` (through :func:`wrap`).
        The layer is not serialisable with ``get_config`` (``fn`` is arbitrary code).

        Args:
            fn: ``fn(params, *inputs)``, a JAX function.
            params: pytree of initial values (JAX/numpy arrays or Python numbers).
            **kwargs: passed to ``keras.layers.Layer`` (``name``, ``trainable``, ...).

        Example:
            >>> import jax.numpy as jnp, numpy as np
            >>> from scidiff.interop import tensorflow as sdtf
            >>> layer = sdtf.KerasLayer(lambda p, x: p["w"] * x, {"w": np.float32(3.0)})
            >>> float(layer(np.ones((2,), np.float32))[0])
            3.0
        """

        def __init__(self, fn: Callable, params: Any, **kwargs):
            super().__init__(**kwargs)
            leaves, self._param_tree = jax.tree_util.tree_flatten_with_path(params)
            self._param_vars = []
            for path, leaf in leaves:
                value = np.asarray(leaf)
                name = "".join(c if c.isalnum() else "_" for c in jax.tree_util.keystr(path))
                var = self.add_weight(
                    shape=value.shape,
                    dtype=str(value.dtype),
                    initializer=lambda shape, dtype=None, v=value: tf.constant(v, dtype=dtype),
                    name=name.strip("_") or "param",
                )
                self._param_vars.append(var)
            self._fn = wrap(fn)

        @property
        def params(self) -> Any:
            """The parameters as the pytree ``fn`` expects (Keras variables)."""
            return jax.tree_util.tree_unflatten(self._param_tree, self._param_vars)

        def call(self, *inputs):
            return self._fn(self.params, *inputs)

    return KerasLayer


def __getattr__(name: str):
    # Keras is imported only when the layer is first used (it is slow to import).
    if name == "KerasLayer":
        cls = _make_keras_layer()
        globals()["KerasLayer"] = cls
        return cls
    raise AttributeError(name)
