"""One BLAS thread pool for NumPy and tapegrad (docs/DESIGN.md, Note [One BLAS pool]).

NumPy's OpenBLAS and tapegrad's each keep threads that spin for about 0.1 s
after a call; on a small machine a matmul of one library right after one of
the other shares the cores with those spinners. OpenBLAS 0.3.27 and later let
the caller run their parallel jobs: the native module already gave its own
OpenBLAS tapegrad's pool, and ``share_numpy_blas`` gives it NumPy's too, found
among the libraries the process has loaded. Set ``TAPEGRAD_NUMPY_BLAS=own`` in
the environment to leave NumPy's threads alone.
"""
from __future__ import annotations

import ctypes
import os

__all__ = ["share_numpy_blas", "blas_info"]

# The setter's name in each OpenBLAS build NumPy has shipped or may load
# (scipy-openblas64 wheels prefix and suffix their symbols; a system OpenBLAS does not).
_SETTERS = ("scipy_openblas_set_threads_callback_function64_", "openblas_set_threads_callback_function64_",
            "scipy_openblas_set_threads_callback_function", "openblas_set_threads_callback_function")

_state = {"numpy": "not tried"}


def _loaded_openblas_paths() -> list:
    """Paths of the OpenBLAS libraries mapped into this process (Linux), NumPy's first."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split(None, 5)[5].strip() for line in f if line.count(" ") >= 5 and "openblas" in line}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/") and ".so" in p)


def share_numpy_blas(core) -> str:
    """Hand NumPy's OpenBLAS to tapegrad's pool; returns what happened, for ``blas_info``."""
    if os.environ.get("TAPEGRAD_NUMPY_BLAS", "").lower() == "own":
        return "left alone (TAPEGRAD_NUMPY_BLAS=own)"
    callback = ctypes.c_void_p(core._blas_callback())
    for path in _loaded_openblas_paths():
        if "numpy" not in path:  # ours, or another package's: only NumPy's is meant
            continue
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same handle, nothing runs
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter.restype = None
                setter.argtypes = [ctypes.c_void_p]
                setter(callback)
                return f"shared ({os.path.basename(path)})"
        # older than 0.3.27, or a build of it without the setter (NumPy 2.0.2's)
        return f"left alone ({os.path.basename(path)} has no threads callback setter)"
    return "not found"


def install(core) -> None:
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS, whichever module imports it first)

    _state["numpy"] = share_numpy_blas(core)


def blas_info(core) -> dict:
    """Which OpenBLAS libraries run on tapegrad's pool, and its worker threads.

    "tapegrad" is "none" for a build made without scipy-openblas32 importable
    (a ``--no-build-isolation`` build in an environment that lacks it): its
    matmul is the built-in loop kernel, several times slower at 512x512.
    """
    if not core._blas_linked:
        mine = "none"
    else:
        mine = "shared" if core._blas_own_shared else "own threads"
    return {"tapegrad": mine,
            "numpy": _state["numpy"], "pool_workers": core._blas_pool_workers()}
