"""Gradients through stiff solves against central finite differences.

The Newton iterations are differentiated by the implicit function theorem
(``lax.custom_root``), never by unrolling: reverse mode (RecursiveCheckpoint, the
default) and forward mode (ForwardMode) must both match finite differences.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scidiff

from ._problems import ROBERTSON_K, robertson

LOG_K = jnp.log(jnp.asarray(ROBERTSON_K))
Y0 = jnp.array([1.0, 0.0, 0.0])


def field(t, y, log_k):
    return robertson(t, y, jnp.exp(log_k))


def make_loss(solver, adjoint):
    def loss(log_k):
        sol = scidiff.solve_ivp(
            field, (0.0, 40.0), Y0, args=log_k, solver=solver, rtol=1e-10, atol=1e-14,
            adjoint=adjoint, max_steps=4096,
        )  # fmt: skip
        # y2 is ~1e-5 here: weight it so every rate matters in the loss.
        return sol.ys[-1, 0] + 1e4 * sol.ys[-1, 1]

    return loss


def central_differences(loss, x, eps=1e-6):
    out = []
    for i in range(x.shape[0]):
        e = jnp.zeros_like(x).at[i].set(eps)
        out.append((loss(x + e) - loss(x - e)) / (2 * eps))
    return np.array(out)


@pytest.mark.parametrize(
    "solver, adjoint, mode",
    [
        (scidiff.Kvaerno5(), scidiff.RecursiveCheckpoint(), "rev"),
        (scidiff.BDF(), scidiff.RecursiveCheckpoint(), "rev"),
        (scidiff.Rodas5(), scidiff.ForwardMode(), "fwd"),
    ],
    ids=["Kvaerno5-rev", "BDF-rev", "Rodas5-fwd"],
)
def test_gradient_matches_finite_differences(solver, adjoint, mode):
    loss = make_loss(solver, adjoint)
    grad = jax.grad(loss) if mode == "rev" else jax.jacfwd(loss)
    g = np.asarray(grad(LOG_K))
    fd = central_differences(jax.jit(loss), LOG_K)
    assert np.all(np.isfinite(g))
    # Agreement to about the solver tolerance (FD also sees step-size changes).
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-6 * np.abs(fd).max())
