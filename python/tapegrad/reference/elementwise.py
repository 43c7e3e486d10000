"""Elementwise math, written once per op, for the reference Value and Tensor.

Each op is a class with its forward formula ``f`` right above its local
derivative ``d`` (d out / d input), in the order of the C++ op table
(``cpp/core/op_table.h``; a test checks it). Both take a namespace ``m`` of
the functions they call, so the same formula serves four callers:

* the Value, with ``m = SCALARS``: Python floats and IEEE results (1/0 = inf);
* the Tensor, with ``m = ARRAYS``: NumPy arrays, float32 kept float32;
* the recorded backward pass (``create_graph=True``), with the namespaces of
  value.py and tensor.py, whose arithmetic builds graph nodes, so that a
  gradient can be differentiated again.

A unary ``d`` reads one saved value ``s``: the op's input or its output, as
``saves`` says. A binary ``d`` reads ``a``, ``b`` and ``out`` and returns the
pair (d/da, d/db). The backward pass multiplies the upstream gradient by each
local derivative (``pass_`` marks a derivative that is exactly +1 or -1, which
hands the upstream gradient on without arithmetic).
"""
from __future__ import annotations

import math as _math

import numpy as _np

from .._shared import named as _named
from . import _scalar as _ieee

__all__ = ["UNARY", "BINARY", "COMPARE", "ELEMENTWISE", "SCALARS", "ARRAYS", "op_for", "bind_methods"]


# ----------------------------------------------------------------------------
# The namespaces the formulas call (the recorded ones live with Value and Tensor)


class SCALARS:
    """Python floats, IEEE 754 results as the C library gives them."""

    div = staticmethod(_ieee.div)
    pow = staticmethod(_ieee.pow)
    exp = staticmethod(_ieee.exp)
    log = staticmethod(_ieee.log)
    sqrt = staticmethod(_ieee.sqrt)
    sin = staticmethod(_ieee.sin)
    cos = staticmethod(_ieee.cos)
    log1p = staticmethod(_ieee.log1p)
    expm1 = staticmethod(_ieee.expm1)
    tanh = staticmethod(_ieee.tanh)
    sigmoid = staticmethod(_ieee.sigmoid)
    fabs = staticmethod(abs)

    @staticmethod
    def sign0(s):  # sign(s), 0 at +-0, nan at nan
        return 1.0 if s > 0.0 else -1.0 if s < 0.0 else 0.0 if s == 0.0 else s

    @staticmethod
    def step(s):  # [s > 0]
        return 1.0 if s > 0.0 else 0.0

    @staticmethod
    def relu(a):
        return 0.0 if a <= 0.0 else a  # relu(-0) = +0; nan stays nan

    @staticmethod
    def select(c, x, y):
        return x if c else y

    @staticmethod
    def is_zero(x):
        return x == 0.0

    @staticmethod
    def zero_base(a, b):
        return a == 0.0 and b >= 0.0


class ARRAYS:
    """NumPy arrays of one dtype; IEEE results, never warnings (the caller sets errstate)."""

    @staticmethod
    def div(a, b):
        return a / b

    @staticmethod
    def pow(a, b):
        # C's pow in float64, rounded to the result's dtype (the exponent too):
        # NumPy's float32 power takes shortcuts that disagree at the extremes.
        # A number exponent takes a's dtype; a float64 array makes it float64.
        # Both operands at least 1-d: NumPy's 0-d power takes sqrt's shortcut for
        # ** 0.5, so (-inf) ** 0.5 was NaN there and -0.0 ** 0.5 was -0.0, where
        # C's pow gives +inf and +0.0.
        dt = _np.result_type(a, b) if isinstance(b, _np.ndarray) else _np.result_type(a)
        b = _np.asarray(b, dtype=dt)
        shape = _np.broadcast_shapes(_np.shape(a), b.shape)
        a64 = _np.atleast_1d(_np.asarray(a, dtype=_np.float64))
        return _np.power(a64, _np.atleast_1d(b.astype(_np.float64))).reshape(shape).astype(dt)

    exp = staticmethod(_np.exp)
    log = staticmethod(_np.log)
    sqrt = staticmethod(_np.sqrt)
    sin = staticmethod(_np.sin)
    cos = staticmethod(_np.cos)
    log1p = staticmethod(_np.log1p)
    expm1 = staticmethod(_np.expm1)
    tanh = staticmethod(_np.tanh)
    fabs = staticmethod(_np.abs)

    @staticmethod
    def sigmoid(a):
        e = _np.exp(-_np.abs(a))  # exp of a non-positive number only: no overflow
        return _np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)

    @staticmethod
    def sign0(s):
        return _np.where(s > 0, 1, _np.where(s < 0, -1, _np.where(s == 0, 0, s))).astype(s.dtype, copy=False)

    @staticmethod
    def step(s):
        return (s > 0).astype(s.dtype)

    @staticmethod
    def relu(a):
        return _np.where(a <= 0, _np.zeros((), a.dtype), a)

    @staticmethod
    def select(c, x, y):
        return _np.where(c, x, y)

    @staticmethod
    def is_zero(x):
        return x == 0

    @staticmethod
    def zero_base(a, b):
        return (a == 0) & (b >= 0)


# ----------------------------------------------------------------------------
# The ops, in op-table order


class Op:
    name = ""        # the .op string
    arity = 1
    saves = "none"   # what d reads: "input", "output", "inputs", "inputs+output"
    python = ""      # the method (or operator) that makes it
    pass_ = (0, 0)   # per operand: +1 / -1 where d is exactly that, else 0


class Add(Op):
    name, arity, python, pass_ = "+", 2, "__add__", (1, 1)

    @staticmethod
    def f(a, b, m):
        return a + b

    @staticmethod
    def d(a, b, out, m):
        return 1.0, 1.0  # d(a+b)/da = 1, d(a+b)/db = 1


class Sub(Op):
    name, arity, python, pass_ = "-", 2, "__sub__", (1, -1)

    @staticmethod
    def f(a, b, m):
        return a - b

    @staticmethod
    def d(a, b, out, m):
        return 1.0, -1.0  # d(a-b)/da = 1, d(a-b)/db = -1


class Mul(Op):
    name, arity, saves, python = "*", 2, "inputs", "__mul__"

    @staticmethod
    def f(a, b, m):
        return a * b

    @staticmethod
    def d(a, b, out, m):
        return b, a  # d(ab)/da = b, d(ab)/db = a


class Div(Op):
    name, arity, saves, python = "/", 2, "inputs", "__truediv__"

    @staticmethod
    def f(a, b, m):
        return m.div(a, b)

    @staticmethod
    def d(a, b, out, m):
        return m.div(1.0, b), m.div(-a, b * b)  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2


class Neg(Op):
    name, python, pass_ = "neg", "__neg__", (-1, 0)

    @staticmethod
    def f(a, m):
        return -a

    @staticmethod
    def d(s, m):
        return -1.0  # d(-a)/da = -1


class PowConst(Op):
    """``a ** k`` for a plain number k (op string ``**k``, e.g. ``**2``)."""

    name, saves, python = "**k", "input", "__pow__"
    takes_k = True

    @staticmethod
    def f(a, k, m):
        # NumPy and PyTorch compute a ** 2 as a square and a ** 0.5 as a square
        # root (which differs from pow() at -inf and -0): Values and Tensors alike.
        return a * a if k == 2.0 else m.sqrt(a) if k == 0.5 else m.pow(a, k)

    @staticmethod
    def d(s, k, m):
        # d(a^k)/da = k a^(k-1); a^0 is constant, so 0 even at a = 0 (as PyTorch)
        return 0.0 if k == 0.0 else k * m.pow(s, k - 1.0)


class Pow(Op):
    """``a ** b`` with a Value or Tensor exponent (op string ``**``)."""

    name, arity, saves, python = "**", 2, "inputs+output", "__pow__"

    @staticmethod
    def f(a, b, m):
        return m.pow(a, b)

    @staticmethod
    def d(a, b, out, m):
        # d(a^b)/da = b a^(b-1) (0 where b = 0), d(a^b)/db = a^b log(a) (0 where
        # a = 0 <= b): PyTorch's conventions, which keep 0 * inf from making a nan.
        return (m.select(m.is_zero(b), 0.0, b * m.pow(a, b - 1.0)),
                m.select(m.zero_base(a, b), 0.0, out * m.log(a)))


class Abs(Op):
    name, saves, python = "abs", "input", "abs"

    @staticmethod
    def f(a, m):
        return m.fabs(a)

    @staticmethod
    def d(s, m):
        return m.sign0(s)  # d|a|/da = sign(a), 0 at 0


class Relu(Op):
    name, saves, python = "relu", "output", "relu"

    @staticmethod
    def f(a, m):
        return m.relu(a)

    @staticmethod
    def d(s, m):
        return m.step(s)  # [a > 0], and relu(a) > 0 iff a > 0


class Tanh(Op):
    name, saves, python = "tanh", "output", "tanh"

    @staticmethod
    def f(a, m):
        return m.tanh(a)

    @staticmethod
    def d(s, m):
        return 1.0 - s * s  # d tanh(a)/da = 1 - tanh(a)^2


class Sigmoid(Op):
    name, saves, python = "sigmoid", "output", "sigmoid"

    @staticmethod
    def f(a, m):
        return m.sigmoid(a)

    @staticmethod
    def d(s, m):
        return s * (1.0 - s)  # ds/da = s (1 - s)


class Exp(Op):
    name, saves, python = "exp", "output", "exp"

    @staticmethod
    def f(a, m):
        return m.exp(a)

    @staticmethod
    def d(s, m):
        return s  # d e^a/da = e^a


class Log(Op):
    name, saves, python = "log", "input", "log"

    @staticmethod
    def f(a, m):
        return m.log(a)

    @staticmethod
    def d(s, m):
        return m.div(1.0, s)  # d ln(a)/da = 1/a


class Sqrt(Op):
    name, saves, python = "sqrt", "output", "sqrt"

    @staticmethod
    def f(a, m):
        return m.sqrt(a)

    @staticmethod
    def d(s, m):
        return m.div(1.0, 2.0 * s)  # d sqrt(a)/da = 1 / (2 sqrt(a))


class Sin(Op):
    name, saves, python = "sin", "input", "sin"

    @staticmethod
    def f(a, m):
        return m.sin(a)

    @staticmethod
    def d(s, m):
        return m.cos(s)  # d sin(a)/da = cos(a)


class Cos(Op):
    name, saves, python = "cos", "input", "cos"

    @staticmethod
    def f(a, m):
        return m.cos(a)

    @staticmethod
    def d(s, m):
        return -m.sin(s)  # d cos(a)/da = -sin(a)


class Log1p(Op):
    """``log(1 + a)``, exact where ``1 + a`` would round ``a`` away."""

    name, saves, python = "log1p", "input", "log1p"

    @staticmethod
    def f(a, m):
        return m.log1p(a)

    @staticmethod
    def d(s, m):
        return m.div(1.0, 1.0 + s)  # d ln(1 + a)/da = 1 / (1 + a)


class Expm1(Op):
    """``e^a - 1``, exact where ``e^a`` would round the difference away."""

    name, saves, python = "expm1", "output", "expm1"

    @staticmethod
    def f(a, m):
        return m.expm1(a)

    @staticmethod
    def d(s, m):
        return s + 1.0  # d (e^a - 1)/da = e^a = out + 1


# Comparisons: 1.0 / 0.0, never recorded (Tensor only)


class Compare(Op):
    arity = 2
    fn = None

    @classmethod
    def f(cls, a, b, m):
        return cls.fn(a, b)


class Lt(Compare):
    name, python, fn = "<", "__lt__", staticmethod(_np.less)


class Le(Compare):
    name, python, fn = "<=", "__le__", staticmethod(_np.less_equal)


class Gt(Compare):
    name, python, fn = ">", "__gt__", staticmethod(_np.greater)


class Ge(Compare):
    name, python, fn = ">=", "__ge__", staticmethod(_np.greater_equal)


class Eq(Compare):
    name, python, fn = "==", "__eq__", staticmethod(_np.equal)


class Ne(Compare):
    name, python, fn = "!=", "__ne__", staticmethod(_np.not_equal)


UNARY = (Neg, PowConst, Abs, Relu, Tanh, Sigmoid, Exp, Log, Sqrt, Sin, Cos, Log1p, Expm1)
BINARY = (Add, Sub, Mul, Div, Pow)
COMPARE = (Lt, Le, Gt, Ge, Eq, Ne)
# Value's ops, in op-table order: the first rows of the table
ELEMENTWISE = (Add, Sub, Mul, Div, Neg, PowConst, Pow, Abs, Relu, Tanh, Sigmoid, Exp, Log, Sqrt, Sin, Cos, Log1p,
               Expm1)

_BY_NAME = {op.name: op for op in ELEMENTWISE + COMPARE}


def op_for(name: str):
    """The class of the op whose ``.op`` string is ``name`` (``**2`` is ``**k``)."""
    op = _BY_NAME.get(name)
    if op is None and name.startswith("**") and name != "**":
        return PowConst
    return op


def bind_methods(cls, call) -> None:
    """Give ``cls`` one method per unary op that a method makes (``relu``, ``tanh``, ...).

    ``x.relu()`` is then ``call(Relu, x)``: Value and Tensor each bind theirs.
    Each method takes no argument but self, as the native one (Note [Signatures]).
    """
    for op in UNARY:
        if op.python and not op.python.startswith("_"):
            setattr(cls, op.python, _method(cls, op, call))


def _method(cls, op, call):
    def method(self):
        return call(op, self)

    method.__doc__ = f"The elementwise op {op.name!r} (tapegrad/reference/elementwise.py)."
    # named Tensor.relu everywhere Python reads a name, as the native method: its argument errors say so
    return _named(method, f"{cls.__name__}.{op.python}")


del _math
