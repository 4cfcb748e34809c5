"""Lorenz with Tsit5 at rtol=atol=1e-8, t in [0, 10], 101 save points, float64:
scidiff vs diffrax (and scipy DOP853, torchdiffeq dopri5 for the table).

Cases:

* ``single``: one solve (jitted for the JAX libraries);
* ``vmap{N}``: N initial conditions at once (``jax.vmap``; torchdiffeq integrates the
  batch as one system with shared steps; scipy loops over a subset and is scaled up);
* ``grad``: reverse-mode gradient of a scalar loss of the saved trajectory with respect to
  the parameter rho (scidiff ``RecursiveCheckpoint()``, diffrax ``RecursiveCheckpoint()``,
  torchdiffeq back-propagation through the solver's operations).

Every implementation runs in its own fresh process, the order alternating between
rounds (``_common.run_isolated``); the table reports the median over rounds. Compile time
is the first call minus a steady-state call; before the first timed call each process
runs one unrelated tiny ``jit`` (and its ``grad``), so JAX's one-off start-up cost is
charged to neither library. ``extra.max_abs_err`` is the largest
deviation of the single solve from scipy DOP853 at rtol=atol=1e-13 (Lorenz is chaotic, so
errors of 1e-8 per step grow to ~1e-5 over t = 10; all implementations see the same).

    python benchmarks/ode.py [--quick] [--json PATH]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Record, block, finish, make_parser, run_isolated, time_call  # noqa: E402

BENCH = "ode"
TOL = 1e-8
T1 = 10.0
SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0
MAX_STEPS = 10_000
IMPLS = ["scidiff", "diffrax", "scipy", "torchdiffeq"]


def initial_conditions(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.array([1.0, 1.0, 1.0]) + 0.1 * rng.standard_normal((n, 3))


def reference(y0: np.ndarray, ts: np.ndarray) -> np.ndarray:
    from scipy.integrate import solve_ivp

    out = solve_ivp(
        lambda t, y: lorenz_np(y, RHO),
        (0.0, T1),
        y0,
        t_eval=ts,
        method="DOP853",
        rtol=1e-13,
        atol=1e-13,
    )
    return out.y.T


def lorenz_np(y, rho):
    return np.array([SIGMA * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - BETA * y[2]])


def jax_cases(impl: str, n_batch: int, repeats: int) -> list[Record]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    ts = jnp.linspace(0.0, T1, 101)

    def lorenz(t, y, rho):
        return jnp.stack(
            [SIGMA * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - BETA * y[2]]
        )

    if impl == "scidiff":
        import scidiff

        def solve(y0, rho):
            sol = scidiff.solve_ivp(
                lorenz, (0.0, T1), y0, args=rho, t_eval=ts, rtol=TOL, atol=TOL, max_steps=MAX_STEPS
            )
            return sol.ys, sol.stats["num_steps"]

    else:
        import diffrax as dfx

        term = dfx.ODETerm(lorenz)

        def solve(y0, rho):
            sol = dfx.diffeqsolve(
                term,
                dfx.Tsit5(),
                0.0,
                T1,
                None,
                y0,
                args=rho,
                saveat=dfx.SaveAt(ts=ts),
                stepsize_controller=dfx.PIDController(rtol=TOL, atol=TOL),
                max_steps=MAX_STEPS,
            )
            return sol.ys, sol.stats["num_accepted_steps"]

    y0s = jnp.asarray(initial_conditions(n_batch))
    y0 = jnp.ones(3)
    rho = jnp.asarray(RHO)
    single = jax.jit(solve)
    batched = jax.jit(jax.vmap(solve, in_axes=(0, None)))
    grad = jax.jit(jax.grad(lambda r: jnp.sum(solve(y0, r)[0] ** 2) / 1e4))

    cases = [
        ("single", lambda: single(y0, rho)),
        (f"vmap{n_batch}", lambda: batched(y0s, rho)),
        ("grad", lambda: grad(rho)),
    ]
    # JAX's one-off start-up (first jit, first grad in the process) belongs to no library.
    block(jax.jit(jax.grad(lambda x: jnp.sin(x) * x))(jnp.asarray(1.0)))
    # The first call of each (trace + compile + one run), before anything else runs.
    first = {}
    for case, fn in cases:
        t = time.perf_counter()
        block(fn())
        first[case] = time.perf_counter() - t
    ys, steps = single(y0, rho)
    err = float(np.abs(np.asarray(ys) - reference(np.ones(3), np.asarray(ts))).max())
    extras = {
        "single": dict(max_abs_err=err, steps=int(steps)),
        f"vmap{n_batch}": dict(batch=n_batch),
        "grad": dict(dloss_drho=float(grad(rho))),
    }
    records = []
    for case, fn in cases:
        sec, _ = time_call(fn, repeats=repeats, min_time=0.2 if repeats > 3 else 0.05)
        records.append(Record(BENCH, case, impl, sec, max(first[case] - sec, 0.0), **extras[case]))
    return records


def scipy_cases(n_batch: int, repeats: int) -> list[Record]:
    from scipy.integrate import solve_ivp

    ts = np.linspace(0.0, T1, 101)

    def solve(y0):
        return solve_ivp(
            lambda t, y: lorenz_np(y, RHO),
            (0.0, T1),
            y0,
            t_eval=ts,
            method="DOP853",
            rtol=TOL,
            atol=TOL,
        )

    ys = solve(np.ones(3)).y.T
    err = float(np.abs(ys - reference(np.ones(3), ts)).max())
    sec, _ = time_call(lambda: solve(np.ones(3)), repeats=repeats, min_time=0.0)
    subset = 10 if repeats > 3 else 3
    y0s = initial_conditions(subset)
    sec_b, _ = time_call(
        lambda: [solve(y) for y in y0s], repeats=max(1, repeats // 2), min_time=0.0
    )
    return [
        Record(BENCH, "single", "scipy", sec, None, max_abs_err=err, method="DOP853"),
        Record(
            BENCH, f"vmap{n_batch}", "scipy", sec_b * n_batch / subset, None, scaled_from=subset
        ),
    ]


def torch_cases(n_batch: int, repeats: int) -> list[Record]:
    import torch
    from torchdiffeq import odeint

    torch.set_default_dtype(torch.float64)
    ts = torch.linspace(0.0, T1, 101)

    class Lorenz(torch.nn.Module):
        def __init__(self, rho):
            super().__init__()
            self.rho = rho

        def forward(self, t, y):
            x, yy, z = y[..., 0], y[..., 1], y[..., 2]
            return torch.stack(
                [SIGMA * (yy - x), x * (self.rho - z) - yy, x * yy - BETA * z], dim=-1
            )

    def solve(y0, rho):
        return odeint(Lorenz(rho), y0, ts, method="dopri5", rtol=TOL, atol=TOL)

    y0 = torch.ones(3)
    rho = torch.tensor(RHO)
    with torch.no_grad():
        ys = solve(y0, rho).numpy()
    err = float(np.abs(ys - reference(np.ones(3), ts.numpy())).max())
    y0s = torch.tensor(initial_conditions(n_batch))

    def grad():
        r = torch.tensor(RHO, requires_grad=True)
        loss = (solve(y0, r) ** 2).sum() / 1e4
        loss.backward()
        return r.grad

    records = []
    with torch.no_grad():
        sec, _ = time_call(lambda: solve(y0, rho), repeats=repeats, min_time=0.0)
        records.append(Record(BENCH, "single", "torchdiffeq", sec, None, max_abs_err=err))
        sec, _ = time_call(lambda: solve(y0s, rho), repeats=repeats, min_time=0.0)
        records.append(
            Record(
                BENCH, f"vmap{n_batch}", "torchdiffeq", sec, None, note="one system, shared steps"
            )
        )
    sec, _ = time_call(grad, repeats=max(1, repeats // 2), min_time=0.0)
    records.append(Record(BENCH, "grad", "torchdiffeq", sec, None, dloss_drho=float(grad())))
    return records


def run_one(impl: str, quick: bool) -> list[Record]:
    n_batch = 100 if quick else 1000
    repeats = 3 if quick else 7
    if impl in ("scidiff", "diffrax"):
        return jax_cases(impl, n_batch, repeats)
    if impl == "scipy":
        return scipy_cases(n_batch, repeats)
    if impl == "torchdiffeq":
        return torch_cases(n_batch, repeats)
    raise ValueError(f"unknown --impl {impl!r}; choose from {IMPLS}")


def median_records(raw: list[dict]) -> list[Record]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in raw:
        groups.setdefault((r["case"], r["impl"]), []).append(r)
    out = []
    for (case, impl), rs in groups.items():
        comp = [r["compile_seconds"] for r in rs if r["compile_seconds"] is not None]
        extra = dict(rs[0]["extra"])
        extra["rounds"] = len(rs)
        out.append(
            Record(
                BENCH,
                case,
                impl,
                statistics.median(r["seconds"] for r in rs),
                statistics.median(comp) if comp else None,
                **extra,
            )
        )
    order = {impl: i for i, impl in enumerate(IMPLS)}
    return sorted(out, key=lambda r: (r["case"], order[r["impl"]]))


def main() -> None:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=IMPLS, default=None, help="(internal) one impl")
    parser.add_argument("--rounds", type=int, default=None, help="fresh-process rounds")
    args = parser.parse_args()
    if args.impl is not None:  # a child process: time one implementation
        import json

        records = run_one(args.impl, args.quick)
        with open(args.json, "w") as fh:
            json.dump(records, fh)
        return
    rounds = args.rounds or (1 if args.quick else 3)
    extra = ["--quick"] if args.quick else []
    raw = run_isolated(__file__, ["scidiff", "diffrax"], rounds, extra)
    raw += run_isolated(__file__, ["scipy", "torchdiffeq"], 1, extra)
    records = median_records(raw)
    # Compile-time ratio next to the run-time ratio (finish() fills in `ratio`).
    ours = {r["case"]: r for r in records if r["impl"] == "scidiff"}
    for r in records:
        mine = ours.get(r["case"])
        if r["impl"] != "scidiff" and mine and r["compile_seconds"] and mine["compile_seconds"]:
            r["extra"]["compile_ratio"] = mine["compile_seconds"] / r["compile_seconds"]
    finish(records, args, "ODE: Lorenz, Tsit5, rtol=atol=1e-8, 101 saves, float64")


if __name__ == "__main__":
    main()
