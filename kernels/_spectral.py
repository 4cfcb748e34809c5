r"""Fourier pseudo-spectral operators on periodic boxes (1 to 3 dimensions).

A periodic field :math:`u` sampled on :math:`N_1\times\dots\times N_D` points of the box
:math:`[0, L_1)\times\dots\times[0, L_D)` is its trigonometric interpolant

.. math::
    u(x) = \sum_{n} \hat u_n\, e^{i k_n\cdot x}, \qquad k_{n,d} = 2\pi n_d / L_d ,

so derivatives, the Laplacian, the inverse Laplacian and the Leray projection are
diagonal multipliers on :math:`\hat u` (``jnp.fft.rfftn`` layout: the last axis holds the
non-negative wavenumbers :math:`0..N/2` only, real fields only).

Conventions shared by every function here:

* ``extent`` fixes the number of spatial dimensions ``D``: a tuple ``(L_1, ..., L_D)``
  means the *last* ``D`` axes of the field are spatial and any leading axes are batch or
  channel axes; a scalar ``L`` means every axis is spatial with side ``L``. Extents may
  be traced (differentiable domain sizes); shapes are static.
* Every spatial size must be even (the Nyquist mode is then explicit, see below).
* Odd-order derivatives set the Nyquist wavenumber to zero: the Nyquist mode
  :math:`\cos(\pi N x/L)` has no real-valued odd derivative on the grid (Trefethen,
  *Spectral Methods in MATLAB*, ch. 3). Even orders keep it.

Example:
    >>> import scidiff
    >>> import jax.numpy as jnp
    >>> from scidiff.kernels import spectral_derivative
    >>> x = jnp.linspace(0, 2 * jnp.pi, 32, endpoint=False)
    >>> du = spectral_derivative(jnp.sin(3 * x), 2 * jnp.pi, 1)  # 3 cos(3x), exact
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool

__all__ = [
    "wavenumbers",
    "rfft_shape",
    "dealias_mask",
    "spectral_derivative",
    "spectral_gradient",
    "spectral_divergence",
    "spectral_laplacian",
    "spectral_poisson",
    "leray_projection",
]


# ----------------------------------------------------------------------------- checks


def check_spatial_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """Validate a periodic spatial shape: 1 to 3 axes, every size even and >= 2."""
    shape = tuple(int(n) for n in shape)
    if not 1 <= len(shape) <= 3:
        raise ValueError(
            f"Spectral operators work in 1, 2 or 3 dimensions; got a spatial shape {shape}."
        )
    if any(n < 2 or n % 2 for n in shape):
        raise ValueError(
            f"Every spatial size must be even and >= 2 for the real FFT layout (the Nyquist "
            f"mode must exist); got spatial shape {shape}. Use e.g. {tuple(n + n % 2 for n in shape)}."
        )
    return shape


def check_extents(extents: tuple[Any, ...]) -> tuple[Any, ...]:
    """Return ``extents``; raise ``ValueError`` if a concrete one is not finite and positive
    (a zero, NaN or infinite box side would give NaN or zero wavenumbers). Traced extents
    pass unchecked."""
    for e in extents:
        try:
            value = np.asarray(e, dtype=float)
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
            continue
        except TypeError:
            raise TypeError(f"`extent` entries must be real numbers, got {e!r}.") from None
        if value.ndim:
            raise ValueError(
                f"Every `extent` entry must be a scalar box side, got shape {value.shape}."
            )
        if not (np.isfinite(value) and value > 0):
            raise ValueError(
                f"`extent` must be positive and finite on every axis (the side of the "
                f"periodic box); got {tuple(extents)}."
            )
    return tuple(extents)


def expand_extents(shape: tuple[int, ...], extent: Any) -> tuple[Any, ...]:
    """One checked box side per axis of ``shape``: ``extent`` is a scalar (every axis) or
    a sequence with one entry per axis."""
    if isinstance(extent, (list, tuple)):
        if len(extent) != len(shape):
            raise ValueError(
                f"`extent` has {len(extent)} entries but `shape` {shape} has {len(shape)} axes."
            )
        return check_extents(tuple(extent))
    return check_extents((extent,) * len(shape))


def split_extent(
    u_shape: Sequence[int], extent: Any, vector: bool = False
) -> tuple[tuple[int, ...], tuple]:
    """Return ``(spatial_shape, extents)`` of a field of shape ``u_shape``.

    ``extent`` is a scalar (every axis spatial -- except the leading component axis of a
    ``vector`` field) or a sequence of per-axis extents (the last ``len(extent)`` axes are
    spatial).
    """
    u_shape = tuple(u_shape)
    if isinstance(extent, (list, tuple)):
        ndim = len(extent)
        if ndim > len(u_shape):
            raise ValueError(
                f"`extent` has {ndim} entries but the field has only {len(u_shape)} axes "
                f"(shape {u_shape})."
            )
        extents = tuple(extent)
    else:
        if np.ndim(extent) != 0:
            raise ValueError(
                "`extent` must be a scalar or a tuple of per-axis scalars, got an array of "
                f"shape {np.shape(extent)}."
            )
        ndim = len(u_shape) - int(vector)
        extents = (extent,) * ndim
    spatial = check_spatial_shape(u_shape[len(u_shape) - ndim :])
    return spatial, check_extents(extents)


def _real_dtype(x: ArrayLike) -> Any:
    dt = jnp.result_type(x)
    if jnp.issubdtype(dt, jnp.complexfloating):
        return jnp.finfo(dt).dtype
    if not jnp.issubdtype(dt, jnp.floating):
        return jnp.result_type(float)
    return dt


def rfft_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """Shape of ``jnp.fft.rfftn`` of a real field of spatial shape ``shape``."""
    shape = tuple(shape)
    return shape[:-1] + (shape[-1] // 2 + 1,)


# ----------------------------------------------------------------------------- wavenumbers


def integer_wavenumbers(shape: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Integer mode numbers ``n_d`` in the ``rfftn`` layout, each shaped to broadcast."""
    shape = tuple(shape)
    out = []
    for d, n in enumerate(shape):
        freqs = np.fft.rfftfreq(n, 1.0 / n) if d == len(shape) - 1 else np.fft.fftfreq(n, 1.0 / n)
        bshape = [1] * len(shape)
        bshape[d] = freqs.size
        out.append(np.round(freqs).astype(np.int64).reshape(bshape))
    return tuple(out)


def wavenumbers(
    shape: Sequence[int],
    extent: Any,
    *,
    dtype: Any = None,
    zero_nyquist: bool = False,
) -> tuple[Array, ...]:
    r"""Angular wavenumbers :math:`k_d = 2\pi n_d / L_d` for the ``rfftn`` layout.

    Arguments:
        shape: the spatial shape ``(N_1, ..., N_D)`` (even sizes, 1 to 3 axes).
        extent: the box side(s) ``L`` (scalar, or one per axis; may be traced).
        dtype: real dtype of the result (default: JAX's default float).
        zero_nyquist: set the Nyquist wavenumber :math:`\pm N_d/2` to zero (what an odd
            derivative needs for a real result).

    Returns:
        A tuple of ``D`` arrays; array ``d`` has shape 1 everywhere except along axis
        ``d`` (length ``N_d``, or ``N_D//2 + 1`` on the last axis), so they broadcast
        against ``rfftn`` output: ``sum(k**2 for k in wavenumbers(...))`` is :math:`|k|^2`.

    Raises:
        ValueError: for odd sizes, more than three axes, or a wrong number of extents.

    Example:
        >>> from scidiff.kernels import wavenumbers
        >>> kx, ky = wavenumbers((8, 8), 2 * 3.141592653589793)
        >>> kx.shape, ky.shape
        ((8, 1), (1, 5))
    """
    shape = check_spatial_shape(shape)
    extents = expand_extents(shape, extent)
    dtype = dtype or jnp.result_type(float)
    out = []
    for d, (n_int, length) in enumerate(zip(integer_wavenumbers(shape), extents)):
        n = n_int.astype(float)
        if zero_nyquist:
            n = np.where(np.abs(n_int) == shape[d] // 2, 0.0, n)
        out.append(jnp.asarray(n, dtype) * (2 * jnp.pi / jnp.asarray(length, dtype)))
    return tuple(out)


def dealias_mask(shape: Sequence[int], fraction: float = 2 / 3) -> Bool[Array, "..."]:
    r"""Boolean mask of the modes kept by Orszag's truncation rule, ``rfftn`` layout.

    A mode is kept when every :math:`|n_d| < \text{fraction}\cdot N_d/2`. With the
    default ``2/3`` the kept modes satisfy :math:`3|n_d| < N_d`, exactly the condition
    under which the aliases of a quadratic product land only on discarded modes, so the
    retained part of the product is alias-free.

    Arguments:
        shape: spatial shape (even sizes).
        fraction: fraction of the resolved band :math:`N/2` to keep, in ``(0, 1]``
            (``1`` keeps all modes except the Nyquist mode; ``1/2`` removes cubic aliases).

    Returns:
        a bool array of shape ``rfft_shape(shape)``.

    Raises:
        ValueError: for an odd size or a fraction outside ``(0, 1]``.
    """
    return jnp.asarray(dealias_mask_numpy(shape, fraction))


def dealias_mask_numpy(shape: Sequence[int], fraction: float = 2 / 3) -> np.ndarray:
    """:func:`dealias_mask` as a NumPy array (a compile-time constant under ``jit``)."""
    shape = check_spatial_shape(shape)
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"`fraction` must lie in (0, 1], got {fraction}.")
    mask = np.ones(rfft_shape(shape), bool)
    for n_int, n in zip(integer_wavenumbers(shape), shape):
        mask = mask & (np.abs(n_int) < fraction * n / 2)
    return mask


# ----------------------------------------------------------------------------- operators


def _fft(u: Array, ndim: int) -> Array:
    return jnp.fft.rfftn(u, axes=tuple(range(-ndim, 0)))


def _ifft(u_hat: Array, spatial: tuple[int, ...]) -> Array:
    return jnp.fft.irfftn(u_hat, s=spatial, axes=tuple(range(-len(spatial), 0)))


def as_real_field(u: ArrayLike, name: str = "u") -> Array:
    """``u`` as a float32/float64 array (integers promoted); raise for complex or other
    dtypes (the spectral operators and models use real FFTs)."""
    u = jnp.asarray(u)
    if jnp.issubdtype(u.dtype, jnp.complexfloating):
        raise TypeError(
            f"`{name}` must be a real field (the operators use real FFTs); got dtype {u.dtype}."
        )
    if not jnp.issubdtype(u.dtype, jnp.floating):
        u = u.astype(jnp.result_type(float))
    if u.dtype not in (jnp.float32, jnp.float64):
        raise TypeError(f"`{name}` has dtype {u.dtype}: the FFTs need float32 or float64.")
    return u


def spectral_derivative(u: ArrayLike, extent: Any, order: int | Sequence[int]) -> Array:
    r"""Spectral partial derivative :math:`\partial^{\alpha} u` of a periodic field.

    In Fourier space :math:`\widehat{\partial^\alpha u}_n = \prod_d (i k_{n,d})^{\alpha_d}
    \hat u_n`, exact for trigonometric polynomials resolved by the grid and spectrally
    accurate (error decaying faster than any power of :math:`N`) for smooth periodic ``u``.

    Arguments:
        u: real field; its last ``D`` axes are spatial (see the module conventions).
        extent: box side(s) ``L`` (scalar or per axis).
        order: the multi-index :math:`\alpha = (\alpha_1, .., \alpha_D)` of non-negative
            derivative orders per spatial axis; a plain int only in 1D.

    Returns:
        the derivative, same shape and dtype as ``u``.

    Raises:
        ValueError: for odd sizes, an ``order`` of the wrong length or negative entries.

    Example:
        >>> from scidiff.kernels import spectral_derivative
        >>> import jax.numpy as jnp
        >>> x = jnp.linspace(0, 1, 16, endpoint=False)
        >>> u = jnp.sin(2 * jnp.pi * x)[:, None] * jnp.cos(2 * jnp.pi * x)[None, :]
        >>> uxy = spectral_derivative(u, (1.0, 1.0), (1, 1))
    """
    u = as_real_field(u)
    spatial, extents = split_extent(u.shape, extent)
    ndim = len(spatial)
    alpha = tuple(np.atleast_1d(np.asarray(order)).tolist())
    if len(alpha) != ndim or any(int(a) != a or a < 0 for a in alpha):
        raise ValueError(
            f"`order` must be {ndim} non-negative integer(s), one per spatial axis (e.g. "
            f"{(1,) + (0,) * (ndim - 1)} for d/dx); got {order!r}."
        )
    rdt = u.dtype
    symbol = jnp.ones((), jnp.result_type(rdt, jnp.complex64))
    for d, a in enumerate(alpha):
        if a == 0:
            continue
        k = wavenumbers(spatial, extents, dtype=rdt, zero_nyquist=bool(a % 2))[d]
        symbol = symbol * (1j * k) ** int(a)
    return _ifft(symbol * _fft(u, ndim), spatial).astype(u.dtype)


def spectral_gradient(u: ArrayLike, extent: Any) -> Array:
    r"""Gradient :math:`\nabla u`, stacked on a new axis just before the spatial axes.

    Arguments:
        u: real field of shape ``(*batch, *spatial)``.
        extent: box side(s).

    Returns:
        shape ``(*batch, D, *spatial)``: component ``d`` is :math:`\partial_d u`.

    Example:
        >>> from scidiff.kernels import spectral_gradient
        >>> import jax.numpy as jnp
        >>> g = spectral_gradient(jnp.zeros((8, 8)), 1.0)
        >>> g.shape
        (2, 8, 8)
    """
    u = as_real_field(u)
    spatial, extents = split_extent(u.shape, extent)
    ndim = len(spatial)
    ks = wavenumbers(spatial, extents, dtype=u.dtype, zero_nyquist=True)
    u_hat = jnp.expand_dims(_fft(u, ndim), -ndim - 1)
    ik = jnp.stack(jnp.broadcast_arrays(*[1j * k for k in ks]))
    return _ifft(ik * u_hat, spatial).astype(u.dtype)


def spectral_divergence(v: ArrayLike, extent: Any) -> Array:
    r"""Divergence :math:`\nabla\cdot v` of a vector field of shape ``(*batch, D, *spatial)``.

    Raises:
        ValueError: if the component axis (just before the spatial axes) is not ``D`` long.
    """
    v = as_real_field(v, "v")
    spatial, extents = split_extent(v.shape, extent, vector=True)
    ndim = len(spatial)
    _check_components(v, ndim)
    ks = wavenumbers(spatial, extents, dtype=v.dtype, zero_nyquist=True)
    v_hat = _fft(v, ndim)
    div_hat = jnp.zeros_like(_component(v_hat, 0, ndim))
    for d, k in enumerate(ks):
        div_hat = div_hat + 1j * k * _component(v_hat, d, ndim)
    return _ifft(div_hat, spatial).astype(v.dtype)


def _check_components(v: Array, ndim: int) -> None:
    if v.ndim < ndim + 1 or v.shape[v.ndim - ndim - 1] != ndim:
        raise ValueError(
            f"A {ndim}D vector field needs shape (*batch, {ndim}, *spatial) with the "
            f"component axis just before the spatial axes; got shape {v.shape}."
        )


def _component(v: Array, d: int, ndim: int) -> Array:
    return v[(Ellipsis, d) + (slice(None),) * ndim]


def spectral_laplacian(u: ArrayLike, extent: Any) -> Array:
    r"""Laplacian :math:`\Delta u`, i.e. :math:`-|k|^2\hat u` in Fourier space."""
    u = as_real_field(u)
    spatial, extents = split_extent(u.shape, extent)
    ks = wavenumbers(spatial, extents, dtype=u.dtype)
    k2 = sum(k * k for k in ks)
    return _ifft(-k2 * _fft(u, len(spatial)), spatial).astype(u.dtype)


def spectral_poisson(f: ArrayLike, extent: Any) -> Array:
    r"""Solve the periodic Poisson problem :math:`\Delta\phi = f` for the zero-mean :math:`\phi`.

    On a periodic box :math:`\Delta\phi = f` is solvable only when :math:`f` has zero mean;
    the mean of ``f`` (its :math:`k=0` mode) is therefore discarded, so the result solves
    :math:`\Delta\phi = f - \bar f`, with :math:`\hat\phi_n = -\hat f_n / |k_n|^2` for
    :math:`n \ne 0` and :math:`\hat\phi_0 = 0`.

    Arguments:
        f: real right-hand side, shape ``(*batch, *spatial)``.
        extent: box side(s).

    Returns:
        :math:`\phi`, same shape and dtype as ``f``, with zero mean.
    """
    f = as_real_field(f, "f")
    spatial, extents = split_extent(f.shape, extent)
    ks = wavenumbers(spatial, extents, dtype=f.dtype)
    k2 = sum(k * k for k in ks)
    is_mean = k2 == 0
    inv = jnp.where(is_mean, 0.0, -1.0 / jnp.where(is_mean, 1.0, k2))
    return _ifft(inv * _fft(f, len(spatial)), spatial).astype(f.dtype)


def leray_projection(v: ArrayLike, extent: Any) -> Array:
    r"""Leray (Helmholtz) projection onto divergence-free fields: :math:`v - \nabla\Delta^{-1}\nabla\cdot v`.

    In Fourier space :math:`\hat v \mapsto (I - k k^{\mathsf T}/|k|^2)\,\hat v`, using the
    same Nyquist-free wavenumbers as :func:`spectral_divergence` so that the result has
    zero spectral divergence to round-off and the projection is idempotent. The mean
    (and any mode whose wavenumber vanishes there) is left unchanged.

    Arguments:
        v: real vector field of shape ``(*batch, D, *spatial)``.
        extent: box side(s).

    Returns:
        the projected field, same shape and dtype.

    Raises:
        ValueError: if the component axis is not ``D`` long.
    """
    v = as_real_field(v, "v")
    spatial, extents = split_extent(v.shape, extent, vector=True)
    ndim = len(spatial)
    _check_components(v, ndim)
    ks = wavenumbers(spatial, extents, dtype=v.dtype, zero_nyquist=True)
    k2 = sum(k * k for k in ks)
    safe = jnp.where(k2 == 0, 1.0, k2)
    v_hat = _fft(v, ndim)
    comp = [_component(v_hat, d, ndim) for d in range(ndim)]
    k_dot_v = sum(k * c for k, c in zip(ks, comp)) / safe
    out = jnp.stack([c - k * k_dot_v for k, c in zip(ks, comp)], axis=-ndim - 1)
    return _ifft(out, spatial).astype(v.dtype)
