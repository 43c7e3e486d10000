"""Time the embedding lookup, forward and backward, on every backend.

    python benchmarks/embedding_lookup.py

The makemore lookup (a (32, 3) batch of ids into a (27, 10) table) and the
tiny GPT's token embedding ((16, 32) into (65, 64)), float32: one step is
``tg.nn.functional.embedding(idx, weight)`` and ``backward`` with a given
upstream gradient (the scatter-add into the table's gradient), also spelt
``weight[idx]`` (getitem). The best of several repeats, in microseconds per
step; PyTorch on one thread.
"""
from __future__ import annotations

import time

import numpy as np

import tapegrad
from tapegrad import reference

CASES = [((32, 3), (27, 10)), ((16, 32), (65, 64))]


def best_time(fn, n, repeats=7) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def steps(lib, idx, table, grad):
    """(embedding forward+backward, getitem forward+backward, embedding forward) of one library."""
    if lib.__name__ == "torch":
        w, i, g = lib.tensor(table, requires_grad=True), lib.tensor(idx), lib.tensor(grad)
    else:
        w, i, g = lib.tensor(table, requires_grad=True), lib.tensor(idx, dtype=lib.int64), lib.tensor(grad)
    emb = lib.nn.functional.embedding
    return (lambda: emb(i, w).backward(g), lambda: w[i].backward(g), lambda: emb(i, w))


def main() -> None:
    libs = [("native", tapegrad, 5000), ("reference", reference, 300)]
    try:
        import torch

        torch.set_num_threads(1)
        libs.insert(1, ("torch-1t", torch, 3000))
    except ImportError:
        pass
    for shape, (rows, dim) in CASES:
        rng = np.random.default_rng(0)
        idx = rng.integers(0, rows, shape)
        table = rng.standard_normal((rows, dim)).astype(np.float32)
        grad = rng.standard_normal(shape + (dim,)).astype(np.float32)
        print(f"ids {shape} into ({rows}, {dim}): us per step   embedding fwd+bwd   w[idx] fwd+bwd   embedding fwd")
        for name, lib, n in libs:
            times = [best_time(fn, n) for fn in steps(lib, idx, table, grad)]
            print(f"  {name:10s}" + "".join(f"{t:18.2f}" for t in times))


if __name__ == "__main__":
    main()
