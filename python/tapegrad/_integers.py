"""int64 pieces both backends share (Note [Dtypes], Note [Random numbers]).

Data converted to int64 (checked: a NaN or an out-of-range number is an
error, not whatever the C cast makes of it), the dtype rule of ``arange``,
and the draws of ``randint`` and ``multinomial``. The draws come from the
backend's stream (NumPy's ``default_rng``), so both backends give the same
numbers for the same seed; each backend wraps them in its own Tensor.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["INT64", "NOT_INT64", "INT_GRAD", "INT_NO_GRAD", "int64_data", "check_grad_dtype", "float_only", "integral",
           "arange_dtype", "int_arange", "randint_values", "probs_array", "multinomial_values"]

INT64 = np.dtype(np.int64)
_LIMITS = (-(2**63), 2**63 - 1)

# The words of the native core too (cpp/core/array.cpp, ops_elementwise.cpp).
NOT_INT64 = "cannot convert NaN, infinity or a number beyond the int64 range to int64"
INT_GRAD = "int64 tensors cannot require grad (only float32 and float64 tensors can)"
INT_NO_GRAD = "int64 tensors cannot have a .grad (only float32 and float64 tensors can)"
TOO_LARGE = "Python int too large to convert to int64"


def int64_data(arr: np.ndarray) -> np.ndarray:
    """Real-number data as a C-contiguous int64 array: floats truncated toward zero (as
    NumPy's and PyTorch's casts), bools as 0/1; NaN, infinity or a value beyond int64
    is a ValueError."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(arr) & (arr >= -(2.0**63)) & (arr < 2.0**63)
        if not ok.all():
            raise ValueError(NOT_INT64)
    elif arr.dtype.kind == "u" and arr.size and arr.max() > _LIMITS[1]:
        raise ValueError(NOT_INT64)
    return arr.astype(INT64, order="C")


def check_grad_dtype(dtype, requires_grad: bool) -> None:
    """int64 tensors never require grad (a TypeError, in the words of the native core)."""
    if requires_grad and np.dtype(dtype) == INT64:
        raise TypeError(INT_GRAD)


def float_only(dtype, what: str):
    """``dtype`` of a function that makes floating-point values (randn): int64 is a TypeError."""
    if np.dtype(dtype) == INT64:
        raise TypeError(f"{what}() makes float32 or float64 tensors, not int64")
    return dtype


def integral(x) -> bool:
    """An int, a bool or a NumPy integer or bool: a number an int64 tensor stays int64 with."""
    return isinstance(x, (numbers.Integral, np.bool_))


def int64_number(x) -> int:
    """An integral number as an int that int64 holds (OverflowError beyond it)."""
    v = int(x)
    if not _LIMITS[0] <= v <= _LIMITS[1]:
        raise OverflowError(TOO_LARGE)
    return v


def arange_dtype(start, stop, step, dtype, tensor_dtype):
    """The dtype of ``arange(start, stop, step, dtype=dtype)``: PyTorch's rule, int64 when
    every bound is an int, else float32; ``dtype`` (checked by ``tensor_dtype``) wins."""
    if dtype is not None:
        return tensor_dtype(dtype)
    bounds = [v for v in (start, stop, step) if v is not None]
    if all(isinstance(v, (int, np.integer)) for v in bounds):
        for v in bounds:
            int64_number(v)
        return INT64
    return np.dtype(np.float32)


def int_arange(start, stop, step, check_shape) -> np.ndarray:
    """``arange`` in int64, as PyTorch's ``arange(..., dtype=int64)``: float arguments are
    truncated toward zero first (``arange(0.5, 7, 2.25)`` is 0, 2, 4, 6)."""
    if not all(isinstance(v, (int, np.integer)) for v in (start, stop, step)):
        start, stop, step = (int(v) for v in int64_data(np.array([start, stop, step], dtype=np.float64)))
        if step == 0:
            raise ValueError("arange() step must not be zero")
    check_shape((max(-(-(stop - start) // step), 0),), INT64)  # ceil, in exact integers
    return np.arange(start, stop, step, dtype=np.int64)


def _bound(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"randint() takes int bounds, got {what}={type(v).__name__}")
    return int(v)


def randint_values(rng_of, low, high, size, seed, check_shape) -> np.ndarray:
    """``randint(low, high, size)`` or ``randint(high, size)``: int64 draws in [low, high)
    from ``rng_of(seed)``, every argument checked before the stream moves."""
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high  # randint(high, size), as PyTorch
    if high is None or size is None:
        raise TypeError("randint() needs a high bound and a size: randint(low, high, size) or randint(high, size)")
    low, high = _bound(low, "low"), _bound(high, "high")
    if low >= high:
        raise ValueError(f"randint(): low ({low}) must be less than high ({high})")
    if low < _LIMITS[0] or high > _LIMITS[1] + 1:
        raise OverflowError(TOO_LARGE)
    shape = check_shape(size if isinstance(size, (tuple, list)) else (size,), INT64)
    return rng_of(seed).integers(low, high, size=shape, dtype=np.int64)


def probs_array(probs, tensor_type, me: str) -> np.ndarray:
    """multinomial's ``probs``: a float Tensor of this backend (``me``), as an ndarray."""
    if not isinstance(probs, tensor_type):
        module = type(probs).__module__ or ""
        other = "tapegrad.reference" if module.startswith("tapegrad.reference") else "tapegrad (native)"
        got = f"a {other} Tensor" if type(probs).__name__ == "Tensor" and module.startswith("tapegrad") \
            else type(probs).__name__
        raise TypeError(f"multinomial: probs must be a {me} Tensor, got {got}")
    if probs.dtype == INT64:
        raise TypeError("multinomial: probs must be a float tensor, got int64")
    return probs.numpy()


def multinomial_values(probs: np.ndarray, num_samples, replacement, rng) -> np.ndarray:
    """``num_samples`` category ids per row of ``probs`` (1-D or 2-D, weights >= 0), drawn
    with or without replacement; int64 of shape (num_samples,) or (rows, num_samples).

    With replacement each id is the inverse of the row's cumulative distribution at a
    uniform draw; without, the ids of the ``num_samples`` smallest of E_i / p_i for
    exponential draws E_i (the exponential race: that is drawing one id after another
    in proportion to the weights left), so ids of weight 0 are never drawn.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"multinomial: num_samples must be an int, got {type(num_samples).__name__}")
    if probs.ndim not in (1, 2):
        raise ValueError(f"multinomial: probs must be 1-D or 2-D, got shape {probs.shape}")
    if num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    p = np.atleast_2d(probs).astype(np.float64)
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("multinomial: probs must hold finite, non-negative weights")
    if np.any(p.sum(axis=1) <= 0):
        raise ValueError("multinomial: every row of probs needs a positive sum")
    if p.shape[0] == 0:
        return np.zeros((0, int(num_samples)), dtype=np.int64)
    replacement = bool(replacement)
    if not replacement and num_samples > int((p > 0).sum(axis=1).min()):
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from {int((p > 0).sum(axis=1).min())} categories of nonzero weight")
    if replacement:
        cdf = np.cumsum(p, axis=1)
        cdf /= cdf[:, -1:]
        u = rng.random((p.shape[0], int(num_samples)))
        out = np.stack([np.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
    else:
        with np.errstate(divide="ignore"):
            keys = rng.standard_exponential(p.shape) / p
        out = np.argsort(keys, axis=1, kind="stable")[:, : int(num_samples)]
    out = out.astype(np.int64)
    return out[0] if probs.ndim == 1 else out
