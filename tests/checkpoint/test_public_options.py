"""The long-run options of the public entry points (`solve_ivp`, `solve_sde`,
`model.rollout`: chunks / progress / checkpoint_dir) give what the chunked drivers give,
and a rerun with the same checkpoint folder resumes to the same bits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import scidiff
from scidiff._chunked import rollout_model_chunked, solve_ivp_chunked, solve_sde_chunked

from . import _problems


def decay(t, y, k):
    return -k * y


def test_solve_ivp_options_dispatch_to_the_chunked_driver(tmp_path):
    te = jnp.linspace(0.0, 2.0, 9)
    kw = dict(args=0.7, t_eval=te, rtol=1e-10, atol=1e-12)
    public = scidiff.solve_ivp(decay, (0.0, 2.0), jnp.ones(2), chunks=3, **kw)
    driver = solve_ivp_chunked(decay, (0.0, 2.0), jnp.ones(2), chunks=3, **kw)
    np.testing.assert_array_equal(public.ys, driver.ys)
    np.testing.assert_allclose(public.ys[:, 0], np.exp(-0.7 * np.asarray(te)), rtol=1e-8)
    first = scidiff.solve_ivp(
        decay, (0.0, 2.0), jnp.ones(2), chunks=3, checkpoint_dir=tmp_path, **kw
    )
    again = scidiff.solve_ivp(
        decay, (0.0, 2.0), jnp.ones(2), chunks=3, checkpoint_dir=tmp_path, **kw
    )
    np.testing.assert_array_equal(first.ys, public.ys)
    np.testing.assert_array_equal(again.ys, public.ys)
    assert any(tmp_path.iterdir())  # checkpoints were written


def test_solve_sde_options_dispatch_to_the_chunked_driver():
    key = jax.random.key(3)
    kw = dict(key=key, dt0=0.01, t_eval=jnp.linspace(0.25, 1.0, 4))
    args = (_problems.ou_drift, _problems.ou_diffusion, (0.0, 1.0), jnp.ones(2))
    public = scidiff.solve_sde(*args, chunks=2, progress=False, **kw)
    driver = solve_sde_chunked(*args, chunks=2, **kw)
    np.testing.assert_array_equal(public.ys, driver.ys)
    assert public.ys.shape == (4, 2) and bool(public.ok)


def test_model_rollout_options_dispatch_to_the_chunked_driver():
    model, u0 = _problems.ks_model(), _problems.ks_u0()
    dt, steps = 0.05, 8
    public = model.rollout(u0, dt, steps, save_every=2, chunks=2)
    driver = rollout_model_chunked(model, u0, dt, steps, save_every=2, chunks=2)
    whole = model.rollout(u0, dt, steps, save_every=2)
    np.testing.assert_array_equal(public, driver)
    np.testing.assert_allclose(public, whole, rtol=1e-10, atol=1e-12)
