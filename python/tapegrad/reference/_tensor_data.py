"""Tensor data: the two dtypes (Note [Dtypes]), conversion, size checks, backends.

Everything a Tensor checks about its input before any array is allocated.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._shared import check_shape, float_dtype, shape_args, warn_inexact_integers
from ._shapes import broadcast_shape

__all__ = ["float_dtype", "to_array", "grad_data", "check_shape", "shape_args", "backend_name", "describe",
           "is_number", "check_matmul", "export_dlpack"]

_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)

# ----------------------------------------------------------------------------
# Data conversion (Note [Dtypes]) and size checks


def to_array(data, dtype=None, copy: bool = True) -> np.ndarray:
    """``data`` (numbers, nested lists, arrays) as a float32/float64 ndarray.

    Input that carries its own float64 dtype (an ndarray, a NumPy scalar)
    keeps it; everything else (Python floats, ints, bools) becomes float32.
    """
    if backend_name(data) is not None and not hasattr(data, "__array__"):
        raise TypeError(f"cannot make a tapegrad.reference Tensor from {describe(data)}")
    try:
        arr = np.asarray(data)
    except ValueError as exc:
        raise ValueError(f"tensor data has an irregular (ragged) shape: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"tensor data must be real numbers, got {type(data).__name__} "
            f"holding dtype {arr.dtype}"
        )
    if dtype is not None:
        dt = float_dtype(dtype)
    elif arr.dtype.kind == "f" and arr.dtype.itemsize == 8 and hasattr(data, "dtype"):  # any byte order
        dt = _FLOAT64
    else:
        dt = _FLOAT32
    warn_inexact_integers(arr, dt)
    return np.array(arr, dtype=dt, copy=True) if copy else np.asarray(arr, dtype=dt)


def grad_data(value, dtype) -> np.ndarray:
    """What ``x.grad = value`` holds when ``value`` is not a Tensor: array data in ``dtype``
    (another backend's Tensor, or a Value, is a TypeError; the Tensor checks the shape)."""
    if backend_name(value) is not None:
        raise TypeError(f"cannot assign {describe(value)} to the .grad of a tapegrad.reference Tensor")
    return to_array(value, dtype)


# ----------------------------------------------------------------------------
# Backends: mixing tapegrad objects of different kinds is a TypeError


def backend_name(obj):
    """'tapegrad.reference' or 'tapegrad (native)' for tapegrad objects, else None.

    Natives are recognised by their class's module, so the reference never
    imports the compiled extension.
    """
    module = type(obj).__module__ or ""
    if type(obj).__name__ not in ("Value", "Tensor"):
        return None
    if module.startswith("tapegrad.reference"):
        return "tapegrad.reference"
    if module == "tapegrad" or module.startswith("tapegrad."):
        return "tapegrad (native)"
    return None


def describe(obj) -> str:
    return f"a {backend_name(obj)} {type(obj).__name__}"


def is_number(x) -> bool:
    return isinstance(x, (numbers.Real, np.bool_))

# ----------------------------------------------------------------------------
# Matmul shapes (indices: _index.py)


def check_matmul(a: tuple, b: tuple, dtype) -> None:
    """The errors of ``a @ b`` for shapes a and b, before anything is computed."""
    if not a or not b:
        raise ValueError(f"@: matmul needs tensors of at least one dimension, got shapes {a} and {b}")
    k_b = b[-2] if len(b) > 1 else b[0]
    if a[-1] != k_b:
        raise ValueError(f"@: shapes {a} and {b} do not match for matmul ({a[-1]} != {k_b})")
    try:
        batch = broadcast_shape(a[:-2], b[:-2])
    except ValueError:
        raise ValueError(f"@: the batch dimensions of shapes {a} and {b} do not broadcast") from None
    rows = a[-2:-1] if len(a) > 1 else ()
    cols = b[-1:] if len(b) > 1 else ()
    check_shape(batch + rows + cols, dtype)  # MemoryError before allocating


def export_dlpack(arr: np.ndarray, kwargs: dict):
    """``arr.__dlpack__(**kwargs)``; read-only memory goes to an old consumer as a copy.

    DLPack before 1.0 has no read-only flag, so NumPy refuses to export a
    read-only array to a consumer that asks for that version: NumPy < 2.1 (what
    pip installs for Python 3.9), and the native backend's from_dlpack. Such a
    consumer gets a writeable copy of the values instead, so that its writes
    cannot reach memory that its owner made read-only; a DLPack 1.0 consumer
    gets the memory itself, flagged read-only. ``copy=False`` still refuses.
    """
    try:
        return arr.__dlpack__(**kwargs)
    except BufferError:
        if arr.flags.writeable or kwargs.get("copy") is False:
            raise
    return arr.copy().__dlpack__(**kwargs)


# ----------------------------------------------------------------------------
# The Tensor
