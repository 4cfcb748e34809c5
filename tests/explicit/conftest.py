"""Problems with closed-form solutions shared by the explicit/symplectic solver tests."""

import types

import jax.numpy as jnp
import numpy as np
import pytest


# --- problems with closed-form solutions -------------------------------------------------
def riccati(t, y, args):
    """Nonlinear, non-autonomous, pytree state: u' = u^2 cos t, v' = -v cos t.

    u(t) = 1 / (2 - sin t) (u0 = 1/2), v(t) = exp(-sin t) (v0 = 1).
    """
    c = jnp.cos(jnp.asarray(t, y["u"].dtype))
    return {"u": y["u"] ** 2 * c, "v": -y["v"] * c}


def riccati_exact(t):
    return {"u": 1.0 / (2.0 - np.sin(t)), "v": np.exp(-np.sin(t))}


def riccati_y0(dtype):
    return {"u": jnp.asarray(0.5, dtype), "v": jnp.asarray(1.0, dtype)}


def decay(t, y, args):
    """Nonlinear, non-autonomous, coupled, pytree state: u' = -u^2, v' = -2t(1+t) u v.

    u(t) = 1/(1+t), v(t) = exp(-t^2) (u0 = v0 = 1; u (1+t) = 1 makes v' = -2tv).
    """
    t = jnp.asarray(t, y["u"].dtype)  # keep f's output in the state's dtype
    return {"u": -(y["u"] ** 2), "v": -2.0 * t * (1.0 + t) * y["u"] * y["v"]}


def decay_exact(t):
    return {"u": 1.0 / (1.0 + t), "v": np.exp(-t * t)}


def decay_y0(dtype):
    return {"u": jnp.asarray(1.0, dtype), "v": jnp.asarray(1.0, dtype)}


def kepler(t, y, args):
    """Kepler problem, H = |p|^2/2 - 1/|q|: (dq/dt, dp/dt) = (p, -q/|q|^3)."""
    q, p = y
    r3 = jnp.sum(q**2) ** 1.5
    return (p, -q / r3)


def kepler_energy(q, p):
    return 0.5 * jnp.sum(p**2, axis=-1) - 1.0 / jnp.linalg.norm(q, axis=-1)


def kepler_circular_y0(dtype):
    """Circular orbit: q(t) = (cos t, sin t), p(t) = (-sin t, cos t)."""
    return (jnp.array([1.0, 0.0], dtype), jnp.array([0.0, 1.0], dtype))


def kepler_circular_exact(t):
    return (np.array([np.cos(t), np.sin(t)]), np.array([-np.sin(t), np.cos(t)]))


@pytest.fixture(scope="session")
def problems():
    """The problems above as a namespace (test modules cannot import conftest)."""
    return types.SimpleNamespace(
        decay=decay,
        decay_exact=decay_exact,
        decay_y0=decay_y0,
        riccati=riccati,
        riccati_exact=riccati_exact,
        riccati_y0=riccati_y0,
        kepler=kepler,
        kepler_energy=kepler_energy,
        kepler_circular_y0=kepler_circular_y0,
        kepler_circular_exact=kepler_circular_exact,
    )
