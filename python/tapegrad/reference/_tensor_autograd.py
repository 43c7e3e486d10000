"""The reference Tensor's backward sweep, fused or recorded (Note [Recorded backward]).

The textbook sweep:

1. sort the graph so every node comes after its parents (``topo_order``,
   iterative, so 10**5-deep chains are fine);
2. seed d(out)/d(out) = 1 (or the ``gradient`` given);
3. walk the nodes from the output back, asking each node's row for the
   gradient of each parent and ADDING it into that parent's entry of a
   per-pass dictionary, so a node used twice receives the sum over all paths;
4. add the gradients of the leaves that require grad into their ``.grad``
   (Note [Gradient accumulation]).

The sweep asks each node's row of ``tensor_ops`` for its parents' gradients
with a namespace ``F`` and the values the row saved. The fused sweep passes
NumPy arrays (``ARRAY_F``, what the forward saved); the recorded one
(``create_graph=True``) passes Tensors: the node's parents and the node
itself, and ``TENSOR_F``, whose functions are Tensor ops, so every gradient
is a node of the graph and can be differentiated again.
"""
from __future__ import annotations

import contextlib
import itertools

import numpy as np

from .._hooks import RemovableHandle
from .._shared import named
from . import _autograd
from . import elementwise as E
from . import tensor_ops as ops
from ._array_f import ARRAY_F
from ._shapes import broadcasts_to
from ._tensor_data import to_array
from .functional import where as _where
from .tensor import _FREED, Tensor, apply

__all__ = ["backward", "gradients", "function_node"]


class _Saved:
    """What a row's backward reads of node ``n``: ``input(i)``, ``output()``, shapes, params."""

    __slots__ = ("n", "recorded", "params")

    def __init__(self, n: Tensor, recorded: bool):
        self.n, self.recorded, self.params = n, recorded, n._params

    def input(self, i: int):
        return self.n._parents[i] if self.recorded else self.n._saved[i]

    def output(self):
        return self.n if self.recorded else self.n._saved[-1]

    def saved(self, i: int):
        """What a custom row's forward saved (``(out, saved)``), in either sweep."""
        return self.n._saved[i]

    def in_shape(self, i: int) -> tuple:
        return self.n._parents[i].shape

    def in_dtype(self, i: int):
        return self.n._parents[i].dtype

    def count(self) -> int:
        return len(self.n._parents)


def _seed(root: Tensor, gradient) -> np.ndarray:
    if not root._requires_grad:
        raise RuntimeError(
            "backward() of a tensor that does not require grad: none of its inputs has "
            "requires_grad=True, or it was computed under no_grad()"
        )
    if gradient is None:
        if root.size != 1:
            raise RuntimeError(
                f"backward() of a non-scalar tensor (shape {root.shape}) needs a `gradient` "
                "argument of that shape; only a one-element output has the implicit gradient 1"
            )
        return np.ones(root.shape, dtype=root.dtype)
    g = to_array(gradient, dtype=root.dtype)
    if g.shape != root.shape:
        raise ValueError(f"gradient has shape {g.shape} but the tensor has shape {root.shape}")
    return g


def _sweep(root: Tensor, gradient, retain_graph: bool, recorded: bool, wanted):
    """[(node, this pass's gradient)] for the leaves requiring grad (shaped like
    them), or for ``wanted`` ids. The graph is freed only once the sweep has
    succeeded, as the native engine does."""
    seed = _seed(root, gradient)
    F = TENSOR_F if recorded else ARRAY_F
    if recorded and isinstance(gradient, Tensor) and gradient.requires_grad:
        seed = F.astype(gradient, root.dtype)  # a node: the results depend on it too
    elif recorded:
        seed = Tensor._wrap(seed)
    grads = {id(root): seed}
    found, used = [], []
    with np.errstate(all="ignore"):
        for node in reversed(_autograd.topo_order(root)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._hooks:
                g = _apply_hooks(node, g, recorded)
            if wanted is None and (node.is_leaf or node._retains_grad):
                found.append((node, _leaf_shaped(g, node, recorded)))
            elif wanted is not None and id(node) in wanted:
                found.append((node, g))
            if node.is_leaf:
                continue
            if node._saved is _FREED:
                raise RuntimeError(
                    f"backward through a graph that was already freed (at a {node.op!r} node): "
                    "pass retain_graph=True to the first backward() to backward through it again"
                )
            parent_grads = node._row.backward(g, _Saved(node, recorded), F)
            if _autograd.is_anomaly_enabled():
                _check_anomaly(node, g, parent_grads)
            for p, pg in zip(node._parents, parent_grads):
                if pg is None or not p._requires_grad:
                    continue
                pg = F.astype(pg, p.dtype) if recorded else np.asarray(pg, dtype=p.dtype)
                if pg.shape != p.shape and broadcasts_to(p.shape, pg.shape):
                    pg = F.sum_to(pg, p.shape)  # a constant broadcast implicitly, given requires_grad since
                prev = grads.get(id(p))
                grads[id(p)] = pg if prev is None else prev + pg
            used.append(node)
    if not retain_graph:
        for node in used:
            node._saved = _FREED
            node._parents = ()
    return found


def _leaf_shaped(g, leaf: Tensor, recorded: bool):
    """A leaf's share of this pass, shaped like the leaf: broadcast to it if the
    leaf's data was given another shape after the graph used it (Note [Mutating
    data]), else a ValueError naming both shapes (as the native core says)."""
    if g.shape == leaf.shape:
        return g
    lead = len(leaf.shape) - len(g.shape)
    if lead < 0 or any(n not in (1, leaf.shape[lead + i]) for i, n in enumerate(g.shape)):
        raise ValueError(f"backward(): a leaf's gradient has shape {g.shape} but the leaf now has shape {leaf.shape} "
                         "(its data was reassigned after the graph used it)")
    return apply(ops.Expand, (g,), shape=leaf.shape) if recorded else np.broadcast_to(g, leaf.shape)


def backward(root: Tensor, gradient, retain_graph, create_graph) -> None:
    retain = bool(create_graph) if retain_graph is None else bool(retain_graph)
    with _autograd.recording_backward() if create_graph else _no_mark():
        found = _sweep(root, gradient, retain, bool(create_graph), wanted=None)
    for leaf, g in found:
        # ._grad directly: these gradients have the node's shape and dtype by construction
        if create_graph:
            leaf._grad = g if leaf._grad is None else leaf._grad + g
            continue
        g = np.asarray(g, dtype=leaf.dtype)
        if leaf._grad is not None:
            leaf._grad = Tensor._wrap(leaf._grad._data + g)
        else:
            leaf._grad = Tensor._wrap(g.copy())


def gradients(root: Tensor, inputs, gradient, retain_graph, create_graph) -> list:
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad() inputs must be tapegrad.reference Tensors, got {type(t).__name__}")
    retain = bool(create_graph) if retain_graph is None else bool(retain_graph)
    wanted = {id(t) for t in inputs}
    with _autograd.recording_backward() if create_graph else _no_mark():
        found = {id(node): g for node, g in _sweep(root, gradient, retain, bool(create_graph), wanted)}
    out = []
    for t in inputs:
        g = found.get(id(t))
        if g is None:
            out.append(Tensor._wrap(np.zeros(t.shape, t.dtype)))
        else:
            out.append(g if create_graph else Tensor._wrap(np.array(g, dtype=t.dtype)))
    return out


_no_mark = contextlib.nullcontext


# ----------------------------------------------------------------------------
# The recorded sweep's namespaces: Tensor ops


class TENSOR_MATH:
    """elementwise.py's namespace on Tensors: the rules' local derivatives become nodes.

    Piecewise-constant derivatives (sign, step) and the masks of the rules'
    branches are constants: their own derivatives are 0 almost everywhere.
    """

    @staticmethod
    def div(a, b):
        return a / b

    @staticmethod
    def pow(a, b):
        return a ** b

    @staticmethod
    def log(a):
        return a.log()

    @staticmethod
    def sin(a):
        return a.sin()

    @staticmethod
    def cos(a):
        return a.cos()

    @staticmethod
    def exp(a):
        return a.exp()

    @staticmethod
    def tanh(a):
        return a.tanh()

    @staticmethod
    def sigmoid(a):
        return a.sigmoid()

    @staticmethod
    def erf(a):
        return apply(ops.row_named("erf"), (a,))

    @staticmethod
    def gt(x, t):  # a constant mask
        return Tensor._wrap((x._data > x.dtype.type(t)).astype(x.dtype))

    @staticmethod
    def sign0(s):
        return Tensor._wrap(E.ARRAYS.sign0(s._data))

    @staticmethod
    def step(s):
        return Tensor._wrap(E.ARRAYS.step(s._data))

    @staticmethod
    def is_zero(x):
        return Tensor._wrap((x._data == 0).astype(x.dtype))

    @staticmethod
    def zero_base(a, b):
        return Tensor._wrap(E.ARRAYS.zero_base(a._data, b._data).astype(a.dtype))

    @staticmethod
    def select(mask, x, y):
        return _where(mask, x, y)


class TENSOR_F:
    recorded = True
    math = TENSOR_MATH

    @staticmethod
    def to_tensor(x):
        return x

    @staticmethod
    def from_tensor(t):
        return t

    @staticmethod
    def data(x):
        return x._data

    @staticmethod
    def constant(a):
        return Tensor._wrap(np.asarray(a))

    @staticmethod
    def reshape(x, shape):
        return x.reshape(tuple(shape))

    @staticmethod
    def broadcast_to(x, shape):
        shape = tuple(shape)
        return x if x.shape == shape else apply(ops.Expand, (x,), shape=shape)

    @staticmethod
    def transpose(x, axes):
        return apply(ops.Permute, (x,), axes=tuple(int(a) for a in axes))

    @staticmethod
    def swapaxes(x, a, b):
        return x.transpose(a, b)

    @staticmethod
    def matmul(a, b):
        return a @ b

    @staticmethod
    def exp(x):
        return x.exp()

    @staticmethod
    def sum_to(g, shape):
        shape = tuple(shape)
        if g.shape == shape:
            return g
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
        return g.sum(dim=axes, keepdim=True).reshape(shape)

    @staticmethod
    def sum_keepdims(x, axis):
        return x.sum(dim=axis, keepdim=True)

    @staticmethod
    def astype(x, dtype):
        return x if x.dtype == dtype else apply(ops.Cast, (x,), dtype=np.dtype(dtype))

    @staticmethod
    def where(mask, x, y):
        like = x if isinstance(x, Tensor) else y
        return _where(Tensor._wrap(mask.astype(like.dtype)), x, y)

    @staticmethod
    def scatter(g, shape, key):
        return apply(ops.GetItemBackward, (g,), shape=tuple(shape), key=key)

    @staticmethod
    def gather(g, key):
        return apply(ops.GetItem, (g,), key=key)

    @staticmethod
    def slice(g, axis, start, stop):
        return g[(slice(None),) * axis + (slice(start, stop),)]

    @staticmethod
    def select(g, axis, i):
        return g[(slice(None),) * axis + (i,)]

    @staticmethod
    def softmax(x, axis):
        return x.softmax(axis)


# ----------------------------------------------------------------------------
# Hooks, retain_grad and Function nodes (methods of Tensor, bound below)

_HOOK_IDS = itertools.count(1)


def register_hook(self, hook):
    """Call hook(grad) each time this tensor's gradient is computed; a Tensor it returns is used
    instead. Returns a handle whose remove() unregisters it."""
    if not self._requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that does not require grad")
    if not callable(hook):
        raise TypeError(f"register_hook() takes a callable, not {type(hook).__name__}")
    hook_id = next(_HOOK_IDS)
    self._hooks.append((hook_id, hook))
    return RemovableHandle(self, hook_id)


def _remove_hook(self, id) -> bool:  # noqa: A002 - the native binding's name
    """Unregister the hook with this id (False if it was not registered)."""
    kept = [(i, h) for i, h in self._hooks if i != id]
    removed = len(kept) != len(self._hooks)
    self._hooks = kept
    return removed


def retain_grad(self) -> None:
    """Keep this non-leaf tensor's .grad after backward (leaves always do)."""
    if not self._requires_grad:
        raise RuntimeError("cannot retain_grad() on a tensor that does not require grad")
    if not self.is_leaf:
        self._retains_grad = True


def _retains_grad(self) -> bool:
    """True after retain_grad() on a non-leaf tensor."""
    return self._retains_grad


Tensor.register_hook = named(register_hook, "Tensor.register_hook")  # argument errors name it as the native's
Tensor._remove_hook = _remove_hook
Tensor.retain_grad = named(retain_grad, "Tensor.retain_grad")
Tensor.retains_grad = property(_retains_grad)


def function_node(out: Tensor, inputs: list, name: str, run) -> Tensor:
    """A tg.autograd.Function's node: ``out``'s values, the inputs as parents, ``run`` its backward."""
    t = Tensor._wrap(out._data, True)
    t._row = ops.Function
    t._parents = tuple(inputs)
    t._params = {"name": name, "run": run}
    t._from_backward = _autograd.is_recording_backward()
    from . import _trace

    tr = _trace.current()
    if tr is not None:  # its forward is Python's: tg.compile runs fn eagerly (the native's words)
        tr.unsupported("a tg.autograd.Function on Tensors")
    return t


def _apply_hooks(node: Tensor, g, recorded: bool):
    """The node's hooks, in order, on its complete gradient: each may replace it."""
    for _, hook in node._hooks:
        result = hook(g if recorded else Tensor._wrap(g))
        if result is None:
            continue
        if not isinstance(result, Tensor):
            raise TypeError(f"a tensor hook must return a Tensor or None, not {type(result).__name__}")
        if result.shape != node.shape:
            raise ValueError(f"a tensor hook returned a gradient of shape {result.shape} for a tensor of shape "
                             f"{node.shape}")
        g = result if recorded else result._data.astype(node.dtype, copy=False)
    return g


def _check_anomaly(node: Tensor, g, parent_grads) -> None:
    """detect_anomaly: the first rule that turns a gradient without NaN into one with."""
    if np.isnan(np.asarray(_data(g))).any():
        return  # produced further up, and reported there
    for i, pg in enumerate(parent_grads):
        if pg is not None and np.isnan(np.asarray(_data(pg))).any():
            raise _autograd.anomaly(node.op, node.label, i)


def _data(x):
    return x._data if isinstance(x, Tensor) else x
