"""Tensor data: the three dtypes (Note [Dtypes]), conversion, size checks, backends.

Everything a Tensor checks about its input before any array is allocated,
and the dtype rules of int64 operands.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._integers import INT64, int64_data, int64_number, integral
from .._shared import check_shape, shape_args, tensor_dtype, warn_inexact_integers
from ._shapes import broadcast_shape

__all__ = ["tensor_dtype", "to_array", "grad_data", "check_shape", "shape_args", "backend_name", "describe",
           "is_number", "check_matmul", "export_dlpack", "promote", "same_dtype", "number_array", "int_operands"]

_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)

# ----------------------------------------------------------------------------
# int64 operands (Note [Dtypes]): PyTorch's promotion, not NumPy's (which makes
# int64 with float32 float64)

# The rows whose forward keeps int64 when every operand is int64 (the native
# core's int64 kernels); every other row computes in float32.
_KEEPS_INT = {"+", "-", "*", "neg", "abs", "relu", "clone", "<", "<=", ">", ">=", "==", "!=", "sum", "max", "min",
              "reshape", "transpose", "permute", "expand", "astype", "getitem", "getitem_backward", "gather",
              "embedding", "concatenate", "stack", "where"}


def promote(*dtypes) -> np.dtype:
    """int64 with a float gives that float; float32 with float64 gives float64."""
    floats = {np.dtype(d) for d in dtypes} - {INT64}
    if not floats:
        return INT64
    return _FLOAT64 if _FLOAT64 in floats else _FLOAT32


def same_dtype(*arrays) -> tuple:
    """The arrays in their promoted dtype (int64 or float32 converted; float64 is exact for both)."""
    dt = promote(*(a.dtype for a in arrays))
    return tuple(a if a.dtype == dt else a.astype(dt) for a in arrays)


def number_array(x, dtype) -> np.ndarray:
    """A Python number next to a tensor of ``dtype``: in that dtype, but a non-integral
    number next to int64 is float32 (and an int beyond int64 an OverflowError)."""
    if dtype == INT64:
        if integral(x):
            return np.asarray(int64_number(x), dtype=INT64)
        dtype = _FLOAT32
    with np.errstate(over="ignore"):  # float32 + 1e300 is float32 + inf (IEEE), as the native backend
        return np.asarray(x, dtype=dtype)


def int_operands(row, arrays: tuple) -> tuple:
    """A row's operand arrays with int64 ones converted where the row computes in floating
    point (where's condition stays as it is)."""
    first = 1 if row.name == "where" else 0
    data = arrays[first:]
    dt = promote(*(a.dtype for a in data))
    if dt == INT64 and row.name not in _KEEPS_INT:
        dt = _FLOAT32
    return arrays[:first] + tuple(a.astype(dt) if a.dtype == INT64 and dt != INT64 else a for a in data)


# ----------------------------------------------------------------------------
# Data conversion (Note [Dtypes]) and size checks


def to_array(data, dtype=None, copy: bool = True) -> np.ndarray:
    """``data`` (numbers, nested lists, arrays) as a float32/float64/int64 ndarray.

    Input that carries its own float64 dtype (an ndarray, a NumPy scalar)
    keeps it, as does an int64 Tensor; everything else (Python floats, ints,
    bools) becomes float32, unless ``dtype`` says otherwise.
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
        dt = tensor_dtype(dtype)
    elif arr.dtype.kind == "f" and arr.dtype.itemsize == 8 and hasattr(data, "dtype"):  # any byte order
        dt = _FLOAT64
    elif arr.dtype == INT64 and backend_name(data) == "tapegrad.reference":  # an int64 Tensor stays int64
        dt = INT64
    else:
        dt = _FLOAT32
    if dt == INT64:
        return int64_data(arr)  # always a copy
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
