"""Subscripts: NumPy's indexing, checked first with the native core's words.

``index_key(key, shape)`` turns ``x[key]`` into a key NumPy applies (Tensor
and list indices become integer arrays, never masks; NumPy bool arrays stay
masks) after checking it in the order the native backend does
(cpp/bindings/tensor_convert.cpp parses, cpp/core/indexing.cpp lays out), so
that a bad subscript raises the same error on both backends, whatever NumPy's
own wording.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._tensor_data import backend_name, describe

__all__ = ["index_key"]

_INT64 = (-(2**63), 2**63 - 1)


def _int(k) -> int:
    # beyond int64 an index is out of range anyway; the native parser clamps it the same way
    return min(max(int(k), _INT64[0]), _INT64[1])


def _int_array(arr: np.ndarray) -> np.ndarray:
    """An index array as integers: float arrays (every Tensor) must hold integers."""
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise IndexError("tensor indices must hold integers")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise IndexError(f"arrays used as indices must be of integer (or boolean) type, got {arr.dtype}")
    return arr.astype(np.int64)


def _parse(k, tensor_type):
    """One item of a subscript: (kind, value, dims it consumes)."""
    if k is None:
        return "newaxis", None, 0
    if k is Ellipsis:
        return "ellipsis", k, 0
    if isinstance(k, slice):
        for v in (k.start, k.stop, k.step):
            if v is not None and not isinstance(v, numbers.Integral):
                raise TypeError(f"slice indices must be integers or None, got {type(v).__name__}")
        return "slice", slice(*(None if v is None else _int(v) for v in (k.start, k.stop, k.step))), 1
    if isinstance(k, numbers.Integral) and not isinstance(k, bool):
        return "int", _int(k), 1
    if isinstance(k, (tensor_type, list, np.ndarray, bool)):
        if isinstance(k, tensor_type):
            return "array", _int_array(k._data), 1
        arr = np.asarray(k)
        if arr.dtype.kind == "b":
            return "mask", arr, arr.ndim
        return "array", _int_array(arr), 1
    if backend_name(k) is not None:
        raise TypeError(f"cannot index a tapegrad.reference Tensor with {describe(k)}")
    raise IndexError(
        "only integers, slices (`:`), ellipsis (`...`), None and integer arrays are valid indices, "
        f"got {type(k).__name__}"
    )


def _check_range(i: int, size: int, axis: int) -> None:
    if not -size <= i < size:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")


def index_key(key, shape: tuple, tensor_type) -> tuple:
    """``key`` checked against ``shape`` and made ready for NumPy (see the module docstring)."""
    items = [_parse(k, tensor_type) for k in (key if isinstance(key, tuple) else (key,))]
    ndim = len(shape)
    if sum(kind == "ellipsis" for kind, _, _ in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(n for _, _, n in items)
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor: tensor is {ndim}-dimensional, but {consumed} were indexed")
    arrays = []  # (axis, integer array) of each advanced index, masks as their nonzero indices
    axis = 0
    for kind, value, n in items:
        if kind == "ellipsis":
            axis += ndim - consumed
        elif kind == "int":
            _check_range(value, shape[axis], axis)
        elif kind == "slice" and value.step == 0:
            raise ValueError("slice step cannot be zero")
        elif kind == "mask":
            for j, size in enumerate(value.shape):
                if size != shape[axis + j]:
                    raise IndexError(
                        f"boolean index did not match indexed array along axis {axis + j}; size of axis is "
                        f"{shape[axis + j]} but size of corresponding boolean axis is {size}"
                    )
            arrays += [(axis + j, ids) for j, ids in enumerate(np.nonzero(value))]
        elif kind == "array":
            arrays.append((axis, value))
        axis += n
    broadcast = ()
    for _, arr in arrays:
        try:
            broadcast = np.broadcast_shapes(broadcast, arr.shape)
        except ValueError:
            raise IndexError(
                "shape mismatch: indexing arrays could not be broadcast together with shapes "
                f"{broadcast} {arr.shape}"
            ) from None
    for at, arr in arrays:  # in the order the native core reads them: each array over the broadcast shape
        values = np.broadcast_to(arr, broadcast).ravel()
        bad = (values < -shape[at]) | (values >= shape[at])
        if bad.any():
            _check_range(int(values[bad][0]), shape[at], at)
    return tuple(value for _, value, _ in items)
