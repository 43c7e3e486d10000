"""The reference scalar ``Value``: backpropagation as the textbook tells it.

Every operation creates a new Value that remembers its parents and its op.
Each op's forward method sits right above ``_d_<op>``, its local-gradient
rule: the derivatives of the output with respect to each parent, read off
the values the forward pass left on the nodes (a rule never recomputes what
the forward already has: ``tanh``, ``sigmoid``, ``exp`` and ``sqrt`` use
their own output, ``**k`` keeps its exponent). ``_LOCAL_GRADS`` maps each op
to its rule; ``backward()`` is three steps: sort, seed 1, reverse sweep.
Ops follow the order of docs/DESIGN.md Note [Op strings].
"""
from __future__ import annotations

from . import _scalar as ieee
from ._autograd import _mode, topo_order

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
        if isinstance(data, Value) or _is_foreign(data):
            raise TypeError(f"Value() data must be a real number, not {_describe(data)}")
        self._data = ieee.as_float(data)
        self._grad = 0.0
        self._kind = ""  # the op-table key: op, except "**k" for every a ** number
        self._parents: tuple[Value, ...] = ()
        self._k = 0.0  # the exponent of a "**k" node, unused elsewhere
        self.label = label

    # ----- attributes -------------------------------------------------------
    @property
    def data(self) -> float:
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._data = ieee.as_float(value, "Value.data")

    @property
    def grad(self) -> float:
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        self._grad = ieee.as_float(value, "Value.grad")

    @property
    def op(self) -> str:
        return f"**{format(self._k, 'g')}" if self._kind == "**k" else self._kind

    @property
    def parents(self) -> tuple[Value, ...]:
        return self._parents

    # micrograd's names, read-only, so that code written for micrograd.engine.Value
    # (its draw_dot reads v._prev and v._op) runs unchanged; docs/DESIGN.md Note [Op strings].
    @property
    def _op(self) -> str:
        return self.op

    @property
    def _prev(self) -> frozenset:
        return frozenset(self._parents)

    @property
    def label(self) -> str:
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Value.label must be a str, not {type(value).__name__}")
        self._label = value

    def __repr__(self) -> str:
        return f"Value(data={self._data!r}, grad={self._grad!r})"

    def __float__(self) -> float:
        return self._data

    def __reduce__(self):
        return (_leaf, (self._data, self._grad, self._label))

    # ----- the op table: forward, then local gradients d(out)/d(parent) ----
    def __add__(self, other):
        """a + b; local gradients 1, 1."""
        b = _operand(self, other, "+")
        return NotImplemented if b is None else _node(self._data + b._data, "+", (self, b))

    def _d_add(self):
        return (1.0, 1.0)  # d(a+b)/da = 1, d(a+b)/db = 1

    def __sub__(self, other):
        """a - b; local gradients 1, -1."""
        b = _operand(self, other, "-")
        return NotImplemented if b is None else _node(self._data - b._data, "-", (self, b))

    def _d_sub(self):
        return (1.0, -1.0)  # d(a-b)/da = 1, d(a-b)/db = -1

    def __mul__(self, other):
        """a * b; local gradients b, a."""
        b = _operand(self, other, "*")
        return NotImplemented if b is None else _node(self._data * b._data, "*", (self, b))

    def _d_mul(self):
        a, b = self._parents
        return (b._data, a._data)  # d(ab)/da = b, d(ab)/db = a

    def __truediv__(self, other):
        """a / b; local gradients 1/b, -a/b^2 (IEEE: 1/0 = inf, 0/0 = nan)."""
        b = _operand(self, other, "/")
        return NotImplemented if b is None else _node(ieee.div(self._data, b._data), "/", (self, b))

    def _d_div(self):
        a, b = self._parents
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        return (ieee.div(1.0, b._data), ieee.div(-a._data, b._data * b._data))

    def __neg__(self):
        """-a; local gradient -1."""
        return _node(-self._data, "neg", (self,))

    def _d_neg(self):
        return (-1.0,)  # d(-a)/da = -1

    def __pow__(self, other, modulo=None):
        """a ** k, k a number: op "**k", one parent, local gradient k a^(k-1).

        a ** b, b a Value: op "**", local gradients b a^(b-1) and a^b ln(a).
        """
        if modulo is not None:
            return NotImplemented
        if isinstance(other, Value):
            return _node(ieee.pow(self._data, other._data), "**", (self, other))
        b = _operand(self, other, "**")
        if b is None:
            return NotImplemented
        out = _node(ieee.pow(self._data, b._data), "**k", (self,))
        if out._kind:  # under no_grad the result is a leaf and keeps no exponent
            out._k = b._data
        return out

    def _d_powk(self):
        # d(a^k)/da = k a^(k-1); a^0 is constant, so 0 even at a = 0 (as PyTorch)
        k = self._k
        return (0.0 if k == 0.0 else k * ieee.pow(self._parents[0]._data, k - 1.0),)

    def _d_pow(self):
        a, b = self._parents
        # d(a^b)/da = b a^(b-1) (0 where b = 0), d(a^b)/db = a^b log(a) (0 where a = 0 <= b),
        # the same conventions as PyTorch, which keep 0 * inf from making a nan.
        da = 0.0 if b._data == 0.0 else b._data * ieee.pow(a._data, b._data - 1.0)
        db = 0.0 if a._data == 0.0 and b._data >= 0.0 else self._data * ieee.log(a._data)
        return (da, db)

    def __abs__(self):
        """|a|; local gradient sign(a), 0 at 0."""
        return _node(abs(self._data), "abs", (self,))

    def _d_abs(self):
        a = self._parents[0]._data
        # d|a|/da = sign(a), 0 at 0 (nan stays nan)
        return (1.0 if a > 0.0 else -1.0 if a < 0.0 else 0.0 if a == 0.0 else a,)

    def relu(self):
        """max(a, 0) (nan stays nan); local gradient 1 if a > 0 else 0."""
        a = self._data
        return _node(0.0 if a <= 0.0 else a, "relu", (self,))

    def _d_relu(self):
        return (1.0 if self._parents[0]._data > 0.0 else 0.0,)  # d relu(a)/da = [a > 0]

    def tanh(self):
        """tanh(a); local gradient 1 - tanh(a)^2."""
        return _node(ieee.tanh(self._data), "tanh", (self,))

    def _d_tanh(self):
        return (1.0 - self._data * self._data,)  # d tanh(a)/da = 1 - tanh(a)^2

    def sigmoid(self):
        """s(a) = 1 / (1 + e^-a); local gradient s(1 - s)."""
        return _node(ieee.sigmoid(self._data), "sigmoid", (self,))

    def _d_sigmoid(self):
        s = self._data
        return (s * (1.0 - s),)  # ds/da = s (1 - s)

    def exp(self):
        """e^a (overflow gives inf); local gradient e^a."""
        return _node(ieee.exp(self._data), "exp", (self,))

    def _d_exp(self):
        return (self._data,)  # d e^a/da = e^a

    def log(self):
        """ln(a) (log(0) = -inf, log(-1) = nan); local gradient 1/a."""
        return _node(ieee.log(self._data), "log", (self,))

    def _d_log(self):
        return (ieee.div(1.0, self._parents[0]._data),)  # d ln(a)/da = 1/a

    def sqrt(self):
        """sqrt(a) (sqrt(-1) = nan); local gradient 1 / (2 sqrt(a))."""
        return _node(ieee.sqrt(self._data), "sqrt", (self,))

    def _d_sqrt(self):
        return (ieee.div(1.0, 2.0 * self._data),)  # d sqrt(a)/da = 1 / (2 sqrt(a))

    def sin(self):
        """sin(a); local gradient cos(a)."""
        return _node(ieee.sin(self._data), "sin", (self,))

    def _d_sin(self):
        return (ieee.cos(self._parents[0]._data),)  # d sin(a)/da = cos(a)

    def cos(self):
        """cos(a); local gradient -sin(a)."""
        return _node(ieee.cos(self._data), "cos", (self,))

    def _d_cos(self):
        return (-ieee.sin(self._parents[0]._data),)  # d cos(a)/da = -sin(a)

    # ----- reflected operators: a number on the left becomes a constant leaf
    def __radd__(self, other):
        b = _operand(self, other, "+", reflected=True)
        return NotImplemented if b is None else b + self

    def __rsub__(self, other):
        b = _operand(self, other, "-", reflected=True)
        return NotImplemented if b is None else b - self

    def __rmul__(self, other):
        b = _operand(self, other, "*", reflected=True)
        return NotImplemented if b is None else b * self

    def __rtruediv__(self, other):
        b = _operand(self, other, "/", reflected=True)
        return NotImplemented if b is None else b / self

    def __rpow__(self, other):
        b = _operand(self, other, "**", reflected=True)
        return NotImplemented if b is None else b ** self

    # ----- backpropagation --------------------------------------------------
    def _local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each parent, at the forward values; () for a leaf."""
        return _LOCAL_GRADS[self._kind](self) if self._parents else ()

    def _sweep(self, seed: float) -> dict:
        """d(self)/d(node) for every node reachable from self, for this pass only."""
        grads = {self: seed}
        for node in reversed(topo_order(self)):  # every consumer before its parents
            upstream = grads[node]
            if node._parents:
                for parent, local in zip(node._parents, node._local_grads()):
                    # chain rule; a parent reached along several paths sums them
                    grads[parent] = grads.get(parent, 0.0) + upstream * local
        return grads

    def backward(self) -> None:
        """Add d(self)/d(node) to ``.grad`` of every node reachable from self.

        The sweep propagates this pass's own gradients (never the ``.grad``
        totals of earlier calls), so each call adds exactly the same amounts.
        """
        for node, g in self._sweep(1.0).items():
            node._grad += g

    def _gradients(self, inputs, gradient=None, retain_graph=False) -> list[float]:
        """This pass's d(self)/d(input) for each input (0.0 if unreachable); no ``.grad`` changes.

        ``gradient`` scales the seed (default 1.0); ``retain_graph`` is
        accepted for symmetry with Tensor: a Value graph is never freed.
        """
        for x in inputs:
            if not isinstance(x, Value):
                raise TypeError(f"grad() inputs must be Values, not {_describe(x)}")
        seed = 1.0 if gradient is None else ieee.as_float(gradient, "grad() gradient")
        grads = self._sweep(seed)
        return [grads.get(x, 0.0) for x in inputs]


_LOCAL_GRADS = {
    "+": Value._d_add,
    "-": Value._d_sub,
    "*": Value._d_mul,
    "/": Value._d_div,
    "neg": Value._d_neg,
    "**k": Value._d_powk,
    "**": Value._d_pow,
    "abs": Value._d_abs,
    "relu": Value._d_relu,
    "tanh": Value._d_tanh,
    "sigmoid": Value._d_sigmoid,
    "exp": Value._d_exp,
    "log": Value._d_log,
    "sqrt": Value._d_sqrt,
    "sin": Value._d_sin,
    "cos": Value._d_cos,
}


def _node(data: float, op: str, parents: tuple) -> Value:
    """The result of an op: a graph node, or a leaf inside ``no_grad()``."""
    out = Value.__new__(Value)
    out._data = data
    out._grad = 0.0
    out._k = 0.0
    out._label = ""
    if _mode.enabled:
        out._kind, out._parents = op, parents
    else:
        out._kind, out._parents = "", ()
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


def _operand(self: Value, other, op: str, reflected: bool = False):
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
    try:
        return _node(ieee.as_float(other), "", ())
    except TypeError:
        return None
