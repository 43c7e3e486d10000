"""The reference Tensor's op table: one row per op, forward beside backward.

Each row is a class with two static methods working on plain NumPy arrays:

* ``forward(*arrays, **params) -> (out, ctx)``: the result, and exactly what
  the backward needs from the forward pass (the intermediate results are
  reused, never recomputed);
* ``backward(ctx, g) -> tuple``: given the upstream gradient ``g`` (shaped
  like ``out``), one gradient per parent, shaped like that parent (``None``
  for a parent that never takes a gradient, such as ``where``'s condition).

The ``Tensor`` class (tensor.py) does the wiring: it calls ``forward``,
records the parents and ``ctx`` on the new node, and its backward sweep looks
the row up by op string in ``OPS``. Rows appear in the order of the op table of
docs/DESIGN.md (Note [Op strings]) so the two backends read side by side.

Binary elementwise ops here see operands of the SAME shape: broadcasting is
made explicit by ``Expand`` nodes (Note [Broadcast reduction]), whose backward
``sum_to`` is the one place where gradients are summed back to an operand's
shape. Only matmul, whose batch dimensions broadcast under its own rules,
calls ``sum_to`` directly.
"""
from __future__ import annotations

import numpy as np

__all__ = ["OPS", "row_for", "broadcast_shape", "sum_to", "normalize_dims"]


# ----------------------------------------------------------------------------
# Shapes: broadcasting and its reverse


def broadcast_shape(*shapes: tuple, op: str = "") -> tuple:
    """NumPy's broadcast of ``shapes``; ValueError naming them (and the op) when they clash."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        where = f"{op}: " if op else ""
        raise ValueError(f"{where}shapes {listed} do not broadcast") from None


def sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched, down to ``shape``.

    This reverses ``np.broadcast_to(x, g.shape)``: leading axes that ``shape``
    lacks are summed away, and axes where ``shape`` has size 1 are summed with
    keepdims.
    """
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def normalize_dims(dim, ndim: int) -> tuple:
    """``dim`` (None, an int or a tuple of ints) as a sorted tuple of axes in range."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise TypeError(f"dim must be an int or a tuple of ints, got {type(d).__name__}")
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise ValueError(f"dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(int(d) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"dim {dim} repeats a dimension")
    # a 0-d tensor accepts dim 0 / -1 (as PyTorch does) and has nothing to reduce
    return tuple(sorted(out)) if ndim else ()


def _unreduce(g: np.ndarray, in_shape: tuple, axes: tuple, keepdims: bool) -> np.ndarray:
    """Give ``g`` (the shape of a reduction's output) back the reduced axes, as size 1."""
    if not keepdims and in_shape:
        g = np.expand_dims(g, axes)
    return g


# ----------------------------------------------------------------------------
# Binary elementwise (operands already expanded to one shape)


class Add:
    @staticmethod
    def forward(a, b):
        return a + b, None

    @staticmethod
    def backward(ctx, g):  # d(a+b)/da = 1, d(a+b)/db = 1
        return g, g


class Sub:
    @staticmethod
    def forward(a, b):
        return a - b, None

    @staticmethod
    def backward(ctx, g):  # d(a-b)/da = 1, d(a-b)/db = -1
        return g, -g


class Mul:
    @staticmethod
    def forward(a, b):
        return a * b, (a, b)

    @staticmethod
    def backward(ctx, g):  # d(ab)/da = b, d(ab)/db = a
        a, b = ctx
        return g * b, g * a


class Div:
    @staticmethod
    def forward(a, b):
        return a / b, (a, b)

    @staticmethod
    def backward(ctx, g):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        a, b = ctx
        return g / b, -g * a / (b * b)


# ----------------------------------------------------------------------------
# Unary elementwise


class Neg:
    @staticmethod
    def forward(a):
        return -a, None

    @staticmethod
    def backward(ctx, g):  # d(-a)/da = -1
        return (-g,)


class PowConst:
    """``a ** k`` for a plain number k (op string ``**k``, e.g. ``**2``)."""

    @staticmethod
    def forward(a, k):
        return a**k, (a, k)

    @staticmethod
    def backward(ctx, g):  # d(a^k)/da = k a^(k-1); a^0 is constant: 0 even at a = 0
        a, k = ctx
        if k == 0:
            return (np.zeros_like(g),)
        return (g * (k * a ** (k - 1)),)


class Pow:
    """``a ** b`` with a Tensor exponent (op string ``**``)."""

    @staticmethod
    def forward(a, b):
        # C's pow() in float64, rounded to the operands' dtype: NumPy's float32
        # power takes shortcuts that disagree with pow() at the extremes
        # ((-inf) ** 0.5 gives nan instead of inf).
        out = np.power(a.astype(np.float64), b.astype(np.float64)).astype(np.result_type(a, b))
        return out, (a, b, out)

    @staticmethod
    def backward(ctx, g):  # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log(a)
        # 0 where b = 0 (for a) and where a = 0 <= b (for b), as the Value and
        # PyTorch do, so that 0 * inf does not make a nan
        a, b, out = ctx
        da = np.where(b == 0, 0, b * a ** (b - 1))
        db = np.where((a == 0) & (b >= 0), 0, out * np.log(a))
        return g * da, g * db


class Abs:
    @staticmethod
    def forward(a):
        return np.abs(a), a

    @staticmethod
    def backward(a, g):  # d|a|/da = sign(a), 0 at 0
        return (g * np.sign(a),)


class Relu:
    @staticmethod
    def forward(a):
        out = np.maximum(a, 0)
        return out, out

    @staticmethod
    def backward(out, g):  # d relu(a)/da = 1 if a > 0 else 0
        return (g * (out > 0),)


class Tanh:
    @staticmethod
    def forward(a):
        out = np.tanh(a)
        return out, out

    @staticmethod
    def backward(out, g):  # d tanh(a)/da = 1 - tanh(a)^2
        return (g * (1 - out * out),)


class Sigmoid:
    @staticmethod
    def forward(a):
        # exp of a non-positive number only, so neither branch overflows
        e = np.exp(-np.abs(a))
        out = np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        return out, out

    @staticmethod
    def backward(out, g):  # d s(a)/da = s (1 - s)
        return (g * out * (1 - out),)


class Exp:
    @staticmethod
    def forward(a):
        out = np.exp(a)
        return out, out

    @staticmethod
    def backward(out, g):  # d exp(a)/da = exp(a)
        return (g * out,)


class Log:
    @staticmethod
    def forward(a):
        return np.log(a), a

    @staticmethod
    def backward(a, g):  # d log(a)/da = 1/a
        return (g / a,)


class Sqrt:
    @staticmethod
    def forward(a):
        out = np.sqrt(a)
        return out, out

    @staticmethod
    def backward(out, g):  # d sqrt(a)/da = 1 / (2 sqrt(a))
        return (g / (2 * out),)


class Sin:
    @staticmethod
    def forward(a):
        return np.sin(a), a

    @staticmethod
    def backward(a, g):  # d sin(a)/da = cos(a)
        return (g * np.cos(a),)


class Cos:
    @staticmethod
    def forward(a):
        return np.cos(a), a

    @staticmethod
    def backward(a, g):  # d cos(a)/da = -sin(a)
        return (-g * np.sin(a),)


# ----------------------------------------------------------------------------
# Matmul


class MatMul:
    """NumPy's matmul: 1-D operands are promoted (a row / a column) and the
    promoted dimension dropped from the result; batch dimensions broadcast."""

    @staticmethod
    def forward(a, b):
        return np.matmul(a, b), (a, b)

    @staticmethod
    def backward(ctx, g):  # d(AB)/dA = G B^T, d(AB)/dB = A^T G
        a, b = ctx
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        batch = broadcast_shape(a2.shape[:-2], b2.shape[:-2])
        g2 = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
        gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
        # batch dimensions broadcast like elementwise ones: sum them back
        return sum_to(ga, a2.shape).reshape(a.shape), sum_to(gb, b2.shape).reshape(b.shape)


# ----------------------------------------------------------------------------
# Reductions


class Sum:
    @staticmethod
    def forward(a, axes, keepdims):
        return a.sum(axis=axes, keepdims=keepdims), (a.shape, axes, keepdims)

    @staticmethod
    def backward(ctx, g):  # d sum(a)/da_i = 1: copy g to every summed element
        shape, axes, keepdims = ctx
        return (np.broadcast_to(_unreduce(g, shape, axes, keepdims), shape),)


class Mean:
    @staticmethod
    def forward(a, axes, keepdims):
        n = int(np.prod([a.shape[d] for d in axes]))
        # sum / n rather than np.mean: an empty mean is nan (0/0), not a warning
        return a.sum(axis=axes, keepdims=keepdims) / n, (a.shape, axes, keepdims, n)

    @staticmethod
    def backward(ctx, g):  # d mean(a)/da_i = 1/n
        shape, axes, keepdims, n = ctx
        return (np.broadcast_to(_unreduce(g, shape, axes, keepdims) / n, shape),)


class Max:
    """Ties share the gradient evenly (as PyTorch's amax does): with k equal
    maxima each receives g/k, so the gradient sums to g whatever the ties."""

    reduce = staticmethod(np.max)

    @classmethod
    def forward(cls, a, axes, keepdims):
        m = cls.reduce(a, axis=axes, keepdims=True)
        out = m if keepdims else np.squeeze(m, axis=axes)
        return out, (a, m, axes, keepdims)

    @staticmethod
    def backward(ctx, g):  # d max(a)/da_i = [a_i = max] / #ties
        a, m, axes, keepdims = ctx
        hit = a == m
        share = hit / hit.sum(axis=axes, keepdims=True)
        return (_unreduce(g, a.shape, axes, keepdims) * share,)


class Min(Max):
    reduce = staticmethod(np.min)  # same rule with the minima


# ----------------------------------------------------------------------------
# Movement (shape) ops


class Reshape:
    @staticmethod
    def forward(a, shape):
        return a.reshape(shape), a.shape

    @staticmethod
    def backward(in_shape, g):  # reshaping moves no values: reshape g back
        return (g.reshape(in_shape),)


class Permute:
    """``transpose``, ``T`` and ``permute`` all reorder axes."""

    @staticmethod
    def forward(a, axes):
        return np.transpose(a, axes), axes

    @staticmethod
    def backward(axes, g):  # apply the inverse permutation to g
        return (np.transpose(g, np.argsort(axes)),)


class Expand:
    """Broadcasting made explicit (Note [Broadcast reduction])."""

    @staticmethod
    def forward(a, shape):
        return np.broadcast_to(a, shape), a.shape

    @staticmethod
    def backward(in_shape, g):  # each input element was copied: sum its copies
        return (sum_to(g, in_shape),)


class GetItem:
    @staticmethod
    def forward(a, key):
        return a[key], (a.shape, a.dtype, key)

    @staticmethod
    def backward(ctx, g):  # scatter g back; repeated indices add up (np.add.at)
        shape, dtype, key = ctx
        out = np.zeros(shape, dtype=dtype)
        np.add.at(out, key, g)
        return (out,)


# ----------------------------------------------------------------------------
# Softmax family (stable: shift by the max before exponentiating)


class Softmax:
    @staticmethod
    def forward(a, axis):
        e = np.exp(a - a.max(axis=axis, keepdims=True, initial=-np.inf))  # initial: zero-size axes
        out = e / e.sum(axis=axis, keepdims=True)
        return out, (out, axis)

    @staticmethod
    def backward(ctx, g):  # ds_i/da_j = s_i (δij - s_j)  =>  s * (g - Σ g s)
        s, axis = ctx
        return (s * (g - (g * s).sum(axis=axis, keepdims=True)),)


class LogSoftmax:
    @staticmethod
    def forward(a, axis):
        shifted = a - a.max(axis=axis, keepdims=True, initial=-np.inf)  # initial: zero-size axes
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        return out, (out, axis)

    @staticmethod
    def backward(ctx, g):  # d log s_i/da_j = δij - s_j  =>  g - s Σ g
        out, axis = ctx
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)


# ----------------------------------------------------------------------------
# Joining and selecting


class Concatenate:
    @staticmethod
    def forward(*arrays, axis):
        ends = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        return np.concatenate(arrays, axis=axis), (ends, axis)

    @staticmethod
    def backward(ctx, g):  # each input receives its own slice of g
        ends, axis = ctx
        return tuple(np.split(g, ends, axis=axis))


class Stack:
    @staticmethod
    def forward(*arrays, axis):
        return np.stack(arrays, axis=axis), axis

    @staticmethod
    def backward(axis, g):  # input i receives g[..., i, ...] along the new axis
        return tuple(np.moveaxis(g, axis, 0))


class Where:
    """``where(cond, a, b)``; cond is a parent without a gradient."""

    @staticmethod
    def forward(cond, a, b):
        mask = cond != 0
        return np.where(mask, a, b), mask

    @staticmethod
    def backward(mask, g):  # d/da = [cond], d/db = [not cond]
        zero = np.zeros((), dtype=g.dtype)
        return None, np.where(mask, g, zero), np.where(mask, zero, g)


# ----------------------------------------------------------------------------
# Losses (fused for stability: log-sum-exp once, gradient in closed form)


class CrossEntropy:
    """Mean over the batch of -log softmax(logits)[label]."""

    @staticmethod
    def forward(logits, labels):
        shifted = logits - logits.max(axis=-1, keepdims=True, initial=-np.inf)  # initial: zero-size axes
        e = np.exp(shifted)
        total = e.sum(axis=-1, keepdims=True)
        rows = np.arange(logits.shape[0])
        losses = np.log(total[:, 0]) - shifted[rows, labels]
        return np.asarray(losses.sum() / len(losses), dtype=logits.dtype), (e / total, labels)

    @staticmethod
    def backward(ctx, g):  # dL/dz = (softmax(z) - onehot(label)) / N
        p, labels = ctx
        n = p.shape[0]
        grad = p.copy()
        grad[np.arange(n), labels] -= 1
        return (grad * (g / n),)


class MseLoss:
    """Mean of (pred - target)^2 over every element."""

    @staticmethod
    def forward(pred, target):
        diff = pred - target
        return np.asarray((diff * diff).sum() / diff.size, dtype=diff.dtype), diff

    @staticmethod
    def backward(diff, g):  # dL/dpred = 2 (pred - target) / n, dL/dtarget = -that
        d = diff * (2 * g / max(diff.size, 1))
        return d, -d


OPS = {
    "+": Add,
    "-": Sub,
    "*": Mul,
    "/": Div,
    "neg": Neg,
    "**k": PowConst,
    "**": Pow,
    "abs": Abs,
    "relu": Relu,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "exp": Exp,
    "log": Log,
    "sqrt": Sqrt,
    "sin": Sin,
    "cos": Cos,
    "@": MatMul,
    "sum": Sum,
    "mean": Mean,
    "max": Max,
    "min": Min,
    "reshape": Reshape,
    "transpose": Permute,
    "permute": Permute,
    "expand": Expand,
    "getitem": GetItem,
    "softmax": Softmax,
    "log_softmax": LogSoftmax,
    "concatenate": Concatenate,
    "stack": Stack,
    "where": Where,
    "cross_entropy": CrossEntropy,
    "mse_loss": MseLoss,
}
"""Op string -> row, in the order of Note [Op strings]."""


def row_for(op: str):
    """The row of ``op``; ``a ** k`` ops carry their exponent (``**2``) and share ``**k``."""
    row = OPS.get(op)
    return row if row is not None else OPS["**k"]
