"""The reference Tensor's methods for the Tensor-only rows of tensor_ops_nn.py.

The activations that take arguments (gelu, softplus, leaky_relu, clamp) and
silu, var, std, logsumexp, clone, float, double, maximum and minimum, and the
private ``_expand`` and ``_slice`` that the shared ``expand``, ``split`` and
``chunk`` (tapegrad/_tensor_methods.py) build on. Bound to Tensor below, as _tensor_autograd.py binds
register_hook; each checks its arguments in the native binding's order and
words (cpp/bindings/tensor_nn_methods.cpp).
"""
from __future__ import annotations

import numpy as np

from .._shared import named
from . import functional
from . import tensor_ops as ops
from ._shapes import normalize_dims
from ._tensor_data import is_number
from .tensor import Tensor, apply

__all__: list[str] = []


def _number(v, what: str) -> float:
    if not is_number(v):
        raise TypeError(f"{what} must be a number, got {type(v).__name__}")
    return float(v)


def gelu(self, approximate="none"):
    """x Phi(x), Phi the normal cdf (op 'gelu'); ``approximate="tanh"``: its tanh form (op 'gelu_tanh')."""
    if isinstance(approximate, str) and approximate in ("none", "tanh"):
        return apply(ops.row_named("gelu" if approximate == "none" else "gelu_tanh"), (self,))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(self):
    """x sigmoid(x) (op 'silu')."""
    return apply(ops.row_named("silu"), (self,))


def softplus(self, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta, and x where beta x > threshold (op 'softplus')."""
    beta, threshold = _number(beta, "softplus: beta"), _number(threshold, "softplus: threshold")
    return apply(ops.row_named("softplus"), (self,), beta=beta, threshold=threshold)


def leaky_relu(self, negative_slope=0.01):
    """x where x > 0, else negative_slope x (op 'leaky_relu')."""
    return apply(ops.row_named("leaky_relu"), (self,), negative_slope=_number(negative_slope, "leaky_relu: negative_slope"))


def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's names
    """min(max(x, min), max), either bound optional (op 'clamp'); the gradient is 1 from bound to bound."""
    if min is None and max is None:
        raise TypeError("clamp: at least one of min and max must be given")
    lo = -np.inf if min is None else _number(min, "clamp: min")
    hi = np.inf if max is None else _number(max, "clamp: max")
    return apply(ops.row_named("clamp"), (self,), min=lo, max=hi)


def _moments(self, name, dim, correction, keepdim):
    axes = normalize_dims(dim, self.ndim)
    correction = _number(correction, f"{name}: correction")
    return apply(ops.row_named(name), (self,), axes=axes, keepdims=bool(keepdim), correction=correction)


def var(self, dim=None, *, correction=1, keepdim=False):
    """The variance over ``dim`` (None: all): sum (x - mean)^2 / (n - correction) (op 'var')."""
    return _moments(self, "var", dim, correction, keepdim)


def std(self, dim=None, *, correction=1, keepdim=False):
    """The square root of ``var`` (op 'std'); its gradient is 0 where it is 0."""
    return _moments(self, "std", dim, correction, keepdim)


def logsumexp(self, dim, keepdim=False):
    """log sum e^x over ``dim`` (an int or a tuple), computed stably (op 'logsumexp')."""
    if dim is None:  # required, as in PyTorch (the native binding's words)
        raise TypeError("dim must be an int or a tuple of ints, got NoneType")
    return apply(ops.row_named("logsumexp"), (self,), axes=normalize_dims(dim, self.ndim), keepdims=bool(keepdim))


def clone(self):
    """A copy of the values (op 'clone'); the gradient passes through."""
    return apply(ops.row_named("clone"), (self,))


def _cast(self, dtype):
    return self if self.dtype == dtype else apply(ops.Cast, (self,), dtype=np.dtype(dtype))


def to_float(self):
    """The values as float32 (this tensor itself if it is float32; op 'astype')."""
    return _cast(self, np.float32)


def to_double(self):
    """The values as float64 (this tensor itself if it is float64; op 'astype')."""
    return _cast(self, np.float64)


def maximum(self, other):
    """The larger of this tensor and ``other``, elementwise (broadcasting; op 'maximum')."""
    return functional.maximum(self, other)


def minimum(self, other):
    """The smaller of this tensor and ``other``, elementwise (broadcasting; op 'minimum')."""
    return functional.minimum(self, other)


def _expand(self, shape):
    """This tensor broadcast to ``shape``, already checked (op 'expand')."""
    return apply(ops.Expand, (self,), shape=tuple(shape))


def _slice(self, dim, start, stop):
    """The part [start, stop) along ``dim``, already checked (op 'getitem', a view)."""
    return self[(slice(None),) * dim + (slice(start, stop),)]


_METHODS = {"gelu": gelu, "silu": silu, "softplus": softplus, "leaky_relu": leaky_relu, "clamp": clamp, "var": var,
            "std": std, "logsumexp": logsumexp, "clone": clone, "float": to_float, "double": to_double,
            "maximum": maximum, "minimum": minimum}
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, named(_fn, f"Tensor.{_name}"))  # argument errors name it as the native's
Tensor._expand = _expand
Tensor._slice = _slice
del _name, _fn
