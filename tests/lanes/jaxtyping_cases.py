"""Positive controls of the jaxtyping lane (run only there, by ``test_lanes.py``): the
import hook is active, so a shape hint that a value breaks raises at once."""

from __future__ import annotations

import jax.numpy as jnp
import jaxtyping
import pytest

import scidiff
from scidiff._ode._solution import DenseInterpolation


def test_shape_hints_are_checked_at_construction():
    good = dict(
        t0s=jnp.zeros(3),
        t1s=jnp.ones(3),
        ends=jnp.ones(3),
        infos=None,
        direction=jnp.array(1.0),
        num_steps=jnp.array(3),
        solver=scidiff.Tsit5(),
    )
    DenseInterpolation(**good)
    # t1s with 4 steps where t0s has 3: the shared " max_steps" dimension disagrees.
    with pytest.raises(jaxtyping.TypeCheckError, match="max_steps"):
        DenseInterpolation(**{**good, "t1s": jnp.ones(4)})
    with pytest.raises(jaxtyping.TypeCheckError, match="direction"):
        DenseInterpolation(**{**good, "direction": jnp.ones(2)})


def test_public_signature_hints_are_checked():
    # linear_solve's dense `A` is hinted "n n" and solve_ivp's t_eval " T": a value
    # breaking the hint is refused by the type check before scidiff's own validation.
    with pytest.raises(jaxtyping.TypeCheckError, match="A"):
        scidiff.linear_solve(jnp.ones((2, 3)), jnp.ones(2))
    with pytest.raises(jaxtyping.TypeCheckError, match="t_eval"):
        scidiff.solve_ivp(lambda t, y, a: -y, (0.0, 1.0), jnp.ones(2), t_eval=jnp.ones((2, 2)))
