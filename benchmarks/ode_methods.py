"""Per-method cost of the explicit ODE solvers against diffrax's same methods.

Lorenz (sigma=10, rho=28, beta=8/3), y0 = (1, 1, 1), t in [0, 10], 101 save points,
float64, one trajectory under ``jax.jit``:

* adaptive methods (Bosh3, Dopri5, Tsit5, Dopri8) at rtol = atol = 1e-8 with each
  library's PID controller (integral gains, diffrax's defaults otherwise);
* fixed-step methods (Euler, Midpoint, Heun) with dt = 1e-3 (10,000 steps).

Both libraries run the same Butcher tableaux except Dopri8: scidiff's is Hairer's DOP853
(8(5,3) pair, 7th-order dense output), diffrax's the Prince--Dormand 8(7) pair; compare
their errors and f-evaluation counts (``extra``) as well as their times.

Compile times come from fresh processes, one per implementation, alternating the order
each round (JAX's compile caches could favour the second); run times from one process
holding both, timing them alternately round after round (the host is shared: load that
drifts hits both alike); medians over rounds are reported. ``extra``
holds the max error at the save points against scipy's DOP853 at rtol = atol = 1e-13
(Lorenz is chaotic: errors grow like exp(0.9 t), so compare across libraries, not with
the tolerance), and the accepted steps / f-evaluations.

    python benchmarks/ode_methods.py [--quick] [--json PATH]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Record, finish, make_parser, run_isolated, time_call  # noqa: E402

BENCH = "ode_methods"
ADAPTIVE = ["Bosh3", "Dopri5", "Tsit5", "Dopri8"]
FIXED = ["Euler", "Midpoint", "Heun"]
QUICK = ["Tsit5", "Dopri5", "Euler"]
TOL = 1e-8
DT = 1e-3
T1 = 10.0


def lorenz(t, y, args):
    sigma, rho, beta = 10.0, 28.0, 8.0 / 3.0
    return jnp.stack([sigma * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - beta * y[2]])


def reference(ts):
    import scipy.integrate

    out = scipy.integrate.solve_ivp(
        lambda t, y: [10 * (y[1] - y[0]), y[0] * (28 - y[2]) - y[1], y[0] * y[1] - 8 / 3 * y[2]],
        (0.0, T1),
        [1.0, 1.0, 1.0],
        method="DOP853",
        t_eval=ts,
        rtol=1e-13,
        atol=1e-13,
    )
    return out.y.T


def make_scidiff(name, ts):
    import scidiff

    solver = getattr(scidiff, name)()
    kw = {}
    if name in FIXED:
        kw = dict(dt0=DT, controller=scidiff.ConstantStepSize(), max_steps=int(T1 / DT) + 10)
    else:
        kw = dict(rtol=TOL, atol=TOL, max_steps=100_000)

    @jax.jit
    def solve(y0):
        sol = scidiff.solve_ivp(lorenz, (0.0, T1), y0, solver=solver, t_eval=ts, **kw)
        return sol.ys, sol.stats["num_steps"], sol.stats["num_fevals"]

    return solve


def make_diffrax(name, ts):
    import diffrax

    solver = getattr(diffrax, name)()
    term = diffrax.ODETerm(lorenz)
    if name in FIXED:
        kw = dict(dt0=DT, max_steps=int(T1 / DT) + 10)
    else:
        kw = dict(
            dt0=None,
            stepsize_controller=diffrax.PIDController(rtol=TOL, atol=TOL),
            max_steps=100_000,
        )

    @jax.jit
    def solve(y0):
        sol = diffrax.diffeqsolve(term, solver, 0.0, T1, y0=y0, saveat=diffrax.SaveAt(ts=ts), **kw)
        return sol.ys, sol.stats["num_accepted_steps"], sol.stats["num_steps"]

    return solve


def _setup(methods):
    jax.config.update("jax_enable_x64", True)
    ts = jnp.linspace(0.0, T1, 101)
    return ts, reference(np.asarray(ts)), jnp.ones(3)


def _case(name):
    return f"lorenz {name} " + (f"dt={DT:g}" if name in FIXED else f"tol={TOL:g}")


def compile_times(impl: str, methods: list[str]) -> list[Record]:
    """Child process: first-call minus steady-state time, per method, in a fresh process."""
    ts, _, y0 = _setup(methods)
    records = []
    for name in methods:
        solve = (make_scidiff if impl == "scidiff" else make_diffrax)(name, ts)
        seconds, first = time_call(lambda: solve(y0), repeats=3, min_time=0.05)
        records.append(Record(BENCH, _case(name), impl, seconds, max(first - seconds, 0.0)))
    return records


def run_times(methods: list[str], rounds: int) -> dict:
    """Both implementations in this process, timed alternately; medians over rounds."""
    ts, ref, y0 = _setup(methods)
    fns, extras = {}, {}
    for name in methods:
        for impl, make in (("scidiff", make_scidiff), ("diffrax", make_diffrax)):
            fn = make(name, ts)
            ys, steps, nf = fn(y0)
            extras[(name, impl)] = {
                "max_error": float(np.max(np.abs(np.asarray(ys) - ref))),
                "steps": int(steps),
                **({"num_fevals": int(nf)} if impl == "scidiff" else {}),
            }
            fns[(name, impl)] = fn
    samples = {k: [] for k in fns}
    keys = list(fns)
    for r in range(rounds):
        for k in keys if r % 2 == 0 else keys[::-1]:
            fn = fns[k]
            samples[k].append(time_call(lambda: fn(y0), repeats=3, min_time=0.05)[0])
    return {k: (statistics.median(v), extras[k]) for k, v in samples.items()}


def main():
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=["scidiff", "diffrax"], default=None)
    parser.add_argument("--methods", type=str, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    methods = (
        args.methods.split(",") if args.methods else (QUICK if args.quick else ADAPTIVE + FIXED)
    )
    if args.impl is not None:  # child process: compile times of one implementation
        import json

        with open(args.json, "w") as fh:
            json.dump(compile_times(args.impl, methods), fh)
        return
    rounds = 1 if args.quick else args.rounds
    raw = run_isolated(__file__, ["scidiff", "diffrax"], rounds, ["--methods", ",".join(methods)])
    timed = run_times(methods, rounds=3 if args.quick else 7)
    records = []
    for name in methods:
        for impl in ("scidiff", "diffrax"):
            comp = [
                r["compile_seconds"] for r in raw if r["impl"] == impl and r["case"] == _case(name)
            ]
            seconds, extra = timed[(name, impl)]
            records.append(
                Record(BENCH, _case(name), impl, seconds, statistics.median(comp), **extra)
            )
    records = finish(records, args, "Explicit ODE methods: scidiff vs diffrax (Lorenz, float64)")
    for name in methods:
        ours, peer = (r for r in records if r["case"] == _case(name))
        print(
            f"{name:<9} compile ours/diffrax {ours['compile_seconds'] / peer['compile_seconds']:.2f}x"
        )


if __name__ == "__main__":
    main()
