"""The reference scalar ``Value``: backpropagation as the textbook tells it.

Every operation creates a new Value that remembers its parents and its op.
The ops' math is elementwise.py's, one class per op with its forward formula
``f`` above its local-gradient rule ``d``, shared with the Tensor; here it is
evaluated on Python floats. ``backward()`` is three steps: sort, seed 1,
reverse sweep, where each parent receives upstream * local and a parent
reached along several paths sums them.

With ``create_graph`` (``tg.grad(y, x, create_graph=True)``) the same sweep
evaluates the same rules on Values instead of floats (``_RECORDED``), so the
gradients it returns are Values in the graph, which can be differentiated
again, to any order.
"""
from __future__ import annotations

import weakref

from .._shared import no_deleter, no_setter
from . import _compile_hooks as _hooks
from . import _scalar as ieee
from . import _trace
from . import elementwise as E
from ._autograd import _mode, is_anomaly_enabled, topo_order
from ._autograd import anomaly as _anomaly

__all__ = ["Value"]


class Value:
    """A scalar node of a computation graph.

    ``Value(data, label="")`` makes a leaf from any real number (bool, int,
    float, NumPy scalar); anything else is a TypeError. ``data`` and
    ``grad`` are floats and assignable; ``op`` is ``""`` for leaves; ``parents`` is a tuple.
    micrograd's ``_prev`` (a frozenset of the parents) and ``_op`` (= ``op``) are read-only.
    Copies (``copy``, ``deepcopy``, ``pickle``) are leaves with the same
    data, grad and label: the graph edges are not copied.
    """

    __slots__ = ("_data", "_grad", "_kind", "_parents", "_k", "_label", "__weakref__")
    __array_ufunc__ = None  # NumPy scalars defer to our reflected operators

    def __init__(self, data, label: str = "") -> None:
        self._data = _hooks.number_operand(data)[0] if _hooks.is_traced(data) else _real(data, "Value() data")
        if _trace._active[0] is not None:  # tg.compile traces: a leaf, or a tracked number's value
            _hooks.leaf_from(self, data)
        self._grad = 0.0
        self._kind = None  # the op's class in elementwise.py, None for a leaf
        self._parents: tuple[Value, ...] = ()
        self._k = 0.0  # the exponent of a "**k" node, unused elsewhere
        self.label = label

    # ----- attributes (read-only ones and deletions say what the native Value says)
    def _get_data(self) -> float:
        return self._data if _trace._active[0] is None else _hooks.value_data(self)

    def _set_data(self, value) -> None:
        if _trace._active[0] is not None:
            value = _hooks.value_store(self, value)
        self._data = _real(value, "Value.data")

    data = property(_get_data, _set_data, no_deleter("data"), "The forward value (float, assignable).")

    def _get_grad(self) -> float:
        return self._grad

    def _set_grad(self, value) -> None:
        self._grad = _real(value, "Value.grad")

    grad = property(_get_grad, _set_grad, no_deleter("grad"), "The accumulated gradient (float, assignable).")

    def _get_op(self) -> str:
        if self._kind is None:
            return ""
        return f"**{format(self._k, 'g')}" if self._kind is E.PowConst else self._kind.name

    op = property(_get_op, no_setter("op"), no_deleter("op"),
                  "The op that made this Value: '' for leaves, '+', '**2', 'tanh', ...")

    def _get_parents(self) -> tuple:
        return self._parents

    parents = property(_get_parents, no_setter("parents"), no_deleter("parents"),
                       "The Values this one was computed from (tuple).")

    # micrograd's names, read-only, so that code written for micrograd.engine.Value
    # (its draw_dot reads v._prev and v._op) runs unchanged; docs/DESIGN.md Note [Op strings].
    _op = property(_get_op, no_setter("_op"), no_deleter("_op"), "micrograd's name for op (the same string).")

    def _get_prev(self) -> frozenset:
        return frozenset(self._parents)

    _prev = property(_get_prev, no_setter("_prev"), no_deleter("_prev"),
                     "micrograd's name: the distinct parents (frozenset).")

    def _get_label(self) -> str:
        return self._label

    def _set_label(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Value.label must be a str, not {type(value).__name__}")
        self._label = value

    label = property(_get_label, _set_label, no_deleter("label"), "A name shown in graph drawings (str, assignable).")
    del _get_data, _set_data, _get_grad, _set_grad, _get_op, _get_parents, _get_prev, _get_label, _set_label

    def __repr__(self) -> str:
        return f"Value(data={self._data!r}, grad={self._grad!r})"

    def __float__(self) -> float:
        return self._data if _trace._active[0] is None else _hooks.value_float(self)

    def __reduce__(self):
        return (_leaf, (self._data, self._grad, self._label))

    # ----- ops: a Value or a plain number on either side ----------------------
    def __add__(self, other, /):
        return _binary(E.Add, self, other)

    def __sub__(self, other, /):
        return _binary(E.Sub, self, other)

    def __mul__(self, other, /):
        return _binary(E.Mul, self, other)

    def __truediv__(self, other, /):
        return _binary(E.Div, self, other)

    def __pow__(self, other, modulo=None, /):
        """a ** k, k a number: op "**k", one parent; a ** b, b a Value: op "**"."""
        if modulo is not None:
            return NotImplemented
        if isinstance(other, Value):
            return _binary(E.Pow, self, other)
        b = _operand(self, other)
        if b is None:
            return NotImplemented
        out = _unary(E.PowConst, self, b._data)
        tr = _trace.current() if _hooks.is_traced(other) else None
        if tr is not None and other._live():  # a ** x: the exponent is the tracked number
            tr.value_from_number(out, other._ref)
        return out

    # reflected: a number on the left becomes a constant leaf, operand order kept
    def __radd__(self, other, /):
        return _binary(E.Add, self, other, reflected=True)

    def __rsub__(self, other, /):
        return _binary(E.Sub, self, other, reflected=True)

    def __rmul__(self, other, /):
        return _binary(E.Mul, self, other, reflected=True)

    def __rtruediv__(self, other, /):
        return _binary(E.Div, self, other, reflected=True)

    def __rpow__(self, other, /):
        return _binary(E.Pow, self, other, reflected=True)

    def __neg__(self):
        return _unary(E.Neg, self)

    def __abs__(self):
        return _unary(E.Abs, self)

    # relu, tanh, sigmoid, exp, log, sqrt, sin, cos, abs: one method per named
    # unary op of elementwise.py, bound below the class.

    # ----- backpropagation --------------------------------------------------
    def _local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each parent, at the forward values; () for a leaf."""
        if isinstance(self._kind, _FunctionKind):  # its vector-Jacobian product of 1
            return tuple(_number(g) for g in self._kind.run(Value(1.0), False))
        return _local(self, E.SCALARS, lambda v: v._data) if self._parents else ()

    def _sweep(self, seed, recorded: bool = False) -> dict:
        """d(self)/d(node) for every node reachable from self, for this pass only.

        Floats, or with ``recorded`` Values whose own graph holds this backward pass.
        """
        m, saved = (_RECORDED, lambda v: v) if recorded else (E.SCALARS, lambda v: v._data)
        anomaly = is_anomaly_enabled()
        grads = {self: seed}
        for node in reversed(topo_order(self)):  # every consumer before its parents
            upstream = grads.get(node)
            if not node._parents or upstream is None:
                continue
            if isinstance(node._kind, _FunctionKind):  # its own backward, on Values
                shares = node._kind.shares(upstream, recorded)
            else:  # chain rule: upstream * local
                shares = [upstream * local for local in _local(node, m, saved)]
            for i, (parent, share) in enumerate(zip(node._parents, shares)):
                if share is None:
                    continue
                if anomaly and _value_of(share) != _value_of(share) and _value_of(upstream) == _value_of(upstream):
                    raise _anomaly(node.op, node.label, i)
                # a parent reached along several paths sums them
                if recorded:
                    grads[parent] = share if parent not in grads else grads[parent] + share
                else:
                    grads[parent] = grads.get(parent, 0.0) + share
        return grads

    def backward(self) -> None:
        """Add d(self)/d(node) to ``.grad`` of every node reachable from self.

        The sweep propagates this pass's own gradients (never the ``.grad``
        totals of earlier calls), so each call adds exactly the same amounts.
        """
        if _trace._active[0] is not None:
            _hooks.check_not_tracing("backward()")
        for node, g in self._sweep(1.0).items():
            node._grad += g

    def _gradients(self, inputs, gradient=None, retain_graph=None, create_graph=False) -> list:
        """This pass's d(self)/d(input) for each input (0.0 if unreachable); no ``.grad`` changes.

        ``gradient`` scales the seed (default 1.0); ``retain_graph`` is
        accepted for symmetry with Tensor: a Value graph is never freed. With
        ``create_graph`` the gradients are Values recorded in the graph.
        """
        if _trace._active[0] is not None:
            _hooks.check_not_tracing("tg.grad()")
        for x in inputs:
            if not isinstance(x, Value):
                raise TypeError(f"grad() inputs must be Values, not {_describe(x)}")
        # gradient=: a number, or a Value (a recorded pass differentiates through it)
        if isinstance(gradient, Value):
            seed = gradient if create_graph else gradient._data
        else:
            seed = 1.0 if gradient is None else _real(gradient, "grad() gradient")
        grads = self._sweep(seed, recorded=bool(create_graph))
        if not create_graph:
            return [grads.get(x, 0.0) for x in inputs]
        out = [_as_value(grads.get(x, 0.0)) for x in inputs]
        _mark_from_backward(out, set(topo_order(self)))
        return out

    @property
    def _from_backward(self) -> bool:
        """Made by a recorded backward pass (tg.viz marks it)."""
        return self in _MADE_BY_BACKWARD


E.bind_methods(Value, lambda op, v: _unary(op, v))


def _local(node: Value, m, saved) -> tuple:
    """The local gradients of ``node``'s op in namespace ``m``, reading ``saved(v)`` of each node."""
    op = node._kind
    if op.arity == 2:
        a, b = node._parents
        return op.d(saved(a), saved(b), saved(node), m)
    s = saved(node) if op.saves == "output" else saved(node._parents[0])
    return (op.d(s, node._k, m),) if op is E.PowConst else (op.d(s, m),)


class _RECORDED:
    """elementwise.py's namespace on Values: the rules build graph nodes.

    Constants stay floats until they meet a Value. Piecewise-constant
    derivatives (sign, step) and the rules' branches are decided at the
    current values: their own derivatives are 0 almost everywhere.
    """

    @staticmethod
    def div(a, b):
        return a / b if isinstance(a, Value) or isinstance(b, Value) else ieee.div(a, b)

    @staticmethod
    def pow(a, b):
        return a ** b if isinstance(a, Value) or isinstance(b, Value) else ieee.pow(a, b)

    @staticmethod
    def log(a):
        return a.log() if isinstance(a, Value) else ieee.log(a)

    @staticmethod
    def sin(a):
        return a.sin() if isinstance(a, Value) else ieee.sin(a)

    @staticmethod
    def cos(a):
        return a.cos() if isinstance(a, Value) else ieee.cos(a)

    @staticmethod
    def sign0(s):
        return E.SCALARS.sign0(_value_of(s))

    @staticmethod
    def step(s):
        return E.SCALARS.step(_value_of(s))

    select = staticmethod(E.SCALARS.select)

    @staticmethod
    def is_zero(x):
        return _value_of(x) == 0.0

    @staticmethod
    def zero_base(a, b):
        return E.SCALARS.zero_base(_value_of(a), _value_of(b))


class _FunctionKind:
    """The op of a tg.autograd.Function node: its class name and backward (``run``)."""

    arity, saves = -1, "custom"

    def __init__(self, name: str, run):
        self.name, self.run = name, run

    def shares(self, upstream, recorded: bool) -> list:
        """The Function's own vector-Jacobian product: floats, or Values when recorded."""
        grads = self.run(upstream if isinstance(upstream, Value) else Value(upstream), recorded)
        if recorded:
            return [None if g is None else _as_value(g) for g in grads]
        return [0.0 if g is None else _number(g) for g in grads]


def function_value(out: Value, inputs: list, name: str, run) -> Value:
    """A tg.autograd.Function's node: ``out``'s value, the inputs as parents, ``run`` its backward."""
    node = _node(out._data, _FunctionKind(name, run), tuple(inputs))
    tr = _trace.current()
    if tr is not None:
        tr.on_value_function(node)
    return node


def _number(x) -> float:
    return x._data if isinstance(x, Value) else ieee.as_float(x)


# The nodes tg.grad(..., create_graph=True) made (tg.viz draws them as such).
_MADE_BY_BACKWARD = weakref.WeakSet()


def _mark_from_backward(roots: list, forward: set) -> None:
    """Every node below ``roots`` that is not in the forward graph was made by the backward pass."""
    stack = [r for r in roots if r not in forward]
    while stack:
        v = stack.pop()
        if v in _MADE_BY_BACKWARD:
            continue
        _MADE_BY_BACKWARD.add(v)
        stack.extend(p for p in v._parents if p not in forward)


def _value_of(x) -> float:
    return x._data if isinstance(x, Value) else x


def _as_value(x) -> Value:
    return x if isinstance(x, Value) else Value(x)


# ----- making nodes -------------------------------------------------------------
def _unary(op, a: Value, k: float = 0.0) -> Value:
    data = op.f(a._data, k, E.SCALARS) if op is E.PowConst else op.f(a._data, E.SCALARS)
    out = _node(data, op, (a,))
    if out._kind is not None:  # under no_grad the result is a leaf and keeps no exponent
        out._k = k
    tr = _trace.current() if _trace._active[0] is not None else None
    if tr is not None:  # tg.compile traces: every node, recorded or not
        if op is E.PowConst:
            tr.on_value_pow(out, a, k, not _mode.enabled)
        else:
            tr.on_value_op(out, op, a, None, not _mode.enabled)
    return out


def _binary(op, self: Value, other, reflected: bool = False):
    b = _operand(self, other, reflected)
    if b is None:
        return NotImplemented
    a, b = (b, self) if reflected else (self, b)
    out = _node(op.f(a._data, b._data, E.SCALARS), op, (a, b))
    tr = _trace.current() if _trace._active[0] is not None else None
    if tr is not None:
        tr.on_value_op(out, op, a, b, not _mode.enabled)
    return out


def _node(data: float, op, parents: tuple) -> Value:
    """The result of an op: a graph node, or a leaf inside ``no_grad()``."""
    out = Value.__new__(Value)
    out._data = data
    out._grad = 0.0
    out._k = 0.0
    out._label = ""
    if _mode.enabled:
        out._kind, out._parents = op, parents
    else:
        out._kind, out._parents = None, ()
    return out


def _leaf(data: float, grad: float, label: str) -> Value:
    """Rebuild a pickled or copied Value (a leaf)."""
    v = Value(data, label)
    v._grad = grad
    return v


# ----- operands and errors (docs/DESIGN.md Note [Errors]) --------------------
def _is_foreign(obj) -> bool:
    """A tapegrad object other than a reference Value: a native Value, or a Tensor."""
    return (
        not isinstance(obj, Value)
        and (type(obj).__module__ or "").startswith("tapegrad")
        and type(obj).__name__ in ("Value", "Tensor")
    )


def _describe(obj) -> str:
    """'a tapegrad.reference Value', 'a tapegrad (native) Tensor', or the type's name."""
    if not (isinstance(obj, Value) or _is_foreign(obj)):
        return type(obj).__name__
    reference = type(obj).__module__.startswith("tapegrad.reference")
    backend = "tapegrad.reference" if reference else "tapegrad (native)"
    return f"a {backend} {type(obj).__name__}"


def _real(x, what: str) -> float:
    """``float(x)`` of a real number; a TypeError naming ``what`` and a Value or Tensor as such."""
    if isinstance(x, Value) or _is_foreign(x):
        raise TypeError(f"{what} must be a real number, not {_describe(x)}")
    return ieee.as_float(x, what)


def _operand(self: Value, other, reflected: bool = False):
    """``other`` as a Value (a number becomes a constant leaf), or None if unsupported.

    None makes the operator return NotImplemented, so that Python raises its
    usual TypeError ("unsupported operand type(s) for +: 'Value' and 'str'").
    A Tensor or another backend's Value is a TypeError naming both sides.
    """
    if isinstance(other, Value):
        return other
    if _is_foreign(other):
        left, right = (other, self) if reflected else (self, other)
        raise TypeError(f"cannot combine {_describe(left)} with {_describe(right)}")
    if _hooks.is_traced(other):  # a tracked number of tg.compile: the leaf reads it at each replay
        leaf = _node(_hooks.number_operand(other)[0], None, ())
        _hooks.leaf_from(leaf, other)
        return leaf
    try:
        leaf = _node(ieee.as_float(other), None, ())
    except TypeError:
        return None
    if _trace._active[0] is not None:
        _hooks.leaf_from(leaf, other)
    return leaf
