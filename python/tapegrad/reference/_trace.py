"""tg.compile's tracer on the reference backend: the same log as the native one
(cpp/core/trace.cpp), read into the same tape (cpp/core/tape_build.cpp), in
Python (docs/DESIGN.md, Note [Compile]).

While a trace runs, the reference Value and Tensor call the ``on_*`` methods
below for every node they make, in creation order (``current()`` finds the
tracer of this thread); the driver (``tapegrad/_compile.py``) calls the rest.
"""
from __future__ import annotations

import threading

from . import elementwise as E
from ._tape import Instr, Ref, Tape, TapeInput, TapeOutput, TensorInstr

__all__ = ["Tracer", "current"]

_active = [None]  # the tracer that runs, if any


def current():
    """The tracer logging this thread's ops, or None (almost always)."""
    t = _active[0]
    return t if t is not None and t.owner == threading.get_ident() else None


class Event:
    """One entry of the log: what was made, by which op, from which earlier entries."""

    __slots__ = ("kind", "code", "nograd", "a", "b", "leaf", "k", "node", "parents", "row", "params", "source",
                 "ids", "made_as")

    def __init__(self, kind, code=None, a=None, b=None, node=None):
        self.kind, self.code, self.a, self.b, self.node = kind, code, a, b, node
        self.nograd = False
        self.leaf = None
        self.k = 0.0
        self.parents = ()
        self.row = self.params = self.source = None
        self.made_as = None  # tensor_const: its values when made, if fn changed them in place later
        self.ids = None  # ("index", key with Ref items) or ("labels", Ref): ids replayed from tensors

    def is_scalar(self) -> bool:
        return self.kind in _SCALAR

    def is_tensor(self) -> bool:
        return self.kind in _TENSOR


_SCALAR = {"value_const", "number_const", "value_op", "number_op", "value_copy", "value_input", "number_input",
           "item"}
_TENSOR = {"tensor_input", "tensor_op", "tensor_const", "tensor_from_number", "tensor_detach", "tensor_draw"}
_NUMBER_OPS = {"+": E.Add, "-": E.Sub, "*": E.Mul, "/": E.Div, "**": E.Pow, "neg": E.Neg, "abs": E.Abs,
               "<": E.Lt, "<=": E.Le, ">": E.Gt, ">=": E.Ge, "==": E.Eq, "!=": E.Ne}


# The rows a tape refuses, as cpp/core/tape_tensor.cpp's replayable(): recorded
# backward passes' getitem_backward. (batch_norm and dropout replay with their
# running statistics and their noise: running_stats(), tensor_noise().)
_NOT_REPLAYED = frozenset({"getitem_backward"})
_BATCH_NORM, _DROPOUT = "batch_norm", "dropout"


class Tracer:
    """The log of one trace."""

    def __init__(self):
        self.events = []
        self.refs = {}  # id(node) -> its entry: made here, or an input
        self.owner = None
        self._unsupported = ""
        self._unsourced_noise = 0  # dropout nodes logged without tensor_noise()

    @property
    def unsupported_reason(self) -> str:
        if not self._unsupported and self._unsourced_noise:
            return "dropout noise not drawn by tg.nn.functional.dropout"
        return self._unsupported

    def start(self) -> None:
        if _active[0] is not None:
            raise RuntimeError("tg.compile: another function is being traced (on another thread)")
        self.owner = threading.get_ident()
        _active[0] = self

    def stop(self) -> None:
        if _active[0] is self:
            _active[0] = None

    def _push(self, e: Event) -> int:
        self.events.append(e)
        return len(self.events) - 1

    def _made(self, node, e: Event) -> int:
        r = self._push(e)
        self.refs[id(node)] = r
        return r

    # -- arguments --------------------------------------------------------------------

    def arg_number(self, leaf: int, x: float) -> int:
        e = Event("number_input")
        e.leaf, e.k = leaf, x
        return self._push(e)

    def arg_value(self, leaf: int, v) -> None:
        if id(v) not in self.refs:
            e = Event("value_input", node=v)
            e.leaf = leaf
            self._made(v, e)

    def arg_tensor(self, leaf: int, t) -> None:
        if id(t) not in self.refs:
            e = Event("tensor_input", node=t)
            e.leaf = leaf
            self._made(t, e)

    # -- references -----------------------------------------------------------------

    def value_ref(self, v) -> int:
        r = self.refs.get(id(v))
        return r if r is not None else self._made(v, Event("value_input", node=v))

    def tensor_ref(self, t) -> int:
        r = self.refs.get(id(t))
        return r if r is not None else self._made(t, Event("tensor_input", node=t))

    # -- the engines' hooks ----------------------------------------------------------------

    def on_value_leaf(self, v) -> None:
        e = Event("value_const", node=v)
        e.k = v._data
        self._made(v, e)

    def on_value_op(self, v, op, a, b, nograd: bool) -> None:
        e = Event("value_op", op, self.value_ref(a), None if b is None else self.value_ref(b), node=v)
        e.nograd = nograd
        self._made(v, e)

    def on_value_pow(self, v, a, k: float, nograd: bool) -> None:
        e = Event("value_op", E.PowConst, self.value_ref(a), self.number_const(k), node=v)
        e.nograd = nograd
        self._made(v, e)

    def on_value_function(self, v) -> None:
        self.unsupported("a tg.autograd.Function on Values")
        self.on_value_leaf(v)

    def on_tensor_leaf(self, t) -> None:
        self._made(t, Event("tensor_const", node=t))

    def on_tensor_op(self, t, row, parents: tuple, params: dict, nograd: bool) -> None:
        """The op that made t (its event, logged when t was wrapped, becomes the op's)."""
        if row.name == "function":
            self.unsupported("a tg.autograd.Function on Tensors")
        elif row.name in _NOT_REPLAYED:  # as the native replayable(): a row _tape.py does not rerun
            self.unsupported(f"the Tensor op '{row.name}'")
        elif row.name == _DROPOUT:
            self._unsourced_noise += 1  # until tensor_noise() names its source
        params = dict(params)
        stats = (None, None)
        if row.name == _BATCH_NORM:  # its running statistics: operands of the replay (running_stats)
            stats = tuple(None if x is None else self.tensor_ref(x)
                          for x in (params.pop("running_mean"), params.pop("running_var")))
            if params["training"] and any(r is not None and self.events[r].kind not in ("tensor_input", "tensor_const")
                                          for r in stats):  # updated in place: an op's result may be a view
                self.unsupported("batch_norm's running statistics computed inside the function")
        refs = tuple(self.tensor_ref(p) for p in parents)
        e = self.events[self.tensor_ref(t)]
        e.kind, e.row, e.params, e.parents, e.nograd = "tensor_op", row, params, refs, nograd
        e.a, e.b = stats

    # -- the driver's -------------------------------------------------------------------------

    def number_const(self, x: float) -> int:
        e = Event("number_const")
        e.k = x
        return self._push(e)

    def number_op(self, name: str, a: int, b: int) -> int:
        e = Event("number_op", _NUMBER_OPS[name], a, None if b < 0 else b)
        e.nograd = True
        return self._push(e)

    def value_from_number(self, v, r: int) -> None:
        e = self.events[self.value_ref(v)]
        if e.kind == "value_const":
            e.kind, e.a = "value_copy", r
        elif e.kind == "value_op" and e.code is E.PowConst:
            e.b = r

    def tensor_from_number(self, t, r: int) -> None:
        e = self.events[self.tensor_ref(t)]
        if e.kind == "tensor_const":
            e.kind, e.a = "tensor_from_number", r

    def tensor_detached(self, t, source) -> None:
        src = self.tensor_ref(source)
        e = self.events[self.tensor_ref(t)]
        if e.kind == "tensor_const":
            e.kind, e.a = "tensor_detach", src

    def tensor_draw(self, t, draw) -> None:
        e = self.events[self.tensor_ref(t)]
        if e.kind == "tensor_const":
            e.kind, e.source = "tensor_draw", draw

    def tensor_noise(self, t, draw) -> None:
        """A dropout node's noise, which ``draw()`` draws afresh at each replay."""
        e = self.events[self.tensor_ref(t)]
        if e.kind == "tensor_op" and e.row.name == _DROPOUT and e.source is None:
            e.source = draw
            self._unsourced_noise -= 1

    def before_update(self, t) -> None:
        """t's values are about to change in place (batch_norm's update): a constant made in fn
        keeps, for the tape, the values it was made with."""
        r = self.refs.get(id(t))
        if r is not None and self.events[r].kind == "tensor_const" and self.events[r].made_as is None:
            self.events[r].made_as = t._data.copy()

    def derived(self, t, how, sources: tuple) -> None:
        """A leaf that ``how`` recomputes from ``sources`` at each replay."""
        e = self.events[self.tensor_ref(t)]
        e.kind, e.row, e.params, e.parents = "tensor_op", None, {}, ()
        e.ids = ("call", (how, *(Ref(self.tensor_ref(x)) for x in sources)))

    def ids_from(self, t, kind: str, source) -> None:
        e = self.events[self.tensor_ref(t)]
        if kind in ("gather", "embedding"):  # source: (dim, the index tensor)
            e.ids = (kind, (source[0], Ref(self.tensor_ref(source[1]))))
        elif kind == "labels":
            e.ids = ("labels", Ref(self.tensor_ref(source)))
        elif isinstance(source, tuple):
            e.ids = ("index", tuple(self._id_item(k) for k in source))
        else:
            e.ids = ("index", self._id_item(source))

    def _id_item(self, k):
        from .tensor import Tensor

        return Ref(self.tensor_ref(k)) if isinstance(k, Tensor) else k

    def item(self, t) -> int:
        return self._push(Event("item", a=self.tensor_ref(t)))

    def guard_truth(self, r: int, outcome: bool) -> None:
        self._push(Event("guard", "guard_true" if outcome else "guard_false", r))

    def guard_exact(self, r: int, x: float) -> None:
        self._push(Event("guard", "guard_bits", r, self.number_const(x)))

    def guard_int(self, r: int) -> None:
        self._push(Event("guard", "guard_int", r))

    def guard_tensor(self, t) -> None:
        e = Event("guard_tensor", a=self.tensor_ref(t))
        e.node = t._data.copy()  # what the read saw
        self._push(e)

    def store_value(self, v, r: int) -> None:
        self._push(Event("store_value", a=self.value_ref(v), b=r))

    def store_tensor(self, t, source) -> None:
        self._push(Event("store_tensor", a=self.tensor_ref(t), b=self.tensor_ref(source)))

    def unsupported(self, what: str) -> None:
        self._unsupported = self._unsupported or what

    def drop_log(self) -> None:
        """Lets go of every node the log holds (the native Tracer::drop_log)."""
        self.stop()
        self.events, self.refs = [], {}

    def finish(self, outputs: list, name: str) -> Tape:
        """The tape for these results: ("V", v, 0), ("T", t, 0) or ("N", ref, python type) each."""
        if self.unsupported_reason:
            raise RuntimeError(f"tg.compile cannot replay {self.unsupported_reason} yet")
        tape = _Builder(self).build(outputs, name)
        self.drop_log()
        return tape


def _updates_running(e: Event) -> bool:
    """batch_norm in training with running statistics: its replay updates them."""
    return e.kind == "tensor_op" and e.row is not None and e.row.name == _BATCH_NORM and \
        e.params["training"] and (e.a is not None or e.b is not None)


def _id_refs(ids) -> list:
    if ids is None:
        return []
    key = ids[1]
    items = key if isinstance(key, tuple) else (key,)
    return [k.ref for k in items if isinstance(k, Ref)]


def _with_slots(key, slot: dict):
    if isinstance(key, tuple):
        return tuple(Ref(slot[k.ref]) if isinstance(k, Ref) else k for k in key)
    return Ref(slot[key.ref]) if isinstance(key, Ref) else key


class _Builder:
    """From the log to a tape (the native tape_build.cpp, step for step)."""

    def __init__(self, tracer: Tracer):
        self.tr, self.ev = tracer, tracer.events
        self.tape = Tape()
        self.slot = {}
        self.constant = set()  # scalar slots that hold constants
        self.input_of = {}  # entry -> index into tape.inputs

    def build(self, outputs: list, name: str) -> Tape:
        refs = [self.tr.value_ref(x) if k == "V" else self.tr.tensor_ref(x) if k == "T" else x for k, x, _ in outputs]
        live = self.liveness(refs)
        self.assign_slots(live)
        for i, e in enumerate(self.ev):
            if live[i]:
                self.emit(i, e)
        self.running_stores(live)
        for (kind, _, number_type), r in zip(outputs, refs):
            self.output(kind, r, number_type)
        self.tape.name = name
        return self.tape

    def liveness(self, refs: list) -> list:
        live = [False] * len(self.ev)
        for r in refs:
            live[r] = True
        self.stored = set()
        for i, e in enumerate(self.ev):  # and random draws: the stream moves as eager's, read or not
            if e.kind in ("guard", "guard_tensor", "store_value", "store_tensor", "tensor_draw") or \
                    e.source is not None or _updates_running(e):
                live[i] = True
            if e.kind == "store_value":
                self.stored.add(e.a)
        for i in range(len(self.ev) - 1, -1, -1):  # made before used: one reverse pass
            if live[i]:
                e = self.ev[i]
                for r in (e.a, e.b, *e.parents, *_id_refs(e.ids)):
                    if r is not None:
                        live[r] = True
        return live

    def assign_slots(self, live: list) -> None:
        tape, constants = self.tape, {}
        for i, e in enumerate(self.ev):
            if not live[i]:
                continue
            if e.is_tensor():
                self.slot[i] = tape.tensor_slots
                tape.tensor_slots += 1
                continue
            if not e.is_scalar():
                continue
            const = e.kind == "number_const" or (e.kind == "value_const" and i not in self.stored)
            if const:
                key = float(e.k).hex()
                if key in constants:
                    self.slot[i] = constants[key]
                    continue
                constants[key] = len(tape.scalar_init)
                self.constant.add(len(tape.scalar_init))
            self.slot[i] = len(tape.scalar_init)
            tape.scalar_init.append(float(e.k) if const or e.kind == "value_const" else 0.0)

    def s(self, r):
        return None if r is None else self.slot[r]

    def is_const(self, r) -> bool:
        return r is not None and self.ev[r].is_scalar() and self.slot[r] in self.constant

    def emit(self, r: int, e: Event) -> None:
        tape, s = self.tape, self.s
        kind = e.kind
        if kind in ("value_op", "number_op"):
            const_b = e.code is E.PowConst or self.is_const(e.b)  # k is no parent
            tape.code.append(Instr(e.code, e.nograd, s(r), s(e.a), s(e.b), self.is_const(e.a), const_b))
        elif kind in ("value_copy", "item"):
            tape.code.append(Instr("copy" if kind == "value_copy" else "item", True, s(r), s(e.a), None))
        elif kind in ("value_input", "number_input", "tensor_input"):
            self.input_of[r] = len(tape.inputs)
            tape.inputs.append(TapeInput(kind, e.leaf, s(r), e.node if e.leaf is None else None))
        elif kind == "guard":
            tape.code.append(Instr(e.code, False, None, s(e.a), s(e.b)))
        elif kind == "store_value":
            tape.code.append(Instr("store", True, s(e.a), s(e.b), None))
            tape.refill = True
            if e.a in self.input_of:
                tape.stores.append((self.input_of[e.a], s(e.a), False, False))
        elif kind == "guard_tensor":
            tape.tensors.append(TensorInstr("const", e.node, (), None))
            tape.code.append(Instr("guard_tensor", False, None, s(e.a), len(tape.tensors) - 1))
        elif kind in _TENSOR or kind == "store_tensor":
            self.emit_tensor(r, e)

    def emit_tensor(self, r: int, e: Event) -> None:
        tape, s = self.tape, self.s
        kind = e.kind
        if kind == "tensor_op":
            ids = None if e.ids is None else (e.ids[0], _with_slots(e.ids[1], self.slot))
            if e.source is not None:  # dropout: fresh noise at each replay
                ids = ("noise", e.source)
                tape.draws = True
            elif e.row is not None and e.row.name == _BATCH_NORM:
                ids = ("running", (s(e.a), s(e.b)))
            ti = TensorInstr("op", (e.row, e.params, ids), tuple(s(p) for p in e.parents), s(r))
        elif kind == "tensor_const":
            ti = TensorInstr("const", e.node._data if e.made_as is None else e.made_as, (), s(r))
        elif kind == "tensor_from_number":
            ti = TensorInstr("from_number", e.node.dtype, (), s(r))
            ti.number = s(e.a)
        elif kind == "tensor_detach":
            ti = TensorInstr("detach", None, (s(e.a),), s(r))
        elif kind == "tensor_draw":
            ti = TensorInstr("draw", e.source, (), s(r))
            tape.draws = True
        elif kind == "store_tensor":
            ti = TensorInstr("store", None, (s(e.b),), s(e.a))
            if e.a in self.input_of:
                tape.stores.append((self.input_of[e.a], s(e.a), True, False))
        else:
            return
        if kind != "tensor_op" and e.node is not None and hasattr(e.node, "_requires_grad"):
            ti.requires_grad = e.node._requires_grad
        ti.nograd = e.nograd
        tape.tensors.append(ti)
        tape.code.append(Instr("tensor", False, None, len(tape.tensors) - 1, None))

    def running_stores(self, live: list) -> None:
        """batch_norm in training updates running statistics from outside fn (inputs, known once
        every event is emitted): written back into them, in place, after the replay's guards held."""
        for i, e in enumerate(self.ev):
            if not (live[i] and _updates_running(e)):
                continue
            for stat in (e.a, e.b):
                if stat in self.input_of:
                    store = (self.input_of[stat], self.slot[stat], True, True)
                    if store not in self.tape.stores:
                        self.tape.stores.append(store)

    def output(self, kind: str, r: int, number_type: int) -> None:
        if r in self.input_of:
            self.tape.outputs.append(TapeOutput("input", self.input_of[r]))
        elif kind == "V":
            e = self.ev[r]
            self.tape.outputs.append(TapeOutput("value", self.slot[r], leaf=e.kind != "value_op" or e.nograd))
        elif kind == "T":
            self.tape.outputs.append(TapeOutput("tensor", self.slot[r]))
        else:
            self.tape.outputs.append(TapeOutput("number", self.slot[r], number_type=number_type))
