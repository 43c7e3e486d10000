"""``tapegrad explain``: the backward pass step by step (tg.explain), for the two
worked examples or for an expression given on the command line."""
from __future__ import annotations

import importlib
import sys
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


def _expression_builder(expr, bindings):
    def build(tg):
        count = [0]

        def label(v):
            count[0] += 1
            v.label = f"u{count[0]}"

        root, leaves = evaluate(expr, bindings, tg.Value, on_node=label)
        root.label = "y"
        return root, leaves

    return build


def _fmt(x):
    return format(float(x), "g")


def explain_one(tg, title, build, draw=None, out=sys.stdout):
    """Print one example: its title, tg.explain's table, and y with every dy/dleaf."""
    print(title, file=out)
    print("=" * len(title), file=out)
    root, _ = build(tg)
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
    root, leaves = build(tg)
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
        build(tg)  # validate (and report unbound names) before printing anything
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in bindings.items())
        explain_one(tg, f"y = {args.expression}" + (f" at {shown}" if shown else ""), build,
                    draw=args.draw)
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
