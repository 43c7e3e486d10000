"""Native-only properties of tapegrad.Value: lifetime, memory, threads, identity.

The API itself is tested on both backends in test_value*.py; this file checks
what only the C++ engine can get wrong (node lifetime and reuse, the GIL
released during backward, the Python object behind each node) and that it
agrees with the reference bit for bit.
"""
from __future__ import annotations

import copy
import gc
import math
import os
import pickle
import sys
import threading
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad
from op_cases import elementwise_steps
from tapegrad import reference

Value = tapegrad.Value


def live_nodes() -> int:
    return tapegrad._core._value_stats()["live_nodes"]


# ----- lifetime ---------------------------------------------------------------

def test_million_node_chain_builds_backpropagates_and_frees():
    assert sys.getrecursionlimit() <= 10_000  # the default: nothing may recurse
    before = live_nodes()
    x = Value(0.5)
    y = x
    for _ in range(1_000_000):
        y = y + x
    y.backward()
    assert y.data == 0.5 * 1_000_001
    assert x.grad == 1_000_001.0
    del y
    assert live_nodes() == before + 1  # only x is left
    del x
    assert live_nodes() == before


def test_deep_chain_from_a_thread_with_the_default_stack():
    # Threads get a smaller default stack than the main thread.
    out = {}

    def work():
        y = Value(0.0)
        for _ in range(300_000):
            y = (y * 0.999 + 0.001).tanh()
        y.backward()
        out["ok"] = math.isfinite(y.data)
        del y

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert out == {"ok": True}


def test_parents_keep_the_graph_alive():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = (a * b + 1.0).tanh()
    del a, b
    gc.collect()
    (mul_plus_one,) = c.parents
    mul, one = mul_plus_one.parents
    assert [p.label for p in mul.parents] == ["a", "b"]
    assert one.data == 1.0 and one.op == ""
    c.backward()
    a, b = mul.parents
    assert a.grad == pytest.approx(-3.0 * (1.0 - c.data**2))
    assert b.grad == pytest.approx(2.0 * (1.0 - c.data**2))


def test_constants_have_no_python_object_until_asked_for():
    before = live_nodes()
    a = Value(1.0)
    c = a + 2.0
    assert live_nodes() == before + 3  # a, the constant 2.0 and c
    const = c.parents[1]
    assert const.data == 2.0 and const.label == "" and const.parents == ()
    del a, c
    assert live_nodes() == before + 1  # the constant, now held only by `const`
    del const
    assert live_nodes() == before


def test_dropping_the_output_frees_shared_subgraphs_once():
    before = live_nodes()
    x = Value(3.0)
    s = x * x
    outs = [s + s, s * s, (s + 1.0).exp()]
    del s
    outs.clear()
    assert live_nodes() == before + 1
    del x
    assert live_nodes() == before


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_rss_is_flat_when_graphs_are_built_and_dropped():
    def round_trip():
        x = Value(1.0)
        y = x
        for _ in range(250_000):  # 4 nodes per step: 10^6 nodes
            y = (y * 0.5 + 0.25).relu()
        y.backward()
        del y, x

    live = live_nodes()
    round_trip()
    round_trip()  # a second warm-up round settles the interpreter's own arenas
    gc.collect()
    first = _rss_bytes()
    pooled = tapegrad._core._value_stats()["pooled_bytes"]
    for _ in range(8):
        round_trip()
    gc.collect()
    # The pool reuses its slabs exactly; RSS may move a little with the
    # interpreter's own arenas, but a leak would add ~48 MB per round.
    assert tapegrad._core._value_stats()["pooled_bytes"] == pooled
    assert live_nodes() == live
    assert _rss_bytes() - first < 16 * 2**20


# ----- threads ------------------------------------------------------------------

def _graph_gradients(seed: int) -> tuple[float, list[float]]:
    xs = [Value(math.sin(seed + i)) for i in range(50)]
    y = Value(0.0)
    for step in range(2_000):
        a, b = xs[step % 50], xs[(step * 7 + seed) % 50]
        y = (y * 0.99 + a * b).tanh() + (a - b).sigmoid()
    y.backward()
    return y.data, [x.grad for x in xs]


def test_threads_backpropagating_their_own_graphs_agree_with_one_thread():
    expected = [_graph_gradients(seed) for seed in range(4)]
    results: dict[int, tuple] = {}
    errors: list[BaseException] = []

    def work(seed):
        try:
            for _ in range(5):
                results[seed] = _graph_gradients(seed)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [results[s] for s in range(4)] == expected


def test_threads_backpropagating_one_shared_graph():
    x = Value(0.3)
    y = x
    for _ in range(20_000):
        y = (y * x).sin() + x
    single = tapegrad.grad(y, x)
    out: list[float] = []
    threads = [threading.Thread(target=lambda: out.append(tapegrad.grad(y, x))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [single] * 4


def test_grad_mode_is_per_thread():
    seen = {}

    def other():
        seen["enabled"] = tapegrad.is_grad_enabled()
        seen["op"] = (Value(1.0) + 1.0).op

    with tapegrad.no_grad():
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert (Value(1.0) + 1.0).op == ""
    assert seen == {"enabled": True, "op": "+"}


# ----- the Python object behind a node ----------------------------------------------

def test_parents_are_the_same_python_objects():
    a, b = Value(2.0), Value(3.0)
    c = a * b
    assert c.parents[0] is a and c.parents[1] is b
    sq = a * a
    assert sq.parents[0] is sq.parents[1] is a
    d = c + 1.0
    assert d.parents[0] is c
    assert d.parents[1] is d.parents[1]  # a constant's object is kept while it is alive
    assert len({a, b, c, *c.parents}) == 3


def test_a_node_gets_a_new_object_only_after_the_old_one_died():
    a = Value(2.0)
    c = a + 1.0
    ref = weakref.ref(c.parents[1])
    assert ref() is None  # nobody held the constant's object: it went away
    const = c.parents[1]
    const.label = "two"
    del const
    assert c.parents[1].label == "two"  # the node itself (and its label) lives on


def test_equality_and_hash_are_identity():
    a, b = Value(1.0), Value(1.0)
    assert a != b and a == a
    assert hash(a) != hash(b) or a is not b
    assert {a: 1}[a] == 1


def test_weak_references():
    a = Value(1.0)
    r = weakref.ref(a)
    assert r() is a
    del a
    assert r() is None


def test_weakref_callback_may_reach_the_dying_node():
    a = Value(2.0)
    y = a * 3.0
    seen = []
    r = weakref.ref(a, lambda _: seen.append(y.parents[0].data))
    del a  # the callback runs while a's object dies: it must get a fresh object
    assert seen == [2.0] and r() is None
    assert y.parents[0].data == 2.0


def test_an_object_made_while_the_room_object_dies_stays_valid():
    # A leaf's object lives in its node's room; while it is being deallocated,
    # a weakref callback may ask for the node's object: it then gets one from
    # CPython's heap, which must outlive the room's reuse (Note [Value object
    # in the node's room]).
    a = Value(2.0)
    y = a * 3.0
    kept = []
    r = weakref.ref(a, lambda _: kept.append(y.parents[0]))
    del a
    assert r() is None and len(kept) == 1
    junk = [Value(float(i)) * 2.0 for i in range(1000)]  # more leaves and objects around
    assert kept[0] is y.parents[0] and kept[0].data == 2.0 and kept[0].op == ""
    del kept[:], junk
    p = y.parents[0]  # the room is free again: a new object for the same node
    assert p.data == 2.0
    y.backward()
    assert p.grad == 3.0


def test_a_leaf_object_comes_back_for_the_same_node():
    x = Value(1.5, label="x")
    y = x.tanh()
    del x
    again = y.parents[0]
    assert again.data == 1.5 and again.label == "x"
    del again
    assert y.parents[0].label == "x"


def test_subclasses_work():
    class Named(Value):
        def __init__(self, data, name):
            super().__init__(data, label=name)

    n = Named(2.0, "n")
    assert n.label == "n" and isinstance(n, Value)
    y = n * n + 1.0
    assert type(y) is Value and y.parents[0].parents[0] is n
    y.backward()
    assert n.grad == 4.0


# ----- memory -------------------------------------------------------------------------

def test_node_is_small():
    stats = tapegrad._core._value_stats()
    assert stats["node_bytes"] <= 48
    assert stats["object_bytes"] <= stats["room_bytes"] <= 32  # a leaf: 80 bytes, its object included


def test_labels_are_freed_with_their_nodes():
    labels = tapegrad._core._value_stats()["labels"]
    a = Value(1.0, label="a")
    b = a * 2.0
    b.label = "b"
    b.parents[1].label = "two"
    assert tapegrad._core._value_stats()["labels"] == labels + 3
    b.label = ""
    assert b.label == "" and tapegrad._core._value_stats()["labels"] == labels + 2
    del a, b
    assert tapegrad._core._value_stats()["labels"] == labels


def test_pool_is_reused():
    def build():
        y = Value(1.0)
        for _ in range(20_000):
            y = y + 1.0

    build()
    pooled = tapegrad._core._value_stats()["pooled_bytes"]
    for _ in range(3):
        build()
    assert tapegrad._core._value_stats()["pooled_bytes"] == pooled


# ----- agreement with the reference, bit for bit -------------------------------------

# Every Value op of the op table, with numbers on either side (tests/op_cases.py)
STEPS = elementwise_steps("V")


def _run(tg, program, inputs):
    vals = [tg.Value(x) for x in inputs]
    for kind, i, j, c in program:
        vals.append(STEPS[kind](vals[i % len(vals)], vals[j % len(vals)], c))
    y = vals[-1]
    y.backward()
    y.backward()  # twice: accumulation must agree too
    return [(v.data, v.grad, v.op) for v in vals]


def _same(x, y):
    return (x == y) or (isinstance(x, float) and math.isnan(x) and math.isnan(y))


@settings(max_examples=150, deadline=None)
@given(
    inputs=st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=3),
    program=st.lists(
        st.tuples(st.sampled_from(sorted(STEPS)), st.integers(0, 20), st.integers(0, 20),
                  st.sampled_from([2.0, -1.0, 0.5, 3, 0.0, -2.5])),
        min_size=1, max_size=12),
)
def test_native_matches_reference_bit_for_bit(inputs, program):
    native = _run(tapegrad, program, inputs)
    ref = _run(reference, program, inputs)
    for (nd, ng, nop), (rd, rg, rop) in zip(native, ref):
        assert nop == rop
        assert _same(nd, rd), (nop, nd, rd)
        assert _same(ng, rg), (nop, ng, rg)


def test_copies_are_independent_leaves():
    a = Value(2.0, label="a")
    y = a * 3.0
    y.grad = 0.5
    for c in (copy.copy(y), copy.deepcopy(y), pickle.loads(pickle.dumps(y))):
        assert type(c) is Value and c is not y
        assert (c.data, c.grad, c.op, c.parents) == (6.0, 0.5, "", ())
    b = pickle.loads(pickle.dumps(a))
    assert b.label == "a"
