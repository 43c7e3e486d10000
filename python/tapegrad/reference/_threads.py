"""The thread count of the reference's matmul: NumPy's BLAS, through threadpoolctl.

NumPy runs ``@`` on the BLAS it was built with (OpenBLAS in its wheels), which
starts one thread per core. ``set_num_threads(n)`` caps that library at ``n``
threads, as ``tapegrad.set_num_threads`` caps the native backend's
(Note [Threads]); threadpoolctl finds the library whatever its name or
platform.
"""
from __future__ import annotations

import numpy as np

from .._shared import num_threads_arg

__all__ = ["set_num_threads", "get_num_threads"]


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
