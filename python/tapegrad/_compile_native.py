"""tg.compile on the native backend: the driver of ``_compile.py`` bound to the
C++ tracer and tape (``_core._Trace``, ``_core._Tape``; cpp/core/trace.h,
tape.h), and the hooks the C++ bindings call while a trace runs
(cpp/bindings/compile_hooks.h).
"""
from __future__ import annotations

from . import _core
from . import _tensor
from ._compile import Adapter, CompileWarning, build
from ._compile_numbers import TracedNumber, state
from ._compile_numbers import value_store as _value_store

__all__ = ["compile", "CompileWarning"]

_Value, _Tensor = _core.Value, _core.Tensor


def _is_traced(x) -> bool:
    return isinstance(x, TracedNumber)


class _Hooks:
    """Called by the C++ bindings while this thread traces (compile_hooks.h)."""

    @staticmethod
    def number_operand(x):
        """(value, reference) of a tracked number used as an operand; -1: not of this trace."""
        return float(x._value), (x._ref if x._live() else -1)

    @staticmethod
    def traced_number(x, ref):
        """t.item(): a tracked number of the tape's slot ``ref``."""
        tr = state.trace
        return x if tr is None else TracedNumber(x, ref, tr)

    @staticmethod
    def value_data(v, data):
        """v.data: a tracked number of v's slot."""
        tr = state.trace
        return data if tr is None else TracedNumber(data, tr.value_ref(v), tr)

    @staticmethod
    def value_float(v, data):
        """float(v): its exact value is guarded."""
        tr = state.trace
        if tr is not None:
            tr.guard_exact(tr.value_ref(v), data)
        return data

    @staticmethod
    def value_store(v, x):
        """v.data = x: a store of the tape (in-place state); the value to assign."""
        return _value_store(state.trace, v, x, _is_traced)

_core._set_compile_hooks(_Hooks(), TracedNumber)
ADAPTER = Adapter(_core._Trace, _Value, _Tensor, _core.is_grad_enabled, _tensor.generator, _core._distinct_values)
compile = build(ADAPTER)
