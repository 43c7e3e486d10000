"""tg.nn.functional's layers, written once for both backends: linear, layer_norm,
batch_norm, dropout, conv2d, max_pool2d, avg_pool2d (PyTorch's names,
arguments and defaults; NCHW images).

Each function checks its arguments here, in the words both backends share
(Note [Errors]), then calls its backend's kernel: ``tapegrad._core._conv2d``
(native, C++) or ``tapegrad.reference.nn_ops.conv2d`` (NumPy), which records
one node of the op table (kind "nn", op strings ``layer_norm``, ``conv2d``
...). Dropout's mask is drawn here from the backend's random stream
(``tg.manual_seed``, Note [Random numbers]), so both backends drop the same
elements; while tg.compile traces, the tracer learns how to draw it again.
"""
import numbers as _numbers

import numpy as _np

from . import _params
from ._compile_numbers import state as _compile_state

__all__ = ["linear", "layer_norm", "batch_norm", "dropout", "conv2d", "max_pool2d", "avg_pool2d"]

_BACKENDS: dict = {}  # Tensor class -> its backend module (these run once per layer per step)


def _describe(obj) -> str:
    module, name = type(obj).__module__ or "", type(obj).__name__
    if module.startswith("tapegrad.reference"):
        return f"a tapegrad.reference {name}"
    if module == "tapegrad" or module.startswith("tapegrad."):
        return f"a tapegrad (native) {name}"
    return f"a {name}"


def _backend(x, fn: str, name: str = "x"):
    """The backend of the input tensor ``x``: TypeError unless x is a float Tensor."""
    backend = _BACKENDS.get(type(x))
    if backend is None:
        if not _params.is_tensor(x):
            raise TypeError(f"{fn}: {name} must be a Tensor, got {type(x).__name__}")
        backend = _BACKENDS[type(x)] = _params.backend_of(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a float tensor, got {x.dtype}")
    return backend


def _tensor_arg(t, backend, x, fn: str, name: str, optional: bool = True):
    """``t`` as a Tensor argument of ``backend``'s (None where optional)."""
    if t is None and optional:
        return None
    if not isinstance(t, backend.Tensor):
        if _params.is_tensor(t):
            raise TypeError(f"{fn}: cannot combine {_describe(x)} with {_describe(t)}")
        kind = "None or a Tensor" if optional else "a Tensor"
        raise TypeError(f"{fn}: {name} must be {kind}, got {type(t).__name__}")
    if t.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a float tensor, got {t.dtype}")
    return t


def _int(v, fn: str, name: str, kinds: str = "an int or a pair of ints") -> int:
    if isinstance(v, bool) or not isinstance(v, _numbers.Integral):
        raise TypeError(f"{fn}: {name} must be {kinds}, got {v!r}")
    return int(v)


def _pair(v, fn: str, name: str) -> tuple:
    """An int as (v, v), or a pair of ints."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {v!r}")
        return _int(v[0], fn, name), _int(v[1], fn, name)
    n = _int(v, fn, name)
    return n, n


def _real(v, fn: str, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, _numbers.Real):
        raise TypeError(f"{fn}: {name} must be a number, got {type(v).__name__}")
    return float(v)


def _images(x, fn: str, what: str = "x"):
    """x as a batch (N, C, H, W): an unbatched (C, H, W) input gets N = 1; then unbatch."""
    if x.ndim == 3:
        return x.reshape((1,) + tuple(x.shape)), lambda y: y.reshape(tuple(y.shape[1:]))
    if x.ndim != 4:
        raise ValueError(f"{fn}: expected {what} of shape (N, C, H, W) or (C, H, W), got {tuple(x.shape)}")
    return x, lambda y: y


# ----------------------------------------------------------------------------
# Linear


def linear(input, weight, bias=None):  # noqa: A002 - PyTorch's names
    """``input @ weight.T + bias`` over the last dim: input (..., in_features), weight
    (out_features, in_features), bias (out_features,) or None. One op, ``linear``: one
    matrix product over the input's rows, written into the bias."""
    backend = _backend(input, "linear", "input")
    weight = _tensor_arg(weight, backend, input, "linear", "weight", optional=False)
    if bias is not None:
        bias = _tensor_arg(bias, backend, input, "linear", "bias")
    return backend._linear(input, weight, bias)


# ----------------------------------------------------------------------------
# Normalization and dropout


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the last dims (``normalized_shape``, an int or a tuple): mean 0, variance 1
    (biased), then ``* weight + bias`` where given (both of shape ``normalized_shape``)."""
    backend = _backend(x, "layer_norm")
    sizes = normalized_shape if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
    shape = tuple(_int(n, "layer_norm", "normalized_shape", "an int or a tuple of ints") for n in sizes)
    if not shape or len(shape) > x.ndim or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the last dims of an input of shape "
                         f"{tuple(x.shape)}")
    weight = _tensor_arg(weight, backend, x, "layer_norm", "weight")
    bias = _tensor_arg(bias, backend, x, "layer_norm", "bias")
    return backend._layer_norm(x, len(shape), weight, bias, _real(eps, "layer_norm", "eps"))


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalize each channel (dim 1) over the batch and the other dims, then ``* weight + bias``.

    ``training``: by the batch's statistics (variance biased), and the
    running statistics (when given) are updated in place, as PyTorch does:
    ``running = (1 - momentum) * running + momentum * batch``, with the
    batch variance unbiased. Otherwise by ``running_mean`` and ``running_var``.
    """
    backend = _backend(x, "batch_norm")
    args = [_tensor_arg(t, backend, x, "batch_norm", name) for t, name in
            ((running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"), (bias, "bias"))]
    momentum, eps = _real(momentum, "batch_norm", "momentum"), _real(eps, "batch_norm", "eps")
    return backend._batch_norm(x, *args, bool(training), momentum, eps)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (training);
    ``x`` itself when not training or ``p == 0``. The mask comes from the backend's random stream."""
    backend = _backend(x, "dropout")
    p = _real(p, "dropout", "p")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    shape, dtype = tuple(x.shape), x.dtype

    def draw():  # PyTorch's noise: bernoulli(1 - p) / (1 - p), the division in the dtype
        if p == 1.0:
            return _np.zeros(shape, dtype)
        keep = _params.generator(backend).random(shape) < 1.0 - p
        return keep.astype(dtype) * (dtype.type(1.0) / dtype.type(1.0 - p))

    trace = _compile_state.trace
    if trace is None or not trace.owns(x):  # (another backend's trace refuses the draw)
        return backend._dropout(x, draw())
    with _params.recorded_draw(backend):  # tg.compile: each replay calls draw() afresh, in eager's order
        noise = draw()
    out = backend._dropout(x, noise)
    trace.tensor_noise(out, draw)
    return out


# ----------------------------------------------------------------------------
# Convolution and pooling


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation (PyTorch's conv2d): x (N, C, H, W) or (C, H, W), weight (O, C, KH, KW),
    bias (O,); ``stride`` and ``padding`` (zeros) an int or a pair."""
    backend = _backend(x, "conv2d")
    weight = _tensor_arg(weight, backend, x, "conv2d", "weight", optional=False)
    bias = _tensor_arg(bias, backend, x, "conv2d", "bias")
    stride, padding = _pair(stride, "conv2d", "stride"), _pair(padding, "conv2d", "padding")
    xb, unbatch = _images(x, "conv2d")
    return unbatch(backend._conv2d(xb, weight, bias, stride, padding))


def _pool(kernel: str, x, kernel_size, stride):
    backend = _backend(x, kernel)
    size = _pair(kernel_size, kernel, "kernel_size")
    step = size if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _pair(stride, kernel, "stride")
    xb, unbatch = _images(x, kernel)
    return unbatch(getattr(backend, "_" + kernel)(xb, size, step))


def max_pool2d(x, kernel_size, stride=None):
    """The largest value of each kernel_size window (stride: kernel_size by default; no padding)."""
    return _pool("max_pool2d", x, kernel_size, stride)


def avg_pool2d(x, kernel_size, stride=None):
    """The mean of each kernel_size window (stride: kernel_size by default; no padding)."""
    return _pool("avg_pool2d", x, kernel_size, stride)
