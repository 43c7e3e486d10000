"""Tensor functions of several inputs: joining, selecting, maximum and minimum, losses."""
from __future__ import annotations

import numpy as np

from . import _compile_hooks as _hooks
from ._tensor_data import backend_name, check_shape, describe, is_number, number_array, promote
from .tensor import Tensor, apply, broadcast, expand
from . import tensor_ops as ops
from ._shapes import broadcast_shape, one_dim

__all__ = ["concatenate", "stack", "where", "maximum", "minimum", "cross_entropy", "mse_loss"]


def _as_tensor(x, dtype=None, what: str = "argument") -> Tensor:
    """A Tensor from a Tensor, number or array; numbers take ``dtype`` (Note [Dtypes])."""
    if isinstance(x, Tensor):
        return x
    if backend_name(x) is not None:
        raise TypeError(f"{what}: cannot combine {describe(x)} with tapegrad.reference Tensors")
    if _hooks.is_traced(x):  # a tracked number of tg.compile: the tape fills the leaf from it
        return _hooks.traced_scalar(x, dtype or np.float32)
    if is_number(x):
        return Tensor._wrap(number_array(x, np.dtype(dtype or np.float32)))
    return Tensor(x)


def _tensors(tensors, what: str) -> tuple:
    if isinstance(tensors, Tensor) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"{what}() takes a sequence of tensors, got {type(tensors).__name__}")
    ts = tuple(_as_tensor(t, what=what) for t in tensors)
    if not ts:
        raise ValueError(f"{what}() needs at least one tensor")
    return ts


def concatenate(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """Join tensors along an existing dimension; each gets its slice of the gradient back."""
    ts = _tensors(tensors, "concatenate")
    first = ts[0]
    d = one_dim(dim if axis is None else axis, first.ndim)
    if first.ndim == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated")
    for t in ts[1:]:
        if t.ndim != first.ndim or any(
            i != d and m != n for i, (m, n) in enumerate(zip(t.shape, first.shape))
        ):
            raise ValueError(
                f"concatenate: shapes {first.shape} and {t.shape} differ outside dim {d}"
            )
    return apply(ops.Concatenate, ts, axis=d)


def stack(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """Join equally shaped tensors along a new dimension."""
    ts = _tensors(tensors, "stack")
    d = one_dim(dim if axis is None else axis, ts[0].ndim + 1)
    for t in ts[1:]:
        if t.shape != ts[0].shape:
            raise ValueError(f"stack: shapes {ts[0].shape} and {t.shape} differ")
    return apply(ops.Stack, ts, axis=d)


def where(cond, a, b) -> Tensor:
    """``a`` where ``cond`` is nonzero, else ``b`` (broadcasting all three)."""
    tensors = [x for x in (a, b) if isinstance(x, Tensor)]
    dtype = promote(*(t.dtype for t in tensors)) if tensors else np.float32
    cond = _as_tensor(cond, what="where")
    a = _as_tensor(a, dtype, what="where")
    b = _as_tensor(b, dtype, what="where")
    shape = broadcast_shape(cond.shape, a.shape, b.shape, op="where")
    check_shape(shape, dtype)
    return apply(ops.Where, (cond, expand(a, shape), expand(b, shape)))


def _extremum(name: str, x, y) -> Tensor:
    tensors = [t for t in (x, y) if isinstance(t, Tensor)]
    dtype = np.result_type(*(t.dtype for t in tensors)) if tensors else np.float32
    a, b = _as_tensor(x, dtype, what=name), _as_tensor(y, dtype, what=name)
    return apply(ops.row_named(name), broadcast(name, a, b))


def maximum(input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    """The larger of ``input`` and ``other``, elementwise (broadcasting). nan wins; at a tie
    each operand gets half the gradient (PyTorch's)."""
    return _extremum("maximum", input, other)


def minimum(input, other) -> Tensor:  # noqa: A002
    """The smaller of ``input`` and ``other``, elementwise (broadcasting). nan wins; at a tie
    each operand gets half the gradient (PyTorch's)."""
    return _extremum("minimum", input, other)


def _class_ids(labels) -> np.ndarray:
    """The labels as integer class ids (their shape and range are checked with the logits)."""
    if isinstance(labels, Tensor):  # tg.compile replays the ids from it (cross_entropy below)
        labels = labels._data
    elif backend_name(labels) is not None:
        raise TypeError(f"cross_entropy: labels must be a NumPy array or Tensor, got {describe(labels)}")
    arr = np.asarray(labels)
    if arr.dtype.kind == "f":
        if not np.all(arr == np.round(arr)):
            raise TypeError("cross_entropy: labels must be integer class ids")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integer class ids, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def cross_entropy(logits, labels) -> Tensor:
    """Mean over the batch of -log softmax(logits)[label], fused and stable.

    ``logits`` has shape (N, C); ``labels`` holds N integer class ids. The
    checks come in the native core's order: the arguments' types, then the
    logits' shape, the labels' shape and each label's range.
    """
    logits = _as_tensor(logits, what="cross_entropy")
    ids = _class_ids(labels)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    n, classes = logits.shape
    if ids.shape != (n,):
        raise ValueError(f"cross_entropy: labels of shape {ids.shape} for logits of batch size {n}")
    bad = (ids < 0) | (ids >= classes)
    if bad.any():
        raise IndexError(f"cross_entropy: label {ids[bad][0]} is out of range for {classes} classes")
    out = apply(ops.CrossEntropy, (logits,), labels=ids.astype(np.intp))
    if isinstance(labels, Tensor) and _hooks.tracing():
        _hooks.ids_from(out, "labels", labels)
    return out


def mse_loss(pred, target) -> Tensor:
    """Mean of (pred - target)^2 over all elements (shapes broadcast)."""
    pred = _as_tensor(pred, what="mse_loss")
    target = _as_tensor(target, pred.dtype, what="mse_loss")
    return apply(ops.MseLoss, broadcast("mse_loss", pred, target))
