"""L-BFGS on the Rosenbrock function in 1000 dimensions, float64, to gtol = 1e-6.

    f(x) = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2,  x0 = (-1.2, 1, -1.2, 1, ...)

Implementations, timed in the same run from the same start:

* ``scidiff``     -- ``scidiff.minimize(f, x0, method="lbfgs", gtol=1e-6)`` (optax L-BFGS,
  memory 10, zoom line search) under ``jax.jit``;
* ``scipy``       -- ``scipy.optimize.minimize(method="L-BFGS-B")`` (memory 10,
  ``gtol=1e-6``, ``ftol=0``) with NumPy's ``rosen``/``rosen_der``;
* ``optimistix``  -- ``optimistix.minimise(f, optimistix.BFGS(rtol, atol))`` (dense BFGS)
  under ``jax.jit``; its stopping rule is on the change of ``x`` and ``f``
  (``rtol = atol = 1e-8``: the loosest power of ten whose final ``max |grad|`` is below
  1e-6 here), so its final gradient norm is reported next to ours.

``extra`` holds ``nfev`` (evaluations of ``f`` and its gradient; optimistix counts
steps, one evaluation each), the final ``max |grad f|`` and ``max |x - 1|``.

    python benchmarks/optimize.py [--quick] [--json PATH]
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
import optimistix as optx  # noqa: E402
import scipy.optimize  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Record, finish, make_parser, time_call  # noqa: E402

import scidiff  # noqa: E402

BENCH = "optimize"
GTOL = 1e-6


def rosen(x, args=None):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@jax.jit
def run_scidiff(x0, gtol):
    sol = scidiff.minimize(rosen, x0, method="lbfgs", gtol=gtol, maxiter=20_000, throw=False)
    return sol.x, sol.stats["num_fevals"], sol.ok


@jax.jit
def run_optimistix(x0):
    solver = optx.BFGS(rtol=1e-8, atol=1e-8)
    sol = optx.minimise(rosen, solver, x0, max_steps=20_000, throw=False)
    return sol.value, sol.stats["num_steps"]


def run_scipy(x0):
    return scipy.optimize.minimize(
        scipy.optimize.rosen,
        x0,
        jac=scipy.optimize.rosen_der,
        method="L-BFGS-B",
        options={"gtol": GTOL, "ftol": 0.0, "maxcor": 10, "maxiter": 20_000},
    )


def run_case(n, rounds, records):
    case = f"rosenbrock-{n}-lbfgs-f64"
    x0_np = np.tile([-1.2, 1.0], n // 2)
    x0 = jnp.asarray(x0_np)
    grad = jax.jit(jax.grad(rosen))

    def summary(x, nfev):
        x = np.asarray(x)
        return {
            "nfev": int(nfev),
            "grad_max": float(np.max(np.abs(np.asarray(grad(jnp.asarray(x)))))),
            "err_max": float(np.max(np.abs(x - 1.0))),
        }

    x, nfev, ok = run_scidiff(x0, GTOL)
    assert bool(ok), "scidiff L-BFGS did not reach gtol"
    info = {"scidiff": summary(x, nfev)}
    xs, steps = run_optimistix(x0)
    info["optimistix"] = summary(xs, steps)
    res = run_scipy(x0_np)
    info["scipy"] = summary(res.x, res.nfev)
    info["scipy"]["success"] = bool(res.success)

    fns = {
        "scidiff": lambda: run_scidiff(x0, GTOL)[0],
        "scipy": lambda: run_scipy(x0_np).x,
        "optimistix": lambda: run_optimistix(x0)[0],
    }
    # Compile time: lowering + XLA compilation of fresh wrappers, timed on their own.
    compile_s = {"scipy": None}
    fresh = {
        "scidiff": jax.jit(lambda x0: scidiff.minimize(rosen, x0, gtol=GTOL, maxiter=20_000).x),
        "optimistix": jax.jit(
            lambda x0: (
                optx.minimise(rosen, optx.BFGS(rtol=1e-8, atol=1e-8), x0, max_steps=20_000).value
            )
        ),
    }
    for name, g in fresh.items():
        t0 = time.perf_counter()
        g.lower(x0).compile()
        compile_s[name] = time.perf_counter() - t0
    samples = {name: [] for name in fns}
    order = list(fns)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            samples[name].append(time_call(fns[name], repeats=3, min_time=0.0)[0])
    for name in fns:
        records.append(
            Record(
                BENCH, case, name, statistics.median(samples[name]), compile_s[name], **info[name]
            )
        )


def main():
    args = make_parser(__doc__.splitlines()[0]).parse_args()
    records = []
    run_case(1000, 1 if args.quick else 7, records)
    finish(records, args, "L-BFGS, Rosenbrock (float64, gtol 1e-6)")


if __name__ == "__main__":
    main()
