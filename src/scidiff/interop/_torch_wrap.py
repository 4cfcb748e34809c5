"""A JAX function as a torch function: ``wrap`` and the parameter-holding ``TorchModule``.

Forward: torch inputs cross to JAX by DLPack (zero-copy where possible), the JAX function
runs compiled, outputs cross back. When torch needs gradients, the forward is compiled
together with ``jax.vjp`` so the residuals are computed once; backward applies the
compiled VJP to the incoming gradients.

Why this is the right backward: for outputs ``y = f(x)`` and a scalar loss ``L``, torch
hands backward ``g = dL/dy`` and expects ``dL/dx = g^T (df/dx)`` -- exactly the VJP of
``f`` at ``x`` applied to ``g`` (for complex leaves, up to the conjugation torch uses,
handled in ``_common._conj_complex``).

Double backward: with ``create_graph=True`` the backward is itself a wrapped JAX
function ``(x, g) -> vjp(f, x)(g)`` (re-computed from the saved primals), so torch can
differentiate it again; its own backward is again a compiled JAX VJP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import torch

from ._common import CompiledFunction, WrappedFunction, check_x64
from ._torch_bridge import array_to_torch, tensor_to_jax

__all__ = ["wrap", "TorchModule"]


def _is_dynamic(x: Any) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray, jax.Array))


def _to_jax(x: Any, name: str) -> Any:
    if isinstance(x, torch.Tensor):
        return tensor_to_jax(x, name, None)
    check_x64(str(x.dtype), name, "e.g. `x.astype(np.")  # numpy would be narrowed too
    return jax.numpy.asarray(x)


class _JaxFunction(torch.autograd.Function):
    """``apply(state, *dyn)``: ``state`` is the ``_Wrapped`` call's compiled function."""

    @staticmethod
    def forward(ctx, compiled: CompiledFunction, *dyn):
        jax_in = [_to_jax(x, f"input leaf #{i}") for i, x in enumerate(dyn)]
        needs_grad = any(ctx.needs_input_grad[1:])
        if needs_grad:
            outs, residuals = compiled.forward_vjp(jax_in)
        else:
            outs, residuals = compiled.forward(jax_in), None
        outs_t = tuple(array_to_torch(o, f"output leaf #{i}", None) for i, o in enumerate(outs))
        ctx.compiled = compiled
        ctx.residuals = residuals
        ctx.n_in = len(dyn)
        ctx.arrays = {i: x for i, x in enumerate(dyn) if not isinstance(x, torch.Tensor)}
        # Saving inputs and outputs lets torch's version counters catch an in-place write
        # to any of them between forward and backward (our JAX residuals alias that
        # memory, so such a write would otherwise corrupt the gradient silently).
        ctx.save_for_backward(*(x if isinstance(x, torch.Tensor) else None for x in dyn), *outs_t)
        non_diff = [t for t, inexact in zip(outs_t, compiled.out_inexact) if not inexact]
        if non_diff:
            ctx.mark_non_differentiable(*non_diff)
        return outs_t

    @staticmethod
    def backward(ctx, *grad_outs):
        compiled: CompiledFunction = ctx.compiled
        saved = ctx.saved_tensors  # raises if an input/output was modified in place
        inputs = [ctx.arrays.get(i, x) for i, x in enumerate(saved[: ctx.n_in])]
        outs = saved[ctx.n_in :]
        cts_t = [
            g if g is not None else torch.zeros_like(o)
            for g, o, inexact in zip(grad_outs, outs, compiled.out_inexact)
            if inexact
        ]
        if torch.is_grad_enabled():
            # create_graph=True: express the backward as a differentiable wrapped call.
            grads = _vjp_wrapper(compiled)(inputs, cts_t)
        else:
            cts = [
                tensor_to_jax(g.contiguous(), f"gradient #{i}", None) for i, g in enumerate(cts_t)
            ]
            grads_j = compiled.backward(ctx.residuals, cts)
            grads = [array_to_torch(g, f"gradient #{i}", None) for i, g in enumerate(grads_j)]
        grads_it = iter(grads)
        result: list[torch.Tensor | None] = [None]
        for needed in compiled.diff_mask:
            result.append(next(grads_it) if needed else None)
        return tuple(result)


def _vjp_wrapper(compiled: CompiledFunction) -> Callable:
    """The backward of ``compiled`` as a wrapped (hence differentiable) torch function."""
    wrapped = compiled.vjp_wrapped
    if wrapped is None:
        wrapped = compiled.vjp_wrapped = wrap(compiled.vjp_function())
    return wrapped


class _Wrapped(WrappedFunction):
    """The torch-callable returned by :func:`wrap` (see its docstring)."""

    is_dynamic = staticmethod(_is_dynamic)

    # torch.compile cannot trace into JAX (its fake tensors have no data): the call is a
    # graph break, run eagerly -- so a failed solve raises its error there as usual.
    @torch.compiler.disable(reason="scidiff.interop.torch.wrap runs JAX code eagerly")
    def __call__(self, *args, **kwargs):
        leaves, treedef, dyn_idx, static = self.split(args, kwargs)
        dyn = [leaves[i] for i in dyn_idx]
        grad_on = torch.is_grad_enabled()
        diff_mask = tuple(grad_on and isinstance(x, torch.Tensor) and x.requires_grad for x in dyn)
        compiled = self.compiled(treedef, dyn_idx, static, diff_mask)
        if any(diff_mask):
            outs = _JaxFunction.apply(compiled, *dyn)
        else:  # nothing to differentiate: skip the autograd node altogether
            jax_in = [_to_jax(x, f"input leaf #{i}") for i, x in enumerate(dyn)]
            outs = [
                array_to_torch(o, f"output leaf #{i}", None)
                for i, o in enumerate(compiled.forward(jax_in))
            ]
        return jax.tree_util.tree_unflatten(compiled.out_tree, list(outs))


def wrap(fn: Callable) -> Callable:
    """Turn a JAX function into a torch function that torch autograd can differentiate.

    ``g = wrap(fn)`` takes the same arguments as ``fn`` -- any pytrees (tuples, lists,
    dicts, ``None``) -- with torch tensors where ``fn`` expects arrays, and returns the
    same pytree ``fn`` returns, with torch tensors for arrays. Gradients flow back through
    ``jax.vjp(fn)``: for ``y = fn(x)`` torch's backward receives ``dL/dy`` and gets
    ``(dL/dy)^T (dfn/dx)``.

    * Compiled once per input structure and shape/dtype signature (``jax.jit``); repeated
      calls with new values reuse the compiled forward and backward.
    * Only inputs with ``requires_grad`` (under grad mode) are differentiated: a backward
      never asks JAX for gradients torch does not need, and their slots get ``None``.
      Integer and boolean tensors are passed through as non-differentiable inputs;
      integer outputs are returned as non-differentiable tensors.
    * Non-tensor leaves (Python numbers, strings, ...) are compile-time constants: a new
      value recompiles. numpy and JAX arrays are non-differentiable inputs.
    * Double backward (``create_graph=True``, ``gradgradcheck``) is supported: the
      backward is itself a wrapped JAX VJP.
    * Complex tensors follow torch's gradient convention (the conjugate of JAX's).
    * Inputs are shared with JAX without copies where the layout allows; modifying an
      input or output in place before ``backward`` raises torch's usual error.
    * Devices: tensors go to the JAX device DLPack names (a CUDA tensor to the matching
      JAX GPU) and outputs come back on it; DLPack's stream argument synchronises the
      two libraries' streams.

    Args:
        fn: a function of JAX arrays (pytrees in, pytree out), traceable by ``jax.jit``.

    Returns:
        A callable taking torch tensors (pytrees) and returning torch tensors (pytrees).

    Raises:
        TypeError: when called with a non-hashable non-tensor argument, or a tensor
            dtype JAX lacks. ValueError: a 64-bit tensor while JAX's x64 is off.

    Example:
        >>> import jax.numpy as jnp, torch
        >>> from scidiff.interop import torch as sdtorch
        >>> f = sdtorch.wrap(lambda x, p: {"y": jnp.sin(x) * p["a"]})
        >>> x = torch.linspace(0, 1, 5, requires_grad=True)
        >>> out = f(x, {"a": torch.tensor(2.0)})
        >>> out["y"].sum().backward()
        >>> torch.allclose(x.grad, 2 * torch.cos(x.detach()))
        True
    """
    return _Wrapped.of(fn)


class TorchModule(torch.nn.Module):
    """A ``torch.nn.Module`` whose trainable parameters are a pytree used by a JAX function.

    ``module(*args)`` returns ``fn(params, *args)``, differentiable with respect to the
    parameters (registered as ``torch.nn.Parameter``, so ``module.parameters()``,
    optimisers, ``state_dict`` and ``.to(device)`` all work) and to tensor arguments.

    The initial values are copied: an optimiser updating the parameters in place never
    writes into the arrays you passed in.

    Args:
        fn: ``fn(params, *args, **kwargs)``, a JAX function (or one already passed through
            :func:`wrap`, whose compiled functions are then shared).
        params: a pytree of arrays (JAX, numpy or torch) -- the initial parameters.

    Example:
        >>> import jax.numpy as jnp, torch
        >>> from scidiff.interop import torch as sdtorch
        >>> m = sdtorch.TorchModule(lambda p, x: p["w"] * x + p["b"],
        ...                         {"w": jnp.array(2.0), "b": jnp.array(0.5)})
        >>> y = m(torch.ones(3))
        >>> sorted(name for name, _ in m.named_parameters())
        ['b', 'w']
    """

    def __init__(self, fn: Callable, params: Any):
        super().__init__()
        leaves, self._treedef = jax.tree_util.tree_flatten_with_path(params)
        self._names = []
        for path, leaf in leaves:
            if isinstance(leaf, torch.Tensor):
                value = leaf.detach().clone()
            elif isinstance(leaf, jax.Array):
                value = array_to_torch(leaf, "params" + jax.tree_util.keystr(path), True)
            else:
                value = torch.as_tensor(np.array(leaf))
            name = _param_name(path) or f"p{len(self._names)}"
            self.register_parameter(name, torch.nn.Parameter(value))
            self._names.append(name)
        self._wrapped = wrap(fn)

    @property
    def params(self) -> Any:
        """The parameters as the pytree ``fn`` expects (``torch.nn.Parameter`` leaves)."""
        return jax.tree_util.tree_unflatten(self._treedef, [getattr(self, n) for n in self._names])

    def forward(self, *args, **kwargs):
        return self._wrapped(self.params, *args, **kwargs)


def _param_name(path) -> str:
    parts = []
    for k in path:
        key = getattr(k, "key", getattr(k, "idx", getattr(k, "name", None)))
        parts.append(str(key))
    name = "_".join(parts).replace(".", "_")
    return name if name.isidentifier() else ""
