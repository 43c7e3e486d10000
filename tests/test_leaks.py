"""Leak checks by resident memory: build, backpropagate and drop graphs many times.

After a warm-up (pools, allocator arenas and caches reach their steady size),
1,000 rounds of a 10^4-node Value graph and of a Tensor MLP training step
must keep the process's RSS within 5% (plus a small absolute allowance for
allocator noise). Read from /proc/self/statm, so Linux only.

Marked ``rss``: the sanitizer run deselects them (ASan's quarantine holds
freed memory on purpose, so RSS says nothing there) and ``slow``.
"""
from __future__ import annotations

import gc
import os

import numpy as np
import pytest

pytestmark = [
    pytest.mark.rss,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc/self/statm (Linux only)"),
]

TOLERANCE = 0.05
SLACK = 2 * 2**20  # bytes: allocator noise on a small process


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def value_round(tg) -> float:
    """Build a ~10^4-node graph (fan-out on x, a deep chain), backpropagate, drop it."""
    x = tg.Value(0.5, label="x")
    acc = x
    for _ in range(2500):  # four nodes a step: a constant, *, +, tanh
        acc = (acc * 0.999 + x).tanh()
    acc.backward()
    return x.grad


def check_flat(step, warmup: int, rounds: int):
    for _ in range(warmup):
        step()
    gc.collect()
    before = rss()
    for _ in range(rounds):
        step()
    gc.collect()
    after = rss()
    assert after <= before * (1 + TOLERANCE) + SLACK, (
        f"RSS grew from {before / 2**20:.1f} MiB to {after / 2**20:.1f} MiB over {rounds} rounds")


def test_value_graph_rounds_keep_rss_flat(tg):
    # 1,000 rounds natively; the pure-Python reference (30x slower) runs 50.
    native = tg.__name__ == "tapegrad"
    check_flat(lambda: value_round(tg), warmup=50 if native else 5, rounds=1000 if native else 50)
    if native:
        stats = tg._core._value_stats()
        assert stats["live_nodes"] == 0, f"nodes still alive after every graph was dropped: {stats}"


def test_value_graph_with_python_references_keeps_rss_flat(tg):
    # Wrappers kept in a list (parents touched from Python, labels) are freed too.
    def step():
        x = tg.Value(1.0)
        nodes = [x]
        for i in range(2000):
            n = nodes[-1] * x + i
            n.label = "n"
            nodes.append(n)
        nodes[-1].backward()
        [p.parents for p in nodes[::100]]

    native = tg.__name__ == "tapegrad"
    check_flat(step, warmup=20, rounds=300 if native else 30)


def test_tensor_mlp_steps_keep_rss_flat(tg):
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((64, 32)), dtype=np.float32)
    labels = rng.integers(0, 10, 64)
    w1 = tg.tensor(rng.standard_normal((32, 64)) * 0.2, requires_grad=True)
    b1 = tg.zeros((64,), requires_grad=True)
    w2 = tg.tensor(rng.standard_normal((64, 10)) * 0.2, requires_grad=True)
    params = [w1, b1, w2]

    def step():
        loss = tg.cross_entropy((x @ w1 + b1).relu() @ w2, labels)
        loss.backward()
        for p in params:
            p.data = p.numpy() - 0.01 * p.grad.numpy()
            p.zero_grad()

    check_flat(step, warmup=50, rounds=1000)
