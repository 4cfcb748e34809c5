"""from_torch / to_torch: every shared dtype, zero-copy proofs, awkward layouts, errors."""

import gc

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from scidiff.interop import torch as sdtorch
from scidiff.interop._dlpack import describe_capsule

DTYPES = [
    (torch.bool, jnp.bool_),
    (torch.int8, jnp.int8),
    (torch.int16, jnp.int16),
    (torch.int32, jnp.int32),
    (torch.int64, jnp.int64),
    (torch.uint8, jnp.uint8),
    (torch.uint16, jnp.uint16),
    (torch.uint32, jnp.uint32),
    (torch.uint64, jnp.uint64),
    (torch.float16, jnp.float16),
    (torch.bfloat16, jnp.bfloat16),
    (torch.float32, jnp.float32),
    (torch.float64, jnp.float64),
    (torch.complex64, jnp.complex64),
    (torch.complex128, jnp.complex128),
]


def _sample(tdtype, n=37):
    return _values(tdtype, n).clone()  # torch's allocator: 64-byte aligned like XLA's


def _values(tdtype, n):
    """Values that exercise the dtype (negative, fractional, complex parts where possible)."""
    rng = np.random.default_rng(0)
    if tdtype == torch.bool:
        return torch.from_numpy(rng.integers(0, 2, n).astype(bool))
    if tdtype.is_complex:
        re = torch.from_numpy(rng.standard_normal(n))
        im = torch.from_numpy(rng.standard_normal(n))
        return torch.complex(re, im).to(tdtype)
    if tdtype.is_floating_point:
        return torch.from_numpy(rng.standard_normal(n) * 100).to(tdtype)
    info = torch.iinfo(tdtype)
    lo, hi = max(info.min, -(2**40)), min(info.max, 2**40)
    vals = rng.integers(lo, hi, n, dtype=np.int64, endpoint=True)
    vals[0], vals[1] = lo, hi
    return torch.from_numpy(vals).to(tdtype)


def _same_values(t: torch.Tensor, x: jax.Array) -> bool:
    """Bit-exact comparison through numpy (bfloat16 via float32, which holds it exactly)."""
    a = t.detach().float().numpy() if t.dtype == torch.bfloat16 else t.detach().numpy()
    b = np.asarray(x.astype(jnp.float32) if x.dtype == jnp.bfloat16 else x)
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))


@pytest.mark.parametrize("tdtype, jdtype", DTYPES, ids=[str(d[0]) for d in DTYPES])
def test_every_dtype_round_trip_zero_copy(tdtype, jdtype):
    t = _sample(tdtype)
    x = sdtorch.from_torch(t)
    assert x.dtype == jdtype and x.shape == tuple(t.shape)
    assert x.unsafe_buffer_pointer() == t.data_ptr()  # shared, not copied
    assert _same_values(t, x)
    back = sdtorch.to_torch(x)
    assert back.dtype == tdtype and back.data_ptr() == x.unsafe_buffer_pointer()
    assert torch.equal(back, t)


@pytest.mark.parametrize("jdtype", [d[1] for d in DTYPES], ids=[str(d[0]) for d in DTYPES])
def test_every_dtype_jax_to_torch(jdtype):
    x = jnp.asarray(np.arange(-5, 20) % 7 - 2.5).astype(jdtype)
    t = sdtorch.to_torch(x)
    assert t.data_ptr() == x.unsafe_buffer_pointer()
    assert _same_values(t, x)
    t2 = sdtorch.to_torch(x, copy=True)
    assert t2.data_ptr() != x.unsafe_buffer_pointer() and torch.equal(t2, t)


def test_pytrees_and_scalars():
    tree = {"a": torch.tensor(3.0), "b": [torch.zeros(0, 3), (torch.ones(2, 1),)], "c": None}
    out = sdtorch.from_torch(tree)
    assert out["a"].shape == () and float(out["a"]) == 3.0
    assert out["b"][0].shape == (0, 3) and out["b"][1][0].shape == (2, 1)
    assert out["c"] is None
    back = sdtorch.to_torch(out)
    assert torch.equal(back["b"][1][0], tree["b"][1][0])


def test_transposed_view_is_shared():
    base = torch.arange(12.0).reshape(3, 4)
    x = sdtorch.from_torch(base.T)
    assert x.unsafe_buffer_pointer() == base.data_ptr()
    np.testing.assert_array_equal(np.asarray(x), base.T.numpy())
    # size-1 axes may carry any stride
    y = sdtorch.from_torch(base[:, None, :])
    np.testing.assert_array_equal(np.asarray(y), base[:, None, :].numpy())


AWKWARD = {
    "step-sliced": lambda: torch.arange(20.0).reshape(4, 5)[:, ::2],
    "expanded": lambda: torch.arange(3.0).reshape(3, 1).expand(3, 4),
    "overlapping": lambda: torch.arange(10.0).as_strided((4, 3), (1, 1)),
    "conjugate bit": lambda: torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex128).conj(),
    "negative bit": lambda: torch._neg_view(torch.arange(5.0)),
    "flipped": lambda: torch.arange(6.0).flip(0),
}


@pytest.mark.parametrize("name", list(AWKWARD))
def test_awkward_layouts_are_copied_with_correct_values(name):
    t = AWKWARD[name]()
    x = sdtorch.from_torch(t)
    expected = t.resolve_conj().resolve_neg().contiguous().numpy()  # torch's own values
    np.testing.assert_array_equal(np.asarray(x), expected)


@pytest.mark.parametrize("name", ["step-sliced", "expanded", "conjugate bit", "negative bit"])
def test_copy_false_refuses_awkward_layouts(name):
    with pytest.raises(ValueError, match=r"tree cannot be shared without a copy because"):
        sdtorch.from_torch(AWKWARD[name](), copy=False)


def test_misaligned_pointer_copies_or_refuses():
    base = torch.arange(33, dtype=torch.float32)
    t = base[1:]  # 4-byte offset: XLA on CPU needs 64-byte alignment
    assert t.data_ptr() % 64 != 0
    x = sdtorch.from_torch(t)
    assert x.unsafe_buffer_pointer() != t.data_ptr()
    np.testing.assert_array_equal(np.asarray(x), t.numpy())
    with pytest.raises(ValueError, match=r"tree: .*not aligned"):
        sdtorch.from_torch(t, copy=False)


def test_requires_grad_is_detached():
    t = torch.linspace(0, 1, 5, requires_grad=True)
    x = sdtorch.from_torch(t)
    assert x.unsafe_buffer_pointer() == t.data_ptr()
    np.testing.assert_array_equal(np.asarray(x), t.detach().numpy())


def test_aliasing_policy_from_torch():
    """Default: shared memory, so an in-place write shows through (documented). copy=True
    is an independent snapshot."""
    t = torch.zeros(8)
    shared = sdtorch.from_torch(t)
    snapshot = sdtorch.from_torch(t, copy=True)
    t[0] = 5.0
    assert float(shared[0]) == 5.0
    assert float(snapshot[0]) == 0.0
    with pytest.raises(ValueError, match="copy=False"):
        sdtorch.from_torch(torch.arange(4.0)[::2], copy=False)


def test_aliasing_policy_to_torch_and_lifetime():
    x = jnp.arange(16.0)
    t_copy = sdtorch.to_torch(x, copy=True)
    t_copy += 1  # writing into a copy never touches the JAX array
    assert float(x[0]) == 0.0
    # the tensor keeps the buffer alive after the JAX array is gone, and vice versa
    t = sdtorch.to_torch(jnp.arange(16.0) * 2)
    gc.collect()
    assert float(t[3]) == 6.0
    tt = torch.arange(16.0)
    y = sdtorch.from_torch(tt)
    del tt
    gc.collect()
    assert float(y[5]) == 5.0


def test_capsule_header_matches_torch():
    t = torch.arange(10.0, dtype=torch.float64)[2:].reshape(2, 4).T
    info = describe_capsule(torch.utils.dlpack.to_dlpack(t))
    assert info.data_ptr == t.data_ptr()
    assert info.dtype == "float64" and info.shape == (4, 2) and info.strides == (1, 4)


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_errors_name_the_leaf_and_the_fix():
    with pytest.raises(TypeError, match=r"tree\['a'\]\[1\] is a numpy.ndarray, not a torch"):
        sdtorch.from_torch({"a": [torch.ones(1), np.ones(1)]})
    with pytest.raises(TypeError, match=r"sparse_coo tensor.*to_dense"):
        sdtorch.from_torch(torch.eye(2).to_sparse())
    with pytest.raises(
        TypeError, match=r"dtype torch.complex32, which cannot cross to JAX by DLPack"
    ):
        sdtorch.from_torch(torch.zeros(2, dtype=torch.complex32))
    with pytest.raises(ValueError, match="meta tensor"):
        sdtorch.from_torch(torch.empty(2, device="meta"))
    with pytest.raises(
        TypeError, match=r"tree\[0\] is of type numpy.ndarray, not a jax.Array.*from_numpy"
    ):
        sdtorch.to_torch([np.ones(2)])
    with pytest.raises(TypeError, match="traced JAX value"):
        jax.jit(lambda x: sdtorch.to_torch(x))(jnp.ones(2))
    g = jax.grad(lambda x, n: x * n, argnums=1, allow_int=True)(1.0, 3)
    with pytest.raises(TypeError, match="float0"):
        sdtorch.to_torch(g)


@pytest.mark.parametrize("fast", [True, False], ids=["fast-cpu-import", "public-jax-dlpack"])
def test_fast_and_public_import_paths_agree(fast, monkeypatch):
    """The CPU fast path (jaxlib's import called directly) and the public
    ``jax.dlpack.from_dlpack`` give the same zero-copy result, misaligned copies included."""
    from scidiff.interop import _dlpack

    _dlpack.import_dlpack(torch.zeros(1))  # make sure the probe ran
    if fast:
        assert _dlpack._FAST_CPU_IMPORT is not None, "fast CPU import unavailable"
    else:
        monkeypatch.setattr(_dlpack, "_FAST_CPU_IMPORT", None)
    t = torch.linspace(-1, 1, 64, dtype=torch.float64)
    x = sdtorch.from_torch(t)
    assert x.unsafe_buffer_pointer() == t.data_ptr() and x.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(x), t.numpy())
    m = torch.arange(17, dtype=torch.float32)[1:]
    np.testing.assert_array_equal(np.asarray(sdtorch.from_torch(m)), m.numpy())
