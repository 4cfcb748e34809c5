r"""Exponential time differencing Runge--Kutta (ETDRK1--4) for ``u_t = L u + N(u)``.

For a linear operator :math:`L` that is diagonal in Fourier space (a *symbol*
:math:`L_k`), the variation-of-constants formula over one step :math:`h`,

.. math::
    \hat u(t+h) = e^{hL}\hat u(t) + \int_0^h e^{(h-s)L}\,\hat N(\hat u(t+s), t+s)\,ds ,

is integrated exactly in :math:`L` and approximated in :math:`N` (Cox & Matthews 2002,
*J. Comput. Phys.* 176). With :math:`z = hL` and the functions

.. math::
    \varphi_1(z) = \frac{e^z-1}{z},\quad \varphi_2(z) = \frac{e^z-1-z}{z^2},\quad
    \varphi_3(z) = \frac{e^z-1-z-z^2/2}{z^3},

the schemes are (:math:`N_u = \hat N(u_n, t_n)` etc.):

* ETDRK1 (exponential Euler): :math:`u_{n+1} = e^z u_n + h\varphi_1(z) N_u`.
* ETDRK2: :math:`a = e^z u_n + h\varphi_1(z) N_u`,
  :math:`u_{n+1} = a + h\varphi_2(z)(N_a - N_u)`, with :math:`N_a` at :math:`t_n + h`.
* ETDRK3: :math:`a = e^{z/2}u_n + \tfrac h2\varphi_1(\tfrac z2)N_u`,
  :math:`b = e^z u_n + h\varphi_1(z)(2N_a - N_u)`,
  :math:`u_{n+1} = e^z u_n + h[f_1 N_u + 4 f_2 N_a + f_3 N_b]`.
* ETDRK4: :math:`a = e^{z/2}u_n + \tfrac h2\varphi_1(\tfrac z2)N_u`,
  :math:`b = e^{z/2}u_n + \tfrac h2\varphi_1(\tfrac z2)N_a`,
  :math:`c = e^{z/2}a + \tfrac h2\varphi_1(\tfrac z2)(2N_b - N_u)`,
  :math:`u_{n+1} = e^z u_n + h[f_1 N_u + 2 f_2 (N_a + N_b) + f_3 N_c]`,

with :math:`f_1 = \varphi_1 - 3\varphi_2 + 4\varphi_3 = [-4 - z + e^z(4 - 3z + z^2)]/z^3`,
:math:`f_2 = \varphi_2 - 2\varphi_3 = [2 + z + e^z(z - 2)]/z^3` and
:math:`f_3 = 4\varphi_3 - \varphi_2 = [-4 - 3z - z^2 + e^z(4 - z)]/z^3`.

These formulas cancel catastrophically for small :math:`|z|`. Following Kassam &
Trefethen (2005, *SIAM J. Sci. Comput.* 26), each function is evaluated as the mean over
:math:`M` points of a circle of radius :math:`r` centred at :math:`z` (Cauchy's integral
formula with the trapezoid rule, spectrally accurate because the functions are entire),
where no cancellation occurs. For a real symbol only the upper half circle is evaluated
and the real part taken (the values on the lower half are the conjugates). Coefficients
are computed in float64 when ``jax_enable_x64`` is on, otherwise in float32 (the contour
is accurate to about 1e-5 in float32; there, for :math:`|z| < 1`, the cancellation-free
Taylor series is used instead, so float32 coefficients keep full precision), then cast to
the state's precision.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

__all__ = ["ETDRK", "etdrk_coefficients"]

_ORDERS = (1, 2, 3, 4)


def check_etdrk_order(order: Any) -> int:
    if isinstance(order, bool) or order not in _ORDERS:
        raise ValueError(f"ETDRK `order` must be 1, 2, 3 or 4; got {order!r}.")
    return int(order)


def _work_dtypes(z: Array) -> tuple[Any, Any]:
    """(real, complex) working dtypes: float64 whenever x64 is enabled."""
    if jnp.dtype(jnp.result_type(float)) == jnp.float64:
        return jnp.float64, jnp.complex128
    return jnp.float32, jnp.complex64


def _contour_mean(fns, z: Array, num_points: int, radius: float) -> tuple[Array, ...]:
    """Means of ``fn(w)`` over ``w = z + radius * exp(i theta_j)`` for every ``fn``.

    Real ``z``: ``num_points // 2`` points on the upper half circle, real part of the mean
    (equal to the full-circle mean by conjugate symmetry). Complex ``z``: all points.
    """
    real = not jnp.iscomplexobj(z)
    rdt, cdt = _work_dtypes(z)
    m = max(num_points // 2, 1) if real else num_points
    half = np.pi if real else 2 * np.pi
    theta = half * (np.arange(1, m + 1) - 0.5) / m
    roots = jnp.asarray(radius * np.exp(1j * theta), cdt)
    zc = z.astype(cdt)

    def body(acc, root):
        w = zc + root
        vals = tuple(f(w) for f in fns)
        if real:
            vals = tuple(v.real for v in vals)
        return tuple(a + v for a, v in zip(acc, vals)), None

    zero = jnp.zeros(z.shape, rdt if real else cdt)
    acc, _ = jax.lax.scan(body, (zero,) * len(fns), roots)
    return tuple(a / m for a in acc)


def _phi1(w):
    return jnp.expm1(w) / w


def _phi2(w):
    return (jnp.expm1(w) - w) / (w * w)


def _f1(w):
    return (-4 - w + jnp.exp(w) * (4 - 3 * w + w * w)) / (w * w * w)


def _f2(w):
    return (2 + w + jnp.exp(w) * (w - 2)) / (w * w * w)


def _f3(w):
    return (-4 - 3 * w - w * w + jnp.exp(w) * (4 - w)) / (w * w * w)


# Taylor coefficients c_j of sum_j c_j z^j, from phi_k(z) = sum_j z^j / (j + k)!:
# f1 = phi1 - 3 phi2 + 4 phi3 has c_j = (j+1)^2/(j+3)!, f2 = phi2 - 2 phi3 has
# (j+1)/(j+3)!, f3 = 4 phi3 - phi2 has (1-j)/(j+3)!. All free of cancellation.
_NTERMS = 18
_f = math.factorial
_SERIES = {
    _phi1: [1 / _f(j + 1) for j in range(_NTERMS)],
    _phi2: [1 / _f(j + 2) for j in range(_NTERMS)],
    _f1: [(j + 1) ** 2 / _f(j + 3) for j in range(_NTERMS)],
    _f2: [(j + 1) / _f(j + 3) for j in range(_NTERMS)],
    _f3: [(1 - j) / _f(j + 3) for j in range(_NTERMS)],
}


def _evaluate(fns, z: Array, num_points: int, radius: float) -> tuple[Array, ...]:
    """Each ``fn`` at ``z``: the contour mean; in float32 also, for ``|z| < 1``, the Taylor
    series (Horner), which keeps full float32 accuracy where the contour mean loses about
    two digits to the spread of the values on the circle."""
    vals = _contour_mean(fns, z, num_points, radius)
    if jnp.finfo(z.dtype).bits > 32:
        return vals
    small = jnp.abs(z) < 1
    zs = jnp.where(small, z, 0)  # keep the unused branch finite for gradients

    def horner(coeffs):
        acc = jnp.zeros_like(zs) + coeffs[-1]
        for c in coeffs[-2::-1]:
            acc = acc * zs + c
        return acc

    return tuple(jnp.where(small, horner(_SERIES[f]), v) for f, v in zip(fns, vals))


def etdrk_coefficients(
    linear: Any,
    dt: Any,
    order: int = 4,
    *,
    num_points: int = 32,
    radius: float = 1.0,
) -> dict[str, Array]:
    r"""Cox--Matthews ETDRK coefficients for the symbol ``linear`` and step ``dt``.

    Arguments:
        linear: the diagonal symbol :math:`L_k` (real or complex array; any shape).
        dt: the step :math:`h` (may be traced).
        order: 1, 2, 3 or 4.
        num_points: points of the Kassam--Trefethen contour (full-circle count).
        radius: its radius (in units of :math:`hL`).

    Returns:
        a dict of arrays, all scaled by :math:`h` where a :math:`\varphi` appears:
        ``"E"`` = :math:`e^{hL}`; order 1: ``"Q"`` = :math:`h\varphi_1(hL)`; order 2: also
        ``"P"`` = :math:`h\varphi_2(hL)`; orders 3--4: ``"E2"`` = :math:`e^{hL/2}`, ``"Q2"``
        = :math:`\tfrac h2\varphi_1(hL/2)`, ``"F1"``, ``"F2"``, ``"F3"`` = :math:`h f_{1,2,3}`,
        and for order 3 ``"Q"``. The dtype is the working precision (see module notes).

    Raises:
        ValueError: for an order outside 1--4 or ``num_points < 2``.

    Example:
        >>> from scidiff.kernels import etdrk_coefficients
        >>> import jax.numpy as jnp
        >>> c = etdrk_coefficients(-jnp.arange(4.0) ** 2, 0.1, order=1)
        >>> sorted(c)
        ['E', 'Q']
    """
    order = check_etdrk_order(order)
    if int(num_points) < 2:
        raise ValueError(f"`num_points` must be at least 2, got {num_points}.")
    lin = jnp.asarray(linear)
    rdt, cdt = _work_dtypes(lin)
    lin = lin.astype(cdt if jnp.iscomplexobj(lin) else rdt)
    h = jnp.asarray(dt, rdt)
    z = h * lin
    out = {"E": jnp.exp(z)}
    if order == 1:
        (p1,) = _evaluate((_phi1,), z, num_points, radius)
        out["Q"] = h * p1
    elif order == 2:
        p1, p2 = _evaluate((_phi1, _phi2), z, num_points, radius)
        out["Q"], out["P"] = h * p1, h * p2
    else:
        (p1_half,) = _evaluate((_phi1,), z / 2, num_points, radius)
        out["E2"] = jnp.exp(z / 2)
        out["Q2"] = h / 2 * p1_half
        fns = (_f1, _f2, _f3) if order == 4 else (_f1, _f2, _f3, _phi1)
        vals = _evaluate(fns, z, num_points, radius)
        out["F1"], out["F2"], out["F3"] = (h * v for v in vals[:3])
        if order == 3:
            out["Q"] = h * vals[3]
    return out


class ETDRK(eqx.Module):
    r"""One ETDRK scheme for a fixed symbol and step: precomputed coefficients.

    ``ETDRK(linear, dt, order)`` builds the coefficients once (they are differentiable
    leaves, functions of ``linear`` and ``dt``); :meth:`step` then advances a Fourier
    state by one step given the nonlinear term ``nonlinear(t, u_hat, args) -> N_hat``.

    Arguments:
        linear: the symbol :math:`L_k`, broadcastable to the Fourier state.
        dt: the step :math:`h` (traced: changing it does not recompile).
        order: 1, 2, 3 or 4 (static).
        dtype: real dtype of the state; coefficients are cast to it (or its complex
            counterpart for a complex symbol). Default: the working precision.
        mask: optional array multiplying every nonlinear term (folded into the
            coefficients, e.g. a dealiasing mask applied to :math:`\hat N`).
        num_points, radius: the contour (see :func:`etdrk_coefficients`).

    Attributes:
        coefficients: the dict of :func:`etdrk_coefficients`, cast and masked, with
            ``"F2"`` pre-multiplied by its weight in the scheme (4 for ETDRK3, 2 for ETDRK4).

    Example:
        >>> from scidiff.kernels import ETDRK
        >>> import jax.numpy as jnp
        >>> k = jnp.fft.rfftfreq(64, 1 / 64)
        >>> scheme = ETDRK(-(k**2), 0.01, order=4)  # heat equation, exact in time
        >>> u_hat = scheme.step(lambda t, u, a: jnp.zeros_like(u), 0.0, jnp.ones(33, complex))
    """

    order: int = eqx.field(static=True)
    dt: Array
    coefficients: dict[str, Array]

    def __init__(
        self,
        linear: Any,
        dt: Any,
        order: int = 4,
        *,
        dtype: Any = None,
        mask: Any = None,
        num_points: int = 32,
        radius: float = 1.0,
    ):
        self.order = check_etdrk_order(order)
        coef = etdrk_coefficients(linear, dt, order, num_points=num_points, radius=radius)
        if mask is not None:
            mask = jnp.asarray(mask)
            coef = {
                k: (v if k in ("E", "E2") else v * mask.astype(v.real.dtype))
                for k, v in coef.items()
            }
        if dtype is not None:
            rdt = jnp.dtype(dtype)
            cdt = jnp.result_type(rdt, jnp.complex64)
            coef = {k: v.astype(cdt if jnp.iscomplexobj(v) else rdt) for k, v in coef.items()}
            self.dt = jnp.asarray(dt, rdt)
        else:
            self.dt = jnp.asarray(dt, jnp.result_type(*[v.real.dtype for v in coef.values()]))
        if self.order == 3:
            coef["F2"] = 4 * coef["F2"]
        elif self.order == 4:
            coef["F2"] = 2 * coef["F2"]
        self.coefficients = coef

    def step(self, nonlinear, t: Any, u_hat: Array, args: Any = None) -> Array:
        """Advance the Fourier state ``u_hat`` from ``t`` to ``t + dt``.

        ``nonlinear(t, u_hat, args)`` returns :math:`\\hat N`; it is evaluated ``order``
        times (at ``t``, ``t + dt/2`` or ``t + dt``, per the scheme).
        """
        c, h = self.coefficients, self.dt
        nu = nonlinear(t, u_hat, args)
        if self.order == 1:
            return c["E"] * u_hat + c["Q"] * nu
        if self.order == 2:
            a = c["E"] * u_hat + c["Q"] * nu
            return a + c["P"] * (nonlinear(t + h, a, args) - nu)
        a = c["E2"] * u_hat + c["Q2"] * nu
        na = nonlinear(t + h / 2, a, args)
        if self.order == 3:
            b = c["E"] * u_hat + c["Q"] * (2 * na - nu)
            nb = nonlinear(t + h, b, args)
            return c["E"] * u_hat + c["F1"] * nu + c["F2"] * na + c["F3"] * nb
        b = c["E2"] * u_hat + c["Q2"] * na
        nb = nonlinear(t + h / 2, b, args)
        cc = c["E2"] * a + c["Q2"] * (2 * nb - nu)
        nc = nonlinear(t + h, cc, args)
        return c["E"] * u_hat + c["F1"] * nu + c["F2"] * (na + nb) + c["F3"] * nc
