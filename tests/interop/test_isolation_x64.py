"""In a fresh interpreter (one subprocess for both checks, imports are slow):

* ``import scidiff`` / ``scidiff.interop`` import neither torch nor tensorflow, and the
  torch bridge does not import tensorflow;
* with JAX's x64 off (the default), 64-bit tensors are refused with a clear error instead
  of being narrowed silently (which ``jax.dlpack.from_dlpack`` itself would do);
* arrays sharded over several (emulated) devices are refused by ``to_torch``/``to_tf``,
  fully replicated ones are shared.
"""

import os
import subprocess
import sys

SCRIPT = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import scidiff, scidiff.interop
assert "torch" not in sys.modules, "import scidiff imported torch"
assert "tensorflow" not in sys.modules, "import scidiff imported tensorflow"
import jax
assert not jax.config.jax_enable_x64

def refuses(fn, *words):
    try:
        fn()
    except ValueError as err:
        msg = str(err)
        assert all(w in msg for w in words), msg
        return
    raise AssertionError("no error raised")

from scidiff.interop import torch as sdtorch
assert "tensorflow" not in sys.modules, "the torch bridge imported tensorflow"
assert scidiff.interop.torch is sdtorch
import torch, jax.numpy as jnp

for dt, narrow in [(torch.float64, "float32"), (torch.int64, "int32"),
                   (torch.uint64, "uint32"), (torch.complex128, "complex64")]:
    refuses(lambda: sdtorch.from_torch({"w": torch.ones(3, dtype=dt)}),
            "tree['w'] has dtype", "narrowed to " + narrow, "jax_enable_x64")
x = sdtorch.from_torch(torch.arange(4, dtype=torch.int32))
assert x.dtype == jnp.int32 and x.unsafe_buffer_pointer() is not None
g = sdtorch.wrap(lambda a: a * 2)
refuses(lambda: g(torch.ones(2, dtype=torch.float64)), "input leaf #0", "float64")
assert g(torch.ones(2)).dtype == torch.float32

from scidiff.interop import tensorflow as sdtf
import tensorflow as tf
refuses(lambda: sdtf.from_tf(tf.ones(2, tf.float64)), "tree has dtype float64")
refuses(lambda: sdtf.from_tf(tf.experimental.dlpack.to_dlpack(tf.ones(2, tf.int64))),
        "dtype int64")
assert sdtf.from_tf(tf.ones(2, tf.float32)).dtype == jnp.float32
# graph mode (tf.function): jax2tf would narrow 1e300 to float32 inf; refused instead
import numpy as np
gt = tf.function(sdtf.wrap(lambda a: a * 2))
refuses(lambda: gt(tf.constant(np.array([1e300]))), "input leaf #0 has dtype float64",
        "narrowed to float32")
refuses(lambda: gt(tf.constant(np.array([2**40]))), "input leaf #0 has dtype int64")
refuses(lambda: sdtf.wrap(lambda a: a * 2)(np.array([1e300])), "input leaf #0", "float64")
assert gt(tf.ones(2)).dtype == tf.float32
# two emulated CPU devices (XLA_FLAGS below): DLPack shares one buffer on one device
from jax.sharding import NamedSharding, PartitionSpec as P
mesh = jax.make_mesh((2,), ("d",))
split = jax.device_put(jnp.arange(8.0), NamedSharding(mesh, P("d")))
replicated = jax.device_put(jnp.arange(8.0), NamedSharding(mesh, P()))
for to in (sdtorch.to_torch, sdtf.to_tf):
    refuses(lambda: to({"x": split}), "tree['x'] is sharded over 2 devices")
assert sdtorch.to_torch(replicated).tolist() == list(range(8))
assert sdtf.to_tf(replicated).numpy().tolist() == list(range(8))
print("ISOLATION-AND-X64-OK")
"""


def test_imports_are_lazy_and_x64_off_refuses_64_bit_tensors():
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env["JAX_ENABLE_X64"] = "0"
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ISOLATION-AND-X64-OK" in proc.stdout
