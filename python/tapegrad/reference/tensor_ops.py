"""The reference Tensor's op table: one row per op, forward beside backward.

Rows appear in the order of the C++ op table (``cpp/core/op_table.h``; a test
checks that the names match). The elementwise rows are made from
elementwise.py, whose math the Value shares; the others are written here.
Each row is a class with two static methods:

* ``forward(*arrays, **params) -> out`` on plain NumPy arrays (a ``custom``
  row returns ``(out, saved)``: what its backward reads besides the usual);
* ``backward(g, s, F) -> tuple``: one gradient per parent, shaped like that
  parent (``None`` for a parent that never takes one, such as ``where``'s
  condition). ``s.input(i)`` and ``s.output()`` are the values the row's
  ``saves`` names, ``s.params`` the forward's parameters; ``F`` is the
  namespace the rule computes in. In the fused sweep they are NumPy arrays
  and ``_array_f.ARRAY_F``; in the recorded one (``create_graph=True``) they are the
  node's parents, the node itself and the Tensor ops of ``_tensor_autograd.TENSOR_F``, so
  the gradients become graph nodes that can be differentiated again.

The ``Tensor`` class (tensor.py) does the wiring: it calls ``forward``,
records the parents and what ``saves`` names, and its backward sweep asks
each node's row for the gradients of its parents.

Binary elementwise ops see operands of the SAME shape: broadcasting is made
explicit by ``Expand`` nodes (Note [Broadcast reduction]), whose backward
``sum_to`` is the one place where gradients are summed back to an operand's
shape. Only matmul, whose batch dimensions broadcast under its own rules,
calls ``sum_to`` directly.
"""
from __future__ import annotations

import numpy as np

from . import elementwise as E
from ._shapes import broadcast_shape, normalize_dims
from .index_ops import Argmax, Argmin, Embedding, Gather

__all__ = ["OPS", "ROWS", "row_named"]


class Row:
    name = ""
    saves = "none"  # "none", "input(s)", "output", "inputs+output", or "custom"
    python = ""


# ----------------------------------------------------------------------------
# Elementwise rows, from elementwise.py: f forward, g * d backward


def _unary_row(op, arrays=E.ARRAYS):
    """The row of a unary rule; ``op.params`` names its numbers (``k``, a slope, bounds), which
    the Tensor passes to ``apply`` by those names. ``arrays``: the namespace of the forward."""
    params = getattr(op, "params", ("k",) if op is E.PowConst else ())

    class Unary(Row):
        name, saves, python = op.name, op.saves, op.python
        rule = op

        @staticmethod
        def forward(a, **given):
            return op.f(a, *(given[p] for p in params), arrays)

        @staticmethod
        def backward(g, s, F):
            if op.pass_[0] == -1:
                return (-g,)
            saved = s.output() if op.saves == "output" else s.input(0)
            numbers = tuple(s.params[p] for p in params)
            if getattr(op, "piecewise", False) and F.recorded:  # a constant of the graph: the arrays' value
                return (g * F.constant(op.d(F.data(saved), *numbers, arrays)),)
            return (g * op.d(saved, *numbers, F.math),)

    Unary.__name__ = Unary.__qualname__ = op.__name__
    return Unary


def _binary_row(op):
    class Binary(Row):
        name, saves, python = op.name, op.saves, op.python
        rule = op

        @staticmethod
        def forward(a, b):
            return op.f(a, b, E.ARRAYS)

        @staticmethod
        def backward(g, s, F):
            has_inputs = op.saves in ("inputs", "inputs+output") or F.recorded
            a, b = (s.input(0), s.input(1)) if has_inputs else (None, None)
            if has_inputs and a.dtype != b.dtype:  # the local gradients in the result's dtype
                a, b = F.astype(a, g.dtype), F.astype(b, g.dtype)  # float32 -> float64 is exact
            out = s.output() if op.saves == "inputs+output" or F.recorded else None
            if getattr(op, "piecewise", False) and F.recorded:  # constants of the graph: the arrays' values
                local = tuple(F.constant(d) for d in op.d(F.data(a), F.data(b), None, E.ARRAYS))
            else:
                local = op.d(a, b, out, F.math)
            grads = []
            for i in (0, 1):
                p = op.pass_[i]
                grads.append(g if p == 1 else -g if p == -1 else g * local[i])
            return tuple(grads)

    Binary.__name__ = Binary.__qualname__ = op.__name__
    return Binary


def _compare_row(op):
    class Compare(Row):
        name, python = op.name, op.python
        rule = op

        @staticmethod
        def forward(a, b):
            return op.fn(a, b)

    Compare.__name__ = Compare.__qualname__ = op.__name__
    return Compare


# One row per op of elementwise.py, in its order (the table's first rows)
ELEMENTWISE = tuple(_binary_row(op) if op.arity == 2 else _unary_row(op) for op in E.ELEMENTWISE)
COMPARE = tuple(_compare_row(op) for op in E.COMPARE)
_named = {row.__name__: row for row in ELEMENTWISE + COMPARE}
Add, Sub, Mul, Div, Neg, PowConst, Pow = (_named[n] for n in ("Add", "Sub", "Mul", "Div", "Neg", "PowConst", "Pow"))
Lt, Le, Gt, Ge, Eq, Ne = COMPARE


# ----------------------------------------------------------------------------
# tg.autograd.Function: forward and backward from outside the table


class Function(Row):
    """A Function's node: ``params`` holds its class name and ``run`` (tapegrad/autograd.py)."""

    name, saves = "function", "custom"

    @staticmethod
    def backward(g, s, F):  # the Function's own backward, on Tensors
        grads = s.params["run"](F.to_tensor(g), F.recorded)
        return tuple(None if x is None else F.from_tensor(x) for x in grads)


# ----------------------------------------------------------------------------
# Matmul


class MatMul(Row):
    """NumPy's matmul: 1-D operands are promoted (a row / a column) and the
    promoted dimension dropped from the result; batch dimensions broadcast."""

    name, saves, python = "@", "inputs", "__matmul__"

    @staticmethod
    def forward(a, b):
        return np.matmul(a, b)

    @staticmethod
    def backward(g, s, F):  # d(AB)/dA = G B^T, d(AB)/dB = A^T G
        a, b = s.input(0), s.input(1)
        a2 = F.reshape(a, (1,) + a.shape) if a.ndim == 1 else a
        b2 = F.reshape(b, b.shape + (1,)) if b.ndim == 1 else b
        batch = broadcast_shape(a2.shape[:-2], b2.shape[:-2])
        g2 = F.reshape(g, batch + (a2.shape[-2], b2.shape[-1]))
        ga = F.matmul(g2, F.swapaxes(b2, -1, -2))
        gb = F.matmul(F.swapaxes(a2, -1, -2), g2)
        # batch dimensions broadcast like elementwise ones: sum them back
        return F.reshape(F.sum_to(ga, a2.shape), a.shape), F.reshape(F.sum_to(gb, b2.shape), b.shape)


# ----------------------------------------------------------------------------
# Reductions


def _kept(shape: tuple, axes: tuple) -> tuple:
    """``shape`` with the reduced axes as size 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _sum(a, axes, keepdims):
    """float32 data summed in float64 and rounded once, as the native kernels do."""
    if a.dtype == np.float32:
        return a.sum(axis=axes, keepdims=keepdims, dtype=np.float64).astype(np.float32)
    return a.sum(axis=axes, keepdims=keepdims)


class Sum(Row):
    name, python = "sum", "sum"

    @staticmethod
    def forward(a, axes, keepdims):
        return _sum(a, axes, keepdims)

    @staticmethod
    def backward(g, s, F):  # d sum(a)/da_i = 1: copy g to every summed element
        shape = s.in_shape(0)
        return (F.broadcast_to(F.reshape(g, _kept(shape, s.params["axes"])), shape),)


class Mean(Row):
    name, python = "mean", "mean"

    @staticmethod
    def forward(a, axes, keepdims):
        n = int(np.prod([a.shape[d] for d in axes]))
        # times 1/n, as the native kernel: an empty mean is nan (0 * nan), never a warning
        return _sum(a, axes, keepdims) * (1.0 / n if n else np.nan)

    @staticmethod
    def backward(g, s, F):  # d mean(a)/da_i = 1/n
        shape, axes = s.in_shape(0), s.params["axes"]
        n = int(np.prod([shape[d] for d in axes]))
        return (F.broadcast_to(F.reshape(g, _kept(shape, axes)) / n, shape),)


class Max(Row):
    """Ties share the gradient evenly (as PyTorch's amax does): with k equal
    maxima each receives g/k, so the gradient sums to g whatever the ties."""

    name, saves, python = "max", "inputs+output", "max"
    reduce = staticmethod(np.max)

    @classmethod
    def forward(cls, a, axes, keepdims):
        return cls.reduce(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(g, s, F):  # d max(a)/da_i = [a_i = max] / #ties (a constant share)
        axes = s.params["axes"]
        a = F.data(s.input(0))
        kept = _kept(a.shape, axes)
        hit = a == F.data(s.output()).reshape(kept)
        share = hit / hit.sum(axis=axes, keepdims=True)
        return (F.reshape(g, kept) * F.constant(share.astype(a.dtype)),)


class Min(Max):
    name, python = "min", "min"
    reduce = staticmethod(np.min)  # same rule with the minima


# ----------------------------------------------------------------------------
# Movement (shape) ops


class Reshape(Row):
    name, python = "reshape", "reshape"

    @staticmethod
    def forward(a, shape):
        return a.reshape(shape)

    @staticmethod
    def backward(g, s, F):  # reshaping moves no values: reshape g back
        return (F.reshape(g, s.in_shape(0)),)


class Transpose(Row):
    """``transpose`` and ``T`` (``permute`` shares the rule): axes reordered."""

    name, python = "transpose", "transpose"

    @staticmethod
    def forward(a, axes):
        return np.transpose(a, axes)

    @staticmethod
    def backward(g, s, F):  # apply the inverse permutation to g
        return (F.transpose(g, tuple(np.argsort(s.params["axes"]))),)


class Permute(Transpose):
    name, python = "permute", "permute"


class Expand(Row):
    """Broadcasting made explicit (Note [Broadcast reduction]), and ``x.expand(*size)``."""

    name, python = "expand", "expand"

    @staticmethod
    def forward(a, shape):
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(g, s, F):  # each input element was copied: sum its copies
        return (F.sum_to(g, s.in_shape(0)),)


class Cast(Row):
    name = "astype"

    @staticmethod
    def forward(a, dtype):
        return a.astype(dtype)

    @staticmethod
    def backward(g, s, F):  # the same numbers: g goes back in the input's dtype
        return (F.astype(g, s.in_dtype(0)),)


class GetItem(Row):
    name, python = "getitem", "__getitem__"

    @staticmethod
    def forward(a, key):
        return a[key]

    @staticmethod
    def backward(g, s, F):  # scatter g back; repeated indices add up
        return (F.scatter(g, s.in_shape(0), s.params["key"]),)


class GetItemBackward(Row):
    """getitem's backward as an op: a scatter-add into zeros (recorded sweeps)."""

    name = "getitem_backward"

    @staticmethod
    def forward(g, shape, key):
        out = np.zeros(shape, dtype=g.dtype)
        np.add.at(out, key, g)
        return out

    @staticmethod
    def backward(g, s, F):  # the scatter-add is linear: its backward gathers again
        return (F.gather(g, s.params["key"]),)


# ----------------------------------------------------------------------------
# Joining and selecting


class Concatenate(Row):
    name, python = "concatenate", "concatenate"

    @staticmethod
    def forward(*arrays, axis):
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(g, s, F):  # each input receives its own slice of g
        axis, start, grads = s.params["axis"], 0, []
        for i in range(s.count()):
            stop = start + s.in_shape(i)[axis]
            grads.append(F.slice(g, axis, start, stop))
            start = stop
        return tuple(grads)


class Stack(Row):
    name, python = "stack", "stack"

    @staticmethod
    def forward(*arrays, axis):
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(g, s, F):  # input i receives g[..., i, ...] along the new axis
        return tuple(F.select(g, s.params["axis"], i) for i in range(s.count()))


class Where(Row):
    """``where(cond, a, b)``; cond is a parent without a gradient. Saves (custom): cond."""

    name, saves, python = "where", "custom", "where"

    @staticmethod
    def forward(cond, a, b):
        return np.where(cond != 0, a, b), (cond,)

    @staticmethod
    def backward(g, s, F):  # d/da = [cond], d/db = [not cond]
        mask = F.data(s.input(0)) != 0
        return None, F.where(mask, g, 0.0), F.where(mask, 0.0, g)


# ----------------------------------------------------------------------------
# Softmax family (stable: shift by the max before exponentiating)


class Softmax(Row):
    name, saves, python = "softmax", "output", "softmax"

    @staticmethod
    def forward(a, axis):
        e = np.exp(a - a.max(axis=axis, keepdims=True, initial=-np.inf))  # initial: zero-size axes
        return e / e.sum(axis=axis, keepdims=True)

    @staticmethod
    def backward(g, s, F):  # ds_i/da_j = s_i (δij - s_j)  =>  s * (g - Σ g s)
        out, axis = s.output(), s.params["axis"]
        return (out * (g - F.sum_keepdims(g * out, axis)),)


class LogSoftmax(Row):
    name, saves, python = "log_softmax", "output", "log_softmax"

    @staticmethod
    def forward(a, axis):
        shifted = a - a.max(axis=axis, keepdims=True, initial=-np.inf)  # initial: zero-size axes
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    @staticmethod
    def backward(g, s, F):  # d log s_i/da_j = δij - s_j  =>  g - s Σ g
        out, axis = s.output(), s.params["axis"]
        return (g - F.exp(out) * F.sum_keepdims(g, axis),)


# ----------------------------------------------------------------------------
# Losses (fused for stability: log-sum-exp once, gradient in closed form)


class CrossEntropy(Row):
    """Mean over the batch of -log softmax(logits)[label]. Saves (custom): the softmax."""

    name, saves, python = "cross_entropy", "custom", "cross_entropy"

    @staticmethod
    def forward(logits, labels):
        shifted = logits - logits.max(axis=-1, keepdims=True, initial=-np.inf)  # initial: zero-size axes
        e = np.exp(shifted)
        total = e.sum(axis=-1, keepdims=True)
        rows = np.arange(logits.shape[0])
        losses = np.log(total[:, 0]) - shifted[rows, labels]
        return np.asarray(losses.sum() / len(losses), dtype=logits.dtype), (e / total,)

    @staticmethod
    def backward(g, s, F):  # dL/dz = (softmax(z) - onehot(label)) / N
        labels = s.params["labels"]
        shape = s.in_shape(0)
        onehot = np.zeros(shape, dtype=s.in_dtype(0))
        onehot[np.arange(shape[0]), labels] = 1
        probs = F.softmax(s.input(0), 1) if F.recorded else s.input(0)
        return ((probs - F.constant(onehot)) * (g / shape[0]),)


class MseLoss(Row):
    """Mean of (pred - target)^2 over every element. Saves (custom): pred - target."""

    name, saves, python = "mse_loss", "custom", "mse_loss"

    @staticmethod
    def forward(pred, target):
        diff = pred - target
        return np.asarray((diff * diff).sum() * (1.0 / diff.size if diff.size else np.nan), dtype=diff.dtype), (diff,)

    @staticmethod
    def backward(g, s, F):  # dL/dpred = 2 (pred - target) / n, dL/dtarget = -that
        diff = s.input(0) - s.input(1) if F.recorded else s.input(0)
        d = diff * (g * (2.0 / max(int(np.prod(diff.shape)), 1)))
        return d, -d


# The Tensor-only rows that follow (activations, var, std, logsumexp, clone): their own file
from . import tensor_ops_nn as _nn  # noqa: E402 - its rows are made with the factories above
# The layers (kind "nn") live in tensor_ops_layers.py, which imports Row from here.
from .tensor_ops_layers import NN_OPS  # noqa: E402

# In the order of the C++ op table (the leaf, which has no row, first there).
OPS = ELEMENTWISE + (Function,) + COMPARE + (
    MatMul, Sum, Mean, Max, Min, Argmax, Argmin, Reshape, Transpose, Permute, Expand, Cast, GetItem, GetItemBackward,
    Gather, Embedding, Concatenate, Stack, Where, Softmax, LogSoftmax, CrossEntropy, MseLoss,
) + _nn.OPS + NN_OPS
ROWS = {row.name: row for row in OPS}


def row_named(name: str):
    """The row of the op called ``name``."""
    return ROWS[name]


del normalize_dims
