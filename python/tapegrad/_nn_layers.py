"""The Tensor layers of tg.nn (PyTorch's names, arguments and defaults), written once.

``_nn_impl.build`` binds the classes that make parameters (``_BOUND``) to a
backend through their ``_tg`` class attribute, as it does ``Linear``; the
others only call the functions of ``tg.nn.functional`` or methods of the
tensors that flow through them, so one class serves both backends.

Initial values are PyTorch's distributions, drawn in float64 from the
backend's stream (``tg.manual_seed``) or ``seed=``, then cast: Embedding
N(0, 1); Conv2d weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in));
LayerNorm and BatchNorm weight 1, bias 0.
"""
from __future__ import annotations

import math

import numpy as np

from . import _nn_functional as F
from . import _params
from ._nn_impl import Module

__all__ = ["Embedding", "LayerNorm", "BatchNorm1d", "BatchNorm2d", "Dropout", "Conv2d", "MaxPool2d",
           "AvgPool2d", "Flatten", "Identity", "GELU", "SiLU", "LeakyReLU", "Softplus", "Softmax",
           "LogSoftmax", "CrossEntropyLoss", "MSELoss", "NLLLoss", "BCELoss"]

_BOUND = ("Embedding", "LayerNorm", "BatchNorm1d", "BatchNorm2d", "Conv2d")


def _dtype(dtype) -> np.dtype:
    return np.dtype(np.float32 if dtype is None else dtype)


def _size(v, cls: str, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{cls}: {name} must be an int, got {type(v).__name__}")
    if v < 0:
        raise ValueError(f"{cls}: {name} must be non-negative, got {v}")
    return int(v)


def _pair(v, name: str) -> tuple:
    """An int as (v, v); a pair as a tuple (F.conv2d checks the values)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v), int(v))
    if isinstance(v, (tuple, list)) and len(v) == 2:
        return tuple(v)
    raise ValueError(f"Conv2d: {name} must be an int or a pair of ints, got {v!r}")


class _Made(Module):
    """A module whose parameters are made on the backend ``_tg``."""

    _tg = None

    def _param(self, values, dtype, requires_grad: bool = True):
        return self._tg.tensor(np.asarray(values, dtype=np.float64).astype(dtype), requires_grad=requires_grad)


class Embedding(_Made):
    """A lookup table: ``weight[idx]`` for an int64 tensor ``idx``; weight (num_embeddings,
    embedding_dim) starts N(0, 1), as in PyTorch, with row ``padding_idx`` (if given; negative
    counts from the end) zero and kept out of the gradient. A float ``idx`` of whole numbers
    (what ``tg.tensor`` makes of an integer array without ``dtype=tg.int64``) is taken as int64."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, dtype=None, seed=None):
        self.num_embeddings = _size(num_embeddings, "Embedding", "num_embeddings")
        self.embedding_dim = _size(embedding_dim, "Embedding", "embedding_dim")
        self.padding_idx = None
        if padding_idx is not None:
            self.padding_idx = F._padding_index(padding_idx, self.num_embeddings, "Embedding")
        rng = _params.generator(self._tg, seed)
        w = rng.standard_normal((self.num_embeddings, self.embedding_dim))
        if self.padding_idx is not None:
            w[self.padding_idx] = 0.0
        self.weight = self._param(w, _dtype(dtype))

    def forward(self, input):  # noqa: A002 - PyTorch's name
        return F.embedding(_whole_ids(input, self._tg), self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


def _whole_ids(idx, backend):
    """A float Tensor of whole numbers as int64 (anything else unchanged: embedding checks it)."""
    if not _params.is_tensor(idx) or np.dtype(idx.dtype).kind != "f":
        return idx
    ids = idx.long()  # two native ops (about 4 us) rather than a NumPy round trip (15 us)
    if (ids != idx).sum().item() != 0:
        raise TypeError(f"embedding: idx must be an int64 tensor (or whole numbers), got {np.dtype(idx.dtype)} "
                        "with fractions")
    return ids


class LayerNorm(_Made):
    """``F.layer_norm`` over the trailing ``normalized_shape`` dims, with a learned weight (1)
    and bias (0) of that shape unless ``elementwise_affine=False`` (``bias=False``: no bias)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype=None):
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
        self.normalized_shape = tuple(_size(n, "LayerNorm", "normalized_shape") for n in shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = self.bias = None
        if self.elementwise_affine:
            self.weight = self._param(np.ones(self.normalized_shape), _dtype(dtype))
            if bias:
                self.bias = self._param(np.zeros(self.normalized_shape), _dtype(dtype))

    def forward(self, input):  # noqa: A002
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class _BatchNorm(_Made):
    """``F.batch_norm`` per channel (dim 1). In training (``train()``) it normalizes by the
    batch's statistics and moves the running ones toward them by ``momentum`` (None: the
    cumulative average); in ``eval()`` it uses the running statistics."""

    _dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=None, *, bias: bool = True):
        name = type(self).__name__
        self.num_features = _size(num_features, name, "num_features")
        self.eps, self.momentum = float(eps), None if momentum is None else float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = _dtype(dtype)
        self.weight = self.bias = None
        if self.affine:
            self.weight = self._param(np.ones(self.num_features), dtype)
            self.bias = self._param(np.zeros(self.num_features), dtype) if bias else None
        self._has_bias = bool(bias)
        if self.track_running_stats:
            self.register_buffer("running_mean", self._param(np.zeros(self.num_features), dtype, False))
            self.register_buffer("running_var", self._param(np.ones(self.num_features), dtype, False))
            self.register_buffer("num_batches_tracked", self._tg.tensor(np.array(0, dtype=np.int64),
                                                                        dtype=self._tg.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, input):  # noqa: A002
        ndim = len(input.shape)
        if ndim not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"{type(self).__name__}: expected {want} input (got {ndim}D input)")
        momentum, track = self._setting("momentum"), self._setting("track_running_stats")
        if self.training and track:
            # a tensor op and a store, which a compiled function's replay repeats (Note [Compile])
            self.num_batches_tracked.data = self.num_batches_tracked + 1
            if momentum is None:  # the cumulative average (a compiled replay guards the count)
                momentum = 1.0 / int(self.num_batches_tracked.item())
        use_batch = self.training or not track
        return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch, momentum=0.0 if momentum is None else momentum,
                            eps=self._setting("eps"))

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self._has_bias}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    __doc__ = _BatchNorm.__doc__ + " Input (N, C) or (N, C, L)."
    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    __doc__ = _BatchNorm.__doc__ + " Input (N, C, H, W)."
    _dims = (4,)


class Conv2d(_Made):
    """``F.conv2d`` with a learned weight (out_channels, in_channels, kH, kW) and bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, bias: bool = True,
                 dtype=None, seed=None):
        self.in_channels = _size(in_channels, "Conv2d", "in_channels")
        self.out_channels = _size(out_channels, "Conv2d", "out_channels")
        k = (kernel_size, kernel_size) if isinstance(kernel_size, (int, np.integer)) else tuple(kernel_size)
        if len(k) != 2:
            raise ValueError(f"Conv2d: kernel_size must be an int or a pair of ints, got {kernel_size!r}")
        self.kernel_size = tuple(_size(n, "Conv2d", "kernel_size") for n in k)
        self.stride, self.padding = _pair(stride, "stride"), _pair(padding, "padding")
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
        rng = _params.generator(self._tg, seed)
        dtype = _dtype(dtype)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.weight = self._param(rng.uniform(-bound, bound, size=shape), dtype)
        self.bias = self._param(rng.uniform(-bound, bound, size=self.out_channels), dtype) if bias else None

    def forward(self, input):  # noqa: A002
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
                + (f", padding={self.padding}" if self.padding != (0, 0) else "")
                + ("" if self.bias is not None else ", bias=False"))


class Dropout(Module):
    """``F.dropout(x, p, training=self.training)``: identity in ``eval()``."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = float(p)

    def forward(self, input):  # noqa: A002
        return F.dropout(input, self._setting("p"), self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MaxPool2d(Module):
    """``F.max_pool2d(x, kernel_size, stride)`` (stride: kernel_size by default)."""

    def __init__(self, kernel_size, stride=None):
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, input):  # noqa: A002
        return F.max_pool2d(input, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride if self.stride is not None else self.kernel_size}"


class AvgPool2d(MaxPool2d):
    """``F.avg_pool2d(x, kernel_size, stride)`` (stride: kernel_size by default)."""

    def forward(self, input):  # noqa: A002
        return F.avg_pool2d(input, self.kernel_size, self.stride)


class Flatten(Module):
    """``x.flatten(start_dim, end_dim)``; by default keeps the batch dim."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input."""

    def forward(self, input):  # noqa: A002
        return input


class GELU(Module):
    """``F.gelu(x, approximate)``: ``"none"`` (the erf form) or ``"tanh"``."""

    def __init__(self, approximate: str = "none"):
        self.approximate = approximate

    def forward(self, input):  # noqa: A002
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``F.silu(x) = x sigmoid(x)``."""

    def forward(self, input):  # noqa: A002
        return F.silu(input)


class LeakyReLU(Module):
    """``F.leaky_relu(x, negative_slope)``."""

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, input):  # noqa: A002
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softplus(Module):
    """``F.softplus(x, beta, threshold)``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, input):  # noqa: A002
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """``F.softmax(x, dim)``."""

    def __init__(self, dim=None):
        self.dim = dim

    def forward(self, input):  # noqa: A002
        return F.softmax(input, -1 if self.dim is None else self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """``F.log_softmax(x, dim)``."""

    def forward(self, input):  # noqa: A002
        return F.log_softmax(input, -1 if self.dim is None else self.dim)


class _Loss(Module):
    """A loss module: ``reduction`` ("mean", "sum" or "none") checked when made, as the function checks it."""

    _fn = "loss"

    def __init__(self, *, reduction="mean"):
        from ._nn_losses import _reduction

        self.reduction = _reduction(reduction, self._fn)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """``F.cross_entropy(input, target, ignore_index=, reduction=, label_smoothing=)``."""

    _fn = "cross_entropy"

    def __init__(self, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        from ._nn_losses import _ignore_index, _label_smoothing

        super().__init__(reduction=reduction)
        self.ignore_index = _ignore_index(ignore_index, self._fn)
        self.label_smoothing = _label_smoothing(label_smoothing)

    def forward(self, input, target):  # noqa: A002
        return F.cross_entropy(input, target, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class MSELoss(_Loss):
    """``F.mse_loss(input, target, reduction=)``: the squared differences, reduced."""

    _fn = "mse_loss"

    def forward(self, input, target):  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """``F.nll_loss(input, target, ignore_index=, reduction=)``: ``-input[i, target[i]]``, reduced."""

    _fn = "nll_loss"

    def __init__(self, *, ignore_index=-100, reduction="mean"):
        from ._nn_losses import _ignore_index

        super().__init__(reduction=reduction)
        self.ignore_index = _ignore_index(ignore_index, self._fn)

    def forward(self, input, target):  # noqa: A002
        return F.nll_loss(input, target, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(_Loss):
    """``F.binary_cross_entropy(input, target, reduction=)`` for probabilities ``input``."""

    _fn = "binary_cross_entropy"

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy(input, target, reduction=self.reduction)
