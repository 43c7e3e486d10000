"""A compiled Tensor function behaves as eager around its result (docs/DESIGN.md
Note [Flat replay]): the native backend replays such tapes without a node per op,
into buffers it reuses from call to call, and gives the result one node whose
backward is the tape's sweep. Whatever a user does with that result must still be
eager's: the same bits, create_graph, retain_graph, hooks, anomaly detection, a
parameter's requires_grad changed between calls, one tensor passed twice, results
kept while later calls run.

Each test runs the same code compiled and eagerly, on both backends (``tg``).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest


def data(tg, shape, seed, dtype=np.float32, requires_grad=False):
    a = np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)
    return tg.tensor(a, requires_grad=requires_grad)


def bits(t) -> bytes:
    a = t.numpy()
    return a.tobytes() + str(a.dtype).encode() + str(a.shape).encode()


@pytest.fixture
def strict():
    """A CompileWarning (fn ran eagerly) is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def flat(cf, expected=True):
    """The native tapes of compiled function cf replay flat (or not): the path under
    test is the one taken. The reference has one replay loop (no such flag)."""
    for entries in cf._entries.values():
        for e in entries:
            assert getattr(e.tape, "flat", expected) == expected


def both(tg, fn, make_args, calls=3, backward=True, flat_expected=True):
    """Runs fn eagerly and compiled on fresh arguments per call; returns the bytes of
    each call's result and of its arguments' gradients, eager then compiled."""
    out = []
    cf = tg.compile(fn)
    for f in (fn, cf):
        record = []
        for call in range(calls):
            args = make_args(call)
            y = f(*args)
            record.append(bits(y))
            if backward:
                y.backward()
                record.extend(bits(a.grad) for a in args if getattr(a, "requires_grad", False))
        out.append(record)
    flat(cf, flat_expected)
    return out


def test_chain_equals_eager(tg, strict):
    c, d = data(tg, (8, 8), 1), data(tg, (8, 8), 2)

    def f(x):
        y = x
        for _ in range(30):
            y = (y * c + d).tanh()
        return y.sum()

    eager, compiled = both(tg, f, lambda i: [data(tg, (8, 8), 10 + i, requires_grad=True)])
    assert compiled == eager
    cf = tg.compile(f)
    cf(data(tg, (8, 8), 19, requires_grad=True)).backward()
    for entries in cf._entries.values():
        for e in entries:  # every elementwise op runs on raw memory (native)
            assert getattr(e.tape, "raw_steps", 90) == 90


def test_paths_that_meet_add_up_in_eager_order(tg, strict):
    """x reaches the sum along five paths, some broadcast, one through a float64
    operand: the shares add up in eager's order, so the bits agree."""
    w = data(tg, (3, 1), 3, dtype=np.float64, requires_grad=True)
    b = data(tg, (4,), 4)

    def f(x):
        s = x * x
        t = (x + b).exp() * s
        u = (x * w).sigmoid()  # float64 from here on
        v = x.abs() + t - s / (1.5 + x * x)
        return (u * v + s.log1p() + x).mean()

    def args(i):
        return [data(tg, (3, 4), 20 + i, requires_grad=True)]

    eager, compiled = both(tg, f, args)
    assert compiled == eager


def test_other_ops_between_elementwise_ones(tg, strict):
    """matmul, softmax, a reduction over one dim, where and reshape record their
    nodes as eager does, between elementwise instructions."""
    w = data(tg, (5, 6), 5, requires_grad=True)

    def f(x):
        h = (x @ w).tanh()
        p = h.softmax(-1) * 2.0
        m = tg.where(h > 0, p, h * h)
        return (m.sum(1).reshape(2, 2) ** 2).mean() + h.max()

    eager, compiled = both(tg, f, lambda i: [data(tg, (4, 5), 30 + i, requires_grad=True)])
    assert compiled == eager


def test_create_graph_through_a_compiled_result(tg, strict):
    def f(x):
        return ((x * x).sin() * x).sum()

    results = []
    cf = tg.compile(f)
    for g in (f, cf):
        row = []
        for call in range(3):
            x = data(tg, (2, 3), 40 + call, dtype=np.float64, requires_grad=True)
            y = g(x)
            (dx,) = tg.grad(y, [x], create_graph=True)
            row.append(bits(dx))
            (dx * dx).sum().backward()
            row.append(bits(x.grad))
        results.append(row)
    flat(cf)
    assert results[1] == results[0]


def test_retain_graph_and_a_freed_graph(tg, strict):
    cf = tg.compile(lambda x: (x.exp() * x).sum())
    for f in (cf, cf):  # a trace, then a replay
        x = data(tg, (3,), 50, requires_grad=True)
        y = f(x)
        y.backward(retain_graph=True)
        once = x.grad.numpy().copy()
        y.backward()
        np.testing.assert_array_equal(x.grad.numpy(), once + once)
        with pytest.raises(RuntimeError, match="already freed"):
            y.backward()
    flat(cf)


def test_results_kept_across_calls_stay_as_they_were(tg, strict):
    """Buffers are reused from call to call: never one a user still holds."""
    c = data(tg, (4, 4), 6)
    cf = tg.compile(lambda x: ((x * c + 1.0).tanh() * 3.0, (x.detach() - c).relu()))  # z needs no grad
    kept = []
    for call in range(4):
        x = data(tg, (4, 4), 60 + call, requires_grad=True)
        y, z = cf(x)
        if call % 2:
            with tg.no_grad():
                y2, z2 = cf(x)
            kept.append((y2, z2, bits(y2), bits(z2)))
        kept.append((y.detach(), z, bits(y), bits(z)))
        y.sum().backward()
    for y, z, by, bz in kept:
        assert bits(y) == by and bits(z) == bz
    flat(cf)


def test_hooks_and_retain_grad_on_the_result(tg, strict):
    def f(x):
        return (x * x).tanh() * 2.0

    grads = []
    cf = tg.compile(f)
    for g in (f, cf, cf):
        for call in range(2):
            x = data(tg, (5,), 70 + call, requires_grad=True)
            y = g(x)
            y.register_hook(lambda gr: gr * 3.0)
            y.retain_grad()
            y.sum().backward()
            grads.append((bits(x.grad), bits(y.grad)))
    assert grads[2:4] == grads[0:2] and grads[4:6] == grads[0:2]
    flat(cf)


def test_parameter_requires_grad_changed_between_calls(tg, strict):
    w = data(tg, (3,), 7, requires_grad=True)
    b = data(tg, (3,), 8, requires_grad=True)

    def f(x):
        return ((x * w).tanh() + b * x).sum()

    rows = []
    cf = tg.compile(f)
    for g in (f, cf):
        row = []
        for flag in (True, False, True):
            w.requires_grad_(flag)
            w.grad = None
            b.grad = None
            x = data(tg, (3,), 80, requires_grad=True)
            g(x).backward()
            row.append((bits(x.grad), bits(b.grad), None if w.grad is None else bits(w.grad)))
        rows.append(row)
    w.requires_grad_(True)
    flat(cf)
    assert rows[1] == rows[0]
    assert rows[0][1][2] is None


def test_one_tensor_passed_twice(tg, strict):
    def f(a, b):
        return ((a * b).sin() + a.exp() * b + (a - b) * a).sum()

    rows = []
    cf = tg.compile(f)
    for g in (f, cf):
        a, b = data(tg, (4,), 90, requires_grad=True), data(tg, (4,), 91, requires_grad=True)
        g(a, b).backward()  # traced with two tensors
        x = data(tg, (4,), 92, requires_grad=True)
        y = g(x, x)
        y.backward()
        rows.append((bits(a.grad), bits(b.grad), bits(y), bits(x.grad)))
    flat(cf)
    assert rows[1] == rows[0]


def _log_of_zero_scaled(tg):  # array kernels: 0 * -inf, a NaN from log's backward
    return lambda x: (x * 0.0).log().sum() * 0.0, "(log|\\*)"


def _log_of_zero_in_raw_steps(tg):  # the raw program: log's backward, 0 * 1/0
    z = tg.tensor(np.zeros(3, np.float32))
    return lambda x: ((x * z).log() * z).sum(), "log"


@pytest.mark.parametrize("make", [_log_of_zero_scaled, _log_of_zero_in_raw_steps])
def test_anomaly_names_the_op_inside(tg, strict, make):
    fn, op = make(tg)
    cf = tg.compile(fn)
    for _ in range(2):  # trace, then replay
        x = data(tg, (3,), 100, requires_grad=True)
        with tg.autograd.detect_anomaly():
            y = cf(x)
            with pytest.raises(RuntimeError, match=f"detect_anomaly: the backward of op '{op}'"):
                y.backward()
    flat(cf)


def test_two_results_that_need_grad(tg, strict):
    def f(x):
        h = (x * 2.0).tanh()
        return h.sum(), (h * x).mean()

    rows = []
    cf = tg.compile(f)
    for g in (f, cf):
        row = []
        for call in range(3):
            x = data(tg, (6,), 110 + call, requires_grad=True)
            s, m = g(x)
            (s + m * 3.0).backward()
            row.append((bits(s), bits(m), bits(x.grad)))
        rows.append(row)
    flat(cf, False)  # their paths meet in eager's sweep: nodes
    assert rows[1] == rows[0]


def test_called_under_no_grad(tg, strict):
    cf = tg.compile(lambda x: (x * x + 1.0).sqrt().sum())
    x = data(tg, (3,), 120, requires_grad=True)
    cf(x).backward()
    with tg.no_grad():
        y = cf(x)
    assert not y.requires_grad
    assert bits(y) == bits((x * x + 1.0).sqrt().sum().detach())
    flat(cf)


def test_training_loop_with_labels_and_an_optimizer(tg, strict):
    """A classifier's loss with tensor labels (cross_entropy reads its ids from a
    tensor slot at each replay), stepped by SGD outside: the same parameters as eager."""
    rng = np.random.default_rng(130)
    xs = [tg.tensor(rng.standard_normal((8, 5)).astype(np.float32)) for _ in range(4)]
    ys = [tg.tensor(rng.integers(0, 3, 8), dtype=tg.int64) for _ in range(4)]
    finals = []
    for compiled in (False, True):
        tg.manual_seed(0)
        model = tg.nn.Sequential(tg.nn.Linear(5, 7), tg.nn.Tanh(), tg.nn.Linear(7, 3))
        loss_fn = lambda x, y: tg.nn.functional.cross_entropy(model(x), y)  # noqa: E731
        step = tg.compile(loss_fn) if compiled else loss_fn
        opt = tg.optim.SGD(model.parameters(), lr=0.1)
        losses = []
        for i in range(12):
            opt.zero_grad()
            loss = step(xs[i % 4], ys[i % 4])
            loss.backward()
            opt.step()
            losses.append(bits(loss))
        finals.append((losses, [bits(p) for p in model.parameters()]))
        if compiled:
            flat(step)
            assert step.traces == 1
    assert finals[1] == finals[0]


def test_a_strided_input_replays_as_eager(tg, strict):
    """The raw program needs dense inputs as traced; a transposed one takes the
    array kernels (same signature: the same tape), with eager's bits."""
    c = data(tg, (4, 3), 140)

    def f(x):
        y = (x * c - 0.5).tanh() * x
        return (y * y + c).sum()

    rows = []
    cf = tg.compile(f)
    for g in (f, cf):
        row = []
        for call, t in enumerate((False, True, False, True)):
            base = data(tg, (3, 4) if t else (4, 3), 141 + call, requires_grad=True)
            x = base.T if t else base
            g(x).backward()
            row.append(bits(base.grad))
        rows.append(row)
    flat(cf)
    assert rows[1] == rows[0]
