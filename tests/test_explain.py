"""tg.explain: every number of both worked examples, fan-out sums, no side effects."""
from __future__ import annotations

import math
import random
import re

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
    assert "  x      [3, 4]" in text  # sent to x: c, in full
    assert "  c      no grad" in text  # nothing is sent to a constant, and the legend says why
    assert "no grad: the tensor does not require grad, so no gradient flows to it" in text


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


def rows_by_name(e):
    return {r["node"]: r for r in e.rows}


def test_tensor_input_used_twice_gets_two_terms(tg):
    # the example: x * x showed '-' where the gradient sent to x belongs
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.label = "x"
    y = (x * x).sum()
    e = tg.explain(y)
    rows = rows_by_name(e)
    square = next(r for r in e.rows if r["op"] == "*")
    sent = [i["product"] for i in square["inputs"]]
    np.testing.assert_array_equal(sent[0], [1.0, 2.0])  # upstream 1 * the other factor, x
    np.testing.assert_array_equal(sent[1], [1.0, 2.0])
    terms = rows["x"]["terms"]
    assert [t["from"] for t in terms] == [square["node"]] * 2
    np.testing.assert_array_equal(terms[0]["grad"] + terms[1]["grad"], rows["x"]["grad"])
    np.testing.assert_array_equal(rows["x"]["grad"], [2.0, 4.0])
    text = str(e)
    assert f"dn2/dx = [1, 2] (via {square['node']}) + [1, 2] (via {square['node']}) = [2, 4]" in text
    table = text.split("\n\n")[0]
    assert " - " not in table and not table.endswith("-")  # no unknown cell left
    assert "  x      [1, 2]" in table


def test_tensor_edges_are_the_chain_rule_terms(tg):
    """Every edge of a graph with repeated inputs, checked against the formulas."""
    xv = np.array([1.0, 2.0, -0.5])
    x = tg.tensor(xv, requires_grad=True)
    x.label = "x"
    a = x * x          # x twice in one op
    a.label = "a"
    b = a / x          # x again, beside something computed from it
    b.label = "b"
    c = x @ x          # a dot product of x with itself
    c.label = "c"
    s = (b * a).sum()
    s.label = "s"
    y = s + c
    y.label = "y"
    e = tg.explain(y)
    rows = rows_by_name(e)
    av, bv = xv * xv, xv  # a = x^2, b = a / x = x
    up_b, up_a_direct = av, bv  # d(sum(b * a))/db = a, /da = b
    up_a = up_a_direct + up_b / xv  # a also feeds b = a / x: d b/d a = 1 / x
    sent = {(r["node"], k): i["product"] for r in e.rows for k, i in enumerate(r["inputs"])}
    want = {
        ("a", 0): up_a * xv, ("a", 1): up_a * xv,          # d(x*x): the other factor, x
        ("b", 0): up_b / xv, ("b", 1): -up_b * av / xv**2,  # d(a/x)/da = 1/x, /dx = -a/x^2
        ("c", 0): xv, ("c", 1): xv,                         # d(x@x): the other factor
    }
    for key, value in want.items():
        np.testing.assert_allclose(sent[key], value, rtol=1e-12, err_msg=str(key))
    x_terms = rows["x"]["terms"]
    assert [t["from"] for t in x_terms] == ["a", "a", "b", "c", "c"]
    total = sum(t["grad"] for t in x_terms)
    np.testing.assert_allclose(total, rows["x"]["grad"], rtol=1e-12)
    np.testing.assert_allclose(rows["x"]["grad"], 3 * xv**2 + 2 * xv, rtol=1e-12)  # d(x^3 + x.x)
    # the same numbers are what backward() gives
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), rows["x"]["grad"], rtol=1e-12)


def random_tensor_graph(tg, rng, n_ops=12):
    """Random DAGs of + - * / @ and unary ops over three 2x2 leaves, with shared
    subexpressions and inputs used twice by one op."""
    nodes = [tg.tensor(rng.uniform(0.5, 1.5, (2, 2)), requires_grad=True) for _ in range(3)]
    for _ in range(n_ops):
        a, b = nodes[rng.integers(len(nodes))], nodes[rng.integers(len(nodes))]
        kind = rng.integers(8)
        out = (a + b, a - b, a * b, a / (b * b + 1.0), a @ b * 0.5, (a * 0.3).tanh(),
               a * a, a.relu() + b)[kind]
        nodes.append(out)
    return sum((n.sum() for n in nodes[-4:]), nodes[0].sum())


@pytest.mark.parametrize("seed", range(6))
def test_tensor_terms_add_up_on_random_graphs(tg, seed):
    y = random_tensor_graph(tg, np.random.default_rng(seed))
    e = tg.explain(y)
    fan_outs = 0
    for r in e.rows:
        if r["terms"]:
            fan_outs += 1
            assert all(t["grad"] is not None for t in r["terms"]), r["node"]
            np.testing.assert_allclose(sum(t["grad"] for t in r["terms"]), r["grad"],
                                       rtol=1e-9, atol=1e-12, err_msg=r["node"])
        for i in r["inputs"]:
            # every edge into a tensor that requires grad is known; constants get nothing
            assert (i["product"] is not None) == i["requires_grad"], (r["node"], i["input"])
    assert fan_outs > 0
    assert "?" not in str(e).split("\n\n")[0]


def test_large_tensors_are_shown_by_their_norm(tg):
    w = tg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    w.label = "w"
    v = tg.tensor(np.array([1.0, -1.0, 2.0, 0.5]), requires_grad=True)
    v.label = "v"
    y = (w @ v).sum()
    y.label = "y"
    text = str(tg.explain(y))
    norm = np.linalg.norm(np.arange(12.0))
    assert f"norm {norm:.6g}" in text  # w: 12 numbers
    assert "[1, -1, 2, 0.5]" in text  # v: 4 numbers, in full
    assert "norm N: an array of more than 6 numbers, shown by its L2 norm" in text
    # d y / d w = ones(3) outer v: a 3x4 array, its norm
    assert f"norm {np.linalg.norm(np.outer(np.ones(3), [1.0, -1.0, 2.0, 0.5])):.6g}" in text
    small = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert "norm" not in str(tg.explain((small * 3).sum()))  # no legend where none is used


WIDTH = 100


def check_width(text, width=WIDTH):
    wide = [line for line in text.splitlines() if len(line) > width]
    assert not wide, f"{len(wide)} lines wider than {width} columns:\n" + "\n".join(wide)


def tokens(text):
    """The words of a table, whatever its wrapping (rules of dashes left out)."""
    return sorted(w for w in text.split() if set(w) != {"-"})


def numbers(text):
    """Every number the text shows."""
    out = set()
    for w in text.split():
        try:
            out.add(float(w.strip("[](),=")))
        except ValueError:
            pass
    return out


def test_text_fits_100_columns(tg):
    explanations = []
    # the README tour's Tensor graph and tensor_example: small 2-D arrays in every column
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    w = tg.tensor([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]], requires_grad=True)
    explanations.append(tg.explain((x @ w).relu().sum()))
    explanations.append(tg.explain(tensor_example(tg)[0]))
    # numbers with six significant digits, fractions in every cell
    t = tg.tensor(np.array([[1 / 3, -2 / 7, 5 / 9], [1e-7 / 3, 12345.678, -0.1]]), requires_grad=True)
    explanations.append(tg.explain((t * t / (t + 10.0)).sum()))
    # a Value used by many ops: a long fan-out sum in the grad cell and the footer
    a = tg.Value(0.123456789, label="a")
    y = sum(((a * k).tanh() for k in range(1, 12)), a)
    explanations.append(tg.explain(y))
    # long labels and long numbers everywhere
    p = tg.Value(-1.23456789e-7, label="a_rather_long_parameter_name")
    q = tg.Value(98765.4321, label="another_long_input_label_here")
    r = (p * q).sigmoid() / (q.sqrt() + p)
    r.label = "the_output_with_a_long_name"
    explanations.append(tg.explain(r))
    for k, e in enumerate(explanations):
        text, wide = str(e), e.to_text(width=10**6)
        check_width(text)
        assert numbers(text) == numbers(wide)  # wrapped or abbreviated, no number lost
        if k < 3:  # Tensor tables only wrap: every word is still there
            assert tokens(text) == tokens(wide)
    # a long fan-out sum: the cell shows the total, the footer the sum
    text = str(explanations[3])
    assert "32.3913 (12 paths)" in text
    assert "dn44/da = 1 (via n4) + 0.984912 (via n2) + 1.88286 (via n6)" in text
    assert re.search(r"\n +n1 +0\.123457  0\.121594\n", text)  # the product alone: 0.984912 * 0.123457
    # long names: only the product is shown, and nothing wider than 100 columns
    text = str(explanations[4])
    assert "0.000795466  a_rather_l" in text and "98765.4  78.5645" in text  # a name cut, no number
    # the worked example needs no wrapping: each step is one line
    y5, _ = worked_examples.five_node(tg)
    text = str(tg.explain(y5))
    assert text == tg.explain(y5).to_text(width=10**6)
    assert "   7  u2    *" in text and "-60 * -1 = 60" in text


def test_text_width_is_a_parameter(tg):
    y, *_ = tensor_example(tg)
    e = tg.explain(y)
    p = tg.Value(-1.23456789e-7, label="a_label_so_long_that_it_is_longer_than_a_whole_line_" * 2)
    long_names = tg.explain((p * 98765.4321).sigmoid() / p.sqrt())
    for width in (60, 80, 120):
        check_width(long_names.to_text(width=width), width)
        check_width(e.to_text(width=width), width)
        assert numbers(e.to_text(width=width)) == numbers(str(e))


def test_edges_that_cannot_be_told_apart_say_so(tg):
    # stack([x, x]): the op's dim is not in its op string, so it is not replayed;
    # the two shares stay unknown, and the legend says what "?" means
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.label = "x"
    y = (tg.stack([x, x]) * tg.tensor(np.array([[1.0, 1.0], [2.0, 2.0]]))).sum()
    y.label = "y"
    e = tg.explain(y)
    rows = rows_by_name(e)
    np.testing.assert_allclose(rows["x"]["grad"], [3.0, 3.0])  # the gradient itself is exact
    assert [t["grad"] for t in rows["x"]["terms"]] == [None, None]
    text = str(e)
    assert "dy/dx = ? (via n1) + ? (via n1) = [3, 3]" in text
    assert "?: this edge's share of the input's gradient is not told apart" in text
    assert "- ?: this edge's share" in e.to_markdown()


def test_large_graphs_skip_the_costly_edges(tg):
    x = tg.tensor(np.array([0.5, -0.5]), requires_grad=True)
    x.label = "x"
    h = x
    for _ in range(260):  # 521 nodes: h * 1.0 adds a node and a constant
        h = h * 1.0
    y = (h * x).sum()  # x feeds the chain and the product
    y.label = "y"
    rows = rows_by_name(tg.explain(y))
    np.testing.assert_allclose(rows["x"]["grad"], [1.0, -1.0])  # 2 x
    assert [t["grad"] for t in rows["x"]["terms"]] == [None, None]
    assert "?" in str(tg.explain(y))
