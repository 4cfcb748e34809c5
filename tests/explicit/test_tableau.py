"""Butcher tableau validation, and the order conditions of every shipped tableau."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scidiff
from scidiff._ode._solvers._runge_kutta import ButcherTableau

RK = [
    scidiff.Euler,
    scidiff.Heun,
    scidiff.Midpoint,
    scidiff.RK4,
    scidiff.Bosh3,
    scidiff.Dopri5,
    scidiff.Tsit5,
    scidiff.Dopri8,
]


def _full(tab):
    s = tab.num_stages
    A = np.zeros((s, s))
    for i, row in enumerate(tab.a):
        A[i + 1, : i + 1] = row
    return A, np.array(tab.b), np.concatenate([[0.0], tab.c])


def test_valid_tableau_and_fsal():
    # the midpoint rule with f(t1, y1) appended as a third stage: first same as last
    tab = ButcherTableau(a=((0.5,), (0.0, 1.0)), b=(0.0, 1.0, 0.0), c=(0.5, 1.0))
    assert tab.fsal and tab.num_stages == 3
    assert not ButcherTableau(a=((0.5,), (0.0, 0.5)), b=(0.0, 1.0, 0.0), c=(0.5, 0.5)).fsal
    assert scidiff.Tsit5.tableau.fsal and scidiff.Dopri5.tableau.fsal
    assert scidiff.Bosh3.tableau.fsal and scidiff.Dopri8.tableau.fsal
    assert not scidiff.RK4.tableau.fsal and not scidiff.Heun.tableau.fsal


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(a=(), b=(0.5,), c=()), r"weights `b` must sum to 1"),
        (dict(a=((0.5,),), b=(0.5, 0.5), c=(1.0,)), r"c\[0\] \(stage 2\) must equal the sum"),
        (dict(a=((1.0,),), b=(0.5, 0.5), c=()), r"`c` must list the nodes of stages 2..2"),
        (dict(a=(), b=(0.5, 0.5), c=(1.0,)), r"`a` must have one row per stage"),
        (dict(a=((1.0, 0.0),), b=(0.5, 0.5), c=(1.0,)), r"row 0 of `a` \(stage 2\) must have 1"),
        (dict(a=(), b=(), c=()), r"at least one weight"),
        (
            dict(a=((1.0,),), b=(0.5, 0.5), c=(1.0,), b_error=(0.5, 0.5)),
            r"`b_error` holds b - b_hat .* must sum to 0",
        ),
        (
            dict(a=((1.0,),), b=(0.5, 0.5), c=(1.0,), b_error=(0.5,)),
            r"`b_error` must have one weight per stage \(2\)",
        ),
    ],
)
def test_invalid_tableau_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ButcherTableau(**kwargs)


def test_non_numeric_tableau_raises():
    with pytest.raises(TypeError, match=r"`b` must be a sequence of real numbers"):
        ButcherTableau(a=(), b=("one",), c=())


def _trees_conditions(A, b, c, order):
    """Residuals of the order conditions for all rooted trees up to order 4, plus the
    'bushy' conditions sum b c^(k-1) = 1/k and sum b A c^(k-2) = 1/(k(k-1)) up to ``order``."""
    res = []
    if order >= 1:
        res.append(b.sum() - 1)
    if order >= 2:
        res.append(b @ c - 1 / 2)
    if order >= 3:
        res += [b @ c**2 - 1 / 3, b @ A @ c - 1 / 6]
    if order >= 4:
        res += [
            b @ c**3 - 1 / 4,
            (b * c) @ A @ c - 1 / 8,
            b @ A @ c**2 - 1 / 12,
            b @ A @ A @ c - 1 / 24,
        ]
    for k in range(5, order + 1):
        res += [b @ c ** (k - 1) - 1 / k, b @ A @ c ** (k - 2) - 1 / (k * (k - 1))]
    return np.array(res)


@pytest.mark.parametrize("solver", RK, ids=lambda s: s.__name__)
def test_order_conditions(solver):
    A, b, c = _full(solver.tableau)
    assert np.max(np.abs(_trees_conditions(A, b, c, solver.order))) < 1e-12


@pytest.mark.parametrize(
    "solver", [s for s in RK if s.error_order is not None], ids=lambda s: s.__name__
)
def test_embedded_method_order(solver):
    """b_hat = b - b_error satisfies the order conditions of order error_order - 1."""
    A, b, c = _full(solver.tableau)
    b_hat = b - np.array(solver.tableau.b_error)
    q = solver.error_order - 1
    if solver is scidiff.Dopri8:
        q = 5  # DOP853's E5 is the difference to a 5th-order solution (E3 is combined in)
    assert np.max(np.abs(_trees_conditions(A, b_hat, c, q))) < 1e-12


def test_fixed_methods_have_no_error_order():
    for solver in [
        scidiff.Euler,
        scidiff.Midpoint,
        scidiff.RK4,
        scidiff.Leapfrog,
        scidiff.Yoshida4,
    ]:
        assert solver.error_order is None and not solver().adaptive
    for solver in [scidiff.Heun, scidiff.Bosh3, scidiff.Dopri5, scidiff.Tsit5, scidiff.Dopri8]:
        assert solver.error_order is not None and solver().adaptive


@settings(max_examples=30, deadline=None)
@given(
    st.integers(min_value=1, max_value=6).flatmap(
        lambda s: st.tuples(
            st.just(s),
            st.lists(st.floats(-2, 2), min_size=s * (s - 1) // 2, max_size=s * (s - 1) // 2),
            st.lists(st.floats(0.1, 2), min_size=s, max_size=s),
        )
    ),
    st.floats(1e-6, 1.0),
)
def test_tableau_accepts_consistent_and_rejects_perturbed(data, eps):
    """Any strictly lower ``a`` with ``c`` = row sums and ``b`` normalised to sum 1 is
    accepted; moving one node or the weights off consistency by ``eps`` is rejected."""
    s, flat, w = data
    rows, k = [], 0
    for i in range(1, s):
        rows.append(tuple(flat[k : k + i]))
        k += i
    c = tuple(math.fsum(r) for r in rows)
    b = tuple(x / math.fsum(w) for x in w)
    tab = ButcherTableau(a=tuple(rows), b=b, c=c)
    assert tab.num_stages == s
    with pytest.raises(ValueError, match="must sum to 1"):
        ButcherTableau(a=tuple(rows), b=(b[0] + eps,) + b[1:], c=c)
    if s > 1:
        with pytest.raises(ValueError, match="must equal the sum of row"):
            ButcherTableau(a=tuple(rows), b=b, c=(c[0] + eps,) + c[1:])
