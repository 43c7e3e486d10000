"""Graph walks shared by tg.viz and tg.explain, over the public node API only.

Both backends give every Value and Tensor ``.op``, ``.parents`` and ``.label``
(docs/DESIGN.md, Note [Op strings]), so drawing and explaining a graph needs
nothing backend-specific. Every walk here is iterative: a 10**5-node chain
must not hit Python's recursion limit (the textbook recursive DFS is the bug
micrograd has and we do not copy).

Nodes are told apart by ``id()``. A native backend may hand out a fresh Python
wrapper each time ``.parents`` is read, and a wrapper that dies lets its id be
reused; the walks therefore keep every node they have seen alive in their
result lists for as long as the ids are used.
"""
from __future__ import annotations

from ._params import is_tensor

__all__ = ["Graph", "walk", "node_names", "is_tensor", "fmt_number"]


def fmt_number(x) -> str:
    """A float as people write it in a worked example: 6, -0.5, 1.23457e-07."""
    x = float(x)
    if x == 0.0:
        return "0"  # -0.0 prints as 0: the sign of a zero gradient is noise here
    return format(x, ".6g")


class Graph:
    """Every node reachable from ``root``, with its parents as indices.

    ``nodes`` is in topological order (parents before the nodes computed from
    them, the root last); ``parents[i]`` lists the indices of node i's parents
    in ``.parents`` order, repeats included (``a * a`` has parents ``[j, j]``).
    """

    __slots__ = ("nodes", "parents", "index")

    def __init__(self, nodes, parents, index):
        self.nodes = nodes
        self.parents = parents
        self.index = index

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def root(self):
        return self.nodes[-1]

    def consumers(self) -> list:
        """``consumers[i]``: indices of the nodes that take node i as an input,
        once per use (a node used twice by one consumer is listed twice)."""
        out = [[] for _ in self.nodes]
        for i, ps in enumerate(self.parents):
            for p in ps:
                out[p].append(i)
        return out

    def edges(self) -> list:
        """``(parent_index, child_index)`` for every use of a node as an input."""
        return [(p, i) for i, ps in enumerate(self.parents) for p in ps]

    def backward_order(self) -> list:
        """Indices in reverse topological order, as a person works the example.

        A node comes only after every node that consumes it (its gradient is
        complete), and among the nodes that are ready the walk goes depth-first,
        first input first: for ``y = u3 * u4`` with ``u3 = u1 * u2`` this gives
        y, u3, u1, x1, x2, u4, u2, x3, x4, the order of the textbook figures.
        """
        waiting = [0] * len(self.nodes)  # consumers not yet processed
        for ps in self.parents:
            for p in ps:
                waiting[p] += 1
        order = []
        stack = [len(self.nodes) - 1]
        while stack:
            i = stack.pop()
            order.append(i)
            ready = []
            for p in self.parents[i]:
                waiting[p] -= 1
                if waiting[p] == 0:
                    ready.append(p)
            stack.extend(reversed(ready))
        return order


def walk(root) -> Graph:
    """The graph below ``root``, found by an iterative depth-first search.

    Recursive form, for reference::

        def visit(v):
            if v not in seen:
                seen.add(v); [visit(p) for p in v.parents]; order.append(v)
    """
    index = {id(root): None}  # id -> position in nodes; None while on the stack
    nodes, parents = [], []
    root_parents = tuple(root.parents)
    stack = [(root, root_parents, iter(root_parents))]
    while stack:
        node, ps, pending = stack[-1]
        for p in pending:
            if id(p) not in index:
                index[id(p)] = None
                pps = tuple(p.parents)
                stack.append((p, pps, iter(pps)))
                break
        else:  # every parent placed: the node goes after them
            stack.pop()
            index[id(node)] = len(nodes)
            nodes.append(node)
            parents.append([index[id(p)] for p in ps])
    return Graph(nodes, parents, index)


def node_names(graph: Graph) -> list:
    """A unique display name per node: its label where set, else n1, n2, ...

    Unlabelled nodes are numbered in topological order; a label used by two
    different nodes gets a suffix (``a``, ``a#2``) so every row and box can
    be told apart.
    """
    labels = [str(getattr(n, "label", "") or "") for n in graph.nodes]
    taken = set(labels)
    names, seen, counter = [], {}, 0
    for label in labels:
        if label:
            seen[label] = seen.get(label, 0) + 1
            name = label if seen[label] == 1 else f"{label}#{seen[label]}"
        else:
            counter += 1
            name = f"n{counter}"
            while name in taken:
                counter += 1
                name = f"n{counter}"
        taken.add(name)
        names.append(name)
    return names
