"""What the reference Value and Tensor do while tg.compile traces (the native
bindings' cpp/bindings/compile_hooks.h): log nodes to the tracer (_trace.py),
hand out tracked numbers, turn reads of traced data into guards, log stores,
and refuse backward() inside the traced function (docs/DESIGN.md, Note
[Compile] and Note [Compile numbers]).

Each function is called only when ``_trace.current()`` is not None.
"""
from __future__ import annotations

from .._compile_numbers import TracedNumber, not_while_tracing, state
from .._compile_numbers import value_store as _value_store
from . import _trace

__all__ = ["number_operand", "value_data", "value_float", "value_store", "check_not_tracing", "is_traced"]


def is_traced(x) -> bool:
    return type(x) is TracedNumber


def number_operand(x):
    """(value, reference or None) of a tracked number used as an operand."""
    return float(x._value), (x._ref if x._live() else None)


def value_data(v):
    """v.data: a tracked number of v's slot."""
    tr = _trace.current()
    return v._data if tr is None else TracedNumber(v._data, tr.value_ref(v), state.trace)


def value_float(v) -> float:
    """float(v): its exact value is guarded."""
    tr = _trace.current()
    if tr is not None:
        tr.guard_exact(tr.value_ref(v), v._data)
    return v._data


def value_store(v, x):
    """v.data = x: a store of the tape (in-place state); the value to assign."""
    return _value_store(_trace.current(), v, x, is_traced)


def leaf_from(v, x) -> None:
    """v, a new leaf, holds tracked number x (Value(x), an operand x)."""
    tr = _trace.current()
    if tr is None:
        return
    tr.on_value_leaf(v)
    if is_traced(x) and x._live():
        tr.value_from_number(v, x._ref)


def check_not_tracing(what: str) -> None:
    """RuntimeError if this thread traces: ``what`` may not run inside the compiled function."""
    if _trace.current() is not None:
        raise RuntimeError(not_while_tracing(what))


# ---- Tensors ---------------------------------------------------------------------


def tensor_leaf(t) -> None:
    tr = _trace.current()
    if tr is not None:
        tr.on_tensor_leaf(t)


def tensor_op(t, row, parents, params) -> None:
    from ._autograd import is_grad_enabled

    tr = _trace.current()
    if tr is not None:
        tr.on_tensor_op(t, row, parents, params, not is_grad_enabled())


def traced_scalar(x, dtype):
    """A tracked number as a 0-d leaf of ``dtype``, which the tape fills from the number."""
    import numpy as np

    from .tensor import Tensor

    from ._tensor_data import number_array

    if np.dtype(dtype) == np.int64:  # ids are exact: the number's value is guarded
        return Tensor._wrap(number_array(x._exact(), np.dtype(dtype)))
    value, ref = number_operand(x)
    t = Tensor._wrap(number_array(value, np.dtype(dtype)))
    tr = _trace.current()
    if tr is not None and ref is not None:
        tr.tensor_from_number(t, ref)
    return t


def tensor_read(t) -> None:
    """A read of t's values: all of them are guarded."""
    tr = _trace.current()
    if tr is not None:
        tr.guard_tensor(t)


def tensor_item(t):
    """t.item() while tracing: a tracked number."""
    tr = _trace.current()
    value = t._data.item()
    return value if tr is None else TracedNumber(value, tr.item(t), state.trace)


def tensor_detached(out, t) -> None:
    tr = _trace.current()
    if tr is not None:
        tr.tensor_detached(out, t)


def tensor_store(t, value, data) -> None:
    """t.data = value (``data`` its array): a store of the tape."""
    from .tensor import Tensor

    tr = _trace.current()
    if tr is None:
        return
    if t._requires_grad:
        tr.unsupported("assigning .data of a Tensor that requires grad")
    source = value if isinstance(value, Tensor) else Tensor._wrap(np_copy(data))
    tr.store_tensor(t, source)


def np_copy(a):
    return a.copy()


def tracing() -> bool:
    return _trace.current() is not None


def ids_from(out, kind: str, source) -> None:
    """Ids read from Tensors, which the tape replays from them: an index key's
    Tensor items (kind "index"), or cross_entropy's label Tensor ("labels")."""
    from .tensor import Tensor

    tr = _trace.current()
    if tr is None:
        return
    if kind == "labels":
        tr.ids_from(out, "labels", source)
        return
    items = source if isinstance(source, tuple) else (source,)
    if any(isinstance(k, Tensor) for k in items):
        tr.ids_from(out, "index", source)


def derived(out, how, *sources) -> None:
    """``out``, a leaf computed from ``sources`` without a graph (argmax, a cast to
    int64), is replayed as ``how(*sources)`` on the replay's tensors (not a constant)."""
    tr = _trace.current()
    if tr is not None:
        tr.derived(out, how, sources)


def ids_from_tensor(out, kind: str, dim, index) -> None:
    """gather's index (kind "gather", along ``dim``) or embedding's ids ("embedding"),
    which the tape replays from that tensor."""
    tr = _trace.current()
    if tr is not None:
        tr.ids_from(out, kind, (dim, index))
