"""tg.viz: the computational graph as a picture, as in the backpropagation figures.

``to_dot(root)`` gives Graphviz DOT text: one box per node with its label, data
and grad (a Tensor shows its shape and first numbers), one small circle per
operation, edges in the forward direction (inputs -> op -> result).
``draw(root, path)`` renders it to .svg/.png/.pdf with Graphviz's ``dot``
program, through the ``graphviz`` Python package (``pip install ".[viz]"`` in a
tapegrad checkout) or, without the package, by running ``dot`` directly. Where
``dot`` is not installed, ``draw`` writes the DOT text instead (``graph.svg``
asked for, ``graph.dot`` written) and warns with GraphvizNotFoundWarning.

Works on both backends through the public ``.op``/``.parents``/``.label``
(docs/DESIGN.md, Note [Op strings]); the walk is iterative, so graphs of 10**5
nodes are fine (if slow to lay out). Tensor graphs are freed by ``backward()``
unless it is given ``retain_graph=True``: draw them before, or retain.
"""
import os as _os
import shutil as _shutil
import subprocess as _subprocess
import warnings as _warnings

import numpy as _np

from . import _graphwalk, _params

__all__ = ["to_dot", "draw", "Drawing", "GraphvizNotFoundError", "GraphvizNotFoundWarning"]

_RENDERED = ("svg", "png", "pdf", "jpg", "jpeg", "gif", "ps", "eps")
_SOURCE = ("dot", "gv")

_NO_DOT = "Graphviz's 'dot' program is not installed (or not on PATH)"
_INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; "
    "others: graphviz.org/download)"
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is not installed (or not on PATH).

    ``draw`` does not raise it: it falls back to the DOT text and warns with
    GraphvizNotFoundWarning (make that warning an error to stop instead).
    """

    def __init__(self, *args):  # spelled out: inspect.signature reads no builtin exception's
        super().__init__(*args)


class GraphvizNotFoundWarning(UserWarning):
    """``draw`` wrote the DOT text (``.dot``) because Graphviz's ``dot`` is not installed."""

    def __init__(self, *args):  # spelled out: inspect.signature reads no builtin exception's
        super().__init__(*args)


_ESCAPES = str.maketrans({ch: "\\" + ch for ch in '\\"{}|<>'})


def _escape(text: str) -> str:
    """Text safe inside a DOT record label (backslash, quotes, braces, bars, angle brackets)."""
    return str(text).translate(_ESCAPES)


def _numbers(a, limit: int = 4) -> str:
    flat = _np.asarray(a, dtype=_np.float64).ravel()
    head = ", ".join(_graphwalk.fmt_number(x) for x in flat[:limit])
    return f"[{head}, ...]" if flat.size > limit else f"[{head}]"


def _box(node, name: str, show_grad: bool) -> str:
    """The record label of one node: name | data | grad (Tensors: shape, numbers)."""
    if _params.is_tensor(node):
        fields = [name, f"shape {tuple(node.shape)}", f"data {_numbers(node.numpy())}"]
        if show_grad:
            g = node.grad
            fields.append("grad None" if g is None else f"grad {_numbers(g.numpy())}")
    else:
        fields = [name, f"data {_graphwalk.fmt_number(node.data)}"]
        if show_grad:
            fields.append(f"grad {_graphwalk.fmt_number(node.grad)}")
    return "{ " + " | ".join(_escape(f) for f in fields) + " }"


def to_dot(root, show_grad: bool = True, rankdir: str = "LR") -> str:
    """Graphviz DOT text for the graph that computed ``root``.

    Boxes ``v0, v1, ...`` are the nodes in forward (topological) order, named
    by their label or n1, n2, ... like ``tg.explain``; circles ``op3, ...``
    are the operations, ``op<i>`` producing ``v<i>``. An input used twice by
    one op (``a * a``) has two edges into it. Nodes that a recorded backward
    pass made (``tg.grad(..., create_graph=True)``: the graph of a gradient)
    are drawn dashed and blue, their names marked ``(backward)``, so that a
    second-order graph shows which part is the first derivative's.
    """
    if not (_params.is_value(root) or _params.is_tensor(root)):
        raise TypeError(f"tg.viz needs a tapegrad Value or Tensor, got {type(root).__name__}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"rankdir must be one of LR, RL, TB, BT, got {rankdir!r}")
    g = _graphwalk.walk(root)
    names = _graphwalk.node_names(g)
    lines = [
        "digraph tapegrad {",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [arrowsize=0.7];',
    ]
    for i, node in enumerate(g.nodes):
        backward = bool(getattr(node, "_from_backward", False))
        name = f"{names[i]} (backward)" if backward else names[i]
        style = ', style=dashed, color="#1f5fbf", fontcolor="#1f5fbf"' if backward else ""
        lines.append(f'  v{i} [shape=record, label="{_box(node, name, show_grad)}"{style}];')
        if g.parents[i]:
            op = _escape(node.op)
            lines.append(f'  op{i} [shape=circle, width=0.3, fixedsize=false, label="{op}"{style}];')
            lines.append(f"  op{i} -> v{i};")
            lines.extend(f"  v{p} -> op{i};" for p in g.parents[i])
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render(dot: str, fmt: str) -> bytes:
    """``dot -T<fmt>`` on the text: through the graphviz package, else the program."""
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(dot).pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise GraphvizNotFoundError(_NO_DOT) from None
    exe = _shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(_NO_DOT)
    done = _subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


class Drawing:
    """A drawn graph: ``.source`` (DOT), ``.data`` (the bytes written), ``.format``
    (theirs: "svg", "png", ... or "dot"), ``.path`` (the file written, or None).

    ``.requested`` is the format asked for; it differs from ``.format`` only when
    Graphviz's ``dot`` was missing and the DOT text was written instead
    (``.format == "dot"``). In Jupyter it displays itself (``_repr_svg_``) where
    ``dot`` is installed.
    """

    def __init__(self, source: str, data: bytes, format: str, path, requested=None):
        self.source = source
        self.data = data
        self.format = format
        self.path = path
        self.requested = requested or format

    def _repr_svg_(self):
        if self.format == "svg":
            return self.data.decode("utf-8")
        try:
            return _render(self.source, "svg").decode("utf-8")
        except GraphvizNotFoundError:
            return None  # Jupyter then shows the repr

    def __repr__(self) -> str:
        where = f" at {self.path!r}" if self.path else ""
        fallback = (f"; {self.requested} needs Graphviz's dot"
                    if self.requested != self.format else "")
        return f"<tapegrad.viz.Drawing ({self.format}{where}{fallback})>"


def draw(root, path=None, format=None, show_grad: bool = True, rankdir: str = "LR") -> Drawing:
    """Render the graph of ``root`` and write it to ``path`` (if given).

    The format comes from ``format``, else from the suffix of ``path``
    (``.svg``, ``.png``, ``.pdf``, ... or ``.dot`` for the DOT text alone),
    else svg; a ``path`` without a suffix gets the format's.

    Without Graphviz's ``dot`` program a rendered format cannot be made: then
    the DOT text is written instead, to ``path`` with its suffix replaced by
    ``.dot`` (``graph.svg`` asked for, ``graph.dot`` written; ``graph`` with
    format="png", ``graph.dot``), nothing is written to the path asked for,
    and a GraphvizNotFoundWarning says so and how to install Graphviz. The
    returned Drawing then has ``format == "dot"``, ``path`` the ``.dot`` file
    and ``requested`` the format asked for. ``dot -Tsvg graph.dot -o graph.svg``
    renders that file later.
    """
    suffix = _os.path.splitext(_os.fspath(path))[1][1:].lower() if path is not None else ""
    fmt = (format or suffix or "svg").lower()
    if fmt not in _RENDERED + _SOURCE:
        raise ValueError(f"draw: unsupported format {fmt!r}; use one of {', '.join(_RENDERED + _SOURCE)}")
    if path is not None and not suffix:
        path = f"{_os.fspath(path)}.{fmt}"
    source = to_dot(root, show_grad=show_grad, rankdir=rankdir)
    requested, missing = fmt, None
    if fmt in _SOURCE:
        data = source.encode()
    else:
        try:
            data = _render(source, fmt)
        except GraphvizNotFoundError:
            data, fmt = source.encode(), "dot"
            if path is not None:
                wanted, path = _os.fspath(path), _os.path.splitext(_os.fspath(path))[0] + ".dot"
                missing = (f"so tg.viz.draw wrote the graph's DOT text to {path} instead of "
                           f"{wanted}; {_INSTALL_HINT}, then render it with: "
                           f"dot -T{requested} {path} -o {wanted}")
            else:
                missing = (f"so tg.viz.draw returns the graph's DOT text (Drawing.source) "
                           f"instead of {requested}; {_INSTALL_HINT} to render it")
    if path is not None:
        with open(path, "wb") as f:
            f.write(data)
    if missing:  # after writing: the warning says what is on disk, even as an error
        _warnings.warn(f"{_NO_DOT}, {missing}", GraphvizNotFoundWarning, stacklevel=2)
    return Drawing(source, data, fmt, path, requested)
