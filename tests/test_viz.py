"""tg.viz: DOT text parsed back (counts and numbers), real rendering when `dot` exists."""
from __future__ import annotations

import html
import re
import shutil
import sys
import warnings

import numpy as np
import pytest

from tapegrad import viz as viz_module
from tapegrad import worked_examples

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz 'dot' not installed (apt-get install graphviz)")

_STMT = re.compile(r'^\s*(\w+) \[(.*)\];$')
_EDGE = re.compile(r'^\s*(\w+) -> (\w+);$')
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\s]+)')


def _fields(record: str) -> list:
    """The fields of a record label '{ a | b | c }', with DOT's backslash escapes undone."""
    assert record.startswith("{ ") and record.endswith(" }"), record
    fields, cur, chars = [], [], iter(record[2:-2])
    for ch in chars:
        if ch == "\\":
            cur.append(next(chars))
        elif ch == "|":
            fields.append("".join(cur).strip(" "))
            cur = []
        else:
            cur.append(ch)
    fields.append("".join(cur).strip(" "))
    return fields


def parse_dot(text: str):
    """A small DOT reader for what to_dot writes: nodes with attributes, and edges."""
    lines = text.strip().splitlines()
    assert lines[0] == "digraph tapegrad {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := _EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        elif m := _STMT.match(line):
            attrs = {k: (v[1:-1] if v.startswith('"') else v) for k, v in _ATTR.findall(m.group(2))}
            if m.group(1) not in ("node", "edge"):
                nodes[m.group(1)] = attrs
        else:
            assert re.match(r"^\s*rankdir=\w+;$", line), line
    boxes = {k: _fields(v["label"]) for k, v in nodes.items() if v.get("shape") == "record"}
    ops = {k: _fields("{ " + v["label"] + " }")[0] for k, v in nodes.items() if v.get("shape") == "circle"}
    assert len(boxes) + len(ops) == len(nodes)
    return boxes, ops, edges


def by_name(boxes):
    return {f[0]: f[1:] for f in boxes.values()}


def test_five_node_graph_counts_and_numbers(tg):
    y, _ = worked_examples.five_node(tg)
    y.backward()
    boxes, ops, edges = parse_dot(tg.viz.to_dot(y))
    assert len(boxes) == 9 and len(ops) == 5
    assert len(edges) == 5 + 9  # op -> result, and one edge per input of each op (u4 has one)
    assert sorted(ops.values()) == sorted(["+", "*", "*", "**2", "*"])
    shown = by_name(boxes)
    expected = {"x1": (-7, -8), "x2": (2, -8), "x3": (2, 60), "x4": (-1, -120),
                "u1": (-5, -8), "u2": (-2, -60), "u3": (10, 4), "u4": (4, 10), "y": (40, 1)}
    for name, (data, grad) in expected.items():
        assert shown[name] == [f"data {data}", f"grad {grad}"], name
    # u2 feeds two ops: two edges leave its box
    u2 = next(k for k, f in boxes.items() if f[0] == "u2")
    assert sum(1 for a, _ in edges if a == u2) == 2
    # every edge goes box -> op or op -> box (the forward direction)
    for a, b in edges:
        assert (a in boxes) != (b in boxes)


def test_worked_example_before_and_without_grads(tg):
    y, _ = worked_examples.simple(tg)
    boxes, ops, edges = parse_dot(tg.viz.to_dot(y, show_grad=False, rankdir="TB"))
    assert by_name(boxes) == {"x1": ["data 4"], "x2": ["data 2"], "x3": ["data -5"],
                              "u": ["data 6"], "y": ["data -30"]}
    assert "rankdir=TB;" in tg.viz.to_dot(y, rankdir="TB")
    assert len(edges) == 2 + 4
    y.backward()
    shown = by_name(parse_dot(tg.viz.to_dot(y))[0])
    assert shown["x1"] == ["data 4", "grad -5"] and shown["x3"] == ["data -5", "grad 6"]
    assert shown["u"] == ["data 6", "grad -5"] and shown["y"] == ["data -30", "grad 1"]


def test_labels_are_escaped(tg):
    a = tg.Value(1.5, label='we{i|r}d "<label>" \\')
    b = a * 2
    boxes, ops, edges = parse_dot(tg.viz.to_dot(b))
    assert 'we{i|r}d "<label>" \\' in [f[0] for f in boxes.values()]
    assert len(boxes) == 3 and list(ops.values()) == ["*"]


def test_same_input_twice_draws_two_edges(tg):
    a = tg.Value(3.0, label="a")
    boxes, ops, edges = parse_dot(tg.viz.to_dot(a * a))
    assert len(boxes) == 2 and len(edges) == 3


def test_tensor_graph_shows_shapes_and_numbers(tg):
    x = tg.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    x.label = "x"
    y = (x * 2).sum()
    y.label = "y"
    y.backward(retain_graph=True)
    shown = by_name(parse_dot(tg.viz.to_dot(y))[0])
    assert shown["x"] == ["shape (2, 2)", "data [1, 2, 3, 4]", "grad [2, 2, 2, 2]"]
    assert shown["y"] == ["shape ()", "data [20]", "grad None"]  # only leaves keep .grad
    big = tg.tensor(np.arange(10.0))
    big.label = "big"
    assert by_name(parse_dot(tg.viz.to_dot(big))[0])["big"][1] == "data [0, 1, 2, 3, ...]"


def test_deep_graph_walk_is_iterative(tg):
    x = tg.Value(1.0)
    y = x
    for _ in range(50_000):
        y = y + 1.0
    text = tg.viz.to_dot(y)  # 10**5 nodes: x, 50 000 sums and their constants
    assert text.count("shape=circle") == 50_000 and text.count("shape=record") == 100_001
    assert text.count(" -> ") == 150_000


def test_bad_arguments(tg):
    y, _ = worked_examples.simple(tg)
    with pytest.raises(ValueError, match="rankdir"):
        tg.viz.to_dot(y, rankdir="XY")
    with pytest.raises(ValueError, match="unsupported format"):
        tg.viz.draw(y, "graph.bmpx")


def test_draw_dot_source_needs_no_graphviz(tg, tmp_path):
    y, _ = worked_examples.simple(tg)
    d = tg.viz.draw(y, tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == tg.viz.to_dot(y) == d.source


@needs_dot
@pytest.mark.parametrize("suffix, magic", [("svg", b"<svg"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_draw_renders(tg, tmp_path, suffix, magic):
    y, _ = worked_examples.five_node(tg)
    y.backward()
    path = tmp_path / f"five.{suffix}"
    d = tg.viz.draw(y, path)
    data = path.read_bytes()
    assert magic in data[:400] and d.data == data and d.format == suffix
    svg = html.unescape(d._repr_svg_())  # dot writes '-' as &#45;
    assert "<svg" in svg and "u2" in svg and "grad -60" in svg


@needs_dot
def test_draw_without_path_and_suffix(tg, tmp_path):
    y, _ = worked_examples.simple(tg)
    assert "<svg" in tg.viz.draw(y)._repr_svg_()
    d = tg.viz.draw(y, tmp_path / "noext", format="png")
    assert d.path.endswith("noext.png") and (tmp_path / "noext.png").exists()


@needs_dot
def test_draw_without_the_python_package_runs_dot(tg, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    y, _ = worked_examples.simple(tg)
    d = tg.viz.draw(y, tmp_path / "g.svg")
    assert b"<svg" in d.data


def hide_dot(monkeypatch, tmp_path, how):
    """Make Graphviz's dot unavailable, as on a machine without it.

    "path": PATH holds no dot (both the graphviz package and shutil.which look
    there); "no-package": that, and no graphviz package either; "which":
    shutil.which finds no dot and there is no package (dot itself stays on PATH).
    """
    if how == "path":
        pytest.importorskip("graphviz", reason="the graphviz Python package is not installed")
    else:
        monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    if how == "which":
        monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    else:
        empty = tmp_path / "no-dot-here"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))


HIDE_DOT = ["path", "no-package", "which"]


@pytest.mark.parametrize("how", HIDE_DOT)
def test_missing_dot_writes_the_dot_text_and_warns(tg, tmp_path, monkeypatch, how):
    hide_dot(monkeypatch, tmp_path, how)
    y, _ = worked_examples.simple(tg)
    with pytest.warns(viz_module.GraphvizNotFoundWarning) as caught:
        d = tg.viz.draw(y, tmp_path / "graph.svg")
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert "'dot' program is not installed" in msg and "apt-get install graphviz" in msg
    assert f"wrote the graph's DOT text to {tmp_path / 'graph.dot'} instead of {tmp_path / 'graph.svg'}" in msg
    assert f"dot -Tsvg {tmp_path / 'graph.dot'} -o {tmp_path / 'graph.svg'}" in msg
    assert caught[0].filename == __file__  # points at the caller's draw() line
    # graph.svg asked for: graph.dot written, and the Drawing says so
    assert not (tmp_path / "graph.svg").exists()
    assert (tmp_path / "graph.dot").read_text() == tg.viz.to_dot(y) == d.source
    assert d.path == str(tmp_path / "graph.dot") and d.format == "dot" and d.requested == "svg"
    assert d.data == d.source.encode()
    assert repr(d).endswith("; svg needs Graphviz's dot)>")
    assert d._repr_svg_() is None  # Jupyter shows the repr instead


@pytest.mark.parametrize("how", HIDE_DOT)
def test_missing_dot_other_paths_and_formats(tg, tmp_path, monkeypatch, how):
    hide_dot(monkeypatch, tmp_path, how)
    y, _ = worked_examples.five_node(tg)
    with pytest.warns(viz_module.GraphvizNotFoundWarning, match="png"):
        d = tg.viz.draw(y, tmp_path / "noext", format="png")  # noext.png asked for
    assert d.path == str(tmp_path / "noext.dot") and d.requested == "png"
    assert (tmp_path / "noext.dot").read_text() == d.source
    with pytest.warns(viz_module.GraphvizNotFoundWarning, match=r"Drawing\.source"):
        d = tg.viz.draw(y)  # no path: nothing written
    assert d.path is None and d.format == "dot" and d.source == tg.viz.to_dot(y)
    d = tg.viz.draw(y, tmp_path / "g.dot")  # the DOT text was asked for: no warning
    assert d.requested == d.format == "dot"
    with pytest.raises(viz_module.GraphvizNotFoundWarning):  # a warning filter can make it stop
        with warnings.catch_warnings():
            warnings.simplefilter("error", viz_module.GraphvizNotFoundWarning)
            tg.viz.draw(y, tmp_path / "strict.svg")
    assert not (tmp_path / "strict.svg").exists() and (tmp_path / "strict.dot").exists()
