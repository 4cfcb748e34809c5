"""Stiff ODEs: scidiff's stiff solvers vs diffrax Kvaerno5 and scipy BDF/Radau.

Cases (float64, CPU):

* ``robertson-rtol{1e-6,1e-8}``: Robertson's kinetics to t = 1e5, atol = 1e-4 rtol;
* ``vdp1000-rtol{1e-6,1e-8}``: Van der Pol, mu = 1000, t in [0, 3000], atol = 1e-2 rtol;
* ``bruss2d-N``: 2-D periodic Brusselator with 2 N^2 unknowns, t in [0, 1], rtol = 1e-6:
  scidiff matrix-free (Kvaerno5 + NewtonKrylov GMRES) vs scidiff dense LU and diffrax
  Kvaerno5 (dense Jacobian + LU via lineax), to show how the cost grows with size.

For the small problems the ``scidiff`` row is the fastest of Kvaerno5, Rodas5 and BDF
(``extra.solver``; all three times in ``extra.variants``), each called through one jitted
``solve_ivp``. Peers use the same tolerances; scipy gets the analytic Jacobian. Each
row's ``extra.err`` is the max over components of |y - ref| / (atol + rtol |ref|) at the
final time against scipy Radau at rtol = 1e-12 (Brusselator: against scidiff dense LU at
rtol = 1e-10), so speed is read together with accuracy; ``extra.at_rtol_over_10`` gives
the scidiff solver's time and error (same units) at a ten times tighter tolerance, for
comparisons at equal or better accuracy. JAX implementations run in the
same process (different programs: no shared compile cache); compile time is the first
call minus a steady-state call.

    python benchmarks/stiff.py [--quick] [--json PATH]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Record, block, finish, make_parser, time_call  # noqa: E402

BENCH = "stiff"


# --- problems -------------------------------------------------------------------------


def robertson(t, y, args, xp):
    y1, y2, y3 = y[0], y[1], y[2]
    return xp.stack(
        [-0.04 * y1 + 1e4 * y2 * y3, 0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2**2, 3e7 * y2**2]
    )


def robertson_jac(t, y):
    y1, y2, y3 = y
    return np.array(
        [
            [-0.04, 1e4 * y3, 1e4 * y2],
            [0.04, -1e4 * y3 - 6e7 * y2, -1e4 * y2],
            [0.0, 6e7 * y2, 0.0],
        ]
    )


MU = 1000.0


def vdp(t, y, args, xp):
    return xp.stack([y[1], MU * (1 - y[0] ** 2) * y[1] - y[0]])


def vdp_jac(t, y):
    return np.array([[0.0, 1.0], [-2 * MU * y[0] * y[1] - 1, MU * (1 - y[0] ** 2)]])


PROBLEMS = {
    "robertson": (robertson, robertson_jac, np.array([1.0, 0.0, 0.0]), 1e5, 1e-4),
    "vdp1000": (vdp, vdp_jac, np.array([2.0, 0.0]), 3000.0, 1e-2),
}


def scipy_reference(name):
    from scipy.integrate import solve_ivp

    fn, jac, y0, t1, _ = PROBLEMS[name]
    sol = solve_ivp(
        lambda t, y: fn(t, y, None, np), (0.0, t1), y0, method="Radau", rtol=1e-12,
        atol=1e-14, jac=jac,
    )  # fmt: skip
    return sol.y[:, -1]


def progress(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def scaled_err(y, ref, rtol, atol):
    y, ref = np.asarray(y, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(y - ref) / (atol + rtol * np.abs(ref))))


# --- small stiff problems ---------------------------------------------------------------


def small_cases(quick):
    import diffrax
    import jax
    import jax.numpy as jnp
    from scipy.integrate import solve_ivp

    import scidiff

    records = []
    for name in PROBLEMS:
        fn, jac, y0, t1, atol_factor = PROBLEMS[name]
        ref = scipy_reference(name)
        y0j = jnp.asarray(y0)
        field = lambda t, y, a, fn=fn: fn(t, y, a, jnp)  # noqa: E731
        for rtol in (1e-6,) if quick else (1e-6, 1e-8):
            atol = rtol * atol_factor
            case = f"{name}-rtol{rtol:.0e}"
            variants = {}
            best = None
            for solver in (scidiff.Kvaerno5(), scidiff.Rodas5(), scidiff.BDF(), scidiff.Radau5()):
                run = jax.jit(
                    lambda rt, at, solver=solver: scidiff.solve_ivp(
                        field, (0.0, t1), y0j, solver=solver, rtol=rt, atol=at, max_steps=100_000
                    )
                )
                t0 = time.perf_counter()
                sol = block(run(rtol, atol))
                first = time.perf_counter() - t0
                sec, _ = time_call(lambda run=run: run(rtol, atol).ys, repeats=5)
                label = type(solver).__name__
                progress(f"{case} scidiff {label}: {sec:.4g} s")
                err = scaled_err(sol.ys[-1], ref, rtol, atol)
                variants[label] = dict(
                    seconds=sec, err=err, steps=int(sol.stats["num_steps"]), compile=first - sec
                )
                if best is None or sec < variants[best]["seconds"]:
                    best = label
            v = variants[best]
            # Accuracy-matched figure: the same solver at rtol / 10 (error still measured in
            # units of the case's tolerances), for comparisons "at equal or better accuracy".
            solver = {"Kvaerno5": scidiff.Kvaerno5(), "Rodas5": scidiff.Rodas5(),
                      "BDF": scidiff.BDF(), "Radau5": scidiff.Radau5()}[best]  # fmt: skip
            run = jax.jit(
                lambda rt, at, solver=solver: scidiff.solve_ivp(
                    field, (0.0, t1), y0j, solver=solver, rtol=rt, atol=at, max_steps=100_000
                )
            )
            sol = block(run(rtol / 10, atol / 10))
            sec10, _ = time_call(lambda run=run: run(rtol / 10, atol / 10).ys, repeats=5)
            tighter = dict(seconds=sec10, err=scaled_err(sol.ys[-1], ref, rtol, atol))
            records.append(
                Record(BENCH, case, "scidiff", v["seconds"], v["compile"], solver=best,
                       err=v["err"], steps=v["steps"], at_rtol_over_10=tighter,
                       variants={k: {"seconds": x["seconds"], "err": x["err"], "steps": x["steps"]}
                                 for k, x in variants.items()})
            )  # fmt: skip

            term = diffrax.ODETerm(lambda t, y, a, fn=fn: fn(t, y, a, jnp))
            drun = jax.jit(
                lambda rt, at, term=term, t1=t1: diffrax.diffeqsolve(
                    term, diffrax.Kvaerno5(), 0.0, t1, None, y0j, max_steps=100_000,
                    stepsize_controller=diffrax.PIDController(rtol=rt, atol=at),
                )
            )  # fmt: skip
            t0 = time.perf_counter()
            dsol = block(drun(rtol, atol))
            first = time.perf_counter() - t0
            sec, _ = time_call(lambda drun=drun: drun(rtol, atol).ys, repeats=5)
            progress(f"{case} diffrax: {sec:.4g} s")
            records.append(
                Record(BENCH, case, "diffrax", sec, first - sec,
                       err=scaled_err(dsol.ys[-1], ref, rtol, atol),
                       steps=int(dsol.stats["num_steps"]))
            )  # fmt: skip

            for method in ("BDF", "Radau"):
                box = {}

                def call(method=method, box=box):
                    box["sol"] = solve_ivp(
                        lambda t, y: fn(t, y, None, np), (0.0, t1), y0, method=method,
                        rtol=rtol, atol=atol, jac=jac,
                    )  # fmt: skip
                    return box["sol"].y

                sec, _ = time_call(call, repeats=3, min_time=0.0)
                progress(f"{case} scipy-{method}: {sec:.4g} s")
                s = box["sol"]
                records.append(
                    Record(BENCH, case, f"scipy-{method}", sec, None,
                           err=scaled_err(s.y[:, -1], ref, rtol, atol), steps=int(s.t.size - 1))
                )  # fmt: skip
    return records


# --- 2-D Brusselator ---------------------------------------------------------------------

ALPHA = 0.02


def bruss_field(n, jnp):
    dx = 1.0 / n

    def lap(u):
        return (
            jnp.roll(u, 1, 0) + jnp.roll(u, -1, 0) + jnp.roll(u, 1, 1) + jnp.roll(u, -1, 1)
            - 4 * u
        ) / dx**2  # fmt: skip

    def field(t, y, args):
        u, v = y[0], y[1]
        return jnp.stack(
            [1.0 + u * u * v - 4.4 * u + ALPHA * lap(u), 3.4 * u - u * u * v + ALPHA * lap(v)]
        )

    x = np.arange(n) * dx
    X, Y = np.meshgrid(x, x, indexing="ij")
    y0 = np.stack([22 * Y * (1 - Y) ** 1.5, 27 * X * (1 - X) ** 1.5])
    return field, y0


def brusselator_cases(quick):
    import diffrax
    import jax
    import jax.numpy as jnp

    import scidiff

    rtol, atol = 1e-6, 1e-8
    records = []
    sizes = (8,) if quick else (8, 12, 16, 32, 64)
    # Dense Jacobians (n^2 memory, an n^3 LU per step) are measured only while they take
    # seconds, not hours: diffrax's grows fastest (see the README table).
    dense_limit = 8 if quick else 12
    for n in sizes:
        field, y0 = bruss_field(n, jnp)
        y0j = jnp.asarray(y0)
        case = f"bruss2d-2x{n}^2"

        def make(solver):
            return jax.jit(
                lambda rt, at: scidiff.solve_ivp(
                    field, (0.0, 1.0), y0j, solver=solver, rtol=rt, atol=at, max_steps=100_000
                )
            )

        dense_run = make(scidiff.Kvaerno5())
        ref = None
        if n <= dense_limit:
            # A separate jit for the reference: with dense_run itself, its later "first
            # call" was already compiled and its compile time came out negative.
            ref = np.asarray(make(scidiff.Kvaerno5())(1e-10, 1e-12).ys[-1])
        else:  # the matrix-free solve itself at tight tolerance
            tight = make(scidiff.Kvaerno5(linear_solver=scidiff.NewtonKrylov(rtol=1e-12)))
            ref = np.asarray(tight(1e-10, 1e-12).ys[-1])

        def measure(run, repeats=3):
            t0 = time.perf_counter()
            sol = block(run(rtol, atol))
            first = time.perf_counter() - t0
            sec, _ = time_call(lambda: run(rtol, atol).ys, repeats=repeats, min_time=0.0)
            err = None if ref is None else scaled_err(sol.ys[-1], ref, rtol, atol)
            progress(f"{case}: {sec:.4g} s")
            return sec, first - sec, err, int(sol.stats["num_steps"])

        sec, comp, err, steps = measure(
            make(scidiff.Kvaerno5(linear_solver=scidiff.NewtonKrylov()))
        )
        records.append(
            Record(BENCH, case, "scidiff", sec, comp, solver="Kvaerno5+NewtonKrylov", err=err,
                   steps=steps, unknowns=2 * n * n)
        )  # fmt: skip
        if n <= dense_limit:
            sec, comp, err, steps = measure(dense_run)
            records.append(
                Record(BENCH, case, "scidiff-denseLU", sec, comp, solver="Kvaerno5+DenseLU",
                       err=err, steps=steps, unknowns=2 * n * n)
            )  # fmt: skip
            term = diffrax.ODETerm(field)
            drun = jax.jit(
                lambda rt, at: diffrax.diffeqsolve(
                    term, diffrax.Kvaerno5(), 0.0, 1.0, None, y0j, max_steps=100_000,
                    stepsize_controller=diffrax.PIDController(rtol=rt, atol=at),
                )
            )  # fmt: skip
            sec, comp, err, steps = measure(drun, repeats=1)
            records.append(
                Record(BENCH, case, "diffrax", sec, comp, solver="Kvaerno5 (dense LU)", err=err,
                       steps=steps, unknowns=2 * n * n)
            )  # fmt: skip
    return records


def main():
    parser = make_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    import jax

    jax.config.update("jax_enable_x64", True)
    records = small_cases(args.quick) + brusselator_cases(args.quick)
    finish(records, args, "stiff ODEs (float64)")


if __name__ == "__main__":
    main()
