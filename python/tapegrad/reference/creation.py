"""Making tensors: from data, filled, random (Note [Random numbers]), from DLPack."""
from __future__ import annotations

import numpy as np

from .._integers import (INT64, arange_dtype, check_grad_dtype, float_only, int_arange, multinomial_values,
                         probs_array, randint_values)
from .._shared import RandomState, arange_args, requires_grad_arg
from ._tensor_data import check_shape, shape_args, tensor_dtype
from . import _trace
from .tensor import Tensor

__all__ = ["tensor", "zeros", "ones", "randn", "arange", "randint", "multinomial", "manual_seed", "from_dlpack"]

# The stream behind randn (and tg.nn's initialisation) when no seed is given.
_random = RandomState()
generator = _random.generator
manual_seed = _random.manual_seed


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """``Tensor(data, ...)``: a new leaf holding a copy of ``data``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _dtype(dtype) -> np.dtype:
    return np.dtype(np.float32) if dtype is None else tensor_dtype(dtype)


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` and ``zeros((2, 3))`` alike (float32 unless ``dtype``)."""
    dt = _dtype(dtype)
    shape = check_shape(shape_args(shape), dt)
    return Tensor._wrap(np.zeros(shape, dtype=dt), requires_grad_arg(requires_grad))


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones; ``ones(2, 3)`` and ``ones((2, 3))`` alike (float32 unless ``dtype``)."""
    dt = _dtype(dtype)
    shape = check_shape(shape_args(shape), dt)
    return Tensor._wrap(np.ones(shape, dtype=dt), requires_grad_arg(requires_grad))


def randn(*shape, seed=None, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples: float64 draws of ``default_rng``, cast to ``dtype``.

    Drawing in float64 and casting (rather than drawing float32 directly, which
    NumPy does with a different algorithm) keeps one stream of numbers for
    both dtypes and both backends.
    """
    dt = float_only(_dtype(dtype), "randn")
    shape = check_shape(shape_args(shape), np.float64)
    requires_grad = requires_grad_arg(requires_grad)  # every argument checked before the stream moves
    out = _randn(shape, seed, dt, requires_grad)
    tr = _trace.current() if seed is None else None
    if tr is not None:  # tg.compile: each replay draws afresh (Note [Compile])
        tr.tensor_draw(out, lambda: randn(*shape, dtype=dt, requires_grad=requires_grad))
    return out


def _randn(shape, seed, dt, requires_grad) -> Tensor:
    with _random.recorded_draw():  # randn records it as a draw of the tape
        rng = _random.rng(seed)
    return Tensor._wrap(rng.standard_normal(shape).astype(dt), requires_grad)


def arange(start, stop=None, step=1, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """``arange(n)`` is 0, 1, ..., n-1; ``arange(start, stop, step)`` as in NumPy. int64 when
    every argument is an int (PyTorch's rule), else float32, unless ``dtype`` says."""
    start, stop, step, n = arange_args(start, stop, step)
    dt = arange_dtype(start, stop, step, dtype, tensor_dtype)
    requires_grad = requires_grad_arg(requires_grad)
    check_grad_dtype(dt, requires_grad)
    if dt == INT64:
        return Tensor._wrap(int_arange(start, stop, step, check_shape))
    check_shape((n,), np.float64)  # made in float64, then cast
    return Tensor._wrap(np.arange(start, stop, step, dtype=np.float64).astype(dt), requires_grad)


def randint(low, high=None, size=None, seed=None, *, dtype=None) -> Tensor:
    """Uniform integers in [low, high) of shape ``size`` (int64 unless ``dtype``);
    ``randint(high, size)`` draws from [0, high). NumPy's ``default_rng(seed).integers``."""
    dt = INT64 if dtype is None else tensor_dtype(dtype)
    return Tensor(randint_values(_random.rng, low, high, size, seed, check_shape), dtype=dt)


def multinomial(probs, num_samples, replacement=False, *, seed=None) -> Tensor:
    """int64 ids drawn in proportion to the weights of each row of ``probs`` (1-D or 2-D),
    ``num_samples`` per row, with or without replacement."""
    values = multinomial_values(probs_array(probs, Tensor, "tapegrad.reference"), num_samples, replacement,
                                _random.rng(seed))
    return Tensor._wrap(values)


def from_dlpack(obj) -> Tensor:
    """A tensor sharing memory with ``obj`` (a NumPy array, a PyTorch tensor, ...).

    float32/float64/int64 data is shared without a copy; other dtypes are converted
    (Note [Dtypes]), which copies. A float32/float64 ndarray is wrapped as it
    is, writeable or not: NumPy >= 2.1 imports it through DLPack as that same
    array, but NumPy < 2.1 as a read-only view, even of writeable memory.
    """
    if isinstance(obj, Tensor):
        return Tensor._wrap(obj._data)
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"from_dlpack() needs an object with __dlpack__, got {type(obj).__name__}")
    if isinstance(obj, np.ndarray) and obj.dtype in (np.float32, np.float64, np.int64):  # native byte order only
        arr = np.asarray(obj)
    else:
        arr = np.from_dlpack(obj)
    if arr.dtype not in (np.float32, np.float64, np.int64):
        arr = arr.astype(tensor_dtype(np.float32) if arr.dtype.kind in "biu" else tensor_dtype(arr.dtype))
    return Tensor._wrap(arr)
