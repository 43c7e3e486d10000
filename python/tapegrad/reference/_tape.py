"""A compiled function's tape on the reference backend, replayed by a plain
Python loop: the readable oracle of cpp/core/tape_scalar.cpp, tape_backward.cpp
and tape_tensor.cpp (docs/DESIGN.md, Note [Compile]).

Scalar slots (Values and tracked numbers) are floats in one list; Tensor slots
hold Tensors. An instruction is an op of elementwise.py (the reference's op
table) or a tape instruction named by a string. The reverse sweep visits the
Value nodes in the order the reference's own sweep would (``topo_order``, run
on the tape's structure), so its sums are eager's, bit for bit.
"""
from __future__ import annotations

import numpy as np

from . import elementwise as E
from ._autograd import no_grad, topo_order

__all__ = ["Instr", "Ref", "TapeInput", "TapeOutput", "TensorInstr", "Tape"]

_EXACT_INT = 2.0 ** 53
_COMPARE = {E.Lt: float.__lt__, E.Le: float.__le__, E.Gt: float.__gt__, E.Ge: float.__ge__, E.Eq: float.__eq__,
            E.Ne: float.__ne__}


class Instr:
    """One instruction: ``code`` (an op class, or a tape instruction's name), ``out``, ``a``, ``b``."""

    __slots__ = ("code", "nograd", "out", "a", "b", "const_a", "const_b")

    def __init__(self, code, nograd, out, a, b, const_a=False, const_b=False):
        self.code, self.nograd, self.out, self.a, self.b = code, nograd, out, a, b
        self.const_a, self.const_b = const_a, const_b


class TapeInput:
    """Where an input slot's value comes from: argument ``leaf``, or ``node`` from outside."""

    __slots__ = ("kind", "leaf", "slot", "node")

    def __init__(self, kind, leaf, slot, node):
        self.kind, self.leaf, self.slot, self.node = kind, leaf, slot, node


class TapeOutput:
    __slots__ = ("kind", "slot", "leaf", "number_type")

    def __init__(self, kind, slot, leaf=False, number_type=0):
        self.kind, self.slot, self.leaf, self.number_type = kind, slot, leaf, number_type


class TensorInstr:
    """A Tensor instruction: an op of tensor_ops (``what`` = (row, params)), a constant, ..."""

    __slots__ = ("kind", "what", "parents", "out", "number", "requires_grad", "nograd")

    def __init__(self, kind, what, parents, out):
        self.kind, self.what, self.parents, self.out = kind, what, parents, out
        self.number = None
        self.requires_grad = self.nograd = False


class Ref:
    """A Tensor item of an index key (or labels), by its entry in the log, then its slot."""

    __slots__ = ("ref",)

    def __init__(self, ref: int):
        self.ref = ref


class _Slot:
    """A Value of the tape as ``topo_order`` sees it: its interior parents."""

    __slots__ = ("_parents", "instr")

    def __init__(self, instr):
        self._parents, self.instr = (), instr


class Tape:
    def __init__(self):
        self.code, self.tensors, self.inputs, self.outputs, self.stores = [], [], [], [], []
        self.scalar_init = []
        self.tensor_slots = 0
        self.draws = False
        self.refill = False
        self.name = "compiled"
        self._schedules = {}
        self._slots = None

    @property
    def instructions(self) -> int:
        return len(self.code)

    @property
    def scalar_slots(self) -> int:
        return len(self.scalar_init)

    # -- forward ------------------------------------------------------------------------

    def replay(self, leaves: list):
        """The results (a list), or the index of the first guard that failed."""
        s = list(self.scalar_init)
        t = [None] * self.tensor_slots
        nodes = [None] * len(self.inputs)
        for k, inp in enumerate(self.inputs):
            x = leaves[inp.leaf] if inp.leaf is not None else inp.node
            if inp.kind == "number_input":
                s[inp.slot] = float(x)
            elif inp.kind == "value_input":
                nodes[k] = x
                s[inp.slot] = x._data
            else:
                t[inp.slot] = x
        for k, ins in enumerate(self.code):
            if not self._step(ins, s, t):
                return k
        for i, slot, is_tensor, in_place in self.stores:  # the guards held: outside state takes its new values
            target = nodes[i] if not is_tensor else (self.inputs[i].node if self.inputs[i].leaf is None
                                                     else leaves[self.inputs[i].leaf])
            if not is_tensor:
                target._data = s[slot]
            elif t[slot] is target:
                continue
            elif in_place and target._data.shape == t[slot]._data.shape:  # as eager updates running statistics
                target._data[...] = t[slot]._data
            else:
                target._data = t[slot]._data
        return [self._result(o, s, t, nodes, leaves) for o in self.outputs]

    def _step(self, ins, s, t) -> bool:
        """One instruction; False if it is a guard that fails."""
        code = ins.code
        if not isinstance(code, str):  # an op of the table, on floats: the rule eager runs
            if code in _COMPARE:
                s[ins.out] = 1.0 if _COMPARE[code](s[ins.a], s[ins.b]) else 0.0
            elif code.arity == 2 or code is E.PowConst:
                s[ins.out] = code.f(s[ins.a], s[ins.b], E.SCALARS)
            else:
                s[ins.out] = code.f(s[ins.a], E.SCALARS)
        elif code in ("copy", "store"):
            s[ins.out] = s[ins.a]
        elif code == "guard_true":
            return s[ins.a] != 0.0
        elif code == "guard_false":
            return not s[ins.a] != 0.0
        elif code == "guard_bits":
            return s[ins.a].hex() == s[ins.b].hex() or (s[ins.a] != s[ins.a] and s[ins.b] != s[ins.b])
        elif code == "guard_int":
            return -_EXACT_INT <= s[ins.a] <= _EXACT_INT
        elif code == "tensor":
            self._tensor(self.tensors[ins.a], s, t)
        elif code == "item":
            s[ins.out] = float(t[ins.a]._data.item())
        elif code == "guard_tensor":
            got, want = t[ins.a]._data, self.tensors[ins.b].what
            return got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes()
        return True

    def _tensor(self, ti, s, t) -> None:
        from .tensor import Tensor, apply

        kind = ti.kind
        if kind == "op":
            row, params, ids = ti.what
            parents = tuple(t[p] for p in ti.parents)
            if ti.nograd:
                with no_grad():
                    t[ti.out] = _rerun(row, parents, params, ids, t, apply)
            else:
                t[ti.out] = _rerun(row, parents, params, ids, t, apply)
        elif kind == "const":  # a fresh leaf each call, as eager makes, over the same values
            t[ti.out] = Tensor._wrap(ti.what, ti.requires_grad)
        elif kind == "from_number":
            t[ti.out] = Tensor._wrap(np.asarray(s[ti.number], dtype=ti.what), ti.requires_grad)
        elif kind == "detach":
            t[ti.out] = Tensor._wrap(t[ti.parents[0]]._data, ti.requires_grad)
        elif kind == "draw":
            t[ti.out] = Tensor._wrap(ti.what()._data, ti.requires_grad)
        elif kind == "store":
            t[ti.out] = Tensor._wrap(t[ti.parents[0]]._data.copy())

    def _result(self, o, s, t, nodes, leaves):
        if o.kind == "number":
            x = s[o.slot]
            return bool(x) if o.number_type == 2 else int(x) if o.number_type == 1 else x
        if o.kind == "tensor":
            return t[o.slot]
        if o.kind == "input":
            inp = self.inputs[o.slot]
            return inp.node if inp.leaf is None else leaves[inp.leaf]
        return self._value_result(o, s, nodes)

    def _value_result(self, o, s, nodes):
        from .value import Value, function_value

        out = Value(s[o.slot])
        if o.leaf:
            return out
        order, which = self._schedule(o.slot)
        if not which:
            return out

        def run(g, recorded):
            if recorded:
                raise RuntimeError("tg.grad(..., create_graph=True) of a compiled function's result: its tape has no "
                                   "recorded backward; call the function itself (not compiled) to differentiate twice")
            return self._backward(s, o.slot, g._data, order, which)

        return function_value(out, [nodes[k] for k in which], self.name, run)

    # -- backward --------------------------------------------------------------------------

    def _schedule(self, root: int):
        """(the Value instructions in the order the reference's sweep visits them, the inputs reached)."""
        found = self._schedules.get(root)
        if found is not None:
            return found
        if self._slots is None:
            self._slots = {}
            for k, ins in enumerate(self.code):
                if not isinstance(ins.code, str) and ins.code in E.ELEMENTWISE and not ins.nograd:
                    self._slots.setdefault(ins.out, _Slot(k))
            for slot in self._slots.values():
                ins = self.code[slot.instr]
                parents = (ins.a,) if ins.code.arity == 1 else (ins.a, ins.b)
                slot._parents = tuple(self._slots[p] for p in parents if p in self._slots)
        order = []
        if root in self._slots:
            order = [n.instr for n in reversed(topo_order(self._slots[root]))]
        reached = {root}
        for k in order:
            ins = self.code[k]
            reached.update((ins.a,) if ins.code.arity == 1 else (ins.a, ins.b))
        which = [k for k, inp in enumerate(self.inputs) if inp.kind == "value_input" and inp.slot in reached]
        self._schedules[root] = (order, which)
        return order, which

    def _backward(self, s, root, seed, order, which):
        """d root / d input for the inputs ``which``: the reference's sweep, on the tape."""
        grads = {root: seed}
        for k in order:
            ins = self.code[k]
            upstream = grads.get(ins.out)
            if upstream is None:
                continue
            op = ins.code
            if op.arity == 2:
                local = op.d(s[ins.a], s[ins.b], s[ins.out], E.SCALARS)
                parents = ((ins.a, ins.const_a), (ins.b, ins.const_b))
            else:
                saved = s[ins.out] if op.saves == "output" else s[ins.a]
                local = (op.d(saved, s[ins.b], E.SCALARS),) if op is E.PowConst else (op.d(saved, E.SCALARS),)
                parents = ((ins.a, ins.const_a),)
            for (p, const), d in zip(parents, local):
                if not const:  # a parent reached along several paths sums them
                    grads[p] = grads.get(p, 0.0) + upstream * d
        return [grads.get(self.inputs[k].slot, 0.0) for k in which]


def _rerun(row, parents, params, ids, t, apply):
    """The op a Tensor instruction replays: the row eager applied, on the replay's tensors;
    ids read from tensors (an index key's Tensor items, labels) come from their slots."""
    if row is not None and row.name in ("<", "<=", ">", ">=", "==", "!="):
        return parents[0]._compare(parents[1], row)
    if ids is not None:
        kind, key = ids
        if kind == "noise":  # dropout: noise drawn afresh from the stream
            from .nn_ops import dropout

            return dropout(parents[0], key())
        if kind == "running":
            return _rerun_batch_norm(row, parents, params, key, t, apply)
        if kind == "call":  # a leaf eager computes without a graph (argmax, a cast to int64)
            how, *refs = key
            return how(*(t[r.ref] for r in refs))
        if kind == "gather":
            return parents[0].gather(key[0], t[key[1].ref])
        if kind == "embedding":
            from ._tensor_int import embedding

            return embedding(t[key[1].ref], parents[0])
        if kind == "labels":
            from .functional import cross_entropy

            return cross_entropy(parents[0], t[key.ref])
        if isinstance(key, tuple):
            return parents[0][tuple(t[k.ref] if isinstance(k, Ref) else k for k in key)]
        return parents[0][t[key.ref] if isinstance(key, Ref) else key]
    return apply(row, parents, **params)


def _rerun_batch_norm(row, parents, params, slots, t, apply):
    """batch_norm with this replay's running statistics: in training, copies of them, which
    take the slots (later readers see the update, as in eager) and are written back once
    every guard held (Tape.replay's stores)."""
    from .tensor import Tensor

    stats = [None, None]
    for k, slot in enumerate(slots):
        if slot is None:
            continue
        if k == 1 and slot == slots[0]:  # one tensor for both: eager updates it twice
            stats[1] = stats[0]
            continue
        stats[k] = t[slot]
        if params["training"]:
            stats[k] = t[slot] = Tensor._wrap(stats[k]._data.copy(), stats[k]._requires_grad)
    return apply(row, parents, running_mean=stats[0], running_var=stats[1], **params)
