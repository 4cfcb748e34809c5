"""Physics kernels."""
