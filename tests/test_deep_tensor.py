"""A 10**5-deep chain of small tensors: forward, backward and drop need no recursion."""
from __future__ import annotations

import gc
import sys

import numpy as np
import pytest

DEPTH = 100_000

pytestmark = pytest.mark.slow


def _chain(tg, x):
    """DEPTH nodes, each computed from the previous one; the values stay unchanged."""
    y = x
    for i in range(DEPTH):
        y = y * 1.0 if i % 2 else y + 0.0
    return y


def test_deep_chain_backward_with_default_recursion_limit(tg):
    assert sys.getrecursionlimit() <= 10_000
    x = tg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = _chain(tg, x)
    np.testing.assert_array_equal(y.numpy(), [1.0, -2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_deep_chain_drop_without_backward(tg):
    x = tg.tensor(np.array([0.5]), requires_grad=True)
    y = _chain(tg, x).sum()
    del y  # freeing 10**5 linked nodes must not overflow the C stack
    gc.collect()
    assert x.grad is None


def test_deep_chain_tg_grad_retained_twice(tg):
    x = tg.tensor(np.array([2.0]), requires_grad=True)
    y = x
    for _ in range(DEPTH // 3):
        y = y.tanh() * 0.0 + y  # three nodes and a fan-out at every step
    loss = y.sum()
    (g1,) = tg.grad(loss, [x], retain_graph=True)
    (g2,) = tg.grad(loss, [x])
    assert g1.tolist() == [1.0] and g2.tolist() == [1.0]
