"""What a progress bar (and chunking, and checkpoints) costs a long rollout.

A Kolmogorov-flow rollout (``NavierStokes2D``, pseudo-spectral ETDRK4, float32; the
``kolmogorov_flow`` example's set-up, at half the initial CFL step) of ``steps`` steps is timed four ways on the
same work, in alternating rounds (median of the paired ratios, so machine load cancels):

* ``scidiff`` -- ``rollout_model_chunked(..., chunks=C, progress=True)``: the library's
  progress bar, updated between chunks (the row whose overhead is the claim, < 5%);
* ``chunked`` -- the same chunks, ``progress=False`` (ratio: the bar's own cost);
* ``one-scan`` -- ``model.rollout`` in one compiled ``lax.scan`` (ratio: the bar plus
  the chunking, i.e. a host round trip and a transform back to physical space per chunk);
* the bar alone (``extra["bar_host_seconds"]``): starting it, ``C`` updates and its final
  render, timed without any work -- the load-independent part of the claim;
* ``checkpointed`` (its own row, ratio to ``chunked`` in ``extra``) -- ``progress=True``
  and a checkpoint every ``C / 4`` chunks to a temporary folder (orbax, synchronous).

    python benchmarks/progress_overhead.py [--quick] [--json PATH]
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).parent))

from _common import Record, block, finish, make_parser  # noqa: E402

from scidiff._chunked import rollout_model_chunked  # noqa: E402
from scidiff._chunked._progress import progress_bar  # noqa: E402
from scidiff.kernels import Grid, NavierStokes2D, gaussian_random_field  # noqa: E402


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    n, steps, chunks, rounds = (32, 400, 20, 5) if args.quick else (128, 2000, 20, 7)
    rounds = args.rounds or rounds
    save_every = steps // chunks
    grid = Grid((n, n), 2 * jnp.pi)
    model = NavierStokes2D(grid.shape, viscosity=1e-3, drag=0.1, forcing_wavenumber=4)
    w0 = 4.0 * gaussian_random_field(jax.random.PRNGKey(0), grid, length_scale=0.5)
    w0 = w0.astype(jnp.float32)
    dt = 0.5 * float(model.max_stable_dt(w0))  # half the CFL limit at the start
    one_scan = jax.jit(lambda w: model.rollout(w, dt, steps, save_every=save_every))
    sink = io.StringIO()  # the bar draws into this, as it would draw into a terminal

    def bar():
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return rollout_model_chunked(
                model, w0, dt, steps, save_every=save_every, chunks=chunks, progress=True
            )

    def plain():
        return rollout_model_chunked(model, w0, dt, steps, save_every=save_every, chunks=chunks)

    def checkpointed():
        with tempfile.TemporaryDirectory() as folder:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                return rollout_model_chunked(
                    model,
                    w0,
                    dt,
                    steps,
                    save_every=save_every,
                    chunks=chunks,
                    progress=True,
                    checkpoint_dir=folder,
                    checkpoint_every=chunks // 4,
                )

    impls = {
        "scidiff": bar,
        "chunked": plain,
        "one-scan": lambda: one_scan(w0),
        "checkpointed": checkpointed,
    }
    first = {}
    for name, fn in impls.items():
        t = time.perf_counter()
        block(fn())
        first[name] = time.perf_counter() - t
    ref = one_scan(w0)
    diff = float(jnp.max(jnp.abs(bar() - ref)) / jnp.max(jnp.abs(ref)))
    times = {name: [] for name in impls}
    for r in range(rounds):
        order = list(impls) if r % 2 == 0 else list(reversed(impls))
        for name in order:
            t = time.perf_counter()
            block(impls[name]())
            times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(ts) for name, ts in times.items()}

    # The bar's own host cost, timed alone (start, one update per chunk, final render):
    # a load-independent bound on what progress=True adds to a run.
    def bar_only():
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            with progress_bar(True, "bar only", total=chunks) as b:
                for _ in range(chunks):
                    b.advance()

    bar_costs = []
    for _ in range(rounds):
        t = time.perf_counter()
        bar_only()
        bar_costs.append(time.perf_counter() - t)
    bar_seconds = statistics.median(bar_costs)

    def paired(a, b):
        return statistics.median(x / y for x, y in zip(times[a], times[b]))

    case = f"ns2d-{n}-{steps}steps-{chunks}chunks"
    common = dict(
        rounds=rounds, dtype="float32", chunks=chunks, steps=steps, max_rel_diff_vs_one_scan=diff
    )
    records = [
        Record(
            "progress_overhead",
            case,
            "scidiff",
            med["scidiff"],
            first["scidiff"] - med["scidiff"],
            bar_overhead_pct=100 * (paired("scidiff", "chunked") - 1),
            bar_host_seconds=bar_seconds,
            bar_cost_pct=100 * bar_seconds / med["chunked"],
            total_overhead_pct=100 * (paired("scidiff", "one-scan") - 1),
            **common,
        ),
        Record(
            "progress_overhead",
            case,
            "chunked",
            med["chunked"],
            first["chunked"] - med["chunked"],
            **common,
        ),
        Record(
            "progress_overhead",
            case,
            "one-scan",
            med["one-scan"],
            first["one-scan"] - med["one-scan"],
            **common,
        ),
        Record(
            "progress_overhead",
            f"{case}-ckpt{chunks // 4}",
            "checkpointed",
            med["checkpointed"],
            None,
            checkpoint_overhead_pct=100 * (paired("checkpointed", "chunked") - 1),
            checkpoints=3,
            **common,
        ),
    ]
    finish(records, args, "progress bar, chunking and checkpoint overhead")
    return records


if __name__ == "__main__":
    main()
