"""Python-level parts of the native Tensor API: random numbers, DLPack import,
and the thread count of matmul.

Random numbers are drawn with NumPy's ``default_rng`` exactly as the reference
does (Note [Random numbers]): float64 draws cast to the dtype, so both
backends give the same numbers for the same seed.
"""
from __future__ import annotations

import numpy as np

from . import _compile_numbers, _core
from ._integers import (INT64, arange_dtype, check_grad_dtype, float_only, int_arange, multinomial_values,
                        probs_array, randint_values)
from ._shared import (RandomState, arange_args, cache_limit_arg, check_shape, num_threads_arg, requires_grad_arg,
                      shape_args, tensor_dtype)

__all__ = ["zeros", "ones", "randn", "arange", "randint", "multinomial", "manual_seed", "generator", "from_dlpack",
           "set_num_threads", "get_num_threads", "empty_cache", "set_cache_limit", "cache_info"]

# The stream behind randn (and tg.nn's initialisation) when no seed is given.
_random = RandomState()
generator = _random.generator
manual_seed = _random.manual_seed


def _dtype(dtype) -> np.dtype:
    return np.dtype(np.float32) if dtype is None else tensor_dtype(dtype)


def zeros(*shape, dtype=None, requires_grad: bool = False) -> _core.Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` and ``zeros((2, 3))`` alike (float32 unless ``dtype``)."""
    shape = check_shape(shape_args(shape), _dtype(dtype))  # the reference's checks and words
    return _core.zeros(*shape, dtype=dtype, requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> _core.Tensor:
    """A tensor of ones; ``ones(2, 3)`` and ``ones((2, 3))`` alike (float32 unless ``dtype``)."""
    shape = check_shape(shape_args(shape), _dtype(dtype))
    return _core.ones(*shape, dtype=dtype, requires_grad=requires_grad)


def randn(*shape, seed=None, dtype=None, requires_grad: bool = False) -> _core.Tensor:
    """Standard normal samples: float64 draws of ``default_rng``, cast to ``dtype``."""
    dt = float_only(_dtype(dtype), "randn")
    shape = check_shape(shape_args(shape), np.float64)  # drawn in float64: checked as such
    requires_grad = requires_grad_arg(requires_grad)  # every argument checked before the stream moves
    with _random.recorded_draw():  # recorded below as a draw of the tape
        rng = _random.rng(seed)
    out = _core.tensor(rng.standard_normal(shape), requires_grad=requires_grad, dtype=dt)
    if seed is None and _core._tracing():  # tg.compile: each replay draws afresh (Note [Compile])
        _compile_numbers.state.trace.tensor_draw(out, lambda: randn(*shape, dtype=dt, requires_grad=requires_grad))
    return out


def arange(start, stop=None, step=1, *, dtype=None, requires_grad: bool = False) -> _core.Tensor:
    """``arange(n)`` is 0, 1, ..., n-1; ``arange(start, stop, step)`` as in NumPy. int64 when
    every argument is an int (PyTorch's rule), else float32, unless ``dtype`` says."""
    start, stop, step, n = arange_args(start, stop, step)
    dt = arange_dtype(start, stop, step, dtype, tensor_dtype)
    check_grad_dtype(dt, requires_grad_arg(requires_grad))
    if dt == INT64:
        return _core.tensor(int_arange(start, stop, step, check_shape), dtype=dt)
    check_shape((n,), np.float64)  # made in float64, then cast
    return _core.tensor(np.arange(start, stop, step, dtype=np.float64), requires_grad=requires_grad, dtype=dt)


def randint(low, high=None, size=None, seed=None, *, dtype=None) -> _core.Tensor:
    """Uniform integers in [low, high) of shape ``size`` (int64 unless ``dtype``);
    ``randint(high, size)`` draws from [0, high). NumPy's ``default_rng(seed).integers``."""
    dt = INT64 if dtype is None else tensor_dtype(dtype)
    return _core.tensor(randint_values(_random.rng, low, high, size, seed, check_shape), dtype=dt)


def multinomial(probs, num_samples, replacement=False, *, seed=None) -> _core.Tensor:
    """int64 ids drawn in proportion to the weights of each row of ``probs`` (1-D or 2-D),
    ``num_samples`` per row, with or without replacement."""
    values = multinomial_values(probs_array(probs, _core.Tensor, "tapegrad (native)"), num_samples, replacement,
                                _random.rng(seed))
    return _core.tensor(values, dtype=INT64)


def from_dlpack(obj) -> _core.Tensor:
    """A tensor sharing memory with ``obj`` (a NumPy array, a PyTorch tensor, ...).

    float32/float64/int64 data is shared without a copy; other dtypes are converted
    (Note [Dtypes]), which copies.
    """
    return _core._from_dlpack(obj)


def set_num_threads(n: int) -> None:
    """Let matmul (and its backward) and large elementwise kernels use up to ``n`` threads (Note [Threads]).

    The native backend runs the parts of a large product (Note [Matmul parts])
    and the ranges of a large kernel on at most ``n`` threads; results are the
    same bits at any count. The default is one per core (or OPENBLAS_NUM_THREADS).
    """
    _core._set_blas_threads(num_threads_arg(n))  # capped at 64


def get_num_threads() -> int:
    """How many threads matmul may use (set by ``set_num_threads``; one per core by default)."""
    return _core._blas_threads()


def empty_cache() -> int:
    """Free every buffer the cache of freed tensor memory holds; returns the bytes freed.

    Tensors that die give their large buffers (over 4 KiB) to a cache that the
    next tensor of the same size takes them from, so that a training loop does
    not page-fault fresh memory every step (docs/DESIGN.md, Note [Buffer
    cache]). The cache never holds more than its limit (``set_cache_limit``).
    """
    return _core._empty_cache()


def set_cache_limit(nbytes: int) -> None:
    """The most bytes the cache of freed tensor memory may hold (64 MiB by default;
    0 turns it off). Frees what it holds beyond the new limit."""
    _core._set_cache_limit(cache_limit_arg(nbytes))


def cache_info() -> dict:
    """``{"held_bytes", "limit_bytes", "buffers"}`` of the cache of freed tensor memory."""
    return _core._cache_info()
