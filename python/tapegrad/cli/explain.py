"""``tapegrad explain``: the backward pass step by step (tg.explain), for the two
worked examples or for an expression given on the command line."""
from __future__ import annotations

import importlib
import re
import sys
import textwrap
import warnings

from .exprparse import ExpressionError, evaluate, parse_bindings


def _backend(name):
    return importlib.import_module("tapegrad" if name == "native" else "tapegrad.reference")


def simple_example(tg):
    """y = (x1 + x2) * x3 at x1=4, x2=2, x3=-5."""
    x1, x2, x3 = tg.Value(4.0, label="x1"), tg.Value(2.0, label="x2"), tg.Value(-5.0, label="x3")
    u = x1 + x2
    u.label = "u"
    y = u * x3
    y.label = "y"
    return y, [x1, x2, x3]


def five_node_example(tg):
    """u1 = x1+x2, u2 = x3*x4, u3 = u1*u2, u4 = u2**2, y = u3*u4 at (-7, 2, 2, -1)."""
    x1, x2 = tg.Value(-7.0, label="x1"), tg.Value(2.0, label="x2")
    x3, x4 = tg.Value(2.0, label="x3"), tg.Value(-1.0, label="x4")
    u1 = x1 + x2
    u2 = x3 * x4
    u3 = u1 * u2
    u4 = u2 ** 2
    y = u3 * u4
    for v, name in ((u1, "u1"), (u2, "u2"), (u3, "u3"), (u4, "u4"), (y, "y")):
        v.label = name
    return y, [x1, x2, x3, x4]


WIDTH = 100  # columns: everything explain prints fits a 100-column terminal


def output_names(bindings):
    """``(output, intermediate prefix, constant prefix)``: "y", "u" (u1, u2, ...) and
    "c" (c1, ...), or the next choice where a bound input already has the name,
    so that an input called y (or u1) is never confused with a computed node."""
    taken = set(bindings)

    def used(name, numbered):
        if not numbered:
            return name in taken
        return any(re.fullmatch(rf"{re.escape(name)}\d+", t) for t in taken)

    def free(options, numbered):
        for name in options:
            if not used(name, numbered):
                return name
        name = options[0]
        while used(name, numbered):
            name = "_" + name
        return name

    return (free(["y", "f", "out", "result"], False), free(["u", "v", "w", "t"], True),
            free(["c", "k", "const"], True))


def op_form(v) -> str:
    """How a node was computed, in the names of the table: ``u1 * c1``, ``tanh(u2)``."""
    args = [p.label or _fmt(p.data) for p in v.parents]
    op = v.op
    if op in ("+", "-", "*", "/", "**") and len(args) == 2:
        return f"{args[0]} {op} {args[1]}"
    if op.startswith("**"):  # **k: the exponent is a number, not a node
        return f"{args[0]} ** {op[2:]}"
    if op == "neg":
        return f"-{args[0]}"
    return f"{op}({', '.join(args)})"


def _expression_builder(expr, bindings):
    out, inter, const = output_names(bindings)

    def build(tg):
        counts = {inter: 0, const: 0}
        key = []  # (name, how it was computed, the part of expr it is)

        def name(v, prefix):
            counts[prefix] += 1
            v.label = f"{prefix}{counts[prefix]}"

        def label(v, text):
            for p in v.parents:  # a number in the expression becomes a constant leaf
                if not p.label and not p.parents:
                    name(p, const)
                    key.append((p.label, _fmt(p.data), "a constant"))
            name(v, inter)
            key.append((v.label, op_form(v), text))

        root, leaves = evaluate(expr, bindings, tg.Value, on_node=label)
        if root.parents:  # a computed output takes the output's name
            root.label = out
            key[-1] = (out,) + key[-1][1:]
        elif not root.label:  # the expression is a number
            root.label = out
        return root, leaves, key

    return build


def format_key(key, width=WIDTH):
    """The key to the names of an expression's table, one line per node, each
    line cut to ``width`` columns (the exact op comes first, whole)."""
    if not key:
        return []
    w1 = max(len(k[0]) for k in key)
    w2 = max(len(k[1]) for k in key)
    lines = ["key: each computed node, how it was computed, and the part of the expression it is"]
    for name, how, text in key:
        same = text.replace(" ", "") == how.replace(" ", "")
        line = f"  {name.ljust(w1)} = {how.ljust(w2)}  {'' if same else text}".rstrip()
        if len(line) > width:
            line = line[:width - 3] + "..."
        lines.append(line)
    return lines


def _fmt(x):
    return format(float(x), "g")


def _title(text, width=WIDTH):
    lines = textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False)
    return lines + ["=" * max(len(line) for line in lines)]


def explain_one(tg, title, build, draw=None, out=sys.stdout):
    """Print one example: its title, the key to its names (for an expression),
    tg.explain's table, and y with every dy/dleaf."""
    for line in _title(title):
        print(line, file=out)
    root, _, *key = build(tg)
    for line in format_key(key[0] if key else []):
        print(line, file=out)
    explain = getattr(tg, "explain", None)
    problem = None
    try:
        text = explain(root) if callable(explain) else None
    except ImportError as exc:
        text, problem = None, str(exc)
    if text is None:
        problem = problem or f"{tg.__name__}.explain is not available in this build"
        print(f"({problem}; showing the results only)", file=out)
    else:
        print(str(text).rstrip("\n"), file=out)
    # A fresh graph for the summary and the drawing, so explain's own bookkeeping
    # (whatever it does to .grad) cannot change the numbers shown here.
    root, leaves, *_ = build(tg)
    root.backward()
    print(file=out)
    print(f"{root.label or 'y'} = {_fmt(root.data)}", file=out)
    for leaf in leaves:
        print(f"d{root.label or 'y'}/d{leaf.label} = {_fmt(leaf.grad)}", file=out)
    if draw:
        viz = getattr(tg, "viz", None)
        if viz is None or not hasattr(viz, "draw"):
            raise RuntimeError(f"--draw needs {tg.__name__}.viz.draw, which is not available")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            drawing = viz.draw(root, draw)
        for w in caught:  # no dot: it wrote graph.dot instead, and says so
            print(f"tapegrad explain: {w.message}", file=sys.stderr)
        print(f"wrote {drawing.path}", file=out)
    return root, leaves


def main(args) -> int:
    try:
        tg = _backend(args.backend)
        tg.Value  # noqa: B018 - fail here, with the backend's own message, if it has no Value
    except (ImportError, AttributeError) as exc:
        print(f"tapegrad explain: the {args.backend} backend is not available: {exc}",
              file=sys.stderr)
        return 1
    try:
        if args.expression is None:
            if args.bindings:
                raise ExpressionError("bindings given without an expression")
            explain_one(tg, "Worked example 1: y = (x1 + x2) * x3 at x1=4, x2=2, x3=-5",
                        simple_example, draw=args.draw)
            print()
            explain_one(tg, "Worked example 2: u1 = x1+x2, u2 = x3*x4, u3 = u1*u2, u4 = u2**2, "
                            "y = u3*u4 at x1=-7, x2=2, x3=2, x4=-1", five_node_example,
                        draw=_second_path(args.draw))
            return 0
        bindings = parse_bindings(args.bindings)
        build = _expression_builder(args.expression, bindings)
        root, *_ = build(tg)  # validate (and report unbound names) before printing anything
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in bindings.items())
        explain_one(tg, f"{root.label} = {args.expression}" + (f" at {shown}" if shown else ""),
                    build, draw=args.draw)
        return 0
    except ExpressionError as exc:
        print(f"tapegrad explain: error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as exc:
        print(f"tapegrad explain: {exc}", file=sys.stderr)
        return 1


def _second_path(path):
    """example.svg -> example-2.svg, for the second worked example's drawing."""
    if not path:
        return None
    stem, dot, ext = path.rpartition(".")
    return f"{stem}-2.{ext}" if dot and "/" not in ext else f"{path}-2"
