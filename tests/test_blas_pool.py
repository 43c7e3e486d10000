"""One BLAS thread pool for NumPy and tapegrad (docs/DESIGN.md, Note [One BLAS pool]).

The native module runs its OpenBLAS's parallel jobs on its own pool, and hands
NumPy's OpenBLAS to the same pool when it is new enough (0.3.27, the first with
a threads callback). These tests check that the hand-over happened and that
products stay right under it: both libraries, both dtypes, sizes that split
into several jobs, concurrent Python threads, and a forked child. Whether the
pools still fight is a timing question: ``python -m tapegrad bench
--workloads blas-mix`` measures it.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import tapegrad
from tapegrad import _blas


def numpy_openblas_path():
    """The file of NumPy's OpenBLAS, None if NumPy uses another BLAS."""
    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        if info.get("internal_api") == "openblas" and "numpy" in info.get("filepath", ""):
            return info["filepath"]
    return None


def has_callback_setter(path) -> bool:
    # OpenBLAS 0.3.27 added the setter, but not every build of 0.3.27 exports it
    # (NumPy 2.0.2's, which pip picks on Python 3.9, does not)
    lib = ctypes.CDLL(path)
    return any(hasattr(lib, name) for name in _blas._SETTERS)


def test_the_build_links_openblas():
    # pyproject's build requirements include scipy-openblas32; a build without
    # it (--no-build-isolation in an environment that lacks it) has the loop
    # kernel only, and says so
    assert tapegrad._core._blas_linked is True, "tapegrad was built without scipy-openblas32"


def test_blas_info_names_a_build_without_openblas():
    class NoBlas:
        _blas_linked = False
        _blas_own_shared = False

        @staticmethod
        def _blas_pool_workers():
            return 0

    assert _blas.blas_info(NoBlas)["tapegrad"] == "none"


def test_tapegrad_openblas_runs_on_the_pool():
    # pyproject pins scipy-openblas32 >= 0.3.27, which takes the callback
    assert tapegrad._core._blas_own_shared is True
    assert _blas.blas_info(tapegrad._core)["tapegrad"] == "shared"


def test_numpy_openblas_runs_on_the_pool_when_it_can():
    path = numpy_openblas_path()
    state = _blas.blas_info(tapegrad._core)["numpy"]
    if path is None:
        assert state == "not found"
    elif has_callback_setter(path):
        assert state == f"shared ({os.path.basename(path)})"
    else:
        assert state == f"left alone ({os.path.basename(path)} has no threads callback setter)"


def test_numpy_can_keep_its_own_threads():
    code = "import tapegrad, tapegrad._blas as b; print(b.blas_info(tapegrad._core)['numpy'])"
    env = dict(os.environ, TAPEGRAD_NUMPY_BLAS="own")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "left alone (TAPEGRAD_NUMPY_BLAS=own)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [8, 65, 300, 700])
def test_products_on_the_pool_are_right(n, dtype):
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    a32, b32 = a.astype(dtype), b.astype(dtype)
    want = a32.astype(np.float64) @ b32.astype(np.float64)
    tol = dict(rtol=1e-4, atol=1e-4 * n) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12 * n)
    np.testing.assert_allclose(a32 @ b32, want, **tol)
    np.testing.assert_allclose((tapegrad.tensor(a32) @ tapegrad.tensor(b32)).numpy(), want, **tol)
    # float64 too, against einsum's plain loops (no BLAS, no threads)
    np.testing.assert_allclose(a @ b, np.einsum("ij,jk->ik", a, b), rtol=1e-12, atol=1e-12 * n)


def test_concurrent_products_from_python_threads():
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(20):
            a = rng.standard_normal((256, 256))
            want = np.einsum("ij,jk->ik", a, a)
            for got in (a @ a, (tapegrad.tensor(a) @ tapegrad.tensor(a)).numpy()):
                if not np.allclose(got, want, rtol=1e-12, atol=1e-10):
                    errors.append(seed)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a product never finished"
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_forked_child_gets_a_pool_of_its_own():
    code = (
        "import os, numpy as np, tapegrad\n"
        "a = np.ones((600, 600))\n"
        "assert (a @ a)[0, 0] == 600  # the parent's pool has its workers now\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    ok = (a @ a)[0, 0] == 600 and (tapegrad.tensor(a) @ tapegrad.tensor(a)).numpy()[0, 0] == 600\n"
        "    os._exit(0 if ok else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
