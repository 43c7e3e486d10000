"""Threads: four Python threads building and backpropagating their own graphs at once.

The native sweeps release the GIL, so the four backward passes really do
overlap with each other and with graph building in the other threads. Every
thread must get exactly (bit for bit) what a single thread gets, round after
round, and the grad-mode flag of one thread must never leak into another.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import tapegrad

THREADS = 4
ROUNDS = 100


def run_threads(work, n=THREADS):
    """Run ``work(thread_index)`` in n threads started together; returns their results."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def main(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=main, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def value_graph(tg, seed: int, size: int = 300):
    """A graph with fan-out and every Value op; returns (output, leaf data, every leaf grad)."""
    xs = [tg.Value(0.1 * (seed % 7) + 0.05 * k + 0.3) for k in range(4)]
    acc = xs[0]
    for i in range(size):
        a, b = xs[i % 4], xs[(i * 3 + seed) % 4]
        step = (acc * a + b).tanh() - (a / (b + 2.0)).sigmoid() + abs(a - b) ** 1.5 + (b * b + 1).log()
        acc = step.sin() * 0.5 + acc.cos() * 0.25 + (a.exp() * 0.1).sqrt() + a ** b - (-b).relu()
    acc.backward()
    return acc.data, [x.grad for x in xs]


def test_value_graphs_in_threads_match_single_thread(tg):
    # Every tenth round is a big graph (long GIL-free sweeps); the pure-Python
    # reference gets smaller graphs to keep the suite fast.
    big, small_size = (300, 30) if tg.__name__ == "tapegrad" else (60, 8)
    expected = [value_graph(tg, s, size=big) for s in range(THREADS)]

    def work(i):
        out = []
        for r in range(ROUNDS):
            out.append(value_graph(tg, i, size=big if r % 10 == 0 else small_size))
        return out

    results = run_threads(work)
    small = [value_graph(tg, s, size=small_size) for s in range(THREADS)]
    for i, rounds in enumerate(results):
        for r, got in enumerate(rounds):
            want = expected[i] if r % 10 == 0 else small[i]
            assert got == want, f"thread {i}, round {r}: {got} vs single-thread {want}"


def test_shared_graph_read_by_threads(tg):
    # tg.grad on ONE graph from four threads: no .grad writes, the same answers.
    xs = [tg.Value(0.5 + 0.1 * k) for k in range(4)]
    acc = xs[0]
    for i in range(500 if tg.__name__ == "tapegrad" else 100):
        acc = (acc * xs[i % 4] + xs[(i + 1) % 4]).tanh()
    want = tg.grad(acc, xs)

    results = run_threads(lambda i: [tg.grad(acc, xs) for _ in range(ROUNDS // 4)])
    for rounds in results:
        for got in rounds:
            assert tuple(got) == tuple(want)
    assert all(x.grad == 0.0 for x in xs)


def test_shared_graph_backward_from_threads_adds_up():
    # backward() of one shared graph from four threads at once: each pass adds the
    # same amount (Note [Gradient accumulation]), so the totals are exact multiples.
    # The native engine serialises passes with a mutex (value.cpp); the reference's
    # `node._grad += g` is not atomic across threads and docs/API.md promises nothing
    # there, so this runs on the native backend only.
    tg = tapegrad
    x = tg.Value(0.7)
    y = x
    for _ in range(200):
        y = (y * x).tanh() + x
    single = tg.grad(y, [x])[0]
    run_threads(lambda i: [y.backward() for _ in range(25)])
    assert x.grad == pytest.approx(100 * single, rel=1e-12)


def test_no_grad_is_per_thread(tg):
    inside = threading.Event()
    release = threading.Event()

    def hold_no_grad(i):
        if i == 0:
            with tg.no_grad():
                inside.set()
                release.wait(timeout=60)
                return (tg.Value(1.0) * 2).op
        inside.wait(timeout=60)
        try:
            return (tg.Value(1.0) * 2).op
        finally:
            release.set()

    ops = run_threads(hold_no_grad, n=2)
    assert ops == ["", "*"], ops


def mlp_step(tg, seed: int):
    """One forward/backward of a 2-layer MLP in float64; returns the loss and the grads."""
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal((16, 8)), dtype=np.float64)
    w1 = tg.tensor(rng.standard_normal((8, 32)) * 0.3, requires_grad=True, dtype=np.float64)
    b1 = tg.tensor(np.zeros(32), requires_grad=True, dtype=np.float64)
    w2 = tg.tensor(rng.standard_normal((32, 4)) * 0.3, requires_grad=True, dtype=np.float64)
    h = (x @ w1 + b1).tanh()
    logits = h @ w2
    loss = -(logits.log_softmax(1)[np.arange(16), rng.integers(0, 4, 16)]).mean()
    loss.backward()
    return loss.item(), [p.grad.numpy().copy() for p in (w1, b1, w2)]


def test_tensor_graphs_in_threads_match_single_thread(tg):
    expected = [mlp_step(tg, s) for s in range(THREADS)]
    results = run_threads(lambda i: [mlp_step(tg, i) for _ in range(ROUNDS)])
    for i, rounds in enumerate(results):
        for r, (loss, grads) in enumerate(rounds):
            assert loss == expected[i][0], f"thread {i} round {r}: loss {loss} vs {expected[i][0]}"
            for g, e in zip(grads, expected[i][1]):
                np.testing.assert_array_equal(g, e, err_msg=f"thread {i} round {r}")


def test_shared_tensor_graph_backward_from_threads_adds_up():
    # Four threads backpropagate one retained Tensor graph while others read
    # .grad and .parents: the native sweeps (GIL released) are serialised and
    # commit .grad and .parents with the GIL held (autograd.cpp, Note [Tensor
    # backward pass]), so the total is exactly 100 passes' worth and nothing
    # crashes. The reference promises nothing across threads here: native only.
    tg = tapegrad
    rng = np.random.default_rng(0)
    w = tg.tensor(rng.standard_normal((64, 64)) * 0.1, requires_grad=True, dtype=np.float64)
    x = tg.tensor(rng.standard_normal((32, 64)), dtype=np.float64)
    h = x
    for _ in range(6):
        h = (h @ w).tanh()
    loss = (h * h).sum()
    single = tg.grad(loss, w, retain_graph=True).numpy().copy()

    def work(i):
        for _ in range(25):
            loss.backward(retain_graph=True)
            if i % 2:  # readers of what the other threads' commits write
                assert len(loss.parents) == 1 and len(loss.parents[0].parents) == 2
                assert w.grad is not None and w.grad.shape == (64, 64)
        return None

    run_threads(work)
    np.testing.assert_allclose(w.grad.numpy(), 100 * single, rtol=1e-10)


def test_backward_without_retain_graph_releases_parents(tg):
    # DESIGN Note [Tensor details]: the freed nodes' .parents are cleared (so
    # the graph above the leaves is freed at once); .op stays, a second
    # backward raises RuntimeError naming retain_graph.
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    h = a * 3.0
    y = (h * h).sum()
    y.backward()
    assert y.parents == () and h.parents == ()
    assert y.op == "sum" and h.op == "*"
    np.testing.assert_allclose(a.grad.numpy(), [18.0, 36.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    z = (a * a).sum()
    z.backward(retain_graph=True)
    assert len(z.parents) == 1
    z.backward()
    assert z.parents == ()
    np.testing.assert_allclose(a.grad.numpy(), [18.0 + 4.0, 36.0 + 8.0])


def test_matmul_thread_count(tg):
    # tg.set_num_threads caps matmul's BLAS threads (DESIGN Note [Threads]);
    # the product is the same at any count.
    before = tg.get_num_threads()
    assert isinstance(before, int) and before >= 1
    rng = np.random.default_rng(1)
    a = tg.tensor(rng.standard_normal((300, 200)), dtype=np.float64)
    b = tg.tensor(rng.standard_normal((200, 250)), dtype=np.float64)
    try:
        results = []
        for n in (1, 2):
            tg.set_num_threads(n)
            assert tg.get_num_threads() in (1, n)  # a BLAS built for one thread stays at 1
            results.append((a @ b).numpy().copy())
        np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(results[0], a.numpy() @ b.numpy(), rtol=1e-12, atol=1e-12)
        tg.set_num_threads(10**10)  # more than any BLAS has: capped, never an error
        assert 1 <= tg.get_num_threads() <= 10**10
        for bad, err in ((0, ValueError), (-3, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)):
            with pytest.raises(err, match="set_num_threads"):
                tg.set_num_threads(bad)
    finally:
        tg.set_num_threads(before)
    assert tg.get_num_threads() == before
