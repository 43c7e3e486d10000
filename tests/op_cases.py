"""The op test table: one row per op of the registry (``tapegrad._core.op_table()``).

A row says how to make its op, with one small lambda that runs on Values and
on Tensors of either backend and, unless ``torch=`` gives PyTorch's spelling,
on PyTorch tensors; on which of Value and Tensor the op exists (the
registry's columns, checked); each input's domain and, for Tensors, its shape;
the op's variants ``k`` (the lambda's last argument); a NumPy formula for the
forward; and which checks apply. ``tests/test_ops.py`` runs every check on
every row and asserts that the rows cover the registry exactly; the other
test files take their op lists from here, so a new op is one new row.

    R("tanh", "VT", lambda a: a.tanh(), REAL(2, 3), np=np.tanh),

Columns after the inputs (all optional):
  k       variants, passed as the lambda's last argument (``a ** k``, ``a.sum(**k)``)
  np      the forward in NumPy: ``np(*arrays)`` or ``np(*arrays, k)``
  torch   PyTorch's spelling where the lambda's is not PyTorch's
  grad    False: the op has no gradient (comparisons)
  exact   the op's forward and backward are correctly rounded IEEE operations
          or move values without arithmetic (+ - * / neg abs relu sqrt,
          selections, indexing, movement, joins): native equals the reference
          bit for bit, and the recorded backward equals the fused one bit for
          bit. Otherwise both hold to a few ulps (transcendental functions,
          whose libraries differ, and sums, whose order differs: matmul, the
          reductions, expand's backward).
  out     the result's dtype where it is not the inputs' (argmax: int64)
  spelt   the ``.op`` of the node where it is not the op's name (a Function's class name)
  made    where the op appears: "forward" (the lambda's result), "parent" (one
          of its parents: expand, made by broadcasting), "backward" (the
          recorded backward pass: getitem_backward, astype) or "nowhere"
          (comparisons and argmax return leaves: they have no graph).

Index tensors (gather's, embedding's) are constants of the lambda, made by
``IDX(x, values)`` in the library of ``x``, so the inputs stay the float
tensors the checks differentiate.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import op_cases_nn as NN
import tapegrad
from tapegrad import reference

try:
    import torch
    import torch.nn.functional as torch_F
except ImportError:  # pragma: no cover - the CI image has torch
    torch = None


# ----------------------------------------------------------------------------
# Input domains


@dataclass(frozen=True)
class Domain:
    """Where an input's values live. ``number`` is a plain Python number inside
    the domain (for a number on either side of a binary op); ``fold`` maps any
    number into the domain and ``lift`` any node, smoothly (for random programs)."""

    name: str
    draw: Callable  # (rng, shape) -> values
    number: float
    fold: Callable = staticmethod(lambda c: c)
    lift: Callable = staticmethod(lambda a: a)

    def __call__(self, *shape, dtype=np.float64) -> "Input":
        return Input(self, tuple(shape), np.dtype(dtype))

    def array(self, rng, shape) -> np.ndarray:
        """Random float64 values of ``shape`` in the domain."""
        return np.asarray(self.draw(rng, tuple(shape)), dtype=np.float64)


@dataclass(frozen=True)
class Input:
    domain: Domain
    shape: tuple
    dtype: np.dtype
    data: Any = None  # fixed values instead of random ones

    def array(self, rng, dtype=None) -> np.ndarray:
        """Random (or the fixed) values; ``dtype`` replaces the default float64, not a
        dtype the input asks for (astype's float32 operand stays float32)."""
        values = self.domain.array(rng, self.shape) if self.data is None else np.array(self.data)
        return values.astype(dtype if dtype is not None and self.dtype == np.float64 else self.dtype)


def _away(rng, shape):
    """|x| >= 0.25 with alternating signs: both sides of a kink (abs, relu) or a pole (1/b)."""
    n = int(np.prod(shape))
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0).reshape(shape)
    return signs * (np.abs(rng.standard_normal(shape)) + 0.25)


REAL = Domain("real", lambda rng, shape: rng.standard_normal(shape), 1.5)
POS = Domain("pos", lambda rng, shape: np.abs(rng.standard_normal(shape)) + 0.5, 2.0,
             fold=abs, lift=lambda a: a * a + 1)  # log, sqrt, the base of a ** b
AWAY = Domain("away", _away, -1.25, lift=lambda a: a * a + 1)  # away from 0: abs, relu, a divisor
INT = Domain("int", lambda rng, shape: rng.integers(-2, 3, shape).astype(np.float64), 1.0)  # ties


def FIXED(*values) -> Input:
    """These values, as one 1-d input."""
    return Input(REAL, (len(values),), np.dtype(np.float64), values)


# ----------------------------------------------------------------------------
# Free functions: M(x) is the module a tensor belongs to (torch through a shim)


class TORCH:
    """tapegrad's free functions, spelt in PyTorch."""

    @staticmethod
    def concatenate(ts, dim=0):
        return torch.cat(ts, dim=dim)

    @staticmethod
    def stack(ts, dim=0):
        return torch.stack(ts, dim=dim)

    @staticmethod
    def where(cond, a, b):
        return torch.where(cond != 0, a, b)

    @staticmethod
    def cross_entropy(logits, labels):
        return torch_F.cross_entropy(logits, torch.as_tensor(labels))

    @staticmethod
    def mse_loss(a, b):
        return torch_F.mse_loss(a, b)

    @staticmethod
    def maximum(a, b):  # a number on either side, as tapegrad's take
        return torch.maximum(*(x if torch.is_tensor(x) else torch.tensor(x, dtype=torch.float64) for x in (a, b)))

    @staticmethod
    def minimum(a, b):
        return torch.minimum(*(x if torch.is_tensor(x) else torch.tensor(x, dtype=torch.float64) for x in (a, b)))


def M(*xs):
    """The module whose free functions (concatenate, where...) combine ``xs`` (its first tensor's)."""
    x = next((x for x in xs if not isinstance(x, (int, float))), xs[0])
    if torch is not None and isinstance(x, torch.Tensor):
        return TORCH
    return reference if type(x).__module__.startswith("tapegrad.reference") else tapegrad


def F(x):
    """The ``nn.functional`` of ``x``'s library."""
    if torch is not None and isinstance(x, torch.Tensor):
        return torch_F
    return M(x).nn.functional


def IDX(x, values):
    """``values`` as an int64 index tensor of ``x``'s library."""
    if torch is not None and isinstance(x, torch.Tensor):
        return torch.tensor(values, dtype=torch.int64)
    return M(x).tensor(np.asarray(values), dtype=np.int64)


def _np_reduce(fn):
    return lambda a, k: fn(a, axis=k.get("dim"), keepdims=k.get("keepdim", False))


def _np_softmax(a, dim):
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


_np_erf = np.vectorize(math.erf)


def _np_gelu(a, k=None):
    if k:  # approximate="tanh"
        return 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))
    return a * 0.5 * (1 + _np_erf(a / np.sqrt(2)))


def _np_softplus(a, k):
    beta, threshold = k.get("beta", 1.0), k.get("threshold", 20.0)
    return np.where(a * beta > threshold, a, np.log1p(np.exp(a * beta)) / beta)


def _np_moments(fn):
    return lambda a, k: fn(a, axis=k.get("dim"), keepdims=k.get("keepdim", False), ddof=k.get("correction", 1))


def _np_cross_entropy(a):
    return -np.log(_np_softmax(a, 1)[np.arange(len(LABELS)), LABELS]).mean()


class SinTimes(tapegrad.autograd.Function):
    """The function row's tg.autograd.Function (one class for both backends)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x.sin() * y

    @staticmethod
    def backward(ctx, g):  # d(sin(x) y)/dx = y cos(x), d/dy = sin(x)
        x, y = ctx.saved_tensors
        return g * y * x.cos(), g * x.sin()


def _np_arg(fn):
    return lambda a, k: fn(a, axis=k.get("dim"), keepdims=k.get("keepdim", False))


LABELS = np.array([2, 0, 1, 2])
GATHER = {0: [[2, 0, 1, 2], [2, 2, 0, 1]], 1: [[3, 3], [0, 1], [2, 2]], -1: [[1], [1], [0]]}  # repeats add up
EMBEDDING = [[0, 4, 4], [2, 0, 4]]
NO_K = object()  # a row without variants


# ----------------------------------------------------------------------------
# The rows


@dataclass(frozen=True)
class Row:
    op: str
    on: str  # "V", "T" or "VT"
    fn: Callable
    inputs: tuple
    k: tuple = ()
    np: Callable | None = None
    torch: Callable | None = None
    grad: bool = True
    exact: bool = False
    spelt: str | None = None
    made: str = "forward"
    out: Any = None

    @property
    def value(self) -> bool:
        return "V" in self.on

    @property
    def tensor(self) -> bool:
        return "T" in self.on


def R(op, on, fn, *inputs, **columns) -> Row:
    return Row(op, on, fn, inputs, **columns)


COMPARE = dict(grad=False, exact=True, made="nowhere")  # 1.0 / 0.0 in a leaf, no gradient
ARG = dict(grad=False, exact=True, made="nowhere", out=np.dtype(np.int64))  # int64 positions in a leaf

ROWS = [
    R("", "VT", lambda a: a, REAL(2, 3), np=lambda a: a, exact=True),
    R("+", "VT", lambda a, b: a + b, REAL(2, 3), REAL(2, 3), np=np.add, exact=True),
    R("-", "VT", lambda a, b: a - b, REAL(2, 3), REAL(2, 3), np=np.subtract, exact=True),
    R("*", "VT", lambda a, b: a * b, REAL(2, 3), REAL(2, 3), np=np.multiply, exact=True),
    R("/", "VT", lambda a, b: a / b, REAL(2, 3), AWAY(2, 3), np=np.divide, exact=True),
    R("neg", "VT", lambda a: -a, REAL(2, 3), np=np.negative, exact=True),
    R("**k", "VT", lambda a, k: a ** k, POS(2, 3), k=(2, 3, 0.5, -1, -1.5, 0), np=np.power),
    R("**", "VT", lambda a, b: a ** b, POS(2, 3), REAL(2, 3), np=np.power),
    R("abs", "VT", lambda a: abs(a), AWAY(2, 3), np=np.abs, exact=True),
    R("relu", "VT", lambda a: a.relu(), AWAY(2, 3), np=lambda a: np.maximum(a, 0), exact=True),
    R("tanh", "VT", lambda a: a.tanh(), REAL(2, 3), np=np.tanh),
    R("sigmoid", "VT", lambda a: a.sigmoid(), FIXED(-30.0, -0.7, 0.3, 30.0), np=lambda a: 1 / (1 + np.exp(-a))),
    R("exp", "VT", lambda a: a.exp(), REAL(2, 3), np=np.exp),
    R("log", "VT", lambda a: a.log(), POS(2, 3), np=np.log),
    R("sqrt", "VT", lambda a: a.sqrt(), POS(2, 3), np=np.sqrt, exact=True),
    R("sin", "VT", lambda a: a.sin(), REAL(2, 3), np=np.sin),
    R("cos", "VT", lambda a: a.cos(), REAL(2, 3), np=np.cos),
    R("log1p", "VT", lambda a: a.log1p(), FIXED(-0.75, -1e-10, 0.0, 1e-300, 0.5, 3.0), np=np.log1p),
    R("expm1", "VT", lambda a: a.expm1(), FIXED(-3.0, -1e-10, 0.0, 1e-300, 0.5, 2.0), np=np.expm1),
    R("function", "VT", lambda a, b: SinTimes.apply(a, b), REAL(2, 3), REAL(2, 3), torch=lambda a, b: a.sin() * b,
      np=lambda a, b: np.sin(a) * b, spelt="SinTimes"),
    R("<", "T", lambda a, b: a < b, INT(2, 3), INT(2, 3), np=np.less, **COMPARE),
    R("<=", "T", lambda a, b: a <= b, INT(2, 3), INT(2, 3), np=np.less_equal, **COMPARE),
    R(">", "T", lambda a, b: a > b, INT(2, 3), INT(2, 3), np=np.greater, **COMPARE),
    R(">=", "T", lambda a, b: a >= b, INT(2, 3), INT(2, 3), np=np.greater_equal, **COMPARE),
    R("==", "T", lambda a, b: a == b, INT(2, 3), INT(2, 3), np=np.equal, **COMPARE),
    R("!=", "T", lambda a, b: a != b, INT(2, 3), INT(2, 3), np=np.not_equal, **COMPARE),
    R("@", "T", lambda a, b: a @ b, REAL(2, 3, 4), REAL(4, 2), np=np.matmul),
    R("sum", "T", lambda a, k: a.sum(**k), REAL(2, 3, 4), k=({}, {"dim": 1}, {"dim": (0, 2), "keepdim": True}),
      np=_np_reduce(np.sum)),
    R("mean", "T", lambda a, k: a.mean(**k), REAL(2, 3, 4), k=({}, {"dim": -1, "keepdim": True}),
      np=_np_reduce(np.mean)),
    R("max", "T", lambda a, k: a.max(**k), REAL(2, 3, 4), k=({}, {"dim": 1}), torch=lambda a, k: a.amax(**k),
      np=_np_reduce(np.max), exact=True),
    R("min", "T", lambda a, k: a.min(**k), REAL(2, 3, 4), k=({}, {"dim": (0, 2), "keepdim": True}),
      torch=lambda a, k: a.amin(**k), np=_np_reduce(np.min), exact=True),
    R("argmax", "T", lambda a, k: a.argmax(**k), INT(3, 4), k=({}, {"dim": 1}, {"dim": 0, "keepdim": True}),
      np=_np_arg(np.argmax), **ARG),
    R("argmin", "T", lambda a, k: a.argmin(**k), INT(3, 4), k=({"keepdim": True}, {"dim": -1}), np=_np_arg(np.argmin),
      **ARG),
    R("reshape", "T", lambda a: a.reshape(4, -1), REAL(2, 3, 4), np=lambda a: a.reshape(4, -1), exact=True),
    R("transpose", "T", lambda a: a.transpose(0, 2), REAL(2, 3, 4), np=lambda a: a.swapaxes(0, 2), exact=True),
    R("permute", "T", lambda a: a.permute(2, 0, 1), REAL(2, 3, 4), np=lambda a: a.transpose(2, 0, 1), exact=True),
    # expand, astype and getitem_backward have no method: broadcasting makes expand (both
    # operands here), the recorded backward of a float32 * float64 product casts a's gradient
    # back to float32 (astype), and recording getitem's backward makes its scatter-add.
    R("expand", "T", lambda a, b: a + b, REAL(2, 1, 3), REAL(4, 1), np=np.add, made="parent"),
    R("astype", "T", lambda a, b: a * b, REAL(2, 3, dtype=np.float32), REAL(2, 3), np=np.multiply, exact=True,
      made="backward"),
    R("getitem", "T", lambda a, k: a[k], REAL(3, 4), k=((1, slice(0, 3)), [0, 2, 2], (Ellipsis, None, 1)),
      np=lambda a, k: a[k], exact=True),
    R("getitem_backward", "T", lambda a: a[:, [3, 0, 3]], REAL(3, 4), np=lambda a: a[:, [3, 0, 3]], exact=True,
      made="backward"),
    R("gather", "T", lambda a, k: a.gather(k, IDX(a, GATHER[k])), REAL(3, 4), k=(0, 1, -1),
      np=lambda a, k: np.take_along_axis(a, np.array(GATHER[k]), axis=k), exact=True),
    R("embedding", "T", lambda w: F(w).embedding(IDX(w, EMBEDDING), w), REAL(5, 3), np=lambda w: w[EMBEDDING],
      exact=True),
    R("concatenate", "T", lambda a, b: M(a).concatenate([a, b], dim=1), REAL(2, 3), REAL(2, 2),
      np=lambda a, b: np.concatenate([a, b], axis=1), exact=True),
    R("stack", "T", lambda a, b: M(a).stack([a, b], dim=1), REAL(2, 3), REAL(2, 3),
      np=lambda a, b: np.stack([a, b], axis=1), exact=True),
    R("where", "T", lambda a, b: M(a).where(a > b, a, b), REAL(2, 3), REAL(2, 3), np=np.maximum, exact=True),
    R("softmax", "T", lambda a, k: a.softmax(k), REAL(3, 4), k=(0, -1), np=_np_softmax),
    R("log_softmax", "T", lambda a, k: a.log_softmax(k), REAL(3, 4), k=(0, -1),
      np=lambda a, k: np.log(_np_softmax(a, k))),
    R("cross_entropy", "T", lambda a: M(a).cross_entropy(a, LABELS), REAL(4, 3), np=_np_cross_entropy),
    R("mse_loss", "T", lambda a, b: M(a).mse_loss(a, b), REAL(3, 2), REAL(3, 2), np=lambda a, b: ((a - b) ** 2).mean()),
    # Tensor-only rows of issue 16. The conventions at kinks and ties (clamp at its bounds,
    # leaky_relu at 0, maximum's ties), where finite differences do not apply, are
    # tests/test_tensor_nn.py's; the domains here cover both sides of each.
    R("gelu", "T", lambda a: a.gelu(), REAL(2, 3), torch=lambda a: torch_F.gelu(a), np=_np_gelu),
    R("gelu_tanh", "T", lambda a, k: a.gelu(**k), REAL(2, 3), k=({"approximate": "tanh"},),
      torch=lambda a, k: torch_F.gelu(a, **k), np=_np_gelu),
    R("erf", "T", lambda a: a.gelu(), REAL(2, 3), torch=lambda a: torch_F.gelu(a), np=_np_gelu, made="backward"),
    R("silu", "T", lambda a: a.silu(), REAL(2, 3), torch=lambda a: torch_F.silu(a), np=lambda a: a / (1 + np.exp(-a))),
    R("softplus", "T", lambda a, k: a.softplus(**k), FIXED(-30.0, -2.0, -0.3, 0.4, 1.5, 25.0),
      k=({}, {"beta": 2.0, "threshold": 1.0}), torch=lambda a, k: torch_F.softplus(a, **k), np=_np_softplus),
    R("leaky_relu", "T", lambda a, k: a.leaky_relu(k), AWAY(2, 3), k=(0.01, 0.2),
      torch=lambda a, k: torch_F.leaky_relu(a, k), np=lambda a, k: np.where(a > 0, a, k * a), exact=True),
    R("clamp", "T", lambda a, k: a.clamp(**k), FIXED(-2.0, -0.7, -0.3, 0.1, 0.6, 1.5),
      k=({"min": -0.5, "max": 0.8}, {"min": -0.5}, {"max": 0.8}, {"min": 0.8, "max": -0.5}),
      np=lambda a, k: np.minimum(np.maximum(a, k.get("min", -np.inf)), k.get("max", np.inf)), exact=True),
    R("maximum", "T", lambda a, b: M(a, b).maximum(a, b), REAL(2, 3), REAL(2, 3), np=np.maximum, exact=True),
    R("minimum", "T", lambda a, b: M(a, b).minimum(a, b), REAL(2, 3), REAL(2, 3), np=np.minimum, exact=True),
    R("var", "T", lambda a, k: a.var(**k), REAL(2, 3, 4),
      k=({}, {"dim": 1}, {"dim": (0, 2), "keepdim": True, "correction": 0}, {"dim": -1, "correction": 2.5}),
      np=_np_moments(np.var)),
    R("std", "T", lambda a, k: a.std(**k), REAL(2, 3, 4), k=({}, {"dim": (0, 1), "keepdim": True}, {"dim": 2, "correction": 0}),
      np=_np_moments(np.std)),
    R("logsumexp", "T", lambda a, k: a.logsumexp(**k), REAL(2, 3, 4), k=({"dim": -1}, {"dim": (0, 2), "keepdim": True}),
      np=lambda a, k: np.log(np.exp(a).sum(axis=k["dim"], keepdims=k.get("keepdim", False)))),
    R("clone", "T", lambda a: a.clone(), REAL(2, 3), np=lambda a: a.copy(), exact=True),
    # the layers of tg.nn.functional (op_cases_nn.py spells them for each library)
    R("layer_norm", "T", lambda a, w, b: NN.F(a).layer_norm(a, (2, 4), w, b), REAL(3, 2, 4), REAL(2, 4), REAL(2, 4),
      np=lambda a, w, b: NN.np_layer_norm(a, w, b, (2, 4))),
    R("batch_norm", "T", lambda a, w, b, k: NN.batch_norm(a, w, b, k), REAL(4, 3, 2), REAL(3), REAL(3),
      k=("train", "eval"), np=NN.np_batch_norm),
    R("dropout", "T", lambda a: NN.dropout(a), REAL(3, 4), np=NN.np_dropout, exact=True),
    R("conv2d", "T", lambda a, w, b, k: NN.F(a).conv2d(a, w, b, **k), REAL(2, 2, 5, 4), REAL(3, 2, 3, 2), REAL(3),
      k=({}, {"stride": 2, "padding": 1}, {"stride": (1, 2), "padding": (2, 0)}), np=NN.np_conv2d),
    R("max_pool2d", "T", lambda a, k: NN.F(a).max_pool2d(a, **k), REAL(2, 2, 5, 4),
      k=({"kernel_size": 2}, {"kernel_size": (3, 2), "stride": 1}), np=NN.np_pool(np.max), exact=True),
    R("avg_pool2d", "T", lambda a, k: NN.F(a).avg_pool2d(a, **k), REAL(2, 2, 5, 4),
      k=({"kernel_size": 2}, {"kernel_size": (3, 2), "stride": (1, 2)}), np=NN.np_pool(np.mean)),
    R("linear", "T", lambda a, w, b: NN.F(a).linear(a, w, b), REAL(2, 3, 4), REAL(5, 4), REAL(5),
      np=lambda a, w, b: np.einsum("...i,oi->...o", a, w) + b),
]


# ----------------------------------------------------------------------------
# Cases: a row with one of its variants


@dataclass(frozen=True)
class Case:
    row: Row
    k: Any = NO_K

    @property
    def id(self) -> str:
        return self.row.op if self.k is NO_K else f"{self.row.op}[{self.k!r}]"

    @property
    def op_string(self) -> str:
        """The ``.op`` the case makes: ``**k`` is spelt with its exponent (``**2``)."""
        return "**" + format(self.k, "g") if self.row.op == "**k" else self.row.spelt or self.row.op

    def _args(self, xs):
        return xs if self.k is NO_K else (*xs, self.k)

    def __call__(self, *xs):
        return self.row.fn(*self._args(xs))

    def torch(self, *ts):
        return (self.row.torch or self.row.fn)(*self._args(ts))

    def numpy(self, *arrays):
        return self.row.np(*self._args(arrays))

    def arrays(self, dtype=None, seed=0) -> list:
        """The inputs' data (one rng per row: the same data on every run and backend)."""
        rng = np.random.default_rng(zlib.crc32(self.row.op.encode()) + seed)
        return [spec.array(rng, dtype) for spec in self.row.inputs]

    def points(self) -> list:
        """Value inputs: one tuple of floats per element of the (broadcast) Tensor inputs."""
        flat = [a.ravel() for a in np.broadcast_arrays(*self.arrays(np.float64))]
        return [tuple(float(a[i]) for a in flat) for i in range(flat[0].size)]


def cases(rows=ROWS) -> list:
    return [Case(r) if not r.k else Case(r, k) for r in rows for k in (r.k or (NO_K,))]


def params(selected: list):
    """pytest.param(case, id=...) for each case."""
    import pytest

    return [pytest.param(c, id=c.id) for c in selected]


CASES = cases()
VALUE_CASES = [c for c in CASES if c.row.value]
TENSOR_CASES = [c for c in CASES if c.row.tensor]
GRAD_CASES = [c for c in CASES if c.row.grad]
ROW_NAMED = {r.op: r for r in ROWS}


# ----------------------------------------------------------------------------
# Op lists for random programs, derived from the rows

_REGISTRY = {r["name"]: r for r in tapegrad._core.op_table()}


def kind(op: str) -> str:
    """The op's family in the registry: unary, binary, compare, reduce, softmax...
    ("" for an op the registry lacks: test_ops.py names such rows)."""
    return _REGISTRY[op]["kind"] if op in _REGISTRY else ""


@dataclass(frozen=True)
class Step:
    """One step of a random program: ``f(a, b, c)`` on nodes a, b and a number c;
    ``a`` and ``b`` are the domains of the nodes it reads (``b`` None: it reads only a)."""

    f: Callable
    a: Domain
    b: Domain | None = None

    def __call__(self, a, b, c):
        return self.f(a, b, c)


def elementwise_steps(surface: str) -> dict:
    """Every elementwise op of Value (``surface="V"``) or Tensor (``"T"``) as a
    ``name -> Step``. Binary ops also come with the number on either side
    (``"+c"``: a + c; ``"c+"``: c + a, the number folded into the left
    operand's domain); ``**k`` takes c as k."""
    steps = {}
    for row in ROWS:
        if surface not in row.on or kind(row.op) not in ("unary", "binary"):
            continue
        f, name, domains = row.fn, row.op, [spec.domain for spec in row.inputs]
        if row.op == "**k":
            steps[name] = Step(lambda a, b, c, f=f: f(a, c), domains[0])
        elif row.k:  # an op with arguments (clamp's bounds, a slope): one step per variant
            for i, k in enumerate(row.k):
                steps[f"{name}[{i}]"] = Step(lambda a, b, c, f=f, k=k: f(a, k), domains[0])
        elif len(domains) == 1:
            steps[name] = Step(lambda a, b, c, f=f: f(a), domains[0])
        else:
            fold = domains[0].fold
            steps[name] = Step(lambda a, b, c, f=f: f(a, b), *domains)
            steps[name + "c"] = Step(lambda a, b, c, f=f: f(a, c), domains[0])
            steps["c" + name] = Step(lambda a, b, c, f=f, fold=fold: f(fold(c), a), domains[1])
    return steps


def reduce_steps() -> dict:
    """The reductions (var and std too) and the softmax family as ``name -> f(x, dim, keepdim)``
    (softmax takes no keepdim), called by their registry names."""
    steps = {}
    for e in _REGISTRY.values():
        if e["kind"] in ("reduce", "moments"):
            steps[e["name"]] = lambda x, d, k, py=e["python"]: getattr(x, py)(d, keepdim=k)
        elif e["kind"] == "softmax":  # a dim is required: the last one for None
            steps[e["name"]] = lambda x, d, k, py=e["python"]: getattr(x, py)(-1 if d is None else d)
    return steps


def smooth_steps(surface: str) -> tuple:
    """(unary, binary) lists of elementwise ops made smooth on the whole real
    line: each input goes through its domain's ``lift`` (``a * a + 1`` into the
    positive numbers); numbers on either side and every exponent of ``**k``
    are unary steps."""
    unary, binary = [], []
    for row in ROWS:
        if surface not in row.on or kind(row.op) not in ("unary", "binary"):
            continue
        lifts = [spec.domain.lift for spec in row.inputs]
        if row.op == "**k" or row.k:  # the op's numbers: each one a step of its own
            unary += [lambda a, f=row.fn, g=lifts[0], k=k: f(g(a), k) for k in row.k]
        elif len(lifts) == 1:
            unary.append(lambda a, f=row.fn, g=lifts[0]: f(g(a)))
        else:
            (g, h), (c, d) = lifts, (spec.domain.number for spec in row.inputs)
            binary.append(lambda a, b, f=row.fn, g=g, h=h: f(g(a), h(b)))
            unary.append(lambda a, f=row.fn, h=h, c=c: f(c, h(a)))
            unary.append(lambda a, f=row.fn, g=g, d=d: f(g(a), d))
    return unary, binary
