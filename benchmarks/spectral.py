"""2D Kuramoto-Sivashinsky and 2D Navier-Stokes ETDRK4 steps: scidiff vs exponax, float32.

Same PDE, grid, step, ETDRK order (4), contour and de-aliasing modes for both:

* KS (gradient form) ``u_t + |grad u|^2/2 + lap u + lap^2 u = 0`` on ``[0, 30 pi)^2``,
  ``dt = 0.05``. exponax's ``KuramotoSivashinsky`` uses the anisotropic fourth-order
  operator ``sum_i d_i^4``; here its linear operator is replaced by the isotropic
  bi-Laplacian (a one-method subclass) so both integrate the same PDE (the cost per
  step is unchanged: the operator only enters the precomputed coefficients).
* NS (vorticity form) ``w_t + u.grad w = nu lap w`` on ``[0, 2 pi)^2``, ``nu = 1e-3``,
  ``dt = 0.01``, exponax ``NavierStokesVorticity``. exponax's vorticity has the opposite
  sign convention (its advection term has the other sign), so its state is compared as
  ``-exponax(-w)``, which is then the same physical flow.
* exponax's mask keeps ``|n| <= fraction * N/2 - 1``, scidiff's ``|n| < fraction * N/2``;
  exponax is given the fraction that keeps exactly the same modes.

Cases: one step (``step``: physical state in and out, coefficients precomputed, as
exponax's ``stepper(u)``) and a 100-step trajectory (``rollout100``: every state kept;
scidiff's ``ETDRKStepper.rollout`` stays in Fourier space between steps, exponax's
``exponax.rollout`` transforms every step). ``extra.max_rel_diff`` is the largest
difference between the two states after 10 steps (after the 100 steps for the rollout)
over the largest value; ``extra.paired_ratio`` is the median over rounds of the ratio of
the two back-to-back timings (robust on a shared host).

    python benchmarks/spectral.py [--quick] [--json PATH]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Record, finish, make_parser, time_call  # noqa: E402

import scidiff.kernels as K  # noqa: E402

BENCH = "spectral"
ORDER = 4


def _exponax():
    import exponax
    from exponax._spectral import build_laplace_operator

    class IsotropicKS(exponax.stepper.KuramotoSivashinsky):
        """exponax KS with the isotropic bi-Laplacian (sum_i k_i^2)^2."""

        def _build_linear_operator(self, derivative_operator):
            lap = build_laplace_operator(derivative_operator, order=2)
            return -self.second_order_scale * lap - self.fourth_order_scale * lap * lap

    return exponax, IsotropicKS


def _matching_fraction(n: int) -> float:
    kept = int(np.nonzero(np.asarray(K.dealias_mask((n,))))[0].max())
    return (kept + 1.5) / (n // 2)  # exponax keeps |n| <= fraction * N/2 - 1 = kept + 0.5


def _initial_state(n: int, length: float, modes, seed: int) -> jnp.ndarray:
    rng = np.random.default_rng(seed)
    x = np.arange(n) * length / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    k0 = 2 * np.pi / length
    u = sum(
        rng.normal() * np.cos(k0 * (a * X + b * Y) + rng.uniform(0, 2 * np.pi)) for a, b in modes
    )
    return jnp.asarray(u, jnp.float32)


def build(pde: str, n: int):
    """Return (scidiff_stepper, exponax_stepper, u0, to_exponax, from_exponax)."""
    exponax, IsotropicKS = _exponax()
    frac = _matching_fraction(n)
    if pde == "ks2d":
        length, dt = 30 * np.pi, 0.05
        ours = K.KuramotoSivashinsky((n, n), length, order=ORDER).make_stepper(dt, jnp.float32)
        theirs = IsotropicKS(2, length, n, dt, order=ORDER, dealiasing_fraction=frac)
        u0 = _initial_state(n, length, [(1, 0), (0, 1), (2, 1), (1, 3), (4, 2)], 0)
        sign = 1.0
    else:
        length, dt, nu = 2 * np.pi, 0.01, 1e-3
        ours = K.NavierStokes2D((n, n), length, viscosity=nu, order=ORDER).make_stepper(
            dt, jnp.float32
        )
        theirs = exponax.stepper.NavierStokesVorticity(
            2, length, n, dt, diffusivity=nu, order=ORDER, dealiasing_fraction=frac
        )
        u0 = _initial_state(n, length, [(1, 0), (0, 1), (1, 1), (2, -1), (3, 2), (4, 1)], 1)
        sign = -1.0  # exponax's vorticity is minus ours
    return ours, theirs, u0, sign


def run_case(pde: str, n: int, rounds: int, records: list, steps: int = 100):
    exponax, _ = _exponax()
    ours, theirs, u0, sign = build(pde, n)

    ours_step = eqx.filter_jit(lambda s, u: s.step(u))
    theirs_step = eqx.filter_jit(lambda s, u: sign * s(sign * u[None])[0])
    ours_roll = eqx.filter_jit(lambda s, u: s.rollout(u, steps))
    theirs_roll = eqx.filter_jit(
        lambda s, u: sign * exponax.rollout(s, steps)(sign * u[None])[:, 0]
    )

    # Compile (+ first run) times, before anything else has compiled these programs.
    compile_s = {
        (kind, impl): time_call(f, repeats=1, min_time=0.0)[1]
        for kind, impl, f in (
            ("step", "scidiff", lambda: ours_step(ours, u0)),
            ("step", "exponax", lambda: theirs_step(theirs, u0)),
            ("rollout", "scidiff", lambda: ours_roll(ours, u0)),
            ("rollout", "exponax", lambda: theirs_roll(theirs, u0)),
        )
    }

    # Accuracy: the same state after 10 steps (physical in/out each step on both sides).
    a, b = u0, u0
    for _ in range(10):
        a, b = ours_step(ours, a), theirs_step(theirs, b)
    diff = float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a)))
    if not diff < 1e-3:
        raise AssertionError(f"{pde} {n}: scidiff and exponax differ by {diff:.2e}")
    traj_a, traj_b = ours_roll(ours, u0), theirs_roll(theirs, u0)
    roll_diff = float(jnp.max(jnp.abs(traj_a[-1] - traj_b[-1])) / jnp.max(jnp.abs(traj_a[-1])))

    cases = {
        f"{pde}-{n}-etdrk4-step": (
            lambda: ours_step(ours, u0),
            lambda: theirs_step(theirs, u0),
            diff,
        ),
        f"{pde}-{n}-etdrk4-rollout{steps}": (
            lambda: ours_roll(ours, u0),
            lambda: theirs_roll(theirs, u0),
            roll_diff,
        ),
    }
    for case, (fo, ft, d) in cases.items():
        fns = {"scidiff": fo, "exponax": ft}
        kind = "rollout" if "rollout" in case else "step"
        samples = {k: [] for k in fns}
        order = list(fns)
        heavy = kind == "rollout" and n >= 256
        for r in range(rounds):
            for name in order if r % 2 == 0 else order[::-1]:
                t, _ = time_call(
                    fns[name], repeats=1 if heavy else 3, min_time=0.0 if heavy else 0.1
                )
                samples[name].append(t)
        # The host is shared: besides the ratio of medians, the median of the per-round
        # ratios (both impls timed back to back) is robust to slow drifts in load.
        paired = statistics.median(a / b for a, b in zip(samples["scidiff"], samples["exponax"]))
        for name in fns:
            seconds = statistics.median(samples[name])
            records.append(
                Record(
                    BENCH,
                    case,
                    name,
                    seconds,
                    compile_s[(kind, name)],
                    ms_per_step=1e3 * seconds / (steps if kind == "rollout" else 1),
                    max_rel_diff=d,
                    paired_ratio=paired,
                    rounds=rounds,
                    dtype="float32",
                )
            )


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds per case")
    args = parser.parse_args(argv)
    sizes = [128] if args.quick else [256, 512]
    rounds = args.rounds or (5 if args.quick else 7)
    records: list[Record] = []
    for n in sizes:
        for pde in ("ks2d", "ns2d"):
            run_case(pde, n, rounds, records)
    return finish(records, args, "2D ETDRK4 steps, float32 (scidiff vs exponax)")


if __name__ == "__main__":
    main()
