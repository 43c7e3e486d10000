"""Graphs far deeper than Python's recursion limit: no walk may recurse."""
from __future__ import annotations

import pickle
import sys
import weakref

import pytest

DEPTH = 10 ** 6


@pytest.mark.slow
def test_million_node_value_chain_builds_backpropagates_and_drops(tg):
    limit = sys.getrecursionlimit()
    x = tg.Value(0.5)
    y = x
    for _ in range(DEPTH):
        y = -y  # an even number of negations: y == x
    assert y.data == 0.5 and y.op == "neg"

    y.backward()
    assert (x.grad, y.grad) == (1.0, 1.0)

    copied = pickle.loads(pickle.dumps(y))  # a copy is a leaf: no graph to walk
    assert (copied.data, copied.parents) == (0.5, ())

    try:
        alive = weakref.ref(y)
    except TypeError:  # a backend without weak references still must drop cleanly
        alive = None
    del y  # frees a million nested nodes: must not overflow the C stack
    assert alive is None or alive() is None
    assert sys.getrecursionlimit() == limit
    assert (x + 1).data == 1.5
