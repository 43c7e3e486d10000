"""``tg.explain(root)``: the backward pass as a worked, step-by-step table.

For each node, in reverse topological order (a node only once every node that
consumes it has sent its gradient), the table shows its op and forward value,
the upstream gradient d(root)/d(node), and for each input the local gradient
d(node)/d(input) and the product upstream * local sent to that input. Where a
node feeds several others, the terms that arrive along each path and their
sum (the multivariable chain rule) are shown, as in::

    dy/du2 = -20 (via u3) + -40 (via u4) = -60

The pass is recomputed here from each Value's ``_local_grads()`` (docs/DESIGN.md,
Note [Op strings]), iteratively; the ``.grad`` fields of the graph are never
read or written, so ``explain`` can run before or after ``backward()``.

Tensor graphs show shapes and arrays (in full up to six numbers, else their
norm) instead of Jacobians; their gradients come from the backend's
``grad(root, nodes, retain_graph=True)``, which leaves ``.grad`` alone too, and
the gradient sent along each edge from the backend's own rules (see
``_tensor_edges``). That needs the graph's saved tensors, which a plain
``backward()`` frees (docs/DESIGN.md, Note [Tensor details]): explain a Tensor
before ``backward()``, or after ``backward(retain_graph=True)``.

The text fits ``WIDTH`` (100) columns: wider tables wrap their widest cells.
"""
from __future__ import annotations

import operator

import numpy as np

from . import _text_layout
from ._graphwalk import fmt_number, node_names, walk
from ._params import backend_of, is_tensor

__all__ = ["explain", "Explanation"]

WIDTH = 100  # columns of the text rendering: a terminal's usual minimum
SMALL = 6  # arrays of at most this many numbers are shown in full, larger ones by their norm
EDGE_LIMIT = 500  # above this many nodes, skip the edge gradients that cost extra sweeps

FREED_MESSAGE = (
    "tg.explain: this Tensor's graph was freed by backward(); call tg.explain before "
    "backward(), or pass retain_graph=True to backward()"
)

# Binary ops whose op string is all there is to them (no hidden dims or shapes):
# the gradient each input receives from such a node is found by replaying the
# op on fresh leaves, so that a * a gives each of its two slots its own share.
_REPLAY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
           "**": operator.pow, "@": operator.matmul}


def explain(root) -> "Explanation":
    """The backward pass of ``root`` step by step (see the module docstring).

    ``root`` is a scalar Value, or a Tensor with one element. Labels set on the
    nodes (``Value(4.0, label="x1")``) name the rows; unlabelled nodes get
    n1, n2, ... in forward order. A Tensor must be explained before a plain
    ``backward()`` frees its graph (or after ``backward(retain_graph=True)``);
    afterwards this is a RuntimeError saying so.
    """
    if is_tensor(root):
        return _explain_tensor(root)
    if not (hasattr(root, "parents") and hasattr(root, "_local_grads")):
        raise TypeError(f"explain() needs a tapegrad Value or Tensor, got {type(root).__name__}")
    return _explain_value(root)


def _explain_value(root) -> "Explanation":
    g = walk(root)
    names = node_names(g)
    terms = [[] for _ in g.nodes]  # terms[i]: (consumer index, gradient sent) per use
    rows = []
    for step, i in enumerate(g.backward_order(), start=1):
        node = g.nodes[i]
        # The output's own gradient is the seed d(root)/d(root) = 1.
        total = 1.0 if i == len(g) - 1 else sum(v for _, v in terms[i])
        inputs = []
        if g.parents[i]:
            local = tuple(node._local_grads())
            if len(local) != len(g.parents[i]):
                raise RuntimeError(
                    f"{names[i]} (op {node.op!r}) has {len(g.parents[i])} parents but "
                    f"_local_grads() returned {len(local)} values"
                )
            for p, d in zip(g.parents[i], local):
                # chain rule: d root/d input (this edge) = d root/d node * d node/d input
                product = total * float(d)
                terms[p].append((i, product))
                inputs.append({"input": names[p], "local_grad": float(d), "product": product})
        rows.append({
            "step": step,
            "node": names[i],
            "op": _op_cell(node),
            "value": float(node.data),
            "grad": total,
            "terms": [{"from": names[c], "grad": v} for c, v in terms[i]],
            "inputs": inputs,
        })
    return Explanation(rows, names[-1], kind="value")


def _explain_tensor(root) -> "Explanation":
    if int(np.prod(root.shape)) != 1:
        raise ValueError(
            f"explain() needs a scalar output, got a Tensor of shape {tuple(root.shape)}; "
            "reduce it first (e.g. .sum() or .mean())"
        )
    backend = backend_of(root)
    g = walk(root)
    # backward() without retain_graph clears .parents of the nodes it freed; a
    # node that records nothing is a leaf (op ""), so an op without parents is freed.
    if any(node.op and not g.parents[i] for i, node in enumerate(g.nodes)):
        raise RuntimeError(FREED_MESSAGE)
    names = node_names(g)
    wanted = [i for i, n in enumerate(g.nodes) if n.requires_grad]
    grads = {}
    if wanted:
        out = backend.grad(root, [g.nodes[i] for i in wanted], retain_graph=True)
        grads = {i: np.array(_array(t)) for i, t in zip(wanted, out)}
    edges = _tensor_edges(g, grads, backend)
    consumers = g.consumers()
    rows = []
    for step, i in enumerate(g.backward_order(), start=1):
        node = g.nodes[i]
        inputs = [
            {"input": names[p], "shape": tuple(g.nodes[p].shape),
             "requires_grad": bool(g.nodes[p].requires_grad), "product": edges.get((i, k))}
            for k, p in enumerate(g.parents[i])
        ]
        terms = []
        if len(consumers[i]) > 1 and i in grads:
            terms = [{"from": names[c], "grad": edges.get((c, k))} for c, k in _uses(g, consumers, i)]
        rows.append({
            "step": step,
            "node": names[i],
            "op": _op_cell(node),
            "shape": tuple(node.shape),
            "value": np.array(_array(node)),
            "grad": grads.get(i),
            "requires_grad": bool(node.requires_grad),
            "terms": terms,
            "inputs": inputs,
        })
    return Explanation(rows, names[-1], kind="tensor")


def _uses(g, consumers, p) -> list:
    """``(consumer, slot)`` for every use of node ``p`` as an input, in graph order
    (``consumers`` is ``g.consumers()``)."""
    out = []
    for c in _unique(consumers[p]):
        out += [(c, k) for k, q in enumerate(g.parents[c]) if q == p]
    return out


def _unique(items):
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _tensor_edges(g, grads, backend, limit: int = EDGE_LIMIT) -> dict:
    """The gradient sent along each edge: ``{(consumer, parent slot): array}``.

    No Jacobian is ever formed. An input used once receives its whole gradient
    along that one edge. Otherwise the edge's vector-Jacobian product comes
    from the backend's own rules: for a consumer with one input it is
    ``grad(consumer, input, gradient=upstream)``; for a binary op in
    ``_REPLAY`` (``a * a``, ``a * (a + 1)``, ``x @ x``) the op is replayed on
    fresh leaves holding the same arrays, which gives each slot its own
    share; for other ops ``grad(consumer, input, gradient=upstream)`` where
    that is one edge's alone (the input fills one slot and no other input of
    the consumer depends on it). If one edge of an input stays unknown, it
    carries the input's gradient minus the other edges'. What is still
    unknown (``tg.stack([x, x])``, or graphs over ``limit`` nodes) is left out.
    """
    uses = g.consumers()
    edges = {}
    for c, ps in enumerate(g.parents):
        for k, p in enumerate(ps):
            if p in grads and len(uses[p]) == 1:
                edges[(c, k)] = grads[p]
    if len(g) > limit:
        return edges
    for c, ps in enumerate(g.parents):
        todo = [k for k, p in enumerate(ps) if p in grads and (c, k) not in edges]
        if not todo or c not in grads:
            continue
        node, upstream = g.nodes[c], grads[c]
        shares = None if len(ps) == 1 else _replay(backend, node, [g.nodes[p] for p in ps], upstream)
        for k in todo:
            p = ps[k]
            if shares is not None:
                edges[(c, k)] = shares[k]
            elif ps.count(p) == 1 and not any(_reaches(g, q, p) for q in ps if q != p):
                edges[(c, k)] = _vjp(backend, node, g.nodes[p], upstream)
    for p in range(len(g)):
        if p not in grads or len(uses[p]) < 2:
            continue
        slots = _uses(g, uses, p)
        unknown = [s for s in slots if edges.get(s) is None]
        if len(unknown) == 1:
            edges[unknown[0]] = grads[p] - sum(edges[s] for s in slots if s != unknown[0])
    return {s: e for s, e in edges.items() if e is not None}


def _vjp(backend, node, parent, upstream):
    """``upstream`` pulled back from ``node`` to ``parent`` (every path between them)."""
    got = backend.grad(node, parent, gradient=backend.tensor(upstream), retain_graph=True)
    return np.array(_array(got))


def _replay(backend, node, parents, upstream):
    """Each input's share of ``upstream`` for a binary ``_REPLAY`` op, or None."""
    fn = _REPLAY.get(node.op)
    if fn is None or len(parents) != 2:
        return None
    leaves = [backend.tensor(np.array(_array(p)), requires_grad=bool(p.requires_grad))
              for p in parents]
    out = fn(*leaves)
    if tuple(out.shape) != tuple(node.shape) or not out.parents:  # not the same op after all
        return None
    wanted = [t for t in leaves if t.requires_grad]
    got = iter(backend.grad(out, wanted, gradient=backend.tensor(upstream)))
    return [np.array(_array(next(got))) if t.requires_grad else None for t in leaves]


def _reaches(g, start: int, target: int) -> bool:
    """True if node ``target`` is ``start`` or one of its ancestors (iterative)."""
    stack, seen = [start], {start}
    while stack:
        i = stack.pop()
        if i == target:
            return True
        for p in g.parents[i]:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return False


def _array(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


# A no-break space: the text layout wraps lines between the rows of a matrix,
# never inside one (or inside a shape); it prints as a plain space.
_GLUE = _text_layout.GLUE


def _nested(a, top: bool = True) -> str:
    """An array as nested lists of numbers: ``[[1, 2], [3, 4]]``; 0-d: the number."""
    if a.ndim == 0:
        return fmt_number(a)
    sep = "," + _GLUE if a.ndim == 1 and not top else ", "
    return "[" + sep.join(_nested(x, False) for x in a) + "]"


# The op cell of a node that a recorded backward pass made (tg.grad(..., create_graph=True)).
_BACKWARD_MARK = " (bw)"


def _op_cell(node) -> str:
    if getattr(node, "_from_backward", False):
        return (node.op or "leaf") + _BACKWARD_MARK
    return node.op


# Table and legend text for a cell that holds no array.
NO_GRAD = "no grad"
UNKNOWN = "?"
_LEGEND = {
    "norm": f"norm N: an array of more than {SMALL} numbers, shown by its L2 norm "
            "(the square root of the sum of its squared entries)",
    NO_GRAD: f"{NO_GRAD}: the tensor does not require grad, so no gradient flows to it",
    UNKNOWN: f"{UNKNOWN}: this edge's share of the input's gradient is not told apart (an op "
             "other than + - * / ** @ that uses the input twice, or a graph of more than "
             f"{EDGE_LIMIT} nodes); the input's own gradient is exact",
    _BACKWARD_MARK: f"{_BACKWARD_MARK.strip()}: a node that a recorded backward pass made "
                    "(tg.grad(..., create_graph=True)): part of a gradient's own graph",
}
_LEGEND_ORDER = ("norm", NO_GRAD, UNKNOWN, _BACKWARD_MARK)


class Explanation:
    """The result of ``tg.explain``: print it, or use ``.rows`` / ``.to_markdown()``.

    ``rows`` has one dict per node in backward order with keys ``step``,
    ``node``, ``op``, ``value``, ``grad`` (d root/d node), ``terms`` (one
    ``{"from", "grad"}`` per path into the node; empty for the output) and
    ``inputs`` (one ``{"input", "local_grad", "product"}`` per input).
    Tensor graphs hold arrays: ``value``, ``grad``, ``shape``,
    ``requires_grad``, and per input ``{"input", "shape", "requires_grad",
    "product"}`` with no ``local_grad`` (that would be a Jacobian);
    ``product``/``grad`` is None where no gradient flows (a tensor that does
    not require grad) or where an edge's share is not told apart.

    ``str()`` is ``to_text()``: at most ``WIDTH`` (100) columns, cells wrapped
    where the table would be wider.
    """

    def __init__(self, rows, root_name: str, kind: str):
        self.rows = rows
        self.root_name = root_name
        self.kind = kind

    # -- the cells of the table ------------------------------------------------
    def _d(self, name: str) -> str:
        return f"d{self.root_name}/d{name}"

    def _array_cell(self, a, flows: bool = True, used=None) -> str:
        """An array's cell: its numbers when small, ``norm N`` when large, or a marker."""
        key = None
        if a is None:
            key = NO_GRAD if not flows else UNKNOWN
            text = key
        else:
            a = np.asarray(a, dtype=np.float64)
            if a.size <= SMALL:
                text = _nested(a)
            else:
                key, text = "norm", f"norm {fmt_number(np.linalg.norm(a.ravel()))}"
        if key is not None and used is not None:
            used.add(key)
        return text

    def _grad_cell(self, row, used=None, short: bool = False) -> str:
        if self.kind == "tensor":
            if row["grad"] is not None and row["step"] == 1:
                return f"{self._array_cell(row['grad'], used=used)} (seed)"
            return self._array_cell(row["grad"], row["requires_grad"], used)
        if not row["terms"]:
            return f"{fmt_number(row['grad'])} (seed)"
        if len(row["terms"]) == 1:
            return fmt_number(row["grad"])
        if short:  # the sum is written out under the table
            return f"{fmt_number(row['grad'])} ({len(row['terms'])} paths)"
        parts = " + ".join(fmt_number(t["grad"]) for t in row["terms"])
        return f"{parts} = {fmt_number(row['grad'])}"

    def _lines(self, used=None, level: int = 0) -> list:
        """One tuple of cells per table line (a node with k inputs takes k lines).

        ``level`` abbreviates a Value table that is too wide: from 1 on, a
        gradient that sums several paths shows only the total (the footer has
        the sum); from 2 on, the upstream * local cell shows only the product
        (its two factors are the cells beside it)."""
        lines = []
        for row in self.rows:
            if used is not None and row["op"].endswith(_BACKWARD_MARK):
                used.add(_BACKWARD_MARK)
            if self.kind == "tensor":
                value = self._array_cell(row["value"], used=used)
                shape = str(row["shape"]).replace(" ", _GLUE)
                head = (str(row["step"]), row["node"], row["op"] or "leaf", shape,
                        value, self._grad_cell(row, used))
            else:
                head = (str(row["step"]), row["node"], row["op"] or "leaf",
                        fmt_number(row["value"]), self._grad_cell(row, short=level >= 1))
            blank = ("",) * len(head)
            if not row["inputs"]:
                lines.append(head + ("",) * (8 - len(head)))
            for k, inp in enumerate(row["inputs"]):
                if self.kind == "tensor":
                    cells = (inp["input"], self._array_cell(inp["product"], inp["requires_grad"], used))
                else:
                    g, d = fmt_number(row["grad"]), fmt_number(inp["local_grad"])
                    p = fmt_number(inp["product"])
                    cells = (inp["input"], d, p if level >= 2 else f"{g} * {d} = {p}")
                lines.append((head if k == 0 else blank) + cells)
        return lines

    def _header(self) -> tuple:
        if self.kind == "tensor":
            return ("step", "node", "op", "shape", "value", f"{self._d('node')} (upstream)",
                    "input", "sent to input")
        return ("step", "node", "op", "value", f"{self._d('node')} (upstream)",
                "input", "local d(node)/d(input)", "upstream * local")

    def _footer(self, used=None) -> list:
        notes = []
        if self.kind == "value":
            for row in self.rows:
                if len(row["terms"]) > 1:
                    parts = " + ".join(f"{fmt_number(t['grad'])} (via {t['from']})" for t in row["terms"])
                    notes.append(f"{self._d(row['node'])} = {parts} = {fmt_number(row['grad'])}")
        else:
            for row in self.rows:
                if row["terms"]:
                    parts = " + ".join(f"{self._array_cell(t['grad'], used=used)} (via {t['from']})"
                                       for t in row["terms"])
                    total = self._array_cell(row["grad"], used=used)
                    notes.append(f"{self._d(row['node'])} = {parts} = {total}")
        return notes

    def _title(self) -> str:
        return (f"backward pass of {self.root_name}: {len(self.rows)} nodes in reverse "
                "topological order; each input receives upstream * local")

    # -- renderings ------------------------------------------------------------
    def to_text(self, width: int = WIDTH) -> str:
        """The table as plain text, no line wider than ``width`` columns (for
        any width from 60 up): a wider table first abbreviates (a Value table's
        long sums, then its upstream * local cells, to their results), then
        wraps its widest cells (see ``_table``)."""
        header = self._header()
        used = set()
        lines = self._lines(used)
        for level in (1, 2) if self.kind == "value" else ():
            if _text_layout.table_width(header, lines) <= width:
                break
            lines = self._lines(used, level)
        if self.kind == "tensor":
            right, names = {0}, {1, 2, 6}
        else:
            right, names = {0, 3, 4, 6}, {1, 2, 5}
        text = _text_layout.wrap(self._title(), width)
        text += _text_layout.table(header, lines, right, names, width)
        footer = self._footer(used)
        if footer:
            text += ["", "where several paths meet (multivariable chain rule):"]
            for f in footer:
                text += _text_layout.wrap(f, width, "  ", "      ")
        if used:
            text += [""]
            for key in _LEGEND_ORDER:
                if key in used:
                    text += _text_layout.wrap(_LEGEND[key], width, "", "  ")
        return "\n".join(text)

    def __str__(self) -> str:
        return self.to_text()

    def to_markdown(self) -> str:
        """The same table as GitHub-flavoured Markdown."""
        def row(cells):
            return "| " + " | ".join(_text_layout.plain(c).replace("|", "\\|") for c in cells) + " |"

        used = set()
        header = self._header()
        out = [row(header), "|" + "|".join(" --- " for _ in header) + "|"]
        out += [row(line) for line in self._lines(used)]
        footer = self._footer(used)
        if footer:
            out += [""] + [f"- `{_text_layout.plain(f)}`" for f in footer]
        if used:
            out += [""] + [f"- {_LEGEND[k]}" for k in _LEGEND_ORDER if k in used]
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"<Explanation of {self.root_name}: {len(self.rows)} steps>"

    def _repr_markdown_(self) -> str:  # Jupyter
        return self.to_markdown()
