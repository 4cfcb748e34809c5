"""Every private dependency API in scidiff._compat still exists and still behaves.

These tests fail loudly on an upgrade that moves or changes one of them: the fallbacks
in the callers keep scidiff *working*, but slower or with a weaker check, and that
must not happen unnoticed.
"""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scidiff import _compat


def test_only_compat_imports_private_apis():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for folder in ("src", "kernels"):
        for path in (root / folder).rglob("*.py"):
            if path.name == "_compat.py":
                continue
            text = path.read_text()
            for private in ("equinox.internal", "jax._src", "tensorflow.python"):
                if private in text:
                    offenders.append(f"{path.relative_to(root)}: {private}")
    assert not offenders, offenders


def test_unvmap_max_reduces_across_the_batch():
    x = jnp.array([1, 5, 3])
    assert int(_compat.unvmap_max(jnp.int32(4))) == 4  # outside vmap: identity
    out = jax.vmap(_compat.unvmap_max)(x)
    np.testing.assert_array_equal(out, [5, 5, 5])
    # nested vmaps reduce over both batch axes
    out2 = jax.vmap(jax.vmap(_compat.unvmap_max))(jnp.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(out2, np.full((2, 3), 5))
    # under jit too
    np.testing.assert_array_equal(jax.jit(jax.vmap(_compat.unvmap_max))(x), [5, 5, 5])


def test_jax_dlpack_cpu_round_trip_aliases():
    fns = _compat.jax_dlpack_cpu()
    assert fns is not None, "jax._src.lib._jax DLPack functions moved: update _compat.py"
    to_buffer, to_capsule = fns
    cpu = jax.local_devices(backend="cpu")[0]
    host = np.arange(64, dtype=np.float32)
    arr = to_buffer(host.__dlpack__(), cpu, None, None, 1)
    assert isinstance(arr, jax.Array) and arr.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(arr), host)
    x = jax.device_put(np.arange(16.0, dtype=np.float32), cpu)
    capsule = to_capsule(x, stream=None)
    assert type(capsule).__name__ == "PyCapsule"
    # the bridges' probes accept them (else they silently take the slow path)
    from scidiff.interop import _dlpack

    assert _dlpack._probe_fast_import() is not None
    assert _dlpack._probe_fast_export() is not None


def test_tf_record_records_on_a_tape():
    tf = pytest.importorskip("tensorflow")
    fns = _compat.tf_record()
    assert fns is not None, "tensorflow.python.eager.record moved: update _compat.py"
    record_operation, could_record = fns
    assert could_record() is False
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        assert could_record() is True
        y = tf.constant(4.0)  # pretend y = x**2, recorded by hand
        record_operation("compat_probe", [y], [x], lambda dy: [dy * 2 * x])
    assert float(tape.gradient(y, x)) == 4.0


def test_importing_compat_imports_no_framework():
    code = (
        "import sys, scidiff, scidiff._compat, scidiff.interop;"
        "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('torch', 'tensorflow')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_version_is_defined_once_in_pyproject():
    import importlib.metadata
    import re
    from pathlib import Path

    import scidiff

    root = Path(__file__).resolve().parents[1]
    text = (root / "pyproject.toml").read_text()  # (tomllib needs Python 3.11)
    (pyproject,) = re.findall(r'(?m)^version = "([^"]+)"$', text)
    assert scidiff.__version__ == importlib.metadata.version("scidiff") == pyproject
    init = (root / "src" / "scidiff" / "__init__.py").read_text()
    assert not re.search(r"__version__\s*=\s*['\"]", init), "version literal in __init__.py"
