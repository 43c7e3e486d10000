"""The elementwise math of the Tensor-only rows: activations, clamp, erf, maximum, minimum.

The same table as elementwise.py (whose ``Op`` they extend), for the rows
that follow the Value rows in the C++ op table, in that order; the C++ rules
are ``cpp/core/rules_tensor.h``, formula for formula. Their formulas are
PyTorch's. They run on NumPy arrays (``m = ARRAYS`` below) and, in the recorded
backward, on Tensors (``m`` the recorded namespace of _tensor_autograd.py).

``params`` names the op's numbers (the arguments after ``a`` of ``f`` and
``d``). A ``piecewise`` op's local derivative is piecewise constant (a slope,
a mask): ``d`` is written for arrays only, and the recorded backward takes
its value as a constant of the graph.
"""
from __future__ import annotations

import math

import numpy as np

from . import elementwise as E

__all__ = ["ARRAYS", "TENSOR_ELEMENTWISE", "TENSOR_UNARY", "TENSOR_BINARY"]

K_SQRT_HALF = 0.70710678118654752440        # 1/sqrt(2)
K_INV_SQRT_2PI = 0.39894228040143267794     # 1/sqrt(2 pi)
K_TWO_OVER_SQRT_PI = 1.12837916709551257390  # 2/sqrt(pi)
K_GELU_BETA = 1.41421356237309504880 * 1.12837916709551257390 * 0.5  # sqrt(2/pi)
K_GELU_KAPPA = 0.044715

_erf = np.frompyfunc(math.erf, 1, 1)  # C's erf, as the native kernel calls (NumPy has none)


class ARRAYS(E.ARRAYS):
    """elementwise.py's array namespace, with erf and a threshold mask, and tanh rounded
    once from float64 (as the native kernels' float32 tanh, Note [float32 tanh] in rules.h:
    gelu's tanh form subtracts it from 1 near -1)."""

    @staticmethod
    def tanh(a):
        return np.tanh(a.astype(np.float64)).astype(a.dtype, copy=False)

    @staticmethod
    def erf(a):
        return np.asarray(_erf(a), dtype=a.dtype)

    @staticmethod
    def gt(x, t):
        return x > x.dtype.type(t)


class Unary(E.Op):
    saves = "input"
    params = ()
    piecewise = False


class Gelu(Unary):
    name, python = "gelu", "gelu"

    @staticmethod
    def f(a, m):
        return a * 0.5 * (1.0 + m.erf(a * K_SQRT_HALF))  # x Phi(x)

    @staticmethod
    def d(s, m):  # Phi(x) + x phi(x)
        cdf = 0.5 * (1.0 + m.erf(s * K_SQRT_HALF))
        pdf = m.exp(-0.5 * (s * s)) * K_INV_SQRT_2PI
        return cdf + s * pdf


class GeluTanh(Unary):
    """``gelu(approximate="tanh")``: x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)."""

    name, python = "gelu_tanh", "gelu"

    @staticmethod
    def f(a, m):
        inner = K_GELU_BETA * (a + K_GELU_KAPPA * (a * a * a))
        return 0.5 * a * (1.0 + m.tanh(inner))

    @staticmethod
    def d(s, m):  # (1 + t)/2 + x/2 (1 - t^2) u'(x), t = tanh(u)
        sq = s * s
        t = m.tanh(K_GELU_BETA * (s + K_GELU_KAPPA * (sq * s)))
        left = 0.5 * s
        du = K_GELU_BETA * (1.0 + (3.0 * K_GELU_KAPPA) * sq)
        return 0.5 * (1.0 + t) + left * (1.0 - t * t) * du


class Erf(Unary):
    """erf, which only gelu's recorded backward makes."""

    name = "erf"

    @staticmethod
    def f(a, m):
        return m.erf(a)

    @staticmethod
    def d(s, m):
        return K_TWO_OVER_SQRT_PI * m.exp(-(s * s))  # 2/sqrt(pi) e^(-a^2)


class Silu(Unary):
    name, python = "silu", "silu"

    @staticmethod
    def f(a, m):
        return a / (1.0 + m.exp(-a))  # x sigmoid(x)

    @staticmethod
    def d(s, m):  # s (1 + x (1 - s)), s = sigmoid(x), in its stable form (the sigmoid op on Tensors)
        sg = m.sigmoid(s)
        return sg * (1.0 + s * (1.0 - sg))


class Softplus(Unary):
    name, python, params = "softplus", "softplus", ("beta", "threshold")

    @staticmethod
    def f(a, beta, threshold, m):  # log(1 + e^(beta x)) / beta; x itself where beta x > threshold
        t = a.dtype.type
        bx = a * t(beta)
        return np.where(bx > t(threshold), a, np.log1p(np.exp(bx)) / t(beta))

    @staticmethod
    def d(s, beta, threshold, m):  # sigmoid(beta x); 1 where beta x > threshold
        bx = s * beta
        return m.select(m.gt(bx, threshold), 1.0, m.sigmoid(bx))


class LeakyRelu(Unary):
    name, python, params, piecewise = "leaky_relu", "leaky_relu", ("negative_slope",), True

    @staticmethod
    def f(a, slope, m):
        return np.where(a > 0, a, a * a.dtype.type(slope))  # -0 stays -0

    @staticmethod
    def d(s, slope, m):  # 1 if x > 0 else the slope (at 0 and nan too)
        return np.where(s > 0, s.dtype.type(1), s.dtype.type(slope))


class Clamp(Unary):
    """min(max(x, lo), hi), as PyTorch: a nan input or bound gives nan, lo > hi gives hi."""

    name, python, params, piecewise = "clamp", "clamp", ("min", "max"), True

    @staticmethod
    def f(a, lo, hi, m):
        t = a.dtype.type
        lo, hi = t(lo), t(hi)
        if lo != lo or hi != hi:
            return np.where(a != a, a, lo if lo != lo else hi)
        x = np.where(a < lo, lo, a)
        return np.where(a != a, a, np.where(hi < x, hi, x))

    @staticmethod
    def d(s, lo, hi, m):  # 1 where lo <= x <= hi (the bounds included), 0 elsewhere and at nan
        t = s.dtype.type
        return ((s >= t(lo)) & (s <= t(hi))).astype(s.dtype)


class Maximum(E.Op):
    """PyTorch's maximum: nan wins; a tie gives the first operand's value and half the
    gradient to each; a nan hands the whole gradient to both."""

    name, arity, saves, python, piecewise = "maximum", 2, "inputs", "maximum", True

    @staticmethod
    def f(a, b, m):
        return np.where(a != a, a, np.where(b != b, b, np.where(a < b, b, a)))

    @staticmethod
    def d(a, b, out, m):
        t = np.result_type(a, b).type
        return (np.where(a < b, t(0), np.where(a == b, t(0.5), t(1))),
                np.where(a > b, t(0), np.where(a == b, t(0.5), t(1))))


class Minimum(Maximum):
    name, python = "minimum", "minimum"

    @staticmethod
    def f(a, b, m):
        return np.where(a != a, a, np.where(b != b, b, np.where(b < a, b, a)))

    @staticmethod
    def d(a, b, out, m):
        t = np.result_type(a, b).type
        return (np.where(a > b, t(0), np.where(a == b, t(0.5), t(1))),
                np.where(a < b, t(0), np.where(a == b, t(0.5), t(1))))


TENSOR_UNARY = (Gelu, GeluTanh, Erf, Silu, Softplus, LeakyRelu, Clamp)
TENSOR_BINARY = (Maximum, Minimum)
# In op-table order: after the Value rows and the comparisons
TENSOR_ELEMENTWISE = TENSOR_UNARY + TENSOR_BINARY
