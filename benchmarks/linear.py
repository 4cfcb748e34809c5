"""Matrix-free conjugate gradients on the 2D Poisson problem, float64.

    -Laplacian(u) = f  on the unit square, u = 0 on the boundary,
    5-point stencil on an N x N interior grid (SPD), applied matrix-free.

Implementations, timed in the same run on the same right-hand side and stencil:

* ``scidiff``    -- ``scidiff.linear_solve(stencil, f, method="cg")`` under ``jax.jit``;
* ``jax.scipy``  -- ``jax.scipy.sparse.linalg.cg(stencil, f)`` under ``jax.jit``;
* ``scipy``      -- ``scipy.sparse.linalg.cg`` with a NumPy stencil ``LinearOperator``.

All stop at ``||f - A u|| <= 1e-6 ||f||``. The iteration count is checked to be the same:
scipy's comes from its callback; jax.scipy's (which it does not report) is checked by
running it with ``maxiter = k - 1`` (must not reach the tolerance) and ``maxiter = k``
(must), where ``k`` is scidiff's count. The solutions are compared as well.

    python benchmarks/linear.py [--quick] [--json PATH]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Record, block, finish, make_parser, time_call  # noqa: E402

import scidiff  # noqa: E402

BENCH = "linear"
RTOL = 1e-6


def stencil(u):
    """-Laplacian with zero Dirichlet boundaries, times h^2 (SPD, eigenvalues in (0, 8))."""
    up = jnp.pad(u, 1)
    return 4 * u - up[:-2, 1:-1] - up[2:, 1:-1] - up[1:-1, :-2] - up[1:-1, 2:]


def stencil_np(v, n):
    u = v.reshape(n, n)
    out = 4 * u
    out[1:, :] -= u[:-1, :]
    out[:-1, :] -= u[1:, :]
    out[:, 1:] -= u[:, :-1]
    out[:, :-1] -= u[:, 1:]
    return out.ravel()


@jax.jit
def solve_scidiff(f):
    sol = scidiff.linear_solve(stencil, f, method="cg", rtol=RTOL, throw=False)
    return sol.x, sol.stats["num_iterations"], sol.ok


@jax.jit
def solve_jax(f):
    return jax.scipy.sparse.linalg.cg(stencil, f, tol=RTOL)[0]


def jax_cg_reaches(f, maxiter):
    u = jax.jit(lambda f: jax.scipy.sparse.linalg.cg(stencil, f, tol=RTOL, maxiter=maxiter)[0])(f)
    return float(jnp.linalg.norm(f - stencil(u)) / jnp.linalg.norm(f)) <= RTOL


def _timed(fn):
    t0 = time.perf_counter()
    out = block(fn())
    return out, time.perf_counter() - t0


def run_case(n, rounds, records):
    """Large grids (n > 512) take seconds per solve: there each implementation is timed
    once after its warm-up (and scipy's counted run is its timed run)."""
    big = n > 512
    case = f"poisson2d-{n}x{n}-cg-f64"
    x, y = np.meshgrid(np.linspace(0, 1, n + 2)[1:-1], np.linspace(0, 1, n + 2)[1:-1])
    f_np = (np.sin(np.pi * x) * np.sin(3 * np.pi * y) + x * (1 - y)) / (n + 1) ** 2
    f = jnp.asarray(f_np)

    (u_ours, iters, ok), first_ours = _timed(lambda: solve_scidiff(f))
    iters = int(iters)
    assert bool(ok), f"{case}: scidiff CG did not converge"
    u_jax, first_jax = _timed(lambda: solve_jax(f))
    # jax.scipy needs exactly as many iterations (same algorithm, same stopping rule).
    same_iters_jax = (not jax_cg_reaches(f, iters - 1)) and jax_cg_reaches(f, iters)
    scipy_iters = []
    op = spla.LinearOperator((n * n, n * n), matvec=lambda v: stencil_np(v, n), dtype=np.float64)
    (u_scipy, info), t_scipy = _timed(
        lambda: spla.cg(
            op, f_np.ravel(), rtol=RTOL, atol=0.0, callback=lambda xk: scipy_iters.append(1)
        )
    )
    assert info == 0, f"{case}: scipy CG did not converge"
    ref = np.linalg.norm(np.asarray(u_ours))
    agree = {
        "jax.scipy": float(np.linalg.norm(np.asarray(u_jax - u_ours)) / ref),
        "scipy": float(np.linalg.norm(u_scipy - np.asarray(u_ours).ravel()) / ref),
    }
    fns = {
        "scidiff": lambda: solve_scidiff(f)[0],
        "jax.scipy": lambda: solve_jax(f),
        "scipy": lambda: spla.cg(op, f_np.ravel(), rtol=RTOL, atol=0.0)[0],
    }
    samples = {name: [] for name in fns}
    if big:
        samples["scipy"].append(t_scipy)
    order = [name for name in fns if not (big and name == "scipy")]
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            if big:
                samples[name].append(_timed(fns[name])[1])
            else:
                samples[name].append(time_call(fns[name], repeats=3, min_time=0.0)[0])
    seconds = {k: statistics.median(v) for k, v in samples.items()}
    # Compile time: first call (compile + solve) minus a steady-state solve.
    compile_s = {
        "scidiff": max(first_ours - seconds["scidiff"], 0.0),
        "jax.scipy": max(first_jax - seconds["jax.scipy"], 0.0),
        "scipy": None,
    }
    for name in fns:
        extra = {"iterations": iters if name != "scipy" else len(scipy_iters), "rtol": RTOL}
        if name == "jax.scipy":
            extra["same_iterations_checked"] = bool(same_iters_jax)
        if name != "scidiff":
            extra["rel_diff_vs_scidiff"] = agree[name]
        extra["best_seconds"] = min(samples[name])  # the host is shared: min is less noisy
        extra["samples"] = len(samples[name])
        records.append(Record(BENCH, case, name, seconds[name], compile_s[name], **extra))
    if not same_iters_jax:
        print(f"WARNING {case}: jax.scipy needed a different number of iterations than {iters}")
    if len(scipy_iters) != iters:
        print(f"note {case}: scipy CG took {len(scipy_iters)} iterations, scidiff {iters}")


def main():
    args = make_parser(__doc__.splitlines()[0]).parse_args()
    sizes = [256] if args.quick else [256, 1024]
    records = []
    for n in sizes:
        run_case(n, 4 if n > 512 else 9, records)
    finish(records, args, "Matrix-free CG, 2D Poisson (float64)")


if __name__ == "__main__":
    main()
