"""2D turbulence: Kolmogorov flow (jax-cfd's benchmark set-up) with the ETDRK4 stepper.

    omega_t + u . grad(omega) = nu lap(omega) - alpha omega - gamma k_f cos(k_f y)

on a periodic box [0, 2 pi)^2 with nu = 1e-3, drag alpha = 0.1, forcing mode n_f = 4,
started from a Gaussian random field and advanced with fixed steps (``rollout``, a
``lax.scan``) in chunks so a progress bar can follow. Writes vorticity snapshots.

The default step is 0.64/n (0.005 at n = 128): the explicit (advective) part of ETDRK4
is stable up to about 0.9/n for this start state, and the flow only slows down after it.
A step above the CFL limit of the current state is refused before that chunk runs.

    python examples/kolmogorov_flow.py [--n 128] [--t1 10] [--dt 0.005] [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
from _options import add_out_option, make_parser, output_path, positive_float, positive_int
from _progress import chunked

from scidiff.kernels import Grid, NavierStokes2D, gaussian_random_field

DT_TIMES_N = 0.64  # default dt = 0.64 / n, about 0.7x the CFL limit of the start state


def _even(text: str) -> int:
    n = positive_int(text)
    if n % 2:
        raise argparse.ArgumentTypeError(f"must be even (a pseudo-spectral grid), got {n}")
    return n


def setup(n: int) -> tuple[NavierStokes2D, jax.Array]:
    """The model and the start state (a Gaussian random vorticity field) at ``n x n``."""
    grid = Grid((n, n), 2 * jnp.pi)
    model = NavierStokes2D(grid.shape, viscosity=1e-3, drag=0.1, forcing_wavenumber=4)
    w0 = 4.0 * gaussian_random_field(jax.random.PRNGKey(0), grid, length_scale=0.5)
    return model, w0


def main(argv=None) -> Path:
    parser = make_parser(__doc__)
    parser.add_argument(
        "--n", type=_even, default=128, help="grid points per side, even (default: %(default)s)"
    )
    parser.add_argument(
        "--t1", type=positive_float, default=10.0, help="final time (default: %(default)s)"
    )
    parser.add_argument(
        "--dt",
        type=positive_float,
        default=None,
        help=f"time step (default: {DT_TIMES_N}/n, i.e. {DT_TIMES_N / 128:g} at n = 128)",
    )
    parser.add_argument(
        "--chunks",
        type=positive_int,
        default=4,
        help="snapshots / progress updates (default: %(default)s)",
    )
    add_out_option(parser, "kolmogorov_flow")
    opts = parser.parse_args(argv)
    out = output_path(opts.out, "kolmogorov_flow")
    dt = DT_TIMES_N / opts.n if opts.dt is None else opts.dt

    model, w0 = setup(opts.n)
    steps = max(1, round(opts.t1 / opts.chunks / dt))
    rollout = jax.jit(lambda w: model.rollout(w, dt, steps, save_every=steps)[-1])

    def advance(w):
        # The CFL limit of the state about to be advanced, checked here (concretely) so an
        # unstable step is refused with the fix, not as a runtime error inside jit.
        limit = float(model.max_stable_dt(w))
        if dt > limit:
            parser.error(
                f"--dt {dt:g} exceeds the CFL limit {limit:.3g} of the explicit part of "
                f"ETDRK4 at n = {opts.n}: use --dt {0.7 * limit:.2g} or less (or leave --dt "
                f"out for the default {DT_TIMES_N}/n)"
            )
        return rollout(w)

    snapshots = chunked(advance, w0, opts.chunks, f"Kolmogorov flow {opts.n}x{opts.n}")
    for w in snapshots:
        if not bool(jnp.all(jnp.isfinite(w))):
            raise FloatingPointError("the flow blew up: reduce --dt")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(snapshots), figsize=(3 * len(snapshots), 3.2))
    for k, (ax, w) in enumerate(zip(axes, snapshots)):
        ax.imshow(w.T, origin="lower", cmap="RdBu_r", extent=(0, 2 * jnp.pi, 0, 2 * jnp.pi))
        ax.set_title(f"t = {k * steps * dt:.1f}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("vorticity, Kolmogorov flow (ETDRK4, pseudo-spectral)")
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out.resolve()}")
    return out


if __name__ == "__main__":
    main()
