"""tg.explain: every number of both worked examples, fan-out sums, no side effects."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from tapegrad import worked_examples

# Five-node example, worked by hand (x1..x4 = -7, 2, 2, -1):
# (node, op, value, dy/dnode, [(input, local gradient, product sent)], [(from, term)])
FIVE_NODE = [
    ("y", "*", 40, 1, [("u3", 4, 4), ("u4", 10, 10)], []),
    ("u3", "*", 10, 4, [("u1", -2, -8), ("u2", -5, -20)], [("y", 4)]),
    ("u1", "+", -5, -8, [("x1", 1, -8), ("x2", 1, -8)], [("u3", -8)]),
    ("x1", "", -7, -8, [], [("u1", -8)]),
    ("x2", "", 2, -8, [], [("u1", -8)]),
    ("u4", "**2", 4, 10, [("u2", -4, -40)], [("y", 10)]),
    ("u2", "*", -2, -60, [("x3", -1, 60), ("x4", 2, -120)], [("u3", -20), ("u4", -40)]),
    ("x3", "", 2, 60, [], [("u2", 60)]),
    ("x4", "", -1, -120, [], [("u2", -120)]),
]

SIMPLE = [
    ("y", "*", -30, 1, [("u", -5, -5), ("x3", 6, 6)], []),
    ("u", "+", 6, -5, [("x1", 1, -5), ("x2", 1, -5)], [("y", -5)]),
    ("x1", "", 4, -5, [], [("u", -5)]),
    ("x2", "", 2, -5, [], [("u", -5)]),
    ("x3", "", -5, 6, [], [("y", 6)]),
]


def check_rows(rows, expected):
    assert [r["node"] for r in rows] == [e[0] for e in expected]
    for step, (row, (name, op, value, grad, inputs, terms)) in enumerate(zip(rows, expected), 1):
        assert row["step"] == step
        assert row["op"] == op, name
        assert row["value"] == value, name
        assert row["grad"] == grad, name
        got = [(i["input"], i["local_grad"], i["product"]) for i in row["inputs"]]
        assert got == inputs, name
        assert [(t["from"], t["grad"]) for t in row["terms"]] == terms, name


@pytest.mark.parametrize("example, expected", [("five_node", FIVE_NODE), ("simple", SIMPLE)])
def test_worked_examples_every_row(tg, example, expected):
    y, _ = getattr(worked_examples, example)(tg)
    check_rows(tg.explain(y).rows, expected)


def test_five_node_text_shows_the_fan_out_sum(tg):
    y, _ = worked_examples.five_node(tg)
    e = tg.explain(y)
    text = str(e)
    assert "dy/du2 = -20 (via u3) + -40 (via u4) = -60" in text
    assert "-20 + -40 = -60" in text
    assert "-60 * -1 = 60" in text and "-60 * 2 = -120" in text
    assert "10 * -4 = -40" in text
    # an aligned table: every table line of the same width up to trailing blanks
    table = text.split("\n\n")[0].splitlines()[1:]
    header, rule = table[0], table[1]
    assert len(rule) >= len(header.rstrip())
    md = e.to_markdown()
    assert md.splitlines()[0].startswith("| step | node | op |")
    assert "| 7 | u2 | * | -2 | -20 + -40 = -60 | x3 | -1 | -60 * -1 = 60 |" in md
    assert "`dy/du2 = -20 (via u3) + -40 (via u4) = -60`" in md


def test_simple_example_text(tg):
    y, _ = worked_examples.simple(tg)
    text = str(tg.explain(y))
    assert "1 (seed)" in text
    assert "1 * -5 = -5" in text and "1 * 6 = 6" in text and "-5 * 1 = -5" in text
    assert "several paths" not in text


def test_explain_leaves_grad_untouched(tg):
    y, nodes = worked_examples.five_node(tg)
    tg.explain(y)
    assert all(n.grad == 0.0 for n in nodes.values())
    y.backward()
    before = {k: n.grad for k, n in nodes.items()}
    rows = tg.explain(y).rows
    assert {k: n.grad for k, n in nodes.items()} == before
    # and the table agrees with backward()
    assert {r["node"]: r["grad"] for r in rows} == before


def random_expression(tg, rng, n_leaves=4, n_ops=25):
    """A random DAG with shared subexpressions over smooth ops."""
    nodes = [tg.Value(rng.uniform(0.5, 2.0)) for _ in range(n_leaves)]
    for _ in range(n_ops):
        a, b = rng.choice(nodes), rng.choice(nodes)
        kind = rng.randrange(7)
        out = (a + b, a * b, a - b, a / (b * b + 1.0), (a * 0.3).tanh(), (a * 0.1).exp(), a ** 2)[kind]
        nodes.append(out)
    return sum(nodes[-6:], nodes[0]), nodes


@pytest.mark.parametrize("seed", range(5))
def test_explain_matches_backward_on_random_dags(tg, seed):
    y, nodes = random_expression(tg, random.Random(seed))
    for i, n in enumerate(nodes):
        n.label = f"v{i}"
    y.label = "y"
    rows = tg.explain(y).rows
    y.backward()
    by_name = {r["node"]: r for r in rows}
    assert len(by_name) == len(rows)
    # every labelled node that y depends on has a row whose gradient is backward()'s
    for i, n in enumerate(nodes):
        if f"v{i}" in by_name:
            assert by_name[f"v{i}"]["grad"] == pytest.approx(n.grad, rel=1e-12, abs=1e-12)
        else:
            assert n.grad == 0.0  # not an ancestor of y
    assert "v0" in by_name and by_name["y"]["grad"] == 1.0
    for r in rows:
        if r["terms"]:
            assert math.fsum(t["grad"] for t in r["terms"]) == pytest.approx(r["grad"], rel=1e-12, abs=1e-12)
        for i in r["inputs"]:
            assert i["product"] == r["grad"] * i["local_grad"]
            assert by_name[i["input"]]["step"] > r["step"]  # inputs come later: reverse topological


def test_same_input_twice_gives_two_terms(tg):
    a = tg.Value(3.0, label="a")
    b = a * a
    b.label = "b"
    rows = tg.explain(b).rows
    assert rows[1]["node"] == "a"
    assert [(t["from"], t["grad"]) for t in rows[1]["terms"]] == [("b", 3.0), ("b", 3.0)]
    assert rows[1]["grad"] == 6.0
    assert "db/da = 3 (via b) + 3 (via b) = 6" in str(tg.explain(b))


def test_generated_and_duplicate_names(tg):
    a = tg.Value(1.0, label="n1")
    b = tg.Value(2.0, label="a")
    c = tg.Value(3.0, label="a")
    y = (a + b) * c + 2
    names = [r["node"] for r in tg.explain(y).rows]
    assert len(set(names)) == len(names)
    assert {"n1", "a", "a#2"} <= set(names)
    assert all(n in {"n1", "a", "a#2"} or n.startswith("n") for n in names)


def test_explain_deep_chain_is_iterative(tg):
    x = tg.Value(0.5, label="x")
    y = x
    for _ in range(20_000):
        y = y * 1.0
    rows = tg.explain(y).rows
    assert len(rows) == 40_001  # the chain with x, and its 20 000 constants
    x_row = next(r for r in rows if r["node"] == "x")
    assert x_row["grad"] == 1.0 and x_row["step"] == 20_001


def test_explain_rejects_non_nodes(tg):
    with pytest.raises(TypeError, match="Value or Tensor"):
        tg.explain(3.0)


# -- Tensor graphs -------------------------------------------------------------------


def tensor_example(tg):
    x = tg.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    w = tg.tensor(np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]), requires_grad=True)
    x.label, w.label = "x", "w"
    h = x @ w
    h.label = "h"
    r = h.relu()
    r.label = "r"
    y = (r * h).sum() + h.sum()
    y.label = "y"
    return y, x, w, h


def test_tensor_explain_shapes_and_gradients(tg):
    y, x, w, h = tensor_example(tg)
    e = tg.explain(y)
    rows = {r["node"]: r for r in e.rows}
    assert rows["h"]["shape"] == (2, 3) and rows["x"]["shape"] == (2, 2)
    assert rows["y"]["grad"] == pytest.approx(1.0)
    hv = np.array([[1.0, 2.0], [3.0, 4.0]]) @ np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
    dh = 2 * np.maximum(hv, 0) + 1  # d/dh of sum(relu(h) h) + sum(h)
    np.testing.assert_allclose(rows["h"]["grad"], dh, rtol=1e-12)
    np.testing.assert_allclose(rows["x"]["grad"], dh @ np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]).T)
    # h fans out to relu, the product and the second sum: the terms add up to its gradient
    terms = rows["h"]["terms"]
    assert sorted(t["from"] for t in terms) == ["n1", "n3", "r"]  # relu, r * h, h.sum()
    assert all(t["grad"] is not None for t in terms)
    np.testing.assert_allclose(sum(t["grad"] for t in terms), dh, rtol=1e-12)
    via_r = next(t["grad"] for t in terms if t["from"] == "r")
    np.testing.assert_allclose(via_r, np.where(hv > 0, hv, 0.0))  # d(r*h)/dr = h, masked by relu'
    text = str(e)
    assert "(2, 3)" in text and "dy/dh = " in text
    # no .grad written, graph still usable
    assert x.grad is None and w.grad is None
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), rows["x"]["grad"])


def test_tensor_explain_needs_a_scalar(tg):
    x = tg.tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match="scalar"):
        tg.explain(x * 2)


def test_tensor_explain_constant_inputs(tg):
    x = tg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    c = tg.tensor(np.array([3.0, 4.0]))  # no requires_grad: no gradient flows to it
    x.label, c.label = "x", "c"
    y = (x * c).sum()
    rows = {r["node"]: r for r in tg.explain(y).rows}
    assert rows["c"]["grad"] is None
    np.testing.assert_allclose(rows["x"]["grad"], [3.0, 4.0])
    prod = next(r for r in rows.values() if r["op"] == "*")
    sent = {i["input"]: i["product"] for i in prod["inputs"]}
    assert sent["c"] is None
    np.testing.assert_allclose(sent["x"], [3.0, 4.0])
    text = str(tg.explain(y))
    assert "[3, 4] |5|" in text


def test_tensor_explain_after_backward(tg):
    # the README's order for Values (backward, then explain) on a Tensor
    y, x, w, h = tensor_example(tg)
    before = tg.explain(y)
    y.backward(retain_graph=True)  # keeps the graph: explaining still works
    after = tg.explain(y)
    assert str(after) == str(before)
    np.testing.assert_allclose(x.grad.numpy(), next(r for r in after.rows if r["node"] == "x")["grad"])
    y.backward()  # frees the graph
    with pytest.raises(RuntimeError) as info:
        tg.explain(y)
    assert str(info.value) == (
        "tg.explain: this Tensor's graph was freed by backward(); call tg.explain before "
        "backward(), or pass retain_graph=True to backward()")  # the same on both backends
    assert "second time" not in str(info.value)
    # a graph freed only below the root is found too
    z = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    u = z * z
    u.sum().backward()
    with pytest.raises(RuntimeError, match="call tg.explain before backward"):
        tg.explain((u + z).sum())
