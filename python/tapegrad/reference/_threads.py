"""The thread count of the reference's matmul: NumPy's BLAS, through threadpoolctl.

NumPy runs ``@`` on the BLAS it was built with (OpenBLAS in its wheels), which
starts one thread per core. ``set_num_threads(n)`` caps that library at ``n``
threads, as ``tapegrad.set_num_threads`` caps the native backend's
(Note [Threads]); threadpoolctl finds the library whatever its name or
platform.
"""
from __future__ import annotations

import numpy as np

from .._shared import cache_limit_arg, num_threads_arg

__all__ = ["set_num_threads", "get_num_threads", "empty_cache", "set_cache_limit", "cache_info"]


def _numpy_blas():
    """threadpoolctl's handles on NumPy's BLAS (all BLAS libraries if none is NumPy's own)."""
    from threadpoolctl import ThreadpoolController

    np.ones((2, 2)) @ np.ones((2, 2))  # make sure NumPy has loaded its BLAS
    blas = ThreadpoolController().select(user_api="blas")
    own = [c for c in blas.lib_controllers if "numpy" in c.filepath.replace("\\", "/").lower()]
    return own or blas.lib_controllers


def set_num_threads(n: int) -> None:
    """Let matmul (NumPy's BLAS) use up to ``n`` threads; every other op runs on one."""
    n = num_threads_arg(n)
    for lib in _numpy_blas():
        lib.set_num_threads(n)


def get_num_threads() -> int:
    """How many threads matmul (NumPy's BLAS) may use; 1 if NumPy has no threaded BLAS."""
    libs = _numpy_blas()
    return max((lib.num_threads for lib in libs), default=1)


# The reference keeps no cache of freed buffers (NumPy allocates each array
# afresh): the same functions, holding nothing, so that code runs on both.
_cache_limit = 64 << 20


def empty_cache() -> int:
    """Free every buffer the cache holds: the reference has none, so 0."""
    return 0


def set_cache_limit(nbytes: int) -> None:
    """The most bytes the cache may hold; the reference only remembers it."""
    global _cache_limit
    _cache_limit = cache_limit_arg(nbytes)


def cache_info() -> dict:
    """``{"held_bytes", "limit_bytes", "buffers"}``: nothing held, on the reference."""
    return {"held_bytes": 0, "limit_bytes": _cache_limit, "buffers": 0}
