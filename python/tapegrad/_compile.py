"""tg.compile: record once, replay in native code (docs/API.md "Compile";
docs/DESIGN.md, Note [Compile] and Note [Compile numbers]).

The driver is written once; ``build(adapter)`` binds it to a backend, whose
``Adapter`` (``_compile_native.ADAPTER``, ``reference._compile_ref.ADAPTER``)
provides the tracer, the tape and the argument walk.
"""
from __future__ import annotations

import functools
import warnings

from ._compile_args import PyGuards, closure_reads, flatten_result, is_number_leaf, rebuild
from ._compile_args import flatten as _flatten
from ._compile_numbers import TracedNumber, result_kind, state

__all__ = ["Adapter", "CompileWarning", "build"]


class CompileWarning(UserWarning):
    """A compiled function ran eagerly: it has recorded ``max_traces`` tapes
    already, or it did something a tape cannot replay (the message says what)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)


def _node_kinds(value_type, tensor_type):
    """``node_kind(x)``: "V" for a ``value_type``, "T" for a ``tensor_type``, else None
    (the exact types first: the common case costs no isinstance)."""

    def node_kind(x):
        t = type(x)
        if t is value_type:
            return "V"
        if t is tensor_type:
            return "T"
        if isinstance(x, value_type):
            return "V"
        if isinstance(x, tensor_type):
            return "T"
        return None

    return node_kind


class Adapter:
    """What the driver needs of one backend: its tracer class (``trace``), its Value
    and Tensor types, its grad mode, its random generator and, natively, the one
    C++ pass that tells a list of distinct Values (``_compile_args.flatten``)."""

    def __init__(self, trace, value_type, tensor_type, is_grad_enabled, generator, distinct=None) -> None:
        node_kind = _node_kinds(value_type, tensor_type)
        self.Trace = trace
        self.node_kind = node_kind

        def flatten(args, kwargs):
            key, leaves = _flatten(args, kwargs, node_kind, value_type, distinct)
            return (is_grad_enabled(), key), leaves

        self.flatten = flatten
        self._generator = generator

    def rng_state(self):
        return self._generator().bit_generator.state

    def set_rng_state(self, s) -> None:
        self._generator().bit_generator.state = s


class _Entry:
    """One tape of a compiled function, with what a replay needs beside it."""

    __slots__ = ("tape", "guards", "template", "eager")

    def __init__(self, tape, guards, template, eager=None):
        self.tape, self.guards, self.template, self.eager = tape, guards, template, eager


class _Tracing:
    """The Python side of one trace: the backend's tracer and the checks only Python can make."""

    def __init__(self, adapter):
        self.tracer = adapter.Trace()
        self.adapter = adapter
        self.modules = []  # (module, training flag) read while tracing
        self.attrs = []  # (object, attribute name, number) read while tracing (Dropout.p, ...)

    def module_read(self, module, flag) -> None:
        if not any(m is module for m, _ in self.modules):
            self.modules.append((module, flag))

    def attr_read(self, obj, name: str, value) -> None:
        """A number a module's forward read from itself: a guard of the tape (its value at replay)."""
        if not any(o is obj and n == name for o, n, _ in self.attrs):
            self.attrs.append((obj, name, value))

    def owns(self, x) -> bool:
        """Whether x is a Tensor of this trace's backend."""
        return self.adapter.node_kind(x) == "T"

    def __getattr__(self, name):  # guard_truth, number_op, ...: the backend's tracer
        return getattr(self.tracer, name)


class Compiled:
    """A function compiled by ``tg.compile``: call it as the function itself."""

    def __init__(self, fn, max_traces: int, adapter):
        functools.update_wrapper(self, fn, updated=())
        self._adapter = adapter
        self._fn = fn
        self._max = max_traces
        self._entries = {}  # signature -> [_Entry]
        self.traces = 0

    def __repr__(self) -> str:
        return f"<compiled {getattr(self._fn, '__qualname__', self._fn)!r}, {self.traces} traces>"

    def __get__(self, obj, objtype=None):  # a compiled method binds as a function does
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        if state.trace is not None:  # called while another function traces: its ops join that trace
            return self._fn(*args, **kwargs)
        key, leaves = self._adapter.flatten(args, kwargs)
        entries = self._entries.get(key)
        if entries:
            for entry in entries:
                if entry.eager is not None:
                    return self._eagerly(entry.eager, args, kwargs)
                out = self._replay(entry, leaves)
                if out is not _FAILED:
                    return out
        if self.traces >= self._max:
            return self._eagerly(f"it has recorded max_traces={self._max} tapes already", args, kwargs)
        return self._trace(key, leaves, args, kwargs)

    def _eagerly(self, why: str, args, kwargs):
        name = getattr(self._fn, "__qualname__", repr(self._fn))
        warnings.warn(f"tg.compile: {name} runs eagerly: {why}", CompileWarning, stacklevel=3)
        return self._fn(*args, **kwargs)

    def _replay(self, entry, leaves):
        if not entry.guards.hold(leaves):
            return _FAILED
        saved = self._adapter.rng_state() if entry.tape.draws else None
        out = entry.tape.replay(leaves)
        if isinstance(out, int):  # a guard failed: nothing happened, the stream goes back
            if saved is not None:
                self._adapter.set_rng_state(saved)
            return _FAILED
        return rebuild(entry.template, out)

    def _trace(self, key, leaves, args, kwargs):
        tracing = _Tracing(self._adapter)
        tracer = tracing.tracer
        traced = []
        for i, x in enumerate(leaves):  # numbers become tracked numbers, nodes inputs
            kind = self._adapter.node_kind(x)
            if kind == "V":
                tracer.arg_value(i, x)
            elif kind == "T":
                tracer.arg_tensor(i, x)
            elif is_number_leaf(x):
                value = x.item() if hasattr(x, "item") else x
                ref = tracer.arg_number(i, float(value))
                x = TracedNumber(value, ref, tracing)
                if type(value) is int:
                    tracer.guard_int(ref)
            traced.append(x)
        t_args, t_kwargs = _refill(args, kwargs, traced)
        reads = closure_reads(self._fn)
        state.trace = tracing
        tracer.start()
        try:
            out = self._fn(*t_args, **t_kwargs)
        finally:
            tracer.stop()
            state.trace = None
        template, items = flatten_result(out, lambda x: self._adapter.node_kind(x) is not None or
                                         (isinstance(x, TracedNumber) and x._trace is tracing))
        outputs = []
        for x in items:
            kind = self._adapter.node_kind(x)
            outputs.append((kind, x, 0) if kind is not None else ("N", x._ref, result_kind(x._value)))
        result = rebuild(template, [x._value if isinstance(x, TracedNumber) else x for x in items])
        why = tracer.unsupported_reason
        if why:
            tracer.drop_log()  # the log shares fn's nodes: eager's sweep of `result` must not see it
            self._entries.setdefault(key, []).append(_Entry(None, None, None, eager=why))
            warnings.warn(f"tg.compile: {getattr(self._fn, '__qualname__', self._fn)} runs eagerly: "
                          f"cannot replay {why} yet", CompileWarning, stacklevel=3)
            return result
        tape = tracer.finish(outputs, "compiled")
        self.traces += 1
        entry = _Entry(tape, PyGuards(reads, tracing.modules, leaves, tracing.attrs), template)
        self._entries.setdefault(key, []).append(entry)
        return result


def build(adapter):
    """``compile`` for one backend."""

    def compile(fn=None, *, max_traces: int = 8):
        """Record ``fn`` once per input signature and replay the tape for later calls.

        Also a decorator (``@tg.compile`` or ``@tg.compile(max_traces=4)``).
        See docs/API.md ("Compile") for what is recorded and what is guarded.
        """
        if not isinstance(max_traces, int) or isinstance(max_traces, bool):
            raise TypeError(f"max_traces must be an int, not {type(max_traces).__name__}")
        if max_traces < 0:
            raise ValueError(f"max_traces must be >= 0, got {max_traces}")
        if fn is None:
            return lambda f: compile(f, max_traces=max_traces)
        if not callable(fn):
            raise TypeError(f"tg.compile expects a function, not {type(fn).__name__}")
        return Compiled(fn, max_traces, adapter)

    return compile


_FAILED = object()


def _refill(args: tuple, kwargs: dict, leaves: list):
    """args and kwargs with their leaves replaced, in flatten's order."""
    it = iter(leaves)

    def walk(x):
        t = type(x)
        if t is tuple or t is list:
            return t(walk(v) for v in x)
        if t is dict:
            return {k: walk(v) for k, v in x.items()}
        return next(it)

    new_args = walk(args)
    new_kwargs = walk(kwargs)
    del walk  # walk's cell refers to walk: without this the cycle keeps the leaves until gc runs
    return new_args, new_kwargs
