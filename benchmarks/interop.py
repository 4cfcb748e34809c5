"""Cost of crossing between JAX and torch / TensorFlow.

Cases, each timed in the same run:

* ``from_torch`` / ``to_torch`` / ``from_tf`` / ``to_tf`` for small and large float32
  tensors. Peers: the raw DLPack call (``jax.dlpack.from_dlpack``, ``torch.from_dlpack``,
  ``tf.experimental.dlpack.from_dlpack``: zero-copy, no checks) and a copy through numpy.
  Zero-copy means the time must not grow with the size (``extra.bytes``, ``extra.shared``
  says whether the result aliases the source).
* a wrapped call ``y = sin(x) * a`` (small ``x``) through ``sdtorch.wrap`` / ``sdtf.wrap``,
  forward only and forward + backward. Peers: the same JAX computation called directly
  (``jax.jit``, waiting for each result as the bridge must; forward + backward as the
  jitted ``jax.vjp`` and its jitted application, the same split the bridge uses) and the
  framework's native ops.
  ``extra.overhead_us`` is the bridge's time minus the direct JAX time.

torch runs with one intra-op thread (``torch.set_num_threads(1)``) for stable figures on
a shared host.

    python benchmarks/interop.py [--quick] [--json PATH]
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Record, finish, make_parser, time_call  # noqa: E402

BENCH = "interop"


def _measure(impls, quick):
    """Median over rounds (alternating the order of implementations each round: the host
    may be shared) of each implementation's median time; plus its first-call time."""
    rounds = 3 if quick else 5
    samples = {name: [] for name, _ in impls}
    first = {}
    for r in range(rounds):
        for name, fn in impls if r % 2 == 0 else impls[::-1]:
            sec, first_call = time_call(fn, repeats=5, min_time=0.03 if quick else 0.1)
            samples[name].append(sec)
            first.setdefault(name, first_call)
    return {name: statistics.median(v) for name, v in samples.items()}, first


def data_cases(sizes, quick):
    import tensorflow as tf
    import torch

    from scidiff.interop import tensorflow as sdtf
    from scidiff.interop import torch as sdtorch

    recs = []
    for n in sizes:
        nbytes = 4 * n
        t = torch.rand(n)
        x = jnp.asarray(np.random.default_rng(0).random(n, dtype=np.float32))
        tt = tf.random.uniform((n,))
        cases = {
            f"from_torch n={n}": [
                ("scidiff", lambda: sdtorch.from_torch(t)),
                ("jax.dlpack raw", lambda: jax.dlpack.from_dlpack(t)),
                ("numpy copy", lambda: jnp.asarray(t.numpy())),
            ],
            f"to_torch n={n}": [
                ("scidiff", lambda: sdtorch.to_torch(x)),
                ("torch.from_dlpack raw", lambda: torch.from_dlpack(x)),
                ("numpy copy", lambda: torch.from_numpy(np.array(x))),
            ],
            f"from_tf n={n}": [
                ("scidiff", lambda: sdtf.from_tf(tt)),
                ("jax.dlpack raw", lambda: jax.dlpack.from_dlpack(tt)),
                ("numpy copy", lambda: jnp.asarray(tt.numpy())),
            ],
            f"to_tf n={n}": [
                ("scidiff", lambda: sdtf.to_tf(x)),
                ("tf.dlpack raw", lambda: tf.experimental.dlpack.from_dlpack(x.__dlpack__())),
                ("numpy copy", lambda: tf.constant(np.asarray(x))),
            ],
        }
        shared = {
            f"from_torch n={n}": sdtorch.from_torch(t).unsafe_buffer_pointer() == t.data_ptr(),
            f"to_torch n={n}": sdtorch.to_torch(x).data_ptr() == x.unsafe_buffer_pointer(),
        }
        for case, impls in cases.items():
            secs, _ = _measure(impls, quick)
            for impl, _fn in impls:
                extra = {"bytes": nbytes}
                if impl == "scidiff" and case in shared:
                    extra["shared"] = bool(shared[case])
                recs.append(Record(BENCH, case, impl, secs[impl], None, **extra))
    return recs


def wrap_cases(n, quick):
    import tensorflow as tf
    import torch

    from scidiff.interop import tensorflow as sdtf
    from scidiff.interop import torch as sdtorch

    def f(x, a):
        return jnp.sin(x) * a

    recs = []
    xj, aj = jnp.linspace(0.0, 1.0, n, dtype=jnp.float32), jnp.float32(2.0)
    fwd = jax.jit(f)
    fwd_vjp = jax.jit(lambda x, a: jax.vjp(f, x, a))
    bwd = jax.jit(lambda vjp, ct: vjp(ct))

    def jax_fwd():  # synchronous, like every framework call it is compared with
        return jax.block_until_ready(fwd(xj, aj))

    def jax_fwd_bwd():
        y, vjp = fwd_vjp(xj, aj)
        return jax.block_until_ready(bwd(vjp, jnp.ones_like(y)))

    # -- torch ------------------------------------------------------------------------
    g = sdtorch.wrap(f)
    xt = torch.linspace(0.0, 1.0, n)
    at = torch.tensor(2.0)
    xg = xt.clone().requires_grad_(True)
    ag = at.clone().requires_grad_(True)

    def torch_ours_fwd():
        with torch.no_grad():
            return g(xt, at)

    def torch_ours_fwd_bwd():
        xg.grad = ag.grad = None
        g(xg, ag).backward(torch.ones(n))
        return xg.grad

    def torch_native_fwd_bwd():
        xg.grad = ag.grad = None
        (torch.sin(xg) * ag).backward(torch.ones(n))
        return xg.grad

    def torch_native_fwd():
        with torch.no_grad():
            return torch.sin(xt) * at

    # -- TensorFlow -------------------------------------------------------------------
    h = sdtf.wrap(f)
    xf = tf.linspace(0.0, 1.0, n)
    af = tf.constant(2.0)

    def tf_ours_fwd_bwd():
        with tf.GradientTape() as tape:
            tape.watch(xf)
            y = h(xf, af)
        return tape.gradient(y, xf)

    def tf_native_fwd_bwd():
        with tf.GradientTape() as tape:
            tape.watch(xf)
            y = tf.sin(xf) * af
        return tape.gradient(y, xf)

    graph_ours = tf.function(tf_ours_fwd_bwd)
    graph_native = tf.function(tf_native_fwd_bwd)

    cases = {
        f"torch.wrap fwd n={n}": [
            ("scidiff", torch_ours_fwd),
            ("jax.jit direct", jax_fwd),
            ("torch native", torch_native_fwd),
        ],
        f"torch.wrap fwd+bwd n={n}": [
            ("scidiff", torch_ours_fwd_bwd),
            ("jax.jit direct", jax_fwd_bwd),
            ("torch native", torch_native_fwd_bwd),
        ],
        f"tf.wrap eager fwd n={n}": [
            ("scidiff", lambda: h(xf, af)),
            ("jax.jit direct", jax_fwd),
            ("tf native", lambda: tf.sin(xf) * af),
        ],
        f"tf.wrap eager fwd+bwd n={n}": [
            ("scidiff", tf_ours_fwd_bwd),
            ("jax.jit direct", jax_fwd_bwd),
            ("tf native", tf_native_fwd_bwd),
        ],
        f"tf.wrap tf.function fwd+bwd n={n}": [
            ("scidiff", graph_ours),
            ("tf native", graph_native),
        ],
    }
    for case, impls in cases.items():
        secs, first = _measure(impls, quick)
        for impl, _fn in impls:
            comp = first[impl] if impl == "scidiff" else None
            recs.append(Record(BENCH, case, impl, secs[impl], comp))
        if "jax.jit direct" in secs:
            recs[-len(impls)]["extra"]["overhead_us"] = 1e6 * (
                secs["scidiff"] - secs["jax.jit direct"]
            )
    return recs


def main():
    args = make_parser(__doc__.splitlines()[0]).parse_args()
    import torch

    # One intra-op thread: torch's pool fights every other process on a shared 2-core
    # host and its timings of 64k-element ops then vary 10x between runs.
    torch.set_num_threads(1)
    sizes = [16, 1 << 20] if args.quick else [16, 1 << 16, 1 << 22]
    records = data_cases(sizes, args.quick)
    records += wrap_cases(16, args.quick)
    if not args.quick:
        records += wrap_cases(1 << 16, args.quick)
    finish(records, args, "interop: crossing JAX <-> torch / TensorFlow")


if __name__ == "__main__":
    main()
