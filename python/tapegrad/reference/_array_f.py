"""``ARRAY_F``: the namespace a row's backward computes in during the fused sweep.

The rules of tensor_ops.py are written against a namespace ``F``; here its
functions are NumPy's, on the arrays the forward saved, so the sweep computes
gradients as plain arrays (``TENSOR_F`` in _tensor_autograd.py is the same
namespace made of Tensor ops, for the recorded sweep).
"""
from __future__ import annotations

import numpy as np

from .elementwise_nn import ARRAYS as _ARRAYS
from ._shapes import sum_to
from .tensor_ops import GetItemBackward, Softmax

__all__ = ["ARRAY_F"]


class ARRAY_F:
    recorded = False
    math = _ARRAYS  # elementwise.py's, with erf and a threshold mask (elementwise_nn.py)

    @staticmethod
    def to_tensor(x):
        from .tensor import Tensor

        return Tensor._wrap(np.asarray(x))

    @staticmethod
    def from_tensor(t):
        return t._data
    reshape = staticmethod(np.reshape)
    broadcast_to = staticmethod(np.broadcast_to)
    transpose = staticmethod(np.transpose)
    swapaxes = staticmethod(np.swapaxes)
    matmul = staticmethod(np.matmul)
    exp = staticmethod(np.exp)
    sum_to = staticmethod(sum_to)

    @staticmethod
    def data(x):
        return x

    @staticmethod
    def constant(a):
        return a

    @staticmethod
    def astype(x, dtype):
        return x.astype(dtype)

    @staticmethod
    def sum_keepdims(x, axis):
        return x.sum(axis=axis, keepdims=True)

    @staticmethod
    def where(mask, x, y):
        dtype = x.dtype if hasattr(x, "dtype") else y.dtype  # one is the constant 0.0
        return np.where(mask, x, y).astype(dtype, copy=False)

    @staticmethod
    def scatter(g, shape, key):
        return GetItemBackward.forward(g, shape, key)

    @staticmethod
    def gather(g, key):
        return g[key]

    @staticmethod
    def slice(g, axis, start, stop):
        index = [slice(None)] * g.ndim
        index[axis] = slice(start, stop)
        return g[tuple(index)]

    @staticmethod
    def select(g, axis, i):
        return np.take(g, i, axis=axis)

    @staticmethod
    def softmax(x, axis):
        return Softmax.forward(x, axis)
