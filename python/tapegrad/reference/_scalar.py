"""IEEE 754 arithmetic on Python floats, for the reference Value.

docs/API.md ("Numbers") asks for NumPy's answers: ``1/0 = inf``,
``log(0) = -inf``, ``sqrt(-1) = nan``, ``0.0 ** -1 = inf``, never an
exception. Python's ``/`` and ``math`` raise instead (ZeroDivisionError,
ValueError, OverflowError) in exactly those corner cases, so each function tries the fast Python operation
first and, only when it raises, asks NumPy (with its warnings silenced) for
the IEEE result.
"""
from __future__ import annotations

import math
import numbers
import operator

import numpy as np

__all__ = ["as_float", "div", "pow", "exp", "log", "sqrt", "sin", "cos", "log1p", "expm1", "tanh",
           "sigmoid"]


def as_float(x, what: str = "Value() data") -> float:
    """``float(x)`` for any real number (bool, int, float, NumPy scalars, Fraction)."""
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"{what} must be a real number, not {type(x).__name__}")


def _ieee(python_op, numpy_op, *args: float) -> float:
    try:
        return python_op(*args)
    except (ZeroDivisionError, ValueError, OverflowError):
        with np.errstate(all="ignore"):
            return float(numpy_op(*(np.float64(a) for a in args)))


def div(a: float, b: float) -> float:
    return _ieee(operator.truediv, np.divide, a, b)


def pow(a: float, b: float) -> float:  # noqa: A001 - the name of the operation
    # math.pow, unlike **, never returns a complex number: (-8) ** (1/3) raises,
    # and NumPy then gives nan.
    return _ieee(math.pow, np.power, a, b)


def exp(a: float) -> float:
    return _ieee(math.exp, np.exp, a)


def log(a: float) -> float:
    return _ieee(math.log, np.log, a)


def sqrt(a: float) -> float:
    return _ieee(math.sqrt, np.sqrt, a)


def sin(a: float) -> float:
    return _ieee(math.sin, np.sin, a)


def cos(a: float) -> float:
    return _ieee(math.cos, np.cos, a)


def log1p(a: float) -> float:
    return _ieee(math.log1p, np.log1p, a)


def expm1(a: float) -> float:
    return _ieee(math.expm1, np.expm1, a)


tanh = math.tanh  # never raises: tanh(+-inf) = +-1, tanh(nan) = nan


def sigmoid(a: float) -> float:
    # 1 / (1 + e^-a), evaluated so that e^x never overflows: for a < 0 the
    # equal form e^a / (1 + e^a) is used (nan falls through to that branch too).
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)
