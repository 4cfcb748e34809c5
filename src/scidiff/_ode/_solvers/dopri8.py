r"""Dormand--Prince 8(5,3) (Hairer's ``DOP853``) with its seventh-order dense output."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from jaxtyping import PyTree, Scalar

from ._runge_kutta import AbstractExplicitRK, ButcherTableau, linear_combination

__all__ = ["Dopri8"]

# Coefficients of Hairer's DOP853 (E. Hairer, S. P. Norsett, G. Wanner, "Solving Ordinary
# Differential Equations I", 2nd ed., section II.10; the same values as scipy's DOP853).
# Stages 1..12, then f(t1, y1) as stage 13 (first same as last); _A[11] holds the weights b.
_A = (
    (0.05260015195876773,),
    (
        0.0197250569845379,
        0.0591751709536137,
    ),
    (
        0.02958758547680685,
        0.0,
        0.08876275643042054,
    ),
    (
        0.2413651341592667,
        0.0,
        -0.8845494793282861,
        0.924834003261792,
    ),
    (
        0.037037037037037035,
        0.0,
        0.0,
        0.17082860872947386,
        0.12546768756682242,
    ),
    (
        0.037109375,
        0.0,
        0.0,
        0.17025221101954405,
        0.06021653898045596,
        -0.017578125,
    ),
    (
        0.03709200011850479,
        0.0,
        0.0,
        0.17038392571223998,
        0.10726203044637328,
        -0.015319437748624402,
        0.008273789163814023,
    ),
    (
        0.6241109587160757,
        0.0,
        0.0,
        -3.3608926294469414,
        -0.868219346841726,
        27.59209969944671,
        20.154067550477894,
        -43.48988418106996,
    ),
    (
        0.47766253643826434,
        0.0,
        0.0,
        -2.4881146199716677,
        -0.590290826836843,
        21.230051448181193,
        15.279233632882423,
        -33.28821096898486,
        -0.020331201708508627,
    ),
    (
        -0.9371424300859873,
        0.0,
        0.0,
        5.186372428844064,
        1.0914373489967295,
        -8.149787010746927,
        -18.52006565999696,
        22.739487099350505,
        2.4936055526796523,
        -3.0467644718982196,
    ),
    (
        2.273310147516538,
        0.0,
        0.0,
        -10.53449546673725,
        -2.0008720582248625,
        -17.9589318631188,
        27.94888452941996,
        -2.8589982771350235,
        -8.87285693353063,
        12.360567175794303,
        0.6433927460157636,
    ),
    (
        0.054293734116568765,
        0.0,
        0.0,
        0.0,
        0.0,
        4.450312892752409,
        1.8915178993145003,
        -5.801203960010585,
        0.3111643669578199,
        -0.1521609496625161,
        0.20136540080403034,
        0.04471061572777259,
    ),
)
_C = (
    0.05260015195876773,
    0.0789002279381516,
    0.1183503419072274,
    0.2816496580927726,
    0.3333333333333333,
    0.25,
    0.3076923076923077,
    0.6512820512820513,
    0.6,
    0.8571428571428571,
    1.0,
    1.0,
)
_E5 = (
    0.01312004499419488,
    0.0,
    0.0,
    0.0,
    0.0,
    -1.2251564463762044,
    -0.4957589496572502,
    1.6643771824549864,
    -0.35032884874997366,
    0.3341791187130175,
    0.08192320648511571,
    -0.022355307863886294,
    0.0,
)
_E3 = (
    -0.18980075407240762,
    0.0,
    0.0,
    0.0,
    0.0,
    4.450312892752409,
    1.8915178993145003,
    -5.801203960010585,
    -0.4226823213237919,
    -0.1521609496625161,
    0.20136540080403034,
    0.02265179219836082,
    0.0,
)
_A_EXTRA = (
    (
        0.056167502283047954,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.25350021021662483,
        -0.2462390374708025,
        -0.12419142326381637,
        0.15329179827876568,
        0.00820105229563469,
        0.007567897660545699,
        -0.008298,
    ),
    (
        0.03183464816350214,
        0.0,
        0.0,
        0.0,
        0.0,
        0.028300909672366776,
        0.053541988307438566,
        -0.05492374857139099,
        0.0,
        0.0,
        -0.00010834732869724932,
        0.0003825710908356584,
        -0.00034046500868740456,
        0.1413124436746325,
    ),
    (
        -0.42889630158379194,
        0.0,
        0.0,
        0.0,
        0.0,
        -4.697621415361164,
        7.683421196062599,
        4.06898981839711,
        0.3567271874552811,
        0.0,
        0.0,
        0.0,
        -0.0013990241651590145,
        2.9475147891527724,
        -9.15095847217987,
    ),
)
_C_EXTRA = (
    0.1,
    0.2,
    0.7777777777777778,
)
_D = (
    (
        -8.428938276109013,
        0.0,
        0.0,
        0.0,
        0.0,
        0.5667149535193777,
        -3.0689499459498917,
        2.38466765651207,
        2.117034582445028,
        -0.871391583777973,
        2.2404374302607883,
        0.6315787787694688,
        -0.08899033645133331,
        18.148505520854727,
        -9.194632392478356,
        -4.436036387594894,
    ),
    (
        10.427508642579134,
        0.0,
        0.0,
        0.0,
        0.0,
        242.28349177525817,
        165.20045171727028,
        -374.5467547226902,
        -22.113666853125306,
        7.733432668472264,
        -30.674084731089398,
        -9.332130526430229,
        15.697238121770845,
        -31.139403219565178,
        -9.35292435884448,
        35.81684148639408,
    ),
    (
        19.985053242002433,
        0.0,
        0.0,
        0.0,
        0.0,
        -387.0373087493518,
        -189.17813819516758,
        527.8081592054236,
        -11.57390253995963,
        6.8812326946963,
        -1.0006050966910838,
        0.7777137798053443,
        -2.778205752353508,
        -60.19669523126412,
        84.32040550667716,
        11.99229113618279,
    ),
    (
        -25.69393346270375,
        0.0,
        0.0,
        0.0,
        0.0,
        -154.18974869023643,
        -231.5293791760455,
        357.6391179106141,
        93.40532418362432,
        -37.45832313645163,
        104.0996495089623,
        29.8402934266605,
        -43.53345659001114,
        96.32455395918828,
        -39.17726167561544,
        -149.72683625798564,
    ),
)

_dopri8_tableau = ButcherTableau(a=_A, b=_A[-1] + (0.0,), c=_C, b_error=_E5)


def _dop853_error(h, ks):
    r"""Hairer's combined 5th/3rd-order error estimate, component by component.

    With :math:`e_5 = h\sum E5_i k_i` and :math:`e_3 = h\sum E3_i k_i`, the estimate is
    :math:`e_5\,|e_5| / \sqrt{e_5^2 + 0.01\,e_3^2}`: as ``h -> 0``, ``e_3`` dominates the
    root and the estimate behaves like :math:`h^8` (hence ``error_order = 8``). Being
    homogeneous of degree one in each component, it is invariant under the loop's
    per-component scaling by ``atol + rtol |y|`` (scipy's ``DOP853._estimate_error``).
    """
    e5 = linear_combination(None, h, _E5, ks)
    e3 = linear_combination(None, h, _E3, ks)

    def leaf(a, b):
        abs_a = jnp.abs(a)
        denom2 = abs_a * abs_a + 0.01 * (jnp.abs(b) * jnp.abs(b))  # real, also for complex y
        pos = denom2 > 0
        safe = jnp.where(pos, denom2, jnp.ones_like(denom2))  # grad-safe: no 0/0 in either branch
        return jnp.where(pos, a * (abs_a / jnp.sqrt(safe)), jnp.zeros_like(a))

    return jax.tree_util.tree_map(leaf, e5, e3)


class Dopri8(AbstractExplicitRK):
    r"""Dormand--Prince 8(5,3), Hairer's ``DOP853``: adaptive, order 8.

    Twelve stages plus ``f(t1, y1)`` (first same as last, carried into the next step):
    twelve evaluations of ``f`` for the step itself. The error estimate combines the embedded 5th- and 3rd-order
    solutions as in Hairer's code (it behaves like :math:`O(h^8)`; see
    :func:`_dop853_error`). For tight tolerances (``rtol <= 1e-8``) on smooth problems.

    Dense output: Hairer's seventh-order continuous extension, which needs three more
    evaluations of ``f`` per step (made in :meth:`step`, counted in ``num_fevals``: 15 per
    step). With ``dense=False`` and ``t_eval=None`` XLA may remove these unused
    evaluations, in which case ``num_fevals`` over-counts them.

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> solver = scidiff.Dopri8()
        >>> out = solver.step(lambda t, y, a: -y, 0.0, 0.5, jnp.ones(()), None, -jnp.ones(()))
        >>> bool(abs(out.y1 - jnp.exp(-0.5)) < 1e-10)
        True
    """

    tableau: ClassVar[ButcherTableau] = _dopri8_tableau
    order: ClassVar[int] = 8
    error_order: ClassVar[int | None] = 8
    extra_fevals: ClassVar[int] = 3

    def error_estimate(self, h: Scalar, ks: list[PyTree]) -> PyTree:
        return _dop853_error(h, ks)

    def dense_info(self, f, t0, t1, y0, y1, args, ks, f1) -> PyTree:
        r"""Three extra stages, then the coefficients ``F_0..F_6`` of the interpolant.

        :math:`F_0 = \Delta = y_1 - y_0`, :math:`F_1 = h f_0 - \Delta`,
        :math:`F_2 = 2\Delta - h(f_0 + f_1)`, :math:`F_{3..6} = h \sum_j D_{\cdot j} k_j`.
        """
        h = t1 - t0
        ks = list(ks)
        for row, ci in zip(_A_EXTRA, _C_EXTRA):
            ks.append(f(t0 + ci * h, linear_combination(y0, h, row, ks), args))
        delta = jax.tree_util.tree_map(lambda a, b: b - a, y0, y1)
        hf0 = linear_combination(None, h, (1.0,), ks[:1])
        hf1 = linear_combination(None, h, (1.0,), [f1])
        F1 = jax.tree_util.tree_map(lambda a, b: a - b, hf0, delta)
        F2 = jax.tree_util.tree_map(lambda d, a, b: 2 * d - (a + b), delta, hf0, hf1)
        Fs = [linear_combination(None, h, row, ks) for row in _D]
        return (y0, (delta, F1, F2, *Fs))

    def dense_info_placeholder(self, f, t0, y0, args, state) -> PyTree:
        return (y0, (y0,) * (3 + len(_D)))

    def interpolate(self, t0: Scalar, t1: Scalar, dense_info: PyTree, t: Scalar) -> PyTree:
        r""":math:`y = y_0 + x(F_0 + u(F_1 + x(F_2 + u(F_3 + x(F_4 + u(F_5 + x F_6))))))`,
        with :math:`x = (t - t_0)/h` and :math:`u = 1 - x`."""
        y0, F = dense_info
        x = (t - t0) / (t1 - t0)

        def leaf(y, *coeffs):
            xs = jnp.asarray(x, dtype=y.dtype)
            us = 1 - xs
            acc = coeffs[-1]
            for i, c in reversed(list(enumerate(coeffs[:-1]))):
                acc = c + (xs if i % 2 else us) * acc
            return y + xs * acc

        return jax.tree_util.tree_map(leaf, y0, *F)
