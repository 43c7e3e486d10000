"""The arguments and results of a compiled function (docs/DESIGN.md, Note [Compile]):
the signature of a call, the leaves a tape reads, the structure of a result,
and the Python values a tape depends on that no guard instruction can check
(numbers in the closure and globals, ``Module.training``, ndarray arguments).

Written once for both backends.
"""
from __future__ import annotations

import math
import types

import numpy as np

__all__ = ["flatten", "flatten_result", "rebuild", "closure_reads", "PyGuards"]

_NUMBER_TOKEN = {bool: "b", int: "i", float: "f"}


def flatten(args: tuple, kwargs: dict, node_kind, value_type=None, distinct=None) -> tuple:
    """(key, leaves) of a call: the signature as a hashable key, and the leaves in order.

    ``node_kind(x)`` is "V" for the backend's Value, "T" for its Tensor, else None.
    A Value or Tensor seen before is a reference to its first position, so
    that a tape never mixes up two arguments that were one object. A list or
    tuple of plain floats, or of distinct ``value_type`` objects seen nowhere
    before, is one token (``"[f"`` or ``"[V"`` and its length), taken in one
    step: a list of 10^5 Values costs a few passes at C speed. ``distinct(x)``,
    if given, tells whether ``x`` holds only ``value_type`` objects, no two the
    same (the native backend's one pass in C++); the ids of such a list are
    looked at only if a later leaf needs them.
    """
    tokens = []
    leaves = []
    first = _Seen()
    stack = [kwargs, args]
    while stack:
        x = stack.pop()
        t = type(x)
        token = _NUMBER_TOKEN.get(t)
        if token is not None:
            tokens.append(token)
            leaves.append(x)
            continue
        if t is tuple or t is list:
            bracket = "(" if t is tuple else "["
            if len(x) > 1 and _uniform(x, value_type, first, leaves, distinct):
                tokens.append((bracket + ("f" if type(x[0]) is float else "V"), len(x)))
                continue
            tokens.append((bracket, len(x)))
            stack.extend(reversed(x))
            continue
        if t is dict:
            keys = tuple(x)
            tokens.append(("{", keys))
            stack.extend(x[k] for k in reversed(keys))
            continue
        kind = node_kind(x)
        if kind is not None:
            seen = first.get(id(x))
            if seen is not None:
                tokens.append(("R", seen))
                leaves.append(x)
                continue
            first[id(x)] = len(leaves)
            tokens.append("V" if kind == "V" else ("T", tuple(x.shape), x.dtype.str, bool(x.requires_grad)))
            leaves.append(x)
            continue
        tokens.append(_other(x))
        leaves.append(x)
    return tuple(tokens), leaves


def _uniform(x, value_type, first, leaves: list, distinct=None) -> bool:
    """Takes ``x`` as leaves in one step if it holds only floats, or only distinct
    Values of ``value_type`` not seen before (then recorded as seen); else False."""
    if value_type is not None and distinct is not None and type(x[0]) is value_type:
        if not distinct(x) or not first.isdisjoint(x):
            return False
        first.chunks.append(_Chunk(x, len(leaves)))
        leaves.extend(x)
        return True
    types_in = set(map(type, x))
    if len(types_in) != 1:
        return False
    kind = types_in.pop()
    if kind is float:
        leaves.extend(x)
        return True
    if kind is not value_type or value_type is None:
        return False
    if len(set(map(id, x))) != len(x) or not first.isdisjoint(x):
        return False
    first.chunks.append(_Chunk(x, len(leaves)))
    leaves.extend(x)
    return True


class _Chunk:
    """The nodes of a uniform list taken in one step, from position ``start``; the map
    from their ids to positions is made only when a later leaf is looked up."""

    __slots__ = ("items", "start", "_where")

    def __init__(self, items, start: int) -> None:
        self.items, self.start, self._where = items, start, None

    def where(self) -> dict:
        if self._where is None:
            self._where = {id(v): self.start + k for k, v in enumerate(self.items)}
        return self._where


class _Seen(dict):
    """id -> first position of the nodes seen so far; a uniform list's nodes are kept
    as one chunk (_Chunk), looked into only when needed."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks = []

    def get(self, key, default=None):
        found = dict.get(self, key)
        if found is not None or not self.chunks:
            return found if found is not None else default
        for chunk in self.chunks:
            found = chunk.where().get(key)
            if found is not None:
                return found
        return default

    def isdisjoint(self, items) -> bool:
        """Whether none of ``items`` (distinct nodes) was seen before."""
        if not self and not self.chunks:
            return True
        ids = set(map(id, items))
        return self.keys().isdisjoint(ids) and all(c.where().keys().isdisjoint(ids) for c in self.chunks)


def _other(x):
    """The token of a leaf that is neither a node nor a plain number."""
    if isinstance(x, np.ndarray):
        return ("A", x.shape, x.dtype.str)  # its contents are guarded (PyGuards)
    if isinstance(x, (np.bool_, np.integer, np.floating)):
        return ("S", type(x))  # a NumPy scalar: an input number, of its type
    if x is None or isinstance(x, (str, bytes, complex, type, types.FunctionType)):
        return ("O", x)
    if isinstance(x, tuple):  # a tuple subclass (a namedtuple): by identity, as other objects
        return ("I", id(x))
    try:
        hash(x)
    except TypeError:
        return ("I", id(x))
    return ("I", id(x))


def is_number_leaf(x) -> bool:
    return type(x) in _NUMBER_TOKEN or isinstance(x, (np.bool_, np.integer, np.floating))


# ---- results ------------------------------------------------------------------


def flatten_result(out, is_item) -> tuple:
    """(template, items): ``out`` with each Value, Tensor or tracked number (``is_item``)
    replaced by its position in ``items``; everything else stays as it is."""
    items = []

    def walk(x):
        if is_item(x):
            items.append(x)
            return ("item", len(items) - 1)
        t = type(x)
        if t is tuple or t is list:
            return (t.__name__, [walk(v) for v in x])
        if t is dict:
            return ("dict", [(k, walk(v)) for k, v in x.items()])
        if isinstance(x, tuple) and hasattr(x, "_fields"):  # a namedtuple
            return ("namedtuple", t, [walk(v) for v in x])
        return ("const", x)

    template = walk(out)
    del walk  # walk's cell refers to walk: the cycle would keep is_item (and the trace) until gc runs
    return template, items


def rebuild(template, items: list):
    """The result of a call: the template with each item position filled."""
    kind = template[0]
    if kind == "item":
        return items[template[1]]
    if kind == "const":
        return template[1]
    if kind == "tuple":
        return tuple(rebuild(t, items) for t in template[1])
    if kind == "list":
        return [rebuild(t, items) for t in template[1]]
    if kind == "dict":
        return {k: rebuild(t, items) for k, t in template[1]}
    return template[1](*(rebuild(t, items) for t in template[2]))


# ---- what no guard instruction checks ----------------------------------------------


def _codes(code):
    """A code object and those of the functions and lambdas defined inside it."""
    out, stack = [], [code]
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return out


def _is_py_number(v) -> bool:
    return type(v) in _NUMBER_TOKEN


def closure_reads(fn) -> list:
    """The Python numbers ``fn``'s code reads from its globals and closure: (where, name, value)."""
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    if code is None:  # a callable object: its __call__
        call = getattr(type(fn), "__call__", None)
        code = getattr(call, "__code__", None)
        if code is None:
            return []
        fn = call
    reads = []
    names = set()
    for c in _codes(code):
        names.update(c.co_names)
    g = getattr(fn, "__globals__", {})
    for name in sorted(names):
        if name in g and _is_py_number(g[name]):
            reads.append((g, name, g[name]))
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            v = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if _is_py_number(v):
            reads.append((cell, name, v))
    return reads


def _same(a, b) -> bool:
    """The same Python number, to the bit (0.0 and -0.0 differ, nan equals nan)."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return a.hex() == b.hex() if not (math.isnan(a) and math.isnan(b)) else True
    return a == b


class PyGuards:
    """A tape's Python-level conditions: closure and global numbers, Module.training
    flags and the modules' own numbers (Dropout.p, ...) read while tracing, and the
    contents of ndarray arguments."""

    __slots__ = ("reads", "modules", "arrays", "attrs")

    def __init__(self, reads: list, modules: list, leaves: list, attrs: list = ()) -> None:
        self.reads = reads
        self.modules = modules
        self.attrs = list(attrs)
        self.arrays = [(i, np.array(x, copy=True)) for i, x in enumerate(leaves) if isinstance(x, np.ndarray)]

    def hold(self, leaves: list) -> bool:
        for where, name, value in self.reads:
            now = where.get(name) if isinstance(where, dict) else where.cell_contents
            if not _same(now, value):
                return False
        for module, flag in self.modules:
            if module.training is not flag and module.training != flag:
                return False
        for obj, name, value in self.attrs:
            if not _same(getattr(obj, name, None), value):
                return False
        for i, a in self.arrays:
            if not np.array_equal(leaves[i], a, equal_nan=a.dtype.kind in "fc"):
                return False
        return True
