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

Tensor graphs show shapes, a few numbers and norms instead of Jacobians; their
gradients come from the backend's ``grad(root, nodes, retain_graph=True)``,
which leaves ``.grad`` alone too. That needs the graph's saved tensors, which a
plain ``backward()`` frees (docs/DESIGN.md, Note [Tensor details]): explain a
Tensor before ``backward()``, or after ``backward(retain_graph=True)``.
"""
from __future__ import annotations

import numpy as np

from ._graphwalk import fmt_number, node_names, walk
from ._params import backend_of, is_tensor

__all__ = ["explain", "Explanation"]

_COLUMNS = ("step", "node", "op", "value", "grad", "input", "local", "product")

FREED_MESSAGE = (
    "tg.explain: this Tensor's graph was freed by backward(); call tg.explain before "
    "backward(), or pass retain_graph=True to backward()"
)


def explain(root) -> "Explanation":
    """The backward pass of ``root`` step by step (see the module docstring).

    ``root`` is a scalar Value, or a Tensor with one element. Labels set on the
    nodes (``Value(4.0, label="x1")``) name the rows; unlabelled nodes get
    n1, n2, ... in forward order.
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
            "op": node.op,
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
            {"input": names[p], "shape": tuple(g.nodes[p].shape), "product": edges.get((i, k))}
            for k, p in enumerate(g.parents[i])
        ]
        terms = []
        if len(consumers[i]) > 1:
            uses = [(c, k) for c in consumers[i] for k, q in enumerate(g.parents[c]) if q == i]
            terms = [{"from": names[c], "grad": edges.get((c, k))} for c, k in _unique(uses)]
        rows.append({
            "step": step,
            "node": names[i],
            "op": node.op,
            "shape": tuple(node.shape),
            "value": np.array(_array(node)),
            "grad": grads.get(i),
            "terms": terms,
            "inputs": inputs,
        })
    return Explanation(rows, names[-1], kind="tensor")


def _unique(items):
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _tensor_edges(g, grads, backend, limit: int = 500) -> dict:
    """The gradient sent along each edge: ``{(consumer, parent slot): array}``.

    Without Jacobians: an input with a single consumer receives its whole
    gradient along that edge. For an input used by several nodes, the edge's
    vector-Jacobian product is ``grad(consumer, input, gradient=upstream)``
    when that is unambiguous (no other path from the input into the same
    consumer); if one edge of a fan-out stays unknown it is the total minus
    the others. Edges that cannot be told apart are left out.
    """
    consumers = g.consumers()
    edges = {}
    for i, ps in enumerate(g.parents):
        for k, p in enumerate(ps):
            if p in grads and len(consumers[p]) == 1:
                edges[(i, k)] = grads[p]
    if len(g) > limit:
        return edges
    for p, cs in enumerate(consumers):
        if len(cs) < 2 or p not in grads:
            continue
        slots = _unique((c, k) for c in cs for k, q in enumerate(g.parents[c]) if q == p)
        unknown = []
        for c, k in slots:
            edge = None
            if g.parents[c].count(p) == 1 and c in grads and not any(
                _reaches(g, q, p) for q in g.parents[c] if q != p
            ):
                try:
                    upstream = backend.tensor(grads[c])
                    edge = np.array(_array(backend.grad(g.nodes[c], g.nodes[p], gradient=upstream,
                                                        retain_graph=True)))
                except Exception:  # a backend without grad(gradient=) support: leave it out
                    edge = None
            if edge is None:
                unknown.append((c, k))
            else:
                edges[(c, k)] = edge
        if len(unknown) == 1:
            known = [edges[s] for s in slots if s in edges]
            edges[unknown[0]] = grads[p] - sum(known) if known else grads[p]
    return edges


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


def _summary(a) -> str:
    """A tensor in one cell: its first numbers, and the norm when it has several."""
    if a is None:
        return "-"
    a = np.asarray(a, dtype=np.float64)
    flat = a.ravel()
    head = ", ".join(fmt_number(x) for x in flat[:3])
    if flat.size == 1:
        return head
    more = ", ..." if flat.size > 3 else ""
    return f"[{head}{more}] |{fmt_number(np.linalg.norm(flat))}|"


class Explanation:
    """The result of ``tg.explain``: print it, or use ``.rows`` / ``.to_markdown()``.

    ``rows`` has one dict per node in backward order with keys ``step``,
    ``node``, ``op``, ``value``, ``grad`` (d root/d node), ``terms`` (one
    ``{"from", "grad"}`` per path into the node; empty for the output) and
    ``inputs`` (one ``{"input", "local_grad", "product"}`` per input).
    Tensor graphs hold arrays: ``value``, ``grad``, ``shape``, and per input
    ``{"input", "shape", "product"}`` with no ``local_grad`` (that would be
    a Jacobian); ``product``/``grad`` is None where it is not known (an input
    that does not require grad, an edge that cannot be told apart).
    """

    def __init__(self, rows, root_name: str, kind: str):
        self.rows = rows
        self.root_name = root_name
        self.kind = kind

    # -- the cells of the table ------------------------------------------------
    def _d(self, name: str) -> str:
        return f"d{self.root_name}/d{name}"

    def _grad_cell(self, row) -> str:
        if self.kind == "tensor":
            return _summary(row["grad"])
        if not row["terms"]:
            return f"{fmt_number(row['grad'])} (seed)"
        if len(row["terms"]) == 1:
            return fmt_number(row["grad"])
        parts = " + ".join(fmt_number(t["grad"]) for t in row["terms"])
        return f"{parts} = {fmt_number(row['grad'])}"

    def _lines(self) -> list:
        """One tuple of cells per table line (a node with k inputs takes k lines)."""
        lines = []
        for row in self.rows:
            if self.kind == "tensor":
                value = f"{row['shape']} {_summary(row['value'])}"
            else:
                value = fmt_number(row["value"])
            head = (str(row["step"]), row["node"], row["op"] or "leaf", value, self._grad_cell(row))
            if not row["inputs"]:
                lines.append(head + ("", "", ""))
            for k, inp in enumerate(row["inputs"]):
                if self.kind == "tensor":
                    cells = (inp["input"], str(inp["shape"]), _summary(inp["product"]))
                else:
                    g, d = fmt_number(row["grad"]), fmt_number(inp["local_grad"])
                    cells = (inp["input"], d, f"{g} * {d} = {fmt_number(inp['product'])}")
                lines.append((head if k == 0 else ("",) * 5) + cells)
        return lines

    def _header(self) -> tuple:
        if self.kind == "tensor":
            return ("step", "node", "op", "value", f"{self._d('node')} (upstream)",
                    "input", "input shape", "sent to input")
        return ("step", "node", "op", "value", f"{self._d('node')} (upstream)",
                "input", "local d(node)/d(input)", "upstream * local")

    def _footer(self) -> list:
        notes = []
        if self.kind == "value":
            for row in self.rows:
                if len(row["terms"]) > 1:
                    parts = " + ".join(f"{fmt_number(t['grad'])} (via {t['from']})" for t in row["terms"])
                    notes.append(f"{self._d(row['node'])} = {parts} = {fmt_number(row['grad'])}")
        else:
            for row in self.rows:
                if row["terms"]:
                    parts = " + ".join(f"{_summary(t['grad'])} (via {t['from']})" for t in row["terms"])
                    notes.append(f"{self._d(row['node'])} = {parts} = {_summary(row['grad'])}")
        return notes

    def _title(self) -> str:
        return (f"backward pass of {self.root_name}: {len(self.rows)} nodes in reverse "
                "topological order; each input receives upstream * local")

    # -- renderings ------------------------------------------------------------
    def __str__(self) -> str:
        header = self._header()
        lines = self._lines()
        widths = [max(len(c) for c in col) for col in zip(header, *lines)]
        numeric = {0, 3, 4, 6}

        def fmt(cells):
            out = [c.rjust(w) if j in numeric else c.ljust(w)
                   for j, (c, w) in enumerate(zip(cells, widths))]
            return "  ".join(out).rstrip()

        text = [self._title(), fmt(header), "  ".join("-" * w for w in widths)]
        text += [fmt(line) for line in lines]
        footer = self._footer()
        if footer:
            text += ["", "where several paths meet (multivariable chain rule):"]
            text += ["  " + f for f in footer]
        return "\n".join(text)

    def to_markdown(self) -> str:
        """The same table as GitHub-flavoured Markdown."""
        def row(cells):
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        header = self._header()
        out = [row(header), "|" + "|".join(" --- " for _ in header) + "|"]
        out += [row(line) for line in self._lines()]
        footer = self._footer()
        if footer:
            out += [""] + [f"- `{f}`" for f in footer]
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"<Explanation of {self.root_name}: {len(self.rows)} steps>"

    def _repr_markdown_(self) -> str:  # Jupyter
        return self.to_markdown()
