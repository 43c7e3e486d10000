"""Backend-agnostic pieces that both backends export: no ``_core``, no backend state.

``tapegrad`` and ``tapegrad.reference`` each bind these to themselves, so the
code exists once.
"""
from __future__ import annotations

import numpy as np

import math
import os
import warnings

__all__ = ["grad", "RandomState", "arange_args", "num_threads_arg", "warn_inexact_integers", "check_shape",
           "shape_args"]


def grad(output, inputs, gradient=None, retain_graph=None, create_graph=False):
    """d output / d input for each input, without touching any ``.grad``.

    ``inputs`` may be one node or a sequence of nodes; the result has the same
    form. An input that ``output`` does not depend on gets a zero gradient.
    With ``create_graph`` the backward pass records its own operations, so the
    gradients (Values or Tensors) can be differentiated again, to any order;
    ``retain_graph`` defaults to ``create_graph``, as in PyTorch.
    """
    single = not isinstance(inputs, (list, tuple))
    nodes = [inputs] if single else list(inputs)
    grads = output._gradients(nodes, gradient=gradient, retain_graph=retain_graph, create_graph=create_graph)
    return grads[0] if single else tuple(grads)


class RandomState:
    """A backend's random stream (Note [Random numbers]): NumPy's ``default_rng``,
    so that the same seed gives the same numbers on both backends."""

    def __init__(self) -> None:
        self._generator = np.random.default_rng()

    def generator(self) -> np.random.Generator:
        """The generator that unseeded random draws use (reseeded by ``manual_seed``)."""
        return self._generator

    def manual_seed(self, seed: int) -> None:
        """Reseed the generator: later draws repeat on both backends."""
        self._generator = np.random.default_rng(seed)

    def rng(self, seed=None) -> np.random.Generator:
        """The generator for one draw: a fresh one for an explicit ``seed``, else the stream."""
        return self._generator if seed is None else np.random.default_rng(seed)


def arange_args(start, stop=None, step=1):
    """``(start, stop, step, n)`` of ``arange(n)`` or ``arange(start, stop, step)``,
    checked as NumPy would; ``n`` is the number of elements."""
    if stop is None:
        start, stop = 0, start
    for v in (start, stop, step):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise TypeError(f"arange() takes numbers, got {type(v).__name__}")
    if step == 0:
        raise ValueError("arange() step must not be zero")
    return start, stop, step, max(int(np.ceil((stop - start) / step)), 0)


def num_threads_arg(n) -> int:
    """``n`` for ``set_num_threads(n)``: an int of at least 1."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads() takes an int, not {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads() needs at least 1 thread, got {n}")
    return int(n)


def warn_inexact_integers(arr: np.ndarray, dtype) -> None:
    """Warn when integer data ``arr`` holds values that ``dtype`` cannot represent exactly.

    Integer data becomes floating point by the contract (float32 unless a
    dtype is given); float32 holds integers exactly only up to 2**24 in
    magnitude (float64: 2**53), so 2**31 + 1 would silently become 2**31.
    Both backends call this once per conversion of integer input.
    """
    if arr.dtype.kind not in "iu" or arr.size == 0:
        return
    with np.errstate(invalid="ignore", over="ignore"):  # out-of-range casts back are inexact anyway
        back = arr.astype(dtype).astype(arr.dtype)
    bad = back != arr
    if bad.any():
        first = arr[bad].flat[0]
        warnings.warn(
            f"integer data holds values that {np.dtype(dtype)} cannot represent exactly "
            f"({first} becomes {float(np.asarray(first).astype(dtype))!r}); "
            "pass dtype=float64 (exact up to 2**53) to keep more of them",
            UserWarning,
            stacklevel=3,
        )


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
        return 2**62


_MEMORY_LIMIT = _physical_memory()


def check_shape(shape, dtype=np.float32) -> tuple:
    """Validate a requested shape before allocating (errors per docs/API.md)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    shape = tuple(shape)
    for n in shape:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"shape {shape} must hold ints, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"negative dimensions are not allowed: shape {shape}")
    shape = tuple(int(n) for n in shape)
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > _MEMORY_LIMIT:
        raise MemoryError(
            f"a {np.dtype(dtype)} tensor of shape {shape} needs {nbytes} bytes, "
            "more than this machine's memory"
        )
    return shape


def shape_args(shape: tuple) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape
