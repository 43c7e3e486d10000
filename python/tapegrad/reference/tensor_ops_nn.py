"""The reference Tensor's Tensor-only rows after the first table: activations, maximum,
minimum, var, std, logsumexp and clone.

Rows as in tensor_ops.py (forward on arrays, backward with a namespace ``F``),
in the order of the C++ op table; tensor_ops.OPS appends them. The elementwise
ones come from elementwise_nn.py's rules.
"""
from __future__ import annotations

import math

import numpy as np

from . import elementwise_nn as N
from .tensor_ops import Row, _binary_row, _kept, _unary_row

__all__ = ["OPS"]

# ----------------------------------------------------------------------------
# Elementwise rows, from elementwise_nn.py

Gelu, GeluTanh, Erf, Silu, Softplus, LeakyRelu, Clamp = (_unary_row(op, N.ARRAYS) for op in N.TENSOR_UNARY)
Maximum, Minimum = (_binary_row(op) for op in N.TENSOR_BINARY)


# ----------------------------------------------------------------------------
# var and std: two passes (the mean, then the squares about it), in float64


def _dof(shape: tuple, axes: tuple, correction: float) -> float:
    """n - correction, never below 0 (PyTorch's degrees of freedom)."""
    return max(0.0, math.prod(shape[d] for d in axes) - correction)


def _squeezed(kept: np.ndarray, axes: tuple, keepdims: bool) -> np.ndarray:
    """A keepdim-shaped result with the reduced axes dropped unless ``keepdims``."""
    return kept if keepdims else kept.reshape(tuple(n for i, n in enumerate(kept.shape) if i not in axes))


class Var(Row):
    """Saves (custom): the input and its mean (float64, keepdim-shaped); std also its result."""

    name, saves, python = "var", "custom", "var"
    root = False

    @classmethod
    def forward(cls, a, axes, keepdims, correction):
        x = a.astype(np.float64)
        n = math.prod(a.shape[d] for d in axes)
        mean = x.sum(axis=axes, keepdims=True) / n  # 0/0: nan for no elements (errstate is off)
        d = x - mean
        v = (d * d).sum(axis=axes, keepdims=True) / _dof(a.shape, axes, correction)
        kept = (np.sqrt(v) if cls.root else v).astype(a.dtype)
        return _squeezed(kept, axes, keepdims), (a, mean, kept) if cls.root else (a, mean)

    @classmethod
    def backward(cls, g, s, F):  # d var/da_i = 2 (a_i - mean) / (n - correction); std: var's for g / (2 std)
        axes, shape = s.params["axes"], s.in_shape(0)
        kept, scale = _kept(shape, axes), np.float64(2.0) / _dof(shape, axes, s.params["correction"])  # inf for no dof
        if F.recorded:
            x = s.input(0)
            centered = x - x.mean(dim=axes, keepdim=True)
            gk = F.reshape(g, kept)
            if cls.root:  # 0 where std = 0 (PyTorch's)
                sk = F.reshape(s.output(), kept)
                gk = F.where(F.data(sk) == 0, 0.0, gk / (sk * 2.0))
            return ((gk * scale) * centered,)
        a, mean = s.input(0), s.input(1)
        gk = np.reshape(g, kept).astype(np.float64)
        if cls.root:
            out = s.n._saved[2].astype(np.float64)
            gk = np.where(out == 0, 0.0, gk / (out * 2.0))
        return (((scale * gk) * (a.astype(np.float64) - mean)).astype(a.dtype),)


class Std(Var):
    name, python = "std", "std"
    root = True


# ----------------------------------------------------------------------------
# logsumexp (of the softmax family)


class LogSumExp(Row):
    name, saves, python = "logsumexp", "inputs+output", "logsumexp"

    @staticmethod
    def forward(a, axes, keepdims):
        m = a.max(axis=axes, keepdims=True, initial=-np.inf)  # initial: zero-size axes; a nan wins
        m = np.where(np.isinf(m), a.dtype.type(0), m)  # no inf - inf: a +inf gives +inf, all -inf -inf
        total = np.exp(a - m).sum(axis=axes, keepdims=True, dtype=np.float64)
        kept = (np.log(total) + m).astype(a.dtype)
        return _squeezed(kept, axes, keepdims)

    @staticmethod
    def backward(g, s, F):  # d logsumexp/da_i = e^(a_i - out), the softmax of a
        kept = _kept(s.in_shape(0), s.params["axes"])
        return (F.reshape(g, kept) * F.exp(s.input(0) - F.reshape(s.output(), kept)),)


# ----------------------------------------------------------------------------
# clone


class Clone(Row):
    name, python = "clone", "clone"

    @staticmethod
    def forward(a):
        return a.copy()

    @staticmethod
    def backward(g, s, F):  # the same values: g passes through
        return (g,)


# In the order of the C++ op table
OPS = (Gelu, GeluTanh, Erf, Silu, Softplus, LeakyRelu, Clamp, Maximum, Minimum, Var, Std, LogSumExp, Clone)
