r"""Radau5: the 3-stage Radau IIA collocation method (order 5, stage order 3, L-stable).

After Hairer & Wanner's RADAU5 (*Solving ODEs II*, IV.8) and scipy's ``Radau``. One step
of size ``h`` solves the collocation system for ``Z_i = Y_i - y_0`` (see
:mod:`._radau_linear` for the equations and the two forms of its linear algebra):

.. math::  Z = h\,(A \otimes I)\,F(Z), \qquad y_1 = y_0 + Z_3 \quad(\text{stiffly accurate}),

by the shared simplified Newton iteration (:func:`scidiff._nonlinear._newton.newton_solve`:
convergence-rate based stopping, at most ``max_newton_iters`` iterations, Newton
tolerance ``max(10 eps / rtol, min(0.03, sqrt(rtol)))`` as in scipy) started from the
previous step's collocation polynomial extrapolated to the new nodes (zero at the first
step). The frozen iteration matrix ``I - h A \otimes J`` is solved through the
eigen-split (one real and one complex ``n x n`` factorisation; dense solvers) or as the
full ``3n`` real system (matrix-free Krylov solvers).

Error estimate (embedded order 3, filtered so that it stays bounded for stiff
components):

.. math::  \mathrm{err} = (I - h\gamma_0 J)^{-1}\big(h\gamma_0 f(t_0, y_0) + \textstyle\sum_i e_i Z_i\big),
           \qquad \gamma_0 = 1/\gamma,

recomputed once as ``(I - h\gamma_0 J)^{-1}(h\gamma_0 f(t_0, y_0 + \mathrm{err}) + \sum_i e_i
Z_i)`` when it exceeds the tolerance at the first step or after a rejection (Hairer's
improvement for very stiff problems).

Step size (Radau5 chooses its own, like ``BDF``; the controller's ``dtmax`` still bounds
it): Gustafsson's predictive controller as in RADAU5,
``fac = min(1, (h / h_old) (err_old / err)^{1/4}) err^{-1/4}``, times the safety factor
``0.9 (2 k_max + 1) / (2 k_max + k)`` (``k`` Newton iterations), in ``[0.2, 10]``. A Newton
failure with a Jacobian from an earlier step retries the same step with a fresh
Jacobian; with a fresh one it halves the step. The Jacobian is kept between steps and
refreshed after slow convergence (more than 2 iterations at a rate above
``jacobian_rate``).

Dense output: the collocation polynomial through ``(t_0, y_0)`` and ``(t_0 + c_i h, Y_i)``
(cubic; order 3 uniformly, exact at the grid points to the method's order 5).

Differentiation: the stages by the implicit function theorem (``lax.custom_root`` inside
``newton_solve``, exact tangent solves of size ``3n``); the error estimate, the
predictor and the Jacobian carry no derivative (the mesh is treated as fixed).
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, PyTree

from ..._results import RESULTS
from .._base import StepOutput
from .._tolerance import min_tolerance
from ._newton import AbstractImplicitSolver, flat_weights, flatten_field, newton_solve, rms_norm
from ._radau_linear import GAMMA, A, C, E, P, StageSystem

__all__ = ["Radau5"]

MIN_FACTOR = 0.2
MAX_FACTOR = 10.0


class _RadauState(eqx.Module):
    f0: Array  # f(t0, y0), flat (for the error estimate)
    jac: PyTree  # linearisation carried between steps (matrix, or point for Krylov)
    stale: Bool[Array, ""]  # recompute the Jacobian at the start of the next step
    fresh: Bool[Array, ""]  # `jac` was computed at this step's (t0, y0)
    q: Array  # (3, n) collocation coefficients of the last accepted step (predictor)
    h_prev: Array  # its step size
    err_prev: Array  # its error norm
    have_prev: Bool[Array, ""]  # (h_prev, err_prev) come from an accepted step
    rejected: Bool[Array, ""]  # first step, or the last attempt was rejected
    factor: Array  # dt_next / dt after this state's step (read by step_size_factor)
    # What a retry of a rejected attempt needs (read by state_after_reject):
    retry_factor: Array
    retry_fresh: Bool[Array, ""]


class Radau5(AbstractImplicitSolver):
    """Radau IIA of order 5 (3 stages, L-stable, stiffly accurate) with its collocation
    dense output: Hairer & Wanner's RADAU5.

    The workhorse for stiff problems at tight tolerances, and for very stiff ones (stage
    order 3). Chooses its own step size (predictive controller); embedded third-order
    error estimate (``error_order = 4``).

    Fields (all optional): ``linear_solver`` (:class:`DenseLU` default,
    :class:`NewtonKrylov`, another iteration-matrix strategy, or a linear-solver object),
    ``rtol``/``atol`` for the Newton test and the step-size prediction (default:
    ``solve_ivp``'s), ``max_newton_iters`` (6), ``jacobian_rate`` (1e-3),
    ``eigen_split`` (static): ``None`` (default) splits the ``3n`` Newton system into a
    real and a complex ``n x n`` system for solvers that factorise a dense matrix and
    solves the full ``3n`` real system with matrix-free solvers; ``False`` forces the
    full system; ``True`` forces the split (dense solvers only).

    Example:
        >>> import jax.numpy as jnp, scidiff
        >>> sol = scidiff.solve_ivp(lambda t, y, a: -50.0 * y, (0.0, 1.0), jnp.ones(2),
        ...                         solver=scidiff.Radau5())
        >>> bool(jnp.allclose(sol.ys[-1], jnp.exp(-50.0), atol=1e-8))
        True
    """

    max_newton_iters: int = eqx.field(default=6, static=True)
    jacobian_rate: float = 1e-3
    eigen_split: bool | None = eqx.field(default=None, static=True)
    order: ClassVar[int] = 5
    error_order: ClassVar[int] = 4

    def __check_init__(self):
        super().__check_init__()
        if not (isinstance(self.max_newton_iters, int) and self.max_newton_iters >= 1):
            raise ValueError(
                f"Radau5(max_newton_iters=...) must be an int >= 1, got {self.max_newton_iters!r}."
            )
        if self.eigen_split not in (None, True, False):
            raise TypeError(
                f"Radau5(eigen_split=...) must be None, True or False, got {self.eigen_split!r}."
            )
        if self.eigen_split and not self.iteration_matrix.linear_solver_for(1).needs_matrix:
            raise ValueError(
                "Radau5(eigen_split=True) needs a linear solver that factorises a dense "
                "(complex) matrix, such as scidiff.DenseLU(); matrix-free solvers "
                "(NewtonKrylov, GMRES, ...) use the full 3n system: pass eigen_split=None."
            )

    @property
    def _split(self) -> bool:
        if self.eigen_split is None:
            return self.iteration_matrix.linear_solver_for(1).needs_matrix
        return self.eigen_split

    def init(self, f, t0, t1, y0, args):
        del t1
        y, _, fn = flatten_field(f, y0, args)
        dtype = y.dtype
        jac_shape = jax.eval_shape(lambda: self.iteration_matrix.linearise(fn, t0, y, args))
        jac = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jac_shape)
        one = jnp.ones((), dtype)
        return _RadauState(
            f0=fn(t0, y, args),
            jac=jac,
            stale=jnp.array(True),
            fresh=jnp.array(False),
            q=jnp.zeros((3, y.shape[0]), dtype),
            h_prev=one,
            err_prev=one,
            have_prev=jnp.array(False),
            rejected=jnp.array(True),
            factor=one,
            retry_factor=one,
            retry_fresh=jnp.array(False),
        )

    def step(self, f, t0, t1, y0, args, state):
        y0f, unravel, fn = flatten_field(f, y0, args)
        dtype = y0f.dtype
        eps = jnp.finfo(dtype).eps
        rtol, atol = self._tolerances(dtype, y0)  # per flat slot when given per component
        h = jnp.asarray(t1 - t0).astype(dtype)
        n = y0f.shape[0]
        strategy = self.iteration_matrix
        maxit = self.max_newton_iters

        jac = lax.cond(
            state.stale,
            lambda: lax.stop_gradient(strategy.linearise(fn, t0, y0f, args)),
            lambda: lax.stop_gradient(state.jac),
        )
        fresh = jnp.logical_or(state.stale, state.fresh)
        system = StageSystem(strategy, fn, args, lax.stop_gradient(jac), h, n, self._split)

        a = jnp.asarray(A, dtype)
        nodes = jnp.asarray(C, dtype)
        t_nodes = t0 + nodes * (t1 - t0)

        def stage_fields(z):
            ys = y0f + z.reshape(3, n)
            return jax.vmap(lambda t, y: fn(t, y, args))(t_nodes, ys)

        def residual(z):
            return z - h * (a @ stage_fields(z)).reshape(-1)

        # Predictor: the last accepted step's collocation polynomial at the new nodes,
        # y_old + sum_k x^(k+1) q_k with x = 1 + c h / h_prev (relative to y0 = its x = 1).
        x = 1 + nodes * lax.stop_gradient(h / state.h_prev)
        powers = x[:, None] ** jnp.arange(1, 4, dtype=dtype)[None, :] - 1
        z0 = lax.stop_gradient(powers @ state.q).reshape(-1)

        scale = jnp.tile(flat_weights(y0, y0f, atol, rtol), 3)
        rtol_min = rtol if rtol.ndim == 0 else min_tolerance(rtol).astype(dtype)
        kappa = jnp.maximum(10 * eps / rtol_min, jnp.minimum(0.03, jnp.sqrt(rtol_min)))
        z, info = newton_solve(
            residual,
            z0,
            system.solve,
            strategy.tangent_solve,
            scale,
            kappa=kappa,
            max_iters=maxit,
        )
        converged = info.converged
        zs = z.reshape(3, n)
        y1 = jnp.where(converged, y0f + zs[2], y0f)

        # Error estimate and f(t1, y1), neither differentiated (they only steer the mesh).
        zs_c, y0_c, y1_c, f0, h_c = lax.stop_gradient((zs, y0f, y1, state.f0, h))
        c0 = h_c / jnp.asarray(GAMMA, dtype)
        ze = jnp.asarray(E, dtype) @ zs_c
        err, err_result = system.real.solve(c0 * f0 + ze)
        # atol + rtol max(|y0|, |y1|), with complex moduli (see _flat_state.py); NaN when
        # y1 is not finite, so one test of err_norm also checks the proposed state.
        weights = jnp.maximum(
            flat_weights(y0, y0_c, atol, rtol), flat_weights(y0, y1_c, atol, rtol)
        )

        def scaled(err):
            return rms_norm(err / weights + 0 * y1_c)

        err_norm = scaled(err)

        def improved(err):
            f_err = fn(t0, y0_c + err, args)
            return system.real.solve(c0 * f_err + ze)

        again = state.rejected & (err_norm > 1) & jnp.isfinite(err_norm)
        err, err_result2 = lax.cond(
            again, improved, lambda e: (e, RESULTS.successful), lax.stop_gradient(err)
        )
        err_norm = scaled(err)
        f1 = lax.stop_gradient(fn(t1, y1_c, args))

        newton_result = RESULTS.where(converged, RESULTS.successful, info.result)
        err_result = RESULTS.where(err_result == RESULTS.successful, err_result2, err_result)
        result = RESULTS.where(newton_result == RESULTS.successful, err_result, newton_result)
        ok = result == RESULTS.successful
        # A failed step keeps a finite, nonzero error so that the loop rejects it with
        # the solver's result (a zero would also make the norm non-differentiable).
        y_error = jnp.where(ok & jnp.all(jnp.isfinite(err)), err, jnp.ones_like(err))

        # Step-size prediction (Gustafsson), for acceptance and for a retry.
        iters = info.num_iters.astype(dtype)
        safety = 0.9 * (2 * maxit + 1) / (2 * maxit + iters)
        finite = jnp.isfinite(err_norm)
        positive = finite & (err_norm > 0)
        safe_err = jnp.where(positive, err_norm, 1.0)
        ratio = jnp.where(
            state.have_prev & positive,
            h_c / state.h_prev * (state.err_prev / safe_err) ** 0.25,
            1.0,
        )
        base = jnp.minimum(1.0, ratio) * safe_err ** (-0.25)
        base = jnp.where(positive, base, jnp.where(finite, MAX_FACTOR, MIN_FACTOR))
        acc_factor = jnp.clip(safety * base, MIN_FACTOR, MAX_FACTOR)
        rej_factor = jnp.clip(safety * base, MIN_FACTOR, 0.9)
        # Newton failed: a stale Jacobian is refreshed at the same step, else halve it.
        retry_factor = jnp.where(
            newton_result == RESULTS.successful, rej_factor, jnp.where(fresh, 0.5, 1.0)
        )
        retry_factor = jnp.where(ok | (newton_result != RESULTS.successful), retry_factor, 0.5)

        q = jnp.asarray(P, dtype).T @ zs
        new_state = _RadauState(
            f0=f1,
            jac=jac,
            stale=(info.num_iters > 2) & (info.rate > self.jacobian_rate),
            fresh=jnp.array(False),
            q=lax.stop_gradient(q),
            h_prev=h_c,
            err_prev=jnp.where(positive, err_norm, eps).astype(dtype),
            have_prev=jnp.array(True),
            rejected=jnp.array(False),
            factor=acc_factor.astype(dtype),
            retry_factor=retry_factor.astype(dtype),
            retry_fresh=fresh,
        )
        jac_evals = jnp.where(state.stale, strategy.jacobian_cost(n), 0)
        num_fevals = 3 * info.num_iters + 1 + again.astype(jnp.int32) + jac_evals
        dense_info = (y0, *(unravel(q[k]) for k in range(3)))
        return StepOutput(
            y1=unravel(y1),
            y_error=unravel(y_error),
            dense_info=dense_info,
            state=new_state,
            result=result,
            num_fevals=num_fevals.astype(jnp.int32),
        )

    def state_after_reject(self, old_state, output):
        # A retry starts from the same (t0, y0): a Jacobian computed there stays exact;
        # an older one is refreshed only if Newton (or a linear solve) failed with it.
        new = output.state
        failed = output.result != RESULTS.successful
        return eqx.tree_at(
            lambda s: (s.jac, s.stale, s.fresh, s.rejected, s.factor),
            old_state,
            (
                new.jac,
                failed & jnp.logical_not(new.retry_fresh),
                new.retry_fresh,
                jnp.array(True),
                new.retry_factor,
            ),
        )

    def step_size_factor(self, state, controller_factor):
        del controller_factor
        return state.factor

    def interpolate(self, t0, t1, dense_info, t):
        y0, q1, q2, q3 = dense_info
        x = jnp.asarray((t - t0) / (t1 - t0))

        def one(y, a, b, c):
            s = x.astype(y.dtype)
            return y + s * (a + s * (b + s * c))

        return jax.tree_util.tree_map(one, y0, q1, q2, q3)

    def dense_info_placeholder(self, f, t0, y0, args, state):
        del f, t0, args, state
        return (y0, y0, y0, y0)
