"""tg.compile replays every Tensor op of the op table (tests/op_cases.py's rows):
a compiled function applying the op gives eager's values and gradients, bit for
bit, on new inputs, without tracing again; an op that cannot be replayed runs
eagerly with a CompileWarning (never a wrong replay)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from op_cases import TENSOR_CASES, params


def flat(out) -> list:
    return [x for o in out for x in flat(o)] if isinstance(out, (tuple, list)) else [out]


def run(tg, fn, case, data):
    xs = [tg.tensor(a, requires_grad=case.row.grad and a.dtype.kind == "f") for a in data]
    outs = flat(fn(*xs))
    got = [o.numpy().tobytes() + str(o.numpy().dtype).encode() for o in outs]
    loss = None
    for o in outs:
        if o.requires_grad:
            s = (o * o).sum()
            loss = s if loss is None else loss + s
    if loss is not None:
        loss.backward()
    got += [x.grad.numpy().tobytes() if x.grad is not None else b"-" for x in xs]
    return got


@pytest.mark.parametrize("case", params(TENSOR_CASES))
def test_every_tensor_op_replays_eager_bit_for_bit(tg, case):
    step = tg.compile(lambda *xs: case(*xs))
    seeds = (0, 1, 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for seed in seeds:
            data = case.arrays(seed=seed)
            assert run(tg, step, case, data) == run(tg, case, case, data), seed
    if case.row.op in ("function", "dropout"):
        # a tg.autograd.Function (Python's forward), and the dropout case, which reseeds the stream
        # inside fn (tests/op_cases_nn.py; a replay would not): run eagerly with a warning, never wrongly
        assert step.traces == 0 and any(issubclass(w.category, tg.CompileWarning) for w in caught)
    else:
        assert step.traces == 1 and not caught


def test_ids_read_from_argument_tensors_are_replayed(tg):
    """Ids that change call after call (an embedding's batch, gather's index, argmax's
    positions, a cast to int64) are inputs of the tape, not constants of it."""
    F = tg.nn.functional
    table = tg.tensor(np.arange(12.0, dtype=np.float32).reshape(6, 2), requires_grad=True)

    def f(ids, index, x):
        rows = F.embedding(ids, table)
        picked = x.gather(1, index)
        best = x.argmax(dim=1)
        floors = (x * 2).long()
        return (rows.sum(dim=1) * picked.sum()).sum(), best, floors

    step = tg.compile(f)
    rng = np.random.default_rng(0)
    for _ in range(4):
        ids = tg.tensor(rng.integers(0, 6, 3), dtype=tg.int64)
        index = tg.tensor(rng.integers(0, 3, (2, 2)), dtype=tg.int64)
        x = tg.tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
        got = step(ids, index, x)
        got[0].backward()
        got = [o.numpy().tobytes() for o in got] + [table.grad.numpy().tobytes(), x.grad.numpy().tobytes()]
        table.grad = None
        x.grad = None
        want = f(ids, index, x)
        want[0].backward()
        want = [o.numpy().tobytes() for o in want] + [table.grad.numpy().tobytes(), x.grad.numpy().tobytes()]
        table.grad = None
        assert got == want
    assert step.traces == 1


def test_a_makemore_style_mlp_trains_50_steps_as_eager_with_one_trace(tg):
    """Embedding ids and label Tensors change every step: one tape replays them all."""
    F = tg.nn.functional
    vocab, block, embed, hidden, batch = 27, 3, 10, 32, 16
    rng = np.random.default_rng(3)
    X = rng.integers(0, vocab, (200, block))
    Y = rng.integers(0, vocab, 200)

    def train(compiled: bool):
        init = np.random.default_rng(7)
        C = tg.tensor(init.standard_normal((vocab, embed)).astype(np.float32), requires_grad=True)
        W1 = tg.tensor((init.standard_normal((block * embed, hidden)) * 0.2).astype(np.float32), requires_grad=True)
        b1 = tg.tensor(np.zeros(hidden, np.float32), requires_grad=True)
        W2 = tg.tensor((init.standard_normal((hidden, vocab)) * 0.1).astype(np.float32), requires_grad=True)

        def loss_fn(idx, targets):
            x = F.embedding(idx, C).view(idx.shape[0], block * embed)
            return F.cross_entropy((x @ W1 + b1).tanh() @ W2, targets)

        step = tg.compile(loss_fn) if compiled else loss_fn
        opt = tg.optim.SGD([C, W1, b1, W2], lr=0.1)
        order = np.random.default_rng(0)
        for _ in range(50):
            rows = order.integers(0, len(X), batch)
            loss = step(tg.tensor(X[rows], dtype=tg.int64), tg.tensor(Y[rows], dtype=tg.int64))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return [p.numpy().copy() for p in (C, W1, b1, W2)], getattr(step, "traces", None)

    got, traces = train(True)
    want, _ = train(False)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(got, want)) and traces == 1


SHARED = {  # methods and functions written once in Python for both backends (_tensor_methods.py, ...)
    "one_hot": lambda tg, ids, x: tg.nn.functional.one_hot(ids, 5).float() * x.sum(),
    "masked_fill": lambda tg, ids, x: x.masked_fill(x > 0, 0.0),
    "tril": lambda tg, ids, x: tg.tril(x @ x.T),
    "randn_like": lambda tg, ids, x: tg.randn_like(x) + x,
    "unsqueeze_split": lambda tg, ids, x: x.unsqueeze(0).split(1, dim=2)[1],
    "zeros_like": lambda tg, ids, x: tg.zeros_like(x) + x,
}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_python_ops_replay_or_guard_never_wrong(tg, name):
    fn = SHARED[name]
    step = tg.compile(lambda ids, x: fn(tg, ids, x))
    rng = np.random.default_rng(0)
    for _ in range(3):
        ids = tg.tensor(rng.integers(0, 5, 4), dtype=tg.int64)
        x = tg.tensor(rng.standard_normal((4, 3)).astype(np.float32))
        tg.manual_seed(5)
        got = step(ids, x).numpy().tobytes()
        tg.manual_seed(5)
        assert got == fn(tg, ids, x).numpy().tobytes()
    assert step.traces == (3 if name == "one_hot" else 1)  # one_hot reads its ids: guarded, traced per batch


def test_dropout_and_batchnorm_in_training_replay_as_eager(tg):
    """Each replay draws a fresh mask and updates the running statistics, as eager
    does (tests/test_compile_layers.py has the rest)."""
    def model(seed):
        tg.manual_seed(seed)
        return tg.nn.BatchNorm1d(3), tg.nn.Dropout(0.5)

    x = tg.tensor(np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32))
    bn, drop = model(1)
    step = tg.compile(lambda x: drop(bn(x)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = [step(x).numpy().copy() for _ in range(3)]
    stats = bn.running_mean.numpy().copy()
    bn2, drop2 = model(1)
    want = [drop2(bn2(x)).numpy().copy() for _ in range(3)]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(got, want)) and not np.array_equal(got[0], got[1])
    assert stats.tobytes() == bn2.running_mean.numpy().tobytes() and step.traces == 1
