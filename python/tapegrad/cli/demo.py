"""``tapegrad demo``: the same small models trained on every backend, side by side.

1. micrograd's moons demo on Values: MLP(2, [16, 16, 1]), SVM max-margin loss
   + 1e-4 L2, SGD with a decaying learning rate.
2. A small Tensor MLP on the same points: Linear(2,16)-ReLU-Linear(16,16)-ReLU-
   Linear(16,2), softmax cross-entropy, SGD.

Both backends start from the same weights (seeded initialisation), so their
loss columns should match to the printed digits; the time columns show what
the native engine buys.
"""
from __future__ import annotations

import importlib
import statistics
import sys
import time

import numpy as np

from ..datasets import make_moons

SEED = 0


def _moons(n, noise=0.1, seed=SEED):
    """(X, y) with y in {-1, +1} for the max-margin loss."""
    X, y = make_moons(n, noise=noise, seed=seed)
    return np.asarray(X, dtype=np.float64), np.where(np.asarray(y) > 0, 1.0, -1.0)


def _load(name):
    return importlib.import_module("tapegrad" if name == "native" else "tapegrad.reference")


class _ValueRun:
    """One backend's training loop for the Value MLP, advanced one step at a time."""

    def __init__(self, tg, X, y, steps):
        self.tg, self.steps = tg, steps
        self.model = tg.nn.MLP(2, [16, 16, 1], seed=SEED)
        self.params = self.model.parameters()
        self.X, self.y = X.tolist(), y.tolist()

    def step(self, k):
        t0 = time.perf_counter()
        inputs = [[self.tg.Value(v) for v in row] for row in self.X]
        scores = [self.model(x) for x in inputs]
        losses = [(1 + -yi * si).relu() for yi, si in zip(self.y, scores)]
        loss = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in self.params)
        self.model.zero_grad()
        loss.backward()
        lr = 1.0 - 0.9 * k / self.steps  # micrograd's schedule
        for p in self.params:
            p.data -= lr * p.grad
        dt = time.perf_counter() - t0
        acc = sum((yi > 0) == (si.data > 0) for yi, si in zip(self.y, scores)) / len(self.y)
        return loss.data, acc, dt


class _TensorRun:
    """One backend's training loop for the small Tensor MLP."""

    def __init__(self, tg, X, y, steps):
        nn = tg.nn
        self.tg = tg
        self.model = nn.Sequential(nn.Linear(2, 16, seed=SEED), nn.ReLU(),
                                   nn.Linear(16, 16, seed=SEED + 1), nn.ReLU(),
                                   nn.Linear(16, 2, seed=SEED + 2))
        self.opt = tg.optim.SGD(self.model.parameters(), lr=0.2, momentum=0.9)
        self.x = tg.tensor(X.astype(np.float32))
        self.labels = (y > 0).astype(np.int64)

    def step(self, k):
        t0 = time.perf_counter()
        logits = self.model(self.x)
        loss = self.tg.nn.functional.cross_entropy(logits, self.labels)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        dt = time.perf_counter() - t0
        pred = np.asarray(logits.numpy()).argmax(axis=1)
        return loss.item(), float((pred == self.labels).mean()), dt


def _train(title, runner, backends, X, y, steps, every, out):
    print(title, file=out)
    runs, skipped = {}, []
    for name in backends:
        try:
            runs[name] = runner(_load(name), X, y, steps)
        except Exception as exc:  # missing backend or a part of it not built yet
            skipped.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:150]}")
    for line in skipped:
        print(f"  skipped {line}", file=out)
    if not runs:
        print("  (no backend could run this part)\n", file=out)
        return
    head = "  step " + "".join(f"| {n + ' loss':>16} {'acc':>6} {'ms/step':>9} " for n in runs)
    print(head, file=out)
    times = {n: [] for n in runs}
    for k in range(steps):
        cells = []
        for name, run in runs.items():
            loss, acc, dt = run.step(k)
            times[name].append(dt)
            cells.append(f"| {loss:16.4f} {acc:6.1%} {dt * 1e3:9.2f} ")
        if k % every == 0 or k == steps - 1:
            print(f"  {k:>4} " + "".join(cells), file=out, flush=True)
    med = {n: statistics.median(t) for n, t in times.items()}
    summary = ", ".join(f"{n} {med[n] * 1e3:.2f} ms" for n in runs)
    line = f"  median time per step: {summary}"
    if "native" in med and "reference" in med and med["native"] > 0:
        r = med["reference"] / med["native"]
        line += f" (native {r:.1f}x faster)" if r >= 1 else f" (native {1 / r:.1f}x slower)"
    print(line + "\n", file=out)


def main(args, out=None) -> int:
    out = out or sys.stdout
    if getattr(args, "model", None):
        return _model_demo(args)
    steps = max(1, 20 if args.steps is None else args.steps)
    every = args.every or max(1, steps // 10)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in backends if b not in ("native", "reference")]
    if bad:
        print(f"tapegrad demo: unknown backend(s) {', '.join(bad)} (native, reference)",
              file=sys.stderr)
        return 2
    X, y = _moons(args.samples)
    _train(f"1) micrograd's moons demo on Values: MLP(2, [16, 16, 1]), {len(X)} points, "
           "SVM loss + L2, SGD", _ValueRun, backends, X, y, steps, every, out)
    _train("2) Tensor MLP 2-16-16-2 on the same points: ReLU, cross-entropy, SGD momentum 0.9",
           _TensorRun, backends, X, y, steps, every, out)
    return 0


def _model_demo(args) -> int:
    """``tapegrad demo makemore|cnn|gpt``: one of the three examples (tapegrad._examples)."""
    module = importlib.import_module(f"tapegrad._examples.{args.model}")
    kwargs = {"seed": args.seed}
    if args.steps is not None:
        kwargs["steps"] = max(1, args.steps)
    module.main(_load(args.backend), **kwargs)
    return 0
