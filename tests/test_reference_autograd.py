"""The reference backend's shared autograd machinery (tapegrad.reference._autograd)."""
from __future__ import annotations

from tapegrad.reference import Value
from tapegrad.reference._autograd import topo_order


def test_topo_order_lists_each_node_once_after_its_parents():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c + (c - b)
    order = topo_order(e)
    assert len(order) == len(set(order))
    position = {node: k for k, node in enumerate(order)}
    for node in order:
        assert all(position[p] < position[node] for p in node.parents)
    assert order[-1] is e and {a, b, c, d} <= set(order)


def test_topo_order_of_a_leaf_and_of_a_repeated_parent():
    a = Value(3.0)
    assert topo_order(a) == [a]
    sq = a * a
    assert topo_order(sq) == [a, sq]
