"""tg.nn.init: fill a Tensor in place, with PyTorch's names, signatures and formulas.

One module serves both backends (``tapegrad.nn.init`` and
``tapegrad.reference.nn.init`` are this module). The numbers come from the
tensor's backend's random stream (``tg.manual_seed``, Note [Random
numbers]) unless ``generator`` is given: a NumPy Generator, or an int seed.
Draws are float64, cast to the tensor's dtype, so both backends fill the same
numbers. Each function writes into the tensor's own storage (no graph is
recorded) and returns the tensor.
"""
import math as _math

import numpy as _np

from . import _params

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
           "kaiming_uniform_"]


def _tensor(t, fn: str):
    if not _params.is_tensor(t):
        raise TypeError(f"{fn}: expected a Tensor, got {type(t).__name__}")
    return t


def _rng(t, generator) -> _np.random.Generator:
    if isinstance(generator, _np.random.Generator):
        return generator
    return _params.generator(_params.backend_of(t), generator)


def _fill(t, values):
    _params.assign(t, _np.broadcast_to(_np.asarray(values, dtype=_np.float64), tuple(t.shape)).astype(t.dtype))
    return t


def calculate_gain(nonlinearity, param=None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table): 1 for linear, conv and
    sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu
    (slope ``param``, 0.01 by default), 3/4 for selu."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return _math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return _math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with draws from U(a, b)."""
    t = _tensor(tensor, "uniform_")
    return _fill(t, _rng(t, generator).uniform(a, b, size=tuple(t.shape)))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with draws from N(mean, std^2)."""
    t = _tensor(tensor, "normal_")
    return _fill(t, _rng(t, generator).normal(mean, std, size=tuple(t.shape)))


def constant_(tensor, val):
    """Fill with ``val``."""
    return _fill(_tensor(tensor, "constant_"), val)


def zeros_(tensor):
    """Fill with 0."""
    return _fill(_tensor(tensor, "zeros_"), 0.0)


def ones_(tensor):
    """Fill with 1."""
    return _fill(_tensor(tensor, "ones_"), 1.0)


def _fans(t) -> tuple:
    shape = tuple(t.shape)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = int(_np.prod(shape[2:], dtype=_np.int64))
    return shape[1] * receptive, shape[0] * receptive


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Fill with U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    t = _tensor(tensor, "xavier_uniform_")
    fan_in, fan_out = _fans(t)
    std = gain * _math.sqrt(2.0 / float(fan_in + fan_out))
    a = _math.sqrt(3.0) * std
    return _fill(t, _rng(t, generator).uniform(-a, a, size=tuple(t.shape)))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """Fill with U(-bound, bound), bound = gain * sqrt(3 / fan) (He et al., 2015), gain =
    calculate_gain(nonlinearity, a), fan the tensor's fan_in or fan_out (``mode``)."""
    t = _tensor(tensor, "kaiming_uniform_")
    if 0 in tuple(t.shape):
        return t
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _fans(t)
    std = calculate_gain(nonlinearity, a) / _math.sqrt(fan_in if mode == "fan_in" else fan_out)
    bound = _math.sqrt(3.0) * std
    return _fill(t, _rng(t, generator).uniform(-bound, bound, size=tuple(t.shape)))
