"""Bridges to PyTorch and TensorFlow: zero-copy data exchange and differentiable wrappers.

Import the framework you use; importing ``scidiff.interop`` itself imports neither::

    from scidiff.interop import torch as sdtorch        # from_torch, to_torch, wrap, TorchModule
    from scidiff.interop import tensorflow as sdtf      # from_tf, to_tf, wrap, KerasLayer
"""

import importlib

__all__ = ["torch", "tensorflow"]  # pyright: ignore[reportUnsupportedDunderAll] (lazy)


def __getattr__(name: str):
    # `scidiff.interop.torch` after a plain `import scidiff.interop`: load on first use.
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
