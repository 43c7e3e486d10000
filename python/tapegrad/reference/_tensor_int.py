"""The int64 side of the reference Tensor (Note [Dtypes]), bound onto the class.

``argmax``/``argmin`` (int64 leaves), ``gather`` and the embedding lookup
(``index_ops.py``'s rows, with the native core's checks and words:
cpp/core/indexing.cpp), and the casts ``long``, ``float``, ``double``.
"""
from __future__ import annotations

import numpy as np

from .._integers import INT64, int64_data
from .._shared import named
from . import _compile_hooks as _hooks
from . import index_ops
from . import tensor_ops as ops
from ._shapes import one_dim
from ._tensor_data import backend_name, describe
from .tensor import Tensor, apply

__all__ = ["embedding"]


def _arg(row, self, dim, keepdim):
    axis = None if dim is None else one_dim(dim, self.ndim)
    what = row.name
    if axis is None and self.size == 0:
        raise ValueError(f"{what}() of an empty tensor")
    if axis is not None and self.ndim and self.shape[axis] == 0:
        raise ValueError(f"{what}() over an empty dimension of a tensor of shape {self.shape}")
    if axis is not None and not self.ndim:
        out = Tensor._wrap(np.zeros((), dtype=INT64))
    else:
        out = Tensor._wrap(row.forward(self._data, axis, bool(keepdim)).astype(INT64))
    _hooks.derived(out, lambda x: _arg(row, x, dim, keepdim), self)  # tg.compile replays it
    return out


def argmax(self, dim=None, keepdim=False):
    """The int64 position of the largest value along ``dim`` (None: of the flattened
    tensor); the first among ties, a NaN counting as largest. No gradient."""
    return _arg(index_ops.Argmax, self, dim, keepdim)


def argmin(self, dim=None, keepdim=False):
    """The int64 position of the smallest value along ``dim`` (None: of the flattened
    tensor); the first among ties, a NaN counting as smallest. No gradient."""
    return _arg(index_ops.Argmin, self, dim, keepdim)


def _index(index, what: str, name: str = "index") -> np.ndarray:
    """An int64 index argument's values (a Tensor of this backend), else a TypeError."""
    if not isinstance(index, Tensor):
        got = describe(index) if backend_name(index) else type(index).__name__
        raise TypeError(f"{what}: {name} must be an int64 tensor, got {got}")
    if index.dtype != INT64:
        raise TypeError(f"{what}: {name} must be an int64 tensor, got {index.dtype}")
    return index._data


def gather(self, dim, index):
    """``out[i][j] = self[index[i][j]][j]`` along ``dim`` (PyTorch's gather; int64
    ``index`` of the same number of dims, no larger outside ``dim``); the gradient is
    scattered back, repeated positions adding up."""
    axis = one_dim(dim, self.ndim)
    ix = _index(index, "gather")
    if ix.ndim != self.ndim:
        raise ValueError(f"gather: index of shape {ix.shape} for a tensor of shape {self.shape} "
                         "(they need the same number of dimensions)")
    if any(d != axis and n > m for d, (n, m) in enumerate(zip(ix.shape, self.shape))):
        raise ValueError(f"gather: index of shape {ix.shape} is larger than the tensor's shape {self.shape} "
                         f"outside dim {axis}")
    size = self.shape[axis] if self.ndim else 1
    bad = (ix < 0) | (ix >= size)
    if bad.any():
        raise IndexError(f"gather: index {ix[bad][0]} is out of bounds for dim {axis} with size {size}")
    if not self.ndim:
        out = apply(index_ops.Gather, (self,), key=())
    else:
        key = tuple(ix if d == axis else np.arange(n).reshape((-1,) + (1,) * (ix.ndim - d - 1))
                    for d, n in enumerate(ix.shape))
        out = apply(index_ops.Gather, (self,), key=key)
    _hooks.ids_from_tensor(out, "gather", dim, index)  # tg.compile replays the ids from index
    return out


def embedding(idx, weight) -> Tensor:
    """``weight[idx]``: the rows of an (num_embeddings, embedding_dim) table picked by int64 ids."""
    ix = _index(idx, "embedding", "idx")
    if not isinstance(weight, Tensor):
        raise TypeError(f"embedding: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must have shape (num_embeddings, embedding_dim), got {weight.shape}")
    bad = (ix < 0) | (ix >= weight.shape[0])
    if bad.any():
        raise IndexError(f"embedding: index {ix[bad][0]} is out of range for {weight.shape[0]} embeddings")
    out = apply(index_ops.Embedding, (weight,), key=(ix,))
    _hooks.ids_from_tensor(out, "embedding", 0, idx)  # tg.compile replays the ids from idx
    return out


def long(self):
    """The values as int64, truncated toward zero (a leaf: int64 takes no gradient)."""
    if self.dtype == INT64:
        return self
    out = Tensor._wrap(int64_data(self._data))
    _hooks.derived(out, long, self)  # tg.compile replays it
    return out


def _cast(self, dtype):
    return self if self.dtype == dtype else apply(ops.Cast, (self,), dtype=np.dtype(dtype))


def float(self):  # noqa: A001 - PyTorch's name
    """The values as float32 (itself if float32; an 'astype' node when recorded)."""
    return _cast(self, np.float32)


def double(self):
    """The values as float64 (itself if float64; an 'astype' node when recorded)."""
    return _cast(self, np.float64)


for _fn in (argmax, argmin, gather, long, float, double):
    setattr(Tensor, _fn.__name__, named(_fn, f"Tensor.{_fn.__name__}"))
del _fn
