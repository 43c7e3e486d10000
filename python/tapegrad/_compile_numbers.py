"""Tracked numbers: what ``v.data``, ``v.item()`` and number arguments are while
``tg.compile`` traces (docs/DESIGN.md, Note [Compile numbers]).

A tracked number holds its value and its reference in the running trace.
Arithmetic and comparisons on it are recorded as scalar instructions (op table
ops: ``+ - * /``, ``neg``, ``abs``, ``< <= > >= == !=``), so a replay
recomputes them; its truth, when Python asks for it, guards only that outcome;
any other read of its value (``float``, ``int``, an index, a hash, ``//``,
``%``, ``**``, NumPy) guards the exact value. ``repr``, ``str`` and ``format``
show it without a guard: printing happens while tracing only.

Written once for both backends: the trace object is the backend's
(``_compile_native.Trace``, ``reference._tape.Trace``).
"""
from __future__ import annotations

import math
import numbers
import operator
import threading

import numpy as np

__all__ = ["TracedNumber", "state", "plain", "value_store"]

_EXACT_INT = 2 ** 53


class _State(threading.local):
    """The trace running on this thread (None when none runs)."""

    trace = None


state = _State()


def not_while_tracing(what: str) -> str:
    """The RuntimeError's words for ``what`` run inside a function being traced (both backends)."""
    return (f"{what} inside a function that tg.compile is tracing: compile the loss, then call backward() and "
            "the optimizer's step() on its result, outside the compiled function")


def value_store(tr, v, x, is_traced):
    """``v.data = x`` while ``tr`` traces (None: no trace runs), for both backends:
    the store is logged on the tape (in-place state) and the value to assign is
    returned. ``is_traced(x)`` tells whether x is a tracked number; ``tr`` and
    ``is_traced`` are each backend's own (cpp/bindings/compile_hooks.h,
    reference/_compile_hooks.py)."""
    if tr is None:
        return x
    if is_traced(x) and x._live():
        ref, value = x._ref, float(x._value)
    elif isinstance(x, (bool, int, float)):
        value = float(x)
        ref = tr.number_const(value)
    else:
        return x  # the setter's own error follows
    tr.store_value(v, ref)
    return value


def plain(x):
    """A tracked number's value (anything else as it is)."""
    return x._value if isinstance(x, TracedNumber) else x


def _number(x):
    """(ref or None, Python value) of an operand, or None if it is not a real number."""
    if isinstance(x, TracedNumber):
        return (x._ref if x._live() else None), x._value
    if isinstance(x, (bool, int, float)):
        return None, x
    if isinstance(x, np.bool_):
        return None, bool(x)
    if isinstance(x, np.integer):
        return None, int(x)
    if isinstance(x, np.floating):
        return None, float(x)
    return None


def _kind(value) -> int:
    """The Python type a tape result gets back: 0 float, 1 int, 2 bool."""
    return 2 if isinstance(value, bool) else 1 if isinstance(value, int) else 0


class TracedNumber:
    """A number computed from traced data (or passed as an argument) while tracing."""

    __slots__ = ("_value", "_ref", "_trace")

    def __init__(self, value, ref: int, trace) -> None:
        self._value = value
        self._ref = ref
        self._trace = trace

    def _live(self) -> bool:
        return self._trace is not None and state.trace is self._trace

    # -- recorded ----------------------------------------------------------------

    def _record(self, name, fn, other, reflected):
        o = _number(other)
        if o is None:
            return NotImplemented
        mine = (self._ref if self._live() else None), self._value
        (ra, a), (rb, b) = (o, mine) if reflected else (mine, o)
        value = fn(a, b)  # Python's own result (and its ZeroDivisionError)
        trace = self._trace if self._live() else None
        if trace is None or (ra is None and rb is None):
            return value
        if name == "/" and rb is not None:
            trace.guard_truth(rb, True)  # eager Python raises where the tape would divide by 0
        ra = trace.number_const(float(a)) if ra is None else ra
        rb = trace.number_const(float(b)) if rb is None else rb
        return self._result(trace, trace.number_op(name, ra, rb), value)

    @staticmethod
    def _result(trace, ref, value):
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > _EXACT_INT:
                trace.guard_exact(ref, float(value))
                return value
            trace.guard_int(ref)
        return TracedNumber(value, ref, trace)

    def _unary(self, name, fn):
        value = fn(self._value)
        if not self._live():
            return value
        return self._result(self._trace, self._trace.number_op(name, self._ref, -1), value)

    def __add__(self, other):
        return self._record("+", operator.add, other, False)

    def __radd__(self, other):
        return self._record("+", operator.add, other, True)

    def __sub__(self, other):
        return self._record("-", operator.sub, other, False)

    def __rsub__(self, other):
        return self._record("-", operator.sub, other, True)

    def __mul__(self, other):
        return self._record("*", operator.mul, other, False)

    def __rmul__(self, other):
        return self._record("*", operator.mul, other, True)

    def __truediv__(self, other):
        return self._record("/", operator.truediv, other, False)

    def __rtruediv__(self, other):
        return self._record("/", operator.truediv, other, True)

    def __neg__(self):
        return self._unary("neg", operator.neg)

    def __pos__(self):
        return self

    def __abs__(self):
        return self._unary("abs", abs)

    def __lt__(self, other):
        return self._record("<", operator.lt, other, False)

    def __le__(self, other):
        return self._record("<=", operator.le, other, False)

    def __gt__(self, other):
        return self._record(">", operator.gt, other, False)

    def __ge__(self, other):
        return self._record(">=", operator.ge, other, False)

    def __eq__(self, other):
        return self._record("==", operator.eq, other, False)

    def __ne__(self, other):
        return self._record("!=", operator.ne, other, False)

    # -- guarded ------------------------------------------------------------------

    def __bool__(self) -> bool:
        """Its truth (an `if`, a `while`, `and`, `not`): only this outcome is guarded."""
        outcome = bool(self._value)
        if self._live():
            self._trace.guard_truth(self._ref, outcome)
        return outcome

    def _exact(self):
        """The value itself: every later replay must see the same."""
        if self._live():
            self._trace.guard_exact(self._ref, float(self._value))
        return self._value

    def __float__(self) -> float:
        return float(self._exact())

    def __int__(self) -> int:
        return int(self._exact())

    def __index__(self) -> int:
        return operator.index(self._exact())

    def __hash__(self) -> int:
        return hash(self._exact())

    def __round__(self, ndigits=None):
        return round(self._exact(), ndigits)

    def __trunc__(self):
        return math.trunc(self._exact())

    def __floor__(self):
        return math.floor(self._exact())

    def __ceil__(self):
        return math.ceil(self._exact())

    def __complex__(self):
        return complex(self._exact())

    def __floordiv__(self, other):
        return self._exact() // plain_exact(other)

    def __rfloordiv__(self, other):
        return plain_exact(other) // self._exact()

    def __mod__(self, other):
        return self._exact() % plain_exact(other)

    def __rmod__(self, other):
        return plain_exact(other) % self._exact()

    def __divmod__(self, other):
        return divmod(self._exact(), plain_exact(other))

    def __rdivmod__(self, other):
        return divmod(plain_exact(other), self._exact())

    def __pow__(self, other, modulo=None):
        if modulo is not None:
            return pow(self._exact(), plain_exact(other), plain_exact(modulo))
        return self._power(other, False)

    def __rpow__(self, other):
        return self._power(other, True)

    def _power(self, other, reflected):
        """a ** b: recorded where Python computes C's pow on floats (the op table's
        ``**`` rule), with the guards that keep Python's errors and complex results
        away; otherwise (ints, a negative base) the operands' exact values are read."""
        o = _number(other)
        if o is None:
            return NotImplemented
        mine = (self._ref if self._live() else None), self._value
        (ra, a), (rb, b) = (o, mine) if reflected else (mine, o)
        value = a ** b
        trace = self._trace if self._live() else None
        if trace is None or (ra is None and rb is None):
            return value
        integral = rb is None and float(b).is_integer()
        if not isinstance(value, float) or not (a > 0 or (integral and a != 0)):
            return _exact_pow(self, other, reflected)
        ra = trace.number_const(float(a)) if ra is None else ra
        if integral:
            if b < 0:
                trace.guard_truth(ra, True)  # a != 0: Python raises for 0 ** -k
        else:
            trace.guard_truth(trace.number_op(">", ra, trace.number_const(0.0)), True)
        rb = trace.number_const(float(b)) if rb is None else rb
        return TracedNumber(value, trace.number_op("**", ra, rb), trace)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._exact(), dtype=dtype)

    @property
    def real(self):
        return self

    @property
    def imag(self):
        return 0

    def conjugate(self):
        return self

    def is_integer(self) -> bool:
        return float(self._exact()).is_integer()

    # -- shown without a guard (side effects happen while tracing only) ---------------

    def __repr__(self) -> str:
        return repr(self._value)

    def __str__(self) -> str:
        return str(self._value)

    def __format__(self, spec: str) -> str:
        return format(self._value, spec)

    def __reduce__(self):
        return (type(self._exact()), (self._value,))


def _exact_pow(x, other, reflected):
    a, b = (plain_exact(other), x._exact()) if reflected else (x._exact(), plain_exact(other))
    return a ** b


def plain_exact(x):
    """An operand whose exact value is read: a tracked one is guarded."""
    return x._exact() if isinstance(x, TracedNumber) else x


numbers.Real.register(TracedNumber)


def result_kind(value) -> int:
    return _kind(value)
