"""Memory goes back: a dropped graph's memory returns to the system (docs/DESIGN.md, Note [Threads]).

Resident memory is read as VmRSS from /proc/self/status (not ru_maxrss, the
peak), so Linux only; marked ``rss`` (the sanitizer run deselects it: ASan's
quarantine holds freed memory on purpose) and ``slow``.
"""
from __future__ import annotations

import gc
import os

import numpy as np
import pytest

import tapegrad

pytestmark = [
    pytest.mark.rss,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="VmRSS is read from /proc/self/status (Linux)"),
]

BACK_WITHIN = 0.20  # of the resident memory before the workload


def vm_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def test_a_dropped_value_graph_of_ten_million_nodes_gives_its_memory_back():
    tg = tapegrad
    gc.collect()
    before = vm_rss()
    x = tg.Value(0.5)
    y = x
    for _ in range(10**7 // 3):  # three nodes a step: a constant, *, tanh
        y = (y * 0.999).tanh()
    y.backward()
    nodes = tg._core._value_stats()["live_nodes"]
    assert nodes >= 10**7
    peak = vm_rss()
    assert peak - before > 10**7 * 40, "the graph did not take the memory it should have"
    del x, y
    gc.collect()
    after = vm_rss()
    assert after <= before * (1 + BACK_WITHIN), (
        f"VmRSS {before / 2**20:.0f} MiB before, {peak / 2**20:.0f} MiB with the graph, "
        f"{after / 2**20:.0f} MiB after dropping it")


def wide_layers(tg, rows: int, steps: int) -> int:
    """A few training steps of wide elementwise layers and a matmul; the VmRSS with
    the last step's graph alive (activations of 16 MiB each for 4096 rows)."""
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((rows, 1024)), requires_grad=True)
    w = tg.tensor(rng.standard_normal((1024, 64)) * 0.03, requires_grad=True)
    for _ in range(steps):
        h = x
        for _ in range(6):
            h = (h * 1.01 + 0.1).tanh()
        out = h @ w
        peak = vm_rss()
        out.sum().backward()
    return peak


def test_a_dropped_tensor_workload_gives_its_memory_back():
    tg = tapegrad
    wide_layers(tg, 4096, 1)  # once: what a process keeps after its first such step (BLAS buffers,
    tg.empty_cache()          # allocator arenas) is not the workload's to give back
    gc.collect()
    before = vm_rss()
    peak = wide_layers(tg, 4096, 2)
    gc.collect()
    held = tg.cache_info()["held_bytes"]
    assert held <= tg.cache_info()["limit_bytes"]
    tg.empty_cache()  # what the cache kept (at most its limit) goes back too
    assert tg.cache_info()["held_bytes"] == 0
    after = vm_rss()
    assert peak - before > 128 * 2**20, "the workload did not take the memory it should have"
    assert after <= before * (1 + BACK_WITHIN), (
        f"VmRSS {before / 2**20:.0f} MiB before, {peak / 2**20:.0f} MiB at the peak, "
        f"{after / 2**20:.0f} MiB after dropping everything (the cache held {held / 2**20:.0f} MiB)")


def test_the_cache_limit_is_kept(tg):
    previous = tg.cache_info()["limit_bytes"]
    try:
        tg.set_cache_limit(8 * 2**20)
        for _ in range(3):
            parts = [tg.zeros(1024, 1024) for _ in range(6)]  # 4 MiB each
            del parts
        info = tg.cache_info()
        assert info["limit_bytes"] == 8 * 2**20 and info["held_bytes"] <= 8 * 2**20
        tg.set_cache_limit(0)
        assert tg.cache_info()["held_bytes"] == 0
        assert tg.empty_cache() == 0
    finally:
        tg.set_cache_limit(previous)


def test_cache_limit_errors(tg):
    with pytest.raises(TypeError, match=r"^set_cache_limit\(\) takes an int \(bytes\), not float$"):
        tg.set_cache_limit(1.5)
    with pytest.raises(ValueError, match=r"^set_cache_limit\(\) needs a number of bytes >= 0, got -1$"):
        tg.set_cache_limit(-1)
