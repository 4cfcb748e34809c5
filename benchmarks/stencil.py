"""One explicit heat step with the 5-point (2D) / 7-point (3D) Laplacian, float32.

    u <- u + dt * kappa * laplacian(u)          (periodic boundaries)

Implementations, timed in the same run on the same array:

* ``scidiff``  -- ``scidiff.kernels.laplacian`` under ``jax.jit`` (ghosts from the BCs,
  fused into one loop);
* ``jax-roll`` -- the naive JAX version with ``jnp.roll`` (one roll per neighbour);
* ``numpy``    -- NumPy slicing into a preallocated output (no temporaries per neighbour);
* ``copy``     -- a jitted ``u * c`` (one read + one write, cannot be elided): the
  bandwidth reference.

Achieved bandwidth counts one read and one write per cell; ``fraction_of_copy`` is that
over the copy's bandwidth measured in the same run. Rounds alternate the order of the
implementations and the median over rounds is reported (the host may be shared).

Every implementation writes into a preallocated output and the two buffers swap roles
each step (ping-pong, as a time-stepping loop does): the JAX ones through a donated
output buffer (``donate_argnums``), NumPy through ``out=``. Without that, a fresh 64 MB
output per call is page-faulted in by the OS on CPU, which costs more than the stencil
itself and makes every implementation time like an allocation.

    python benchmarks/stencil.py [--quick] [--json PATH]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Record, finish, make_parser, time_call  # noqa: E402

import scidiff.kernels as K  # noqa: E402

BENCH = "stencil"


def make_impls(shape):
    grid = K.Grid(shape)
    nd = len(shape)

    # `buf` is donated and unused: XLA writes the result into it (no allocation).
    jit_into = lambda f: jax.jit(f, donate_argnums=1, keep_unused=True)

    @jit_into
    def scidiff_step(u, buf, coef):
        return u + coef * K.laplacian(u, grid, K.Periodic())

    @jit_into
    def roll_step(u, buf, coef):
        lap = -2 * nd * u
        for a in range(nd):
            lap = lap + jnp.roll(u, 1, a) + jnp.roll(u, -1, a)
        return u + coef * lap / grid.spacing[0] ** 2

    @jit_into
    def copy(u, buf, coef):
        return u * coef

    def numpy_step(u, coef, out):
        inv_h2 = np.float32(1 / grid.spacing[0] ** 2)
        c = np.float32(coef) * inv_h2
        np.multiply(u, np.float32(1) - 2 * nd * c, out=out)
        for a in range(nd):
            lo = [slice(None)] * nd
            hi = [slice(None)] * nd
            lo[a], hi[a] = slice(0, -1), slice(1, None)
            out[tuple(hi)] += c * u[tuple(lo)]  # u[i-1]
            out[tuple(lo)] += c * u[tuple(hi)]  # u[i+1]
            first, last = [slice(None)] * nd, [slice(None)] * nd
            first[a], last[a] = slice(0, 1), slice(-1, None)
            out[tuple(first)] += c * u[tuple(last)]  # periodic wrap
            out[tuple(last)] += c * u[tuple(first)]
        return out

    return grid, scidiff_step, roll_step, copy, numpy_step


def run_case(shape, rounds, records):
    grid, scidiff_step, roll_step, copy, numpy_step = make_impls(shape)
    case = f"heat{len(shape)}d-{'x'.join(map(str, shape))}-f32"
    rng = np.random.default_rng(0)
    u_np = rng.standard_normal(shape).astype(np.float32)
    u = jnp.asarray(u_np)
    coef = jnp.float32(0.1 * grid.spacing[0] ** 2)  # dt * kappa, stable for repeated steps
    out_np = np.empty_like(u_np)

    # Accuracy: every implementation computes the same step.
    ref = np.asarray(scidiff_step(u, jnp.zeros_like(u), coef))
    for name, got in (
        ("jax-roll", np.asarray(roll_step(u, jnp.zeros_like(u), coef))),
        ("numpy", numpy_step(u_np, float(coef), out_np).copy()),
    ):
        err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
        if err > 1e-5:
            raise AssertionError(f"{case}: {name} differs from scidiff by {err:.2e}")

    def ping_pong(step):
        bufs = [u + 0, jnp.zeros_like(u)]  # (current state, buffer to overwrite)

        def call():
            out = step(bufs[0], bufs[1], coef)
            bufs[0], bufs[1] = out, bufs[0]
            return out

        return call

    np_bufs = [u_np.copy(), np.empty_like(u_np)]

    def numpy_call():
        out = numpy_step(np_bufs[0], float(coef), np_bufs[1])
        np_bufs[0], np_bufs[1] = out, np_bufs[0]
        return out

    fns = {
        "scidiff": ping_pong(scidiff_step),
        "jax-roll": ping_pong(roll_step),
        "numpy": numpy_call,
        "copy": ping_pong(copy),
    }
    compile_s = {}
    for name, fn in fns.items():  # warm-up: compile time, measured once
        _, compile_s[name] = time_call(fn, repeats=1, min_time=0.0)
    samples = {name: [] for name in fns}
    order = list(fns)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            t, _ = time_call(fns[name], repeats=3, min_time=0.05)
            samples[name].append(t)
    seconds = {k: statistics.median(v) for k, v in samples.items()}
    nbytes = 2 * u_np.nbytes
    copy_gbps = nbytes / seconds["copy"] / 1e9
    for name in ("scidiff", "jax-roll", "numpy", "copy"):
        gbps = nbytes / seconds[name] / 1e9
        records.append(
            Record(
                BENCH,
                case,
                name,
                seconds[name],
                None if name == "numpy" else compile_s[name],
                gbps=gbps,
                fraction_of_copy=gbps / copy_gbps,
                cells=int(u_np.size),
            )
        )


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds per case")
    args = parser.parse_args(argv)
    if args.quick:
        shapes, rounds = [(1024, 1024), (128, 128, 128)], args.rounds or 5
    else:
        shapes, rounds = [(2048, 2048), (4096, 4096), (256, 256, 256)], args.rounds or 7
    records: list[Record] = []
    for shape in shapes:
        run_case(shape, rounds, records)
    return finish(records, args, "explicit heat step (float32, periodic)")


if __name__ == "__main__":
    main()
