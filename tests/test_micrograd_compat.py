"""micrograd compatibility: its test expressions, and its nn.py running on tg.Value.

The two expressions are micrograd 0.1.0's own engine tests (its "sanity
check" and "more ops"), checked against the numbers micrograd and PyTorch
give. The MLP tests import ``micrograd.nn`` and swap its ``Value`` for
``tg.Value``. One difference is deliberate: micrograd's second ``backward()``
on the same graph compounds the gradients of interior nodes; tapegrad adds
exactly dy/dnode again (docs/API.md), so repeated backward is compared only with
tapegrad's own first pass.
"""
from __future__ import annotations

import random

import pytest

from oracle import close, torch


def sanity_check(V):
    """micrograd's first engine test; returns (y, dy/dx) as floats."""
    x = V(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    return float(y.data), float(x.grad)


def more_ops(V):
    """micrograd's second engine test; returns (g, dg/da, dg/db) as floats."""
    a = V(-4.0)
    b = V(2.0)
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    return float(g.data), float(a.grad), float(b.grad)


def torch_leaf(x):
    """What the expressions need from a leaf, in PyTorch float64."""
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def test_micrograd_sanity_check(tg):
    assert sanity_check(tg.Value) == (-20.0, 46.0)
    if torch is not None:
        assert sanity_check(torch_leaf) == (-20.0, 46.0)


def test_micrograd_more_ops(tg):
    ours = more_ops(tg.Value)
    want = (24.70408163265306, 138.83381924198252, 645.5772594752186)
    assert all(close(o, w, 1e-12, 0) for o, w in zip(ours, want)), ours
    if torch is not None:
        assert all(close(o, t, 1e-12, 0) for o, t in zip(ours, more_ops(torch_leaf)))


def test_same_numbers_as_micrograd_engine(tg):
    engine = pytest.importorskip("micrograd.engine", reason="micrograd is not installed")
    assert sanity_check(tg.Value) == sanity_check(engine.Value)
    for ours, theirs in zip(more_ops(tg.Value), more_ops(engine.Value)):
        assert close(ours, theirs, 1e-12, 0)


def test_repeated_backward_is_where_micrograd_differs(tg):
    engine = pytest.importorskip("micrograd.engine", reason="micrograd is not installed")

    def run(V):
        a, b = V(3.0), V(-2.0)
        u = a * b          # an interior node feeding two consumers
        y = u * u + u
        y.backward()
        first = a.grad
        y.backward()
        return first, a.grad

    first, second = run(tg.Value)
    assert second == 2 * first
    m_first, m_second = run(engine.Value)
    assert m_first == first  # one pass from zero agrees
    assert m_second != 2 * m_first  # micrograd compounds interior totals


# ----- micrograd.nn on tg.Value ---------------------------------------------

XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]


def _train(nn, steps=5, lr=0.05):
    """micrograd's README training loop; returns losses, final parameters and grads."""
    random.seed(1234)
    model = nn.MLP(3, [4, 4, 1])
    losses = []
    for _ in range(steps):
        preds = [model(x) for x in XS]
        loss = sum((p - y) ** 2 for p, y in zip(preds, YS))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data += -lr * p.grad
        losses.append(loss.data)
    return losses, [p.data for p in model.parameters()], [p.grad for p in model.parameters()]


@pytest.fixture
def micrograd_nn():
    return pytest.importorskip("micrograd.nn", reason="micrograd is not installed")


def test_micrograd_mlp_runs_on_tg_value(tg, micrograd_nn, monkeypatch):
    theirs = _train(micrograd_nn)
    monkeypatch.setattr(micrograd_nn, "Value", tg.Value)
    ours = _train(micrograd_nn)
    model = micrograd_nn.MLP(3, [4, 1])
    assert all(type(p) is tg.Value for p in model.parameters())
    assert ours[0][-1] < ours[0][0]  # it learns
    for got, want in zip(ours, theirs):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            # same forward arithmetic; gradient sums may add in another order
            assert close(g, w, 1e-9, 1e-12), (g, w)


def test_micrograd_mlp_repr_and_zero_grad(tg, micrograd_nn, monkeypatch):
    monkeypatch.setattr(micrograd_nn, "Value", tg.Value)
    random.seed(0)
    model = micrograd_nn.MLP(2, [3, 1])
    out = model([tg.Value(1.0), 2.0])
    assert type(out) is tg.Value
    out.backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 and isinstance(p.grad, float) for p in model.parameters())
    assert repr(model) == "MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)], Layer of [LinearNeuron(3)]]"
