"""Stiff test problems shared by the tests in this folder (and scipy references)."""

import functools

import jax.numpy as jnp
import numpy as np
import scipy.integrate


def robertson(t, y, k, xp=jnp):
    """Robertson's chemical kinetics, rates k = (0.04, 1e4, 3e7); y1 + y2 + y3 is conserved."""
    y1, y2, y3 = y[0], y[1], y[2]
    r1 = k[0] * y1
    r2 = k[1] * y2 * y3
    r3 = k[2] * y2**2
    return xp.stack([-r1 + r2, r1 - r2 - r3, r3])


ROBERTSON_K = (0.04, 1e4, 3e7)


def van_der_pol(t, y, mu, xp=jnp):
    """Van der Pol in Liénard-free form: y1' = y2, y2' = mu (1 - y1^2) y2 - y1."""
    return xp.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])


def hires(t, y, args, xp=jnp):
    """HIRES (Hairer & Wanner, Solving ODEs II, 8 equations, t in [0, 321.8122])."""
    y1, y2, y3, y4, y5, y6, y7, y8 = (y[i] for i in range(8))
    return xp.stack(
        [
            -1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007,
            1.71 * y1 - 8.75 * y2,
            -10.03 * y3 + 0.43 * y4 + 0.035 * y5,
            8.32 * y2 + 1.71 * y3 - 1.12 * y4,
            -1.745 * y5 + 0.43 * y6 + 0.43 * y7,
            -280.0 * y6 * y8 + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
            280.0 * y6 * y8 - 1.81 * y7,
            -280.0 * y6 * y8 + 1.81 * y7,
        ]
    )


HIRES_Y0 = np.array([1.0, 0, 0, 0, 0, 0, 0, 0.0057])


@functools.cache
def scipy_reference(name: str, t1: float, param=None) -> np.ndarray:
    """y(t1) from scipy's Radau at rtol=1e-10 (dense Jacobian by finite differences)."""
    fns = {
        "robertson": (lambda t, y: robertson(t, y, ROBERTSON_K, np), [1.0, 0.0, 0.0]),
        "vdp": (lambda t, y: van_der_pol(t, y, param, np), [2.0, 0.0]),
        "hires": (lambda t, y: hires(t, y, None, np), HIRES_Y0),
    }
    fn, y0 = fns[name]
    jac = None
    if name == "vdp":
        jac = lambda t, y: [[0.0, 1.0], [-2 * param * y[0] * y[1] - 1, param * (1 - y[0] ** 2)]]
    sol = scipy.integrate.solve_ivp(
        fn, (0.0, t1), y0, method="Radau", rtol=1e-10, atol=1e-13, jac=jac
    )
    assert sol.success
    return sol.y[:, -1]
