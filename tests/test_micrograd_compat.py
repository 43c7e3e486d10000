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

import html
import random
import re
import shutil
from pathlib import Path

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


# ----- micrograd's drawing code (trace_graph.ipynb) on tg.Value ---------------
#
# trace() and draw_dot() below are copied from micrograd's demo notebook, as its
# users have them: they read v._prev, v._op, v.data and v.grad, and build a
# graphviz.Digraph. They must run unchanged on tg.Value.


def trace(root):
    nodes, edges = set(), set()
    def build(v):
        if v not in nodes:
            nodes.add(v)
            for child in v._prev:
                edges.add((child, v))
                build(child)
    build(root)
    return nodes, edges


def draw_dot(root, format='svg', rankdir='LR'):
    """
    format: png | svg | ...
    rankdir: TB (top to bottom graph) | LR (left to right)
    """
    from graphviz import Digraph

    assert rankdir in ['LR', 'TB']
    nodes, edges = trace(root)
    dot = Digraph(format=format, graph_attr={'rankdir': rankdir}) #, node_attr={'rankdir': 'TB'})

    for n in nodes:
        dot.node(name=str(id(n)), label = "{ data %.4f | grad %.4f }" % (n.data, n.grad), shape='record')
        if n._op:
            dot.node(name=str(id(n)) + n._op, label=n._op)
            dot.edge(str(id(n)) + n._op, str(id(n)))

    for n1, n2 in edges:
        dot.edge(str(id(n1)), str(id(n2)) + n2._op)

    return dot


_DOT_NODE = re.compile(r'^\t("[^"]*"|\S+) \[label=("[^"]*"|\S+)( shape=record)?\]$')
_DOT_EDGE = re.compile(r'^\t("[^"]*"|\S+) -> ("[^"]*"|\S+)$')


def drawn_graph(dot):
    """What a Digraph from draw_dot shows, without the id()s: the labels of its
    boxes and op circles, and each edge as (label, label); all sorted."""
    label, boxes, ops, edges = {}, [], [], []
    for line in dot.body:
        if m := _DOT_NODE.match(line):
            name, text = m.group(1).strip('"'), m.group(2).strip('"')
            label[name] = text
            (boxes if m.group(3) else ops).append(text)
        else:
            m = _DOT_EDGE.match(line)
            assert m, line
            edges.append((m.group(1).strip('"'), m.group(2).strip('"')))
    return sorted(boxes), sorted(ops), sorted((label[a], label[b]) for a, b in edges)


def check_drawing(dot, tmp_path):
    """Render with Graphviz's dot where it is installed; the DOT text is checked either way."""
    assert dot.source.startswith("digraph {") and "rankdir=LR" in dot.source
    if shutil.which("dot") is None:
        return
    svg = html.unescape(dot.pipe(format="svg").decode())
    assert "<svg" in svg
    for box in drawn_graph(dot)[0]:
        assert box.split("|")[0].strip("{ ") in svg  # "data 1.0000" in a rendered box
    path = dot.render(tmp_path / "gout")  # the notebook's last cell: dot.render('gout')
    assert path.endswith(".svg") and "<svg" in Path(path).read_text()


@pytest.fixture
def graphviz_pkg():
    return pytest.importorskip("graphviz", reason="the graphviz Python package is not installed")


def micrograd_labels(drawing):
    """micrograd names relu 'ReLU'; tapegrad's _op is its op string, 'relu'."""
    boxes, ops, edges = drawing
    fix = {"ReLU": "relu"}
    return boxes, sorted(fix.get(o, o) for o in ops), sorted((fix.get(a, a), fix.get(b, b)) for a, b in edges)


def test_prev_and_op_are_micrograds_names(tg):
    a, b = tg.Value(2.0), tg.Value(-3.0)
    for v in (a, a + b, a - b, a * b, a / b, -a, a ** 2, a ** -1, 2 ** a, a ** b, abs(a),
              a.relu(), a.tanh(), a.exp(), a * a):
        assert v._op == v.op  # the same op string ('' for a leaf)
        assert type(v._prev) is frozenset and v._prev == set(v.parents)
    assert (a * a)._prev == {a}  # a set: one parent, used twice
    assert a._prev == frozenset() and a._op == ""
    c = a * b
    for name, value in (("_prev", {a}), ("_op", "+")):
        with pytest.raises(AttributeError):
            setattr(c, name, value)
    assert c._op == "*" and c._prev == {a, b}


def test_notebook_draw_dot_simple_example(tg, graphviz_pkg, tmp_path):
    # the notebook's "a very simple example"
    x = tg.Value(1.0)
    y = (x * 2 + 1).relu()
    y.backward()
    dot = draw_dot(y)
    boxes, ops, edges = drawn_graph(dot)
    assert ops == ["*", "+", "relu"]
    assert boxes == sorted("{ data %.4f | grad %.4f }" % t for t in
                           [(1, 2), (2, 1), (2, 1), (1, 1), (3, 1), (3, 1)])
    assert ("{ data 3.0000 | grad 1.0000 }", "relu") in edges
    assert ("relu", "{ data 3.0000 | grad 1.0000 }") in edges
    assert len(edges) == 3 + 5  # op -> result, and one edge per distinct input of each op
    check_drawing(dot, tmp_path)
    engine = pytest.importorskip("micrograd.engine", reason="micrograd is not installed")
    xm = engine.Value(1.0)
    ym = (xm * 2 + 1).relu()
    ym.backward()
    assert micrograd_labels(drawn_graph(draw_dot(ym))) == (boxes, ops, edges)


def test_notebook_draw_dot_neuron(tg, graphviz_pkg, micrograd_nn, monkeypatch, tmp_path):
    # the notebook's "a simple 2D neuron", first with micrograd's Value, then with tg.Value
    def neuron(V):
        random.seed(1337)
        n = micrograd_nn.Neuron(2)
        x = [V(1.0), V(-2.0)]
        y = n(x)
        y.backward()
        return draw_dot(y)

    theirs = micrograd_labels(drawn_graph(neuron(micrograd_nn.Value)))
    monkeypatch.setattr(micrograd_nn, "Value", tg.Value)
    dot = neuron(tg.Value)
    assert drawn_graph(dot) == theirs
    check_drawing(dot, tmp_path)


def test_notebook_draw_dot_ops_micrograd_lacks(tg, graphviz_pkg, tmp_path):
    # -, /, neg, tanh, a ** b: ops micrograd builds from others are drawn by their own name
    a, b = tg.Value(2.0), tg.Value(0.5)
    y = ((a - b) / b).tanh() + (-a) ** 2 + a ** b + a * a
    y.backward()
    dot = draw_dot(y)
    boxes, ops, edges = drawn_graph(dot)
    assert sorted(ops) == sorted(["-", "/", "tanh", "neg", "**2", "**", "*", "+", "+", "+"])
    assert len(boxes) == len(trace(y)[0]) == 12
    # a * a: one edge from a into that '*' (micrograd's _prev is a set)
    assert edges.count(("{ data 2.0000 | grad %.4f }" % a.grad, "*")) == 1
    check_drawing(dot, tmp_path)
