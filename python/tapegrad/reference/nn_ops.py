"""The reference's counterparts of the native ``_core._layer_norm``, ``_conv2d``, ...

tg.nn.functional (tapegrad/_nn_layers_functional.py, shared by both
backends) checks the arguments and calls these as ``backend._layer_norm``
and so on; like the native core they check the shapes again, in the core's
words (cpp/core/ops_norm.cpp, ops_conv.cpp), and record one node of the op
table's kind "nn" (tensor_ops_layers.py).
"""
from __future__ import annotations

import numpy as np

from . import _trace
from . import tensor_ops_layers as rows
from ._tensor_data import to_array
from .tensor import Tensor, apply

__all__ = ["layer_norm", "batch_norm", "dropout", "conv2d", "max_pool2d", "avg_pool2d", "linear"]


def _shape(s) -> str:
    return str(tuple(int(n) for n in s))


def _check_param(fn: str, name: str, p, want: tuple) -> None:
    if p is not None and p.shape != want:
        raise ValueError(f"{fn}: {name} has shape {_shape(p.shape)}, expected {_shape(want)}")


def _affine_parents(x, weight, bias) -> tuple:
    return (x,) + ((weight,) if weight is not None else ()) + ((bias,) if bias is not None else ())


def layer_norm(x, normalized_ndim, weight, bias, eps):
    """x normalized over its last ``normalized_ndim`` dims (op layer_norm)."""
    if not 1 <= normalized_ndim <= x.ndim:
        raise ValueError(f"layer_norm: cannot normalize the last {normalized_ndim} dims of a tensor of shape "
                         f"{_shape(x.shape)}")
    ns = x.shape[x.ndim - normalized_ndim:]
    _check_param("layer_norm", "weight", weight, ns)
    _check_param("layer_norm", "bias", bias, ns)
    return apply(rows.LayerNorm, _affine_parents(x, weight, bias), ndim=int(normalized_ndim), eps=float(eps),
                 has_weight=weight is not None, has_bias=bias is not None)


def batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps):
    """x normalized per channel (dim 1); training updates the running statistics in place (op batch_norm)."""
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dims (N, C, ...), got shape {_shape(x.shape)}")
    cs = (x.shape[1],)
    for name, p in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        _check_param("batch_norm", name, p, cs)
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    count = x.shape[0] * int(np.prod(x.shape[2:], dtype=np.int64))
    if training and count <= 1:
        raise ValueError(f"batch_norm: training needs more than 1 value per channel, got an input of shape "
                         f"{_shape(x.shape)}")
    tr = _trace.current() if training else None
    if tr is not None:  # tg.compile: the values before the update (a constant made in fn keeps them)
        for t in (running_mean, running_var):
            if t is not None:
                tr.before_update(t)
    return apply(rows.BatchNorm, _affine_parents(x, weight, bias), running_mean=running_mean,
                 running_var=running_var, training=bool(training), momentum=float(momentum), eps=float(eps),
                 has_weight=weight is not None, has_bias=bias is not None)


def dropout(x, noise):
    """x * noise (op dropout): noise is 0 where an element is dropped, 1 / (1 - p) elsewhere."""
    noise = noise._data if isinstance(noise, Tensor) else to_array(noise)
    if noise.shape != x.shape:
        raise ValueError(f"dropout: noise of shape {_shape(noise.shape)} for an input of shape {_shape(x.shape)}")
    return apply(rows.Dropout, (x,), noise=noise.astype(x.dtype))


def _geometry(fn: str, x_shape: tuple, kernel, stride, padding) -> None:
    if len(x_shape) != 4:
        raise ValueError(f"{fn}: expected an input of shape (N, C, H, W), got {_shape(x_shape)}")
    if min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"{fn}: stride must be positive and padding non-negative")
    for d in (0, 1):
        if kernel[d] < 1 or x_shape[2 + d] + 2 * padding[d] < kernel[d]:
            raise ValueError(f"{fn}: a kernel of size ({kernel[0]}, {kernel[1]}) does not fit an input of shape "
                             f"{_shape(x_shape)} padded by ({padding[0]}, {padding[1]})")


def conv2d(x, weight, bias, stride, padding):
    """x (N, C, H, W) correlated with weight (O, C, KH, KW), plus bias (op conv2d)."""
    stride, padding = tuple(int(s) for s in stride), tuple(int(p) for p in padding)
    if weight.ndim != 4:
        raise ValueError(f"conv2d: expected a weight of shape (O, C, KH, KW), got {_shape(weight.shape)}")
    _geometry("conv2d", x.shape, weight.shape[2:], stride, padding)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"conv2d: a weight of shape {_shape(weight.shape)} takes {weight.shape[1]} input channels, "
                         f"got an input of shape {_shape(x.shape)}")
    _check_param("conv2d", "bias", bias, weight.shape[:1])
    parents = (x, weight) + ((bias,) if bias is not None else ())
    return apply(rows.Conv2d, parents, stride=stride, padding=padding)


def _pool(row, fn: str, x, kernel_size, stride):
    kernel, stride = tuple(int(k) for k in kernel_size), tuple(int(s) for s in stride)
    if min(kernel) < 1:
        raise ValueError(f"{fn}: kernel_size must be positive")
    _geometry(fn, x.shape, kernel, stride, (0, 0))
    return apply(row, (x,), kernel=kernel, stride=stride)


def max_pool2d(x, kernel_size, stride):
    """The largest value of each window (op max_pool2d)."""
    return _pool(rows.MaxPool2d, "max_pool2d", x, kernel_size, stride)


def avg_pool2d(x, kernel_size, stride):
    """The mean of each window (op avg_pool2d)."""
    return _pool(rows.AvgPool2d, "avg_pool2d", x, kernel_size, stride)


def linear(x, weight, bias):
    """x (..., in) @ weight.T + bias, weight (out, in) (op linear; cpp/core/ops_matmul.cpp's words)."""
    if weight.ndim != 2:
        raise ValueError(f"linear: expected a weight of shape (out_features, in_features), got {_shape(weight.shape)}")
    if x.ndim == 0:
        raise ValueError("linear: expected an input of at least 1 dimension, got shape ()")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: shapes {_shape(x.shape)} (input) and {_shape(weight.shape)} (weight) do not match "
                         f"({x.shape[-1]} != {weight.shape[1]})")
    _check_param("linear", "bias", bias, weight.shape[:1])
    return apply(rows.Linear, (x, weight) + ((bias,) if bias is not None else ()))
