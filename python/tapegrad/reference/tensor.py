"""The reference Tensor: an n-d array node backed by NumPy.

A Tensor holds a float32, float64 or int64 array (Note [Dtypes]). An
operation on tensors that require grad records a node: its row of the op
table (``tensor_ops.OPS``, forward beside backward), its parents, the values
the row's backward reads and the op's parameters. ``backward()`` then runs
the textbook sweep of ``_tensor_autograd.py``.
"""
from __future__ import annotations

import numpy as np

from .._integers import INT64, INT_GRAD, INT_NO_GRAD
from .._shared import requires_grad_arg
from . import _autograd, _trace
from . import _compile_hooks as _hooks
from . import elementwise as E
from . import tensor_ops as ops
from ._index import index_key
from ._shapes import broadcast_shape, normalize_dims, one_dim, permute_axes, reshape_target, softmax_axis
from ._tensor_data import (backend_name, check_matmul, check_shape, describe, grad_data, int_operands,
                           is_number, number_array, promote, same_dtype, shape_args, to_array)

__all__ = ["Tensor"]

# What a node's ``_saved`` becomes once backward(retain_graph=False) has used it.
_FREED = object()


# ----------------------------------------------------------------------------
# Recording a node


def _saved_values(row, arrays: tuple, out) -> tuple:
    """What ``row``'s backward reads, as its ``saves`` says (views, no copies)."""
    saves = row.saves
    if saves in ("input", "inputs"):
        return arrays
    if saves == "output":
        return (out,)
    if saves == "inputs+output":
        return arrays + (out,)
    return ()


def apply(row, parents: tuple, **params) -> "Tensor":
    """Run ``row``'s forward on the parents' arrays; record the node if grad is needed."""
    arrays = tuple(p._data for p in parents)
    if any(a.dtype == INT64 for a in arrays):  # Note [Dtypes]: where int64 computes in float32
        arrays = int_operands(row, arrays)
    with np.errstate(all="ignore"):  # IEEE results (inf, nan), never warnings
        result = row.forward(*arrays, **params)
    out, custom = result if row.saves == "custom" else (result, None)
    out = np.asarray(out)
    record = _autograd.is_grad_enabled() and any(p._requires_grad for p in parents)
    t = Tensor._wrap(out, record)
    if _trace._active[0] is not None:  # tg.compile traces: every op, recorded or not
        _hooks.tensor_op(t, row, parents, params)
    if record:
        t._from_backward = _autograd.is_recording_backward()
        t._row = row
        t._parents = parents
        t._params = params
        t._saved = custom if custom is not None else _saved_values(row, arrays, out)
    return t


def expand(t: "Tensor", shape: tuple) -> "Tensor":
    """``t`` broadcast to ``shape`` as an ``expand`` node (Note [Broadcast reduction]).

    Only operands that will receive a gradient get the node; a constant (a
    number, a tensor without requires_grad) is left to NumPy's implicit
    broadcasting, since nothing is ever summed back to it. So every row's
    backward sees full-shape operands wherever a gradient is wanted.
    """
    if t._data.shape == shape or not (t._requires_grad and _autograd.is_grad_enabled()):
        return t
    return apply(ops.Expand, (t,), shape=shape)


def broadcast(op: str, *tensors: "Tensor") -> tuple:
    """The tensors expanded to their common shape, for an elementwise ``op``."""
    # Fast path: one shape among the operands, apart from 0-d constants (plain
    # numbers), which NumPy broadcasts and which never take a gradient.
    if len({t._data.shape for t in tensors if t._data.ndim or t._requires_grad}) <= 1:
        return tensors
    shape = broadcast_shape(*(t.shape for t in tensors), op=op)
    check_shape(shape, promote(*(t.dtype for t in tensors)))
    return tuple(expand(t, shape) for t in tensors)


class Tensor:
    """An n-d array of float32/float64 (or int64 indices) that records the operations applied to it."""

    __slots__ = ("_data", "_grad", "_requires_grad", "_row", "_parents", "_saved", "_params", "_label", "_hooks",
                 "_retains_grad", "_from_backward", "__weakref__")

    # ``ndarray + Tensor`` defers to Tensor.__radd__ instead of looping in NumPy
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        flag = requires_grad_arg(requires_grad)
        self._leaf(to_array(data, dtype), flag)

    @classmethod
    def _wrap(cls, array: np.ndarray, requires_grad: bool = False) -> "Tensor":
        """A leaf around an existing float32/float64 array, without copying."""
        t = cls.__new__(cls)
        t._leaf(array, requires_grad)
        return t

    def _leaf(self, array: np.ndarray, requires_grad: bool) -> None:
        if requires_grad and array.dtype == INT64:
            raise TypeError(INT_GRAD)
        self._data = array
        self._grad = None
        self._requires_grad = requires_grad
        self._row = None  # the op's row in tensor_ops.OPS, None for a leaf
        self._parents = ()
        self._saved = ()
        self._params = {}
        self._label = ""
        self._hooks = []  # register_hook's (id, hook) pairs
        self._retains_grad = False
        self._from_backward = False  # made by a recorded backward pass (tg.viz marks it)
        if _trace._active[0] is not None:
            _hooks.tensor_leaf(self)

    # -- properties --------------------------------------------------------

    @property
    def data(self) -> np.ndarray:
        """The values (assignable: optimizers write it; the dtype is kept)."""
        return self._read()

    def _read(self) -> np.ndarray:
        """The values handed to Python: while tracing, a read that guards them."""
        if _trace._active[0] is not None:
            _hooks.tensor_read(self)
        return self._data

    @data.setter
    def data(self, value) -> None:
        data = to_array(value._data if isinstance(value, Tensor) else value, dtype=self._data.dtype, copy=False)
        if _trace._active[0] is not None:  # a store of the tape
            _hooks.tensor_store(self, value, data)
        self._data = data

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        flag = requires_grad_arg(flag)
        if not self.is_leaf:
            raise RuntimeError(f"requires_grad can only be changed on a leaf tensor; this one was computed by "
                               f"op {self.op!r} (use detach() to get a leaf)")
        if flag and self.dtype == INT64:
            raise TypeError(INT_GRAD)
        self._requires_grad = flag

    @property
    def grad(self):
        """The accumulated gradient (a Tensor of this tensor's shape and dtype), or None; assignable."""
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None and self.dtype == INT64:
            raise TypeError(INT_NO_GRAD)
        g = value if value is None or isinstance(value, Tensor) else Tensor._wrap(grad_data(value, self.dtype))
        if g is not None and g.shape != self.shape:
            raise ValueError(f"assigned grad has shape {g.shape} but the tensor has shape {self.shape}")
        self._grad = g if g is None or g.dtype == self.dtype else Tensor._wrap(g._data.astype(self.dtype))

    @property
    def label(self) -> str:
        """A name shown in graph drawings (str, assignable)."""
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Tensor.label must be a str, not {type(value).__name__}")
        self._label = value

    @property
    def is_leaf(self) -> bool:
        """True for tensors not computed by a recorded op (created, detached, constants)."""
        return self._row is None

    @property
    def op(self) -> str:
        """The op that made this tensor: '' for leaves, else its row's name ("**2" for a ** 2)."""
        if self._row is None:
            return ""
        if self._row is ops.PowConst:
            return f"**{format(self._params['k'], 'g')}"
        return self._params["name"] if self._row is ops.Function else self._row.name

    @property
    def parents(self) -> tuple:
        return self._parents

    # -- conversion: numpy, __array__, __dlpack__, item, tolist, float, int, bool are
    # bound by _tensor_convert.py (reads that tg.compile guards)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="Tensor(")
        extras = f", shape={self.shape}" if self.size == 0 and self.ndim > 1 else ""
        if self.dtype != np.float32:
            extras += f", dtype={self.dtype}"
        if self.op:
            extras += f", op={self.op!r}"
        elif self._requires_grad:
            extras += ", requires_grad=True"
        return f"Tensor({body}{extras})"

    def __reduce__(self):
        return (_rebuild, (self._data, self._requires_grad, self.label))

    __hash__ = object.__hash__  # identity, so tensors can key dicts and sets

    # -- operands ----------------------------------------------------------

    def _operand(self, other):
        """``other`` as a Tensor (numbers take this tensor's dtype), or None if foreign."""
        if isinstance(other, Tensor):
            return other
        if _hooks.is_traced(other):  # a tracked number: the tape fills the leaf from it
            return _hooks.traced_scalar(other, self.dtype)
        if is_number(other):
            return Tensor._wrap(number_array(other, self.dtype))
        if isinstance(other, (np.ndarray, np.generic, list, tuple)):
            return Tensor(other)
        if backend_name(other) is not None:
            raise TypeError(f"cannot combine {describe(self)} with {describe(other)}")
        return None

    def _binary(self, other, row, reflected: bool = False):
        other = self._operand(other)
        if other is None:
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        return apply(row, broadcast(row.name, a, b))

    def __add__(self, other, /):
        return self._binary(other, ops.Add)

    def __radd__(self, other, /):
        return self._binary(other, ops.Add, reflected=True)

    def __sub__(self, other, /):
        return self._binary(other, ops.Sub)

    def __rsub__(self, other, /):
        return self._binary(other, ops.Sub, reflected=True)

    def __mul__(self, other, /):
        return self._binary(other, ops.Mul)

    def __rmul__(self, other, /):
        return self._binary(other, ops.Mul, reflected=True)

    def __truediv__(self, other, /):
        return self._binary(other, ops.Div)

    def __rtruediv__(self, other, /):
        return self._binary(other, ops.Div, reflected=True)

    def __neg__(self):
        return apply(ops.Neg, (self,))

    def __pow__(self, other, modulo=None, /):
        """x ** k for a number k (op '**k'), else x ** b (op '**')."""
        if modulo is not None:
            return NotImplemented  # pow(x, k, m): Python's TypeError, as for float
        if is_number(other):
            return apply(ops.PowConst, (self,), k=float(other))
        return self._binary(other, ops.Pow)

    def __rpow__(self, other, /):
        return self._binary(other, ops.Pow, reflected=True)

    def __matmul__(self, other, /):
        other = self._operand(other)
        return NotImplemented if other is None else _matmul(self, other)

    def __rmatmul__(self, other, /):
        other = self._operand(other)
        return NotImplemented if other is None else _matmul(other, self)

    def __abs__(self):
        return self.abs()

    # Comparisons: float 1.0/0.0 of the promoted dtype, never recorded (Note [Dtypes])

    def _compare(self, other, row):
        other = self._operand(other)
        if other is None:
            return NotImplemented
        broadcast_shape(self.shape, other.shape, op=row.name)
        a, b = same_dtype(self._data, other._data)
        with np.errstate(all="ignore"):
            hits = row.forward(a, b)
        out = Tensor._wrap(hits.astype(a.dtype))
        if _trace._active[0] is not None:  # a leaf once traced, but the tape replays the comparison
            _hooks.tensor_op(out, row, (self, other), {})
        return out

    def __lt__(self, other, /):
        return self._compare(other, ops.Lt)

    def __le__(self, other, /):
        return self._compare(other, ops.Le)

    def __gt__(self, other, /):
        return self._compare(other, ops.Gt)

    def __ge__(self, other, /):
        return self._compare(other, ops.Ge)

    def __eq__(self, other, /):
        return self._compare(other, ops.Eq)

    def __ne__(self, other, /):
        return self._compare(other, ops.Ne)

    # -- elementwise functions: abs, relu, tanh, sigmoid, exp, log, sqrt, sin,
    # cos, one method per named unary op of elementwise.py, bound below the class.

    # -- reductions ----------------------------------------------------------

    def _reduce(self, op, dim, keepdim, axis, keepdims):
        if axis is not None:
            if dim is not None:
                raise TypeError(f"{op}() got both dim and axis")
            dim = axis
        keepdim = keepdim if keepdims is None else keepdims
        axes = normalize_dims(dim, self.ndim)
        if op in ("max", "min") and any(self.shape[d] == 0 for d in axes):
            raise ValueError(f"{op}() over an empty dimension of a tensor of shape {self.shape}")
        return apply(ops.row_named(op), (self,), axes=axes, keepdims=bool(keepdim))

    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Sum over ``dim`` (None: all; an int or a tuple); d/dx_i = 1."""
        return self._reduce("sum", dim, keepdim, axis, keepdims)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Mean over ``dim``; d/dx_i = 1/n for the n elements averaged."""
        return self._reduce("mean", dim, keepdim, axis, keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Largest element over ``dim``; the gradient goes to the maxima, split evenly among ties."""
        return self._reduce("max", dim, keepdim, axis, keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Smallest element over ``dim``; the gradient goes to the minima, split evenly among ties."""
        return self._reduce("min", dim, keepdim, axis, keepdims)

    # -- movement ------------------------------------------------------------

    def reshape(self, *shape):
        """The same values in a new shape (one size may be -1); the gradient is reshaped back."""
        return apply(ops.Reshape, (self,), shape=reshape_target(shape_args(shape), self.shape))

    def transpose(self, dim0, dim1):
        """Swap two dimensions; the gradient is swapped back."""
        axes = list(range(self.ndim))
        i, j = one_dim(dim0, self.ndim), one_dim(dim1, self.ndim)  # a 0-d tensor takes 0 and -1 (as PyTorch)
        if self.ndim:
            axes[i], axes[j] = axes[j], axes[i]
        return apply(ops.Transpose, (self,), axes=tuple(axes))

    @property
    def T(self):
        """All axes reversed (NumPy's ``.T``); a ``transpose`` node."""
        return apply(ops.Transpose, (self,), axes=tuple(reversed(range(self.ndim))))

    def permute(self, *dims):
        """Reorder the dimensions; the gradient takes the inverse order."""
        return apply(ops.Permute, (self,), axes=permute_axes(shape_args(dims), self.ndim))

    def __getitem__(self, key, /):
        """NumPy indexing. Tensor and list indices are integer ids (not masks); the
        gradient is scattered back with ``np.add.at``, so repeated ids add up."""
        out = apply(ops.GetItem, (self,), key=index_key(key, self.shape, Tensor))
        if _trace._active[0] is not None:  # index tensors: the tape reads their ids at each replay
            _hooks.ids_from(out, "index", key)
        return out

    # -- softmax family --------------------------------------------------------

    def softmax(self, dim=-1):
        """e^x / sum(e^x) along ``dim``, shifted by the max so no exp overflows."""
        return apply(ops.Softmax, (self,), axis=softmax_axis(dim, self.ndim))

    def log_softmax(self, dim=-1):
        """x - logsumexp(x) along ``dim``, computed stably."""
        return apply(ops.LogSoftmax, (self,), axis=softmax_axis(dim, self.ndim))

    # -- autograd ------------------------------------------------------------

    def detach(self) -> "Tensor":
        """A leaf sharing this tensor's data, outside the graph."""
        out = Tensor._wrap(self._data)
        if _trace._active[0] is not None:
            _hooks.tensor_detached(out, self)
        return out

    def zero_grad(self) -> None:
        """Set .grad to None."""
        self._grad = None

    # register_hook, retain_grad, retains_grad: _tensor_autograd.py binds them.

    def backward(self, gradient=None, retain_graph=None, create_graph=False) -> None:
        """Add d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        With ``create_graph`` the backward pass records its own ops, so the
        gradients can be differentiated again; ``retain_graph`` defaults to
        ``create_graph``.
        """
        from ._tensor_autograd import backward

        if _trace._active[0] is not None:
            _hooks.check_not_tracing("backward()")
        backward(self, gradient, retain_graph, create_graph)

    def _gradients(self, inputs, gradient=None, retain_graph=None, create_graph=False) -> list:
        """This pass's d(self)/d(input) for each input; no ``.grad`` is touched.

        An input that ``self`` does not depend on gets zeros.
        """
        from ._tensor_autograd import gradients

        if _trace._active[0] is not None:
            _hooks.check_not_tracing("tg.grad()")
        return gradients(self, inputs, gradient, retain_graph, create_graph)


E.bind_methods(Tensor, lambda op, t: apply(ops.row_named(op.name), (t,)))


def _rebuild(data, requires_grad, label):
    t = Tensor._wrap(np.array(data), requires_grad)
    t.label = label
    return t


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    check_matmul(a.shape, b.shape, np.result_type(a.dtype, b.dtype))
    return apply(ops.MatMul, (a, b))
