"""A safe arithmetic-expression evaluator for ``tapegrad explain``.

The command line text is parsed with :mod:`ast` and walked against a whitelist:
numbers, names bound on the command line, ``+ - * / **``, unary ``-`` and ``+``,
and calls of a fixed set of functions. Anything else (attribute access,
subscripts, lambdas, comprehensions, keyword arguments, strings, ...) is
rejected before any of it is evaluated; ``eval`` is never used.
"""
from __future__ import annotations

import ast
import re

__all__ = ["ExpressionError", "FUNCTIONS", "parse_bindings", "evaluate"]

FUNCTIONS = ("relu", "tanh", "sigmoid", "exp", "log", "sqrt", "sin", "cos", "abs")
MAX_LENGTH = 1000
MAX_DEPTH = 100  # nesting depth; a command-line expression never needs more

_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a ** b,
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# What a rejected node is called in the error message.
_DESCRIBE = {
    ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "lambda",
    ast.ListComp: "comprehension", ast.GeneratorExp: "generator", ast.Compare: "comparison",
    ast.BoolOp: "and/or", ast.IfExp: "conditional expression", ast.List: "list",
    ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set", ast.JoinedStr: "f-string",
    ast.Starred: "unpacking", ast.NamedExpr: "assignment",
}


class ExpressionError(ValueError):
    """The expression or a binding is not allowed or not understood; the message says which."""


def parse_bindings(items):
    """``["a=4", "b=-2.5"]`` -> ``{"a": 4.0, "b": -2.5}``."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ExpressionError(f"binding {item!r} is not of the form NAME=VALUE")
        if not _NAME.match(name):
            raise ExpressionError(f"{name!r} is not a valid variable name")
        if name in FUNCTIONS:
            raise ExpressionError(f"{name!r} is a function name and cannot be bound to a value")
        try:
            out[name] = float(value)
        except ValueError:
            raise ExpressionError(f"value of {name} is not a number: {value!r}") from None
    return out


def _describe(node):
    for cls, text in _DESCRIBE.items():
        if isinstance(node, cls):
            return text
    if isinstance(node, ast.Constant):
        return f"constant {node.value!r}"
    return type(node).__name__


def check(expr: str, bound) -> ast.Expression:
    """Parse and validate ``expr``; returns the tree or raises :class:`ExpressionError`."""
    if len(expr) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {expr!r}: {exc.msg}") from None
    stack = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ExpressionError(f"only real numbers are allowed, not {node.value!r}")
        elif isinstance(node, ast.Name):
            if node.id not in bound:
                hint = (f"{node.id} is a function; call it as {node.id}(x)"
                        if node.id in FUNCTIONS else
                        f"give it a value on the command line, e.g. {node.id}=1.0")
                raise ExpressionError(f"name {node.id!r} is not bound ({hint})")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                raise ExpressionError(f"operator {type(node.op).__name__} is not allowed "
                                      "(only + - * / **)")
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise ExpressionError(f"unary {type(node.op).__name__} is not allowed "
                                      "(only - and +)")
            stack.append((node.operand, depth + 1))
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                what = node.func.id if isinstance(node.func, ast.Name) else _describe(node.func)
                raise ExpressionError(f"call of {what} is not allowed (allowed functions: "
                                      f"{', '.join(FUNCTIONS)})")
            if node.keywords or len(node.args) != 1:
                raise ExpressionError(f"{node.func.id}() takes exactly one positional argument")
            stack.append((node.args[0], depth + 1))
        else:
            raise ExpressionError(f"{_describe(node)} is not allowed in an expression")
    return tree


def evaluate(expr: str, bindings, Value, on_node=None):
    """Build ``expr`` as a graph of ``Value`` nodes.

    ``bindings`` maps names to floats; each bound name becomes one leaf
    ``Value(x, label=name)`` (shared by every use of the name). ``on_node(v, text)``
    is called on each intermediate node in evaluation order, with ``text`` the
    part of ``expr`` that it computes (the CLI labels them u1, u2, ... and
    prints that key). Returns ``(root, leaves)`` with ``leaves`` in binding
    order; raises :class:`ExpressionError` for anything outside the whitelist.
    """
    tree = check(expr, bindings)
    source = expr.strip()  # what check() parsed: the nodes' offsets refer to it
    leaves = {name: Value(x, label=name) for name, x in bindings.items()}

    def as_value(x):
        return x if isinstance(x, Value) else Value(float(x))

    def node_out(v, node):
        if on_node is not None and isinstance(v, Value):
            on_node(v, ast.get_source_segment(source, node) or "")
        return v

    # Recursion over the (validated, depth-limited) syntax tree, not over a graph.
    def ev(node):
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return leaves[node.id]
        if isinstance(node, ast.UnaryOp):
            x = ev(node.operand)
            return x if isinstance(node.op, ast.UAdd) else node_out(-as_value(x), node)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if not isinstance(a, Value) and not isinstance(b, Value):
                a = as_value(a)  # number op number: still a graph node, IEEE semantics
            return node_out(_BINOPS[type(node.op)](a, b), node)
        x = as_value(ev(node.args[0]))  # ast.Call, validated above
        name = node.func.id
        return node_out(abs(x) if name == "abs" else getattr(x, name)(), node)

    root = ev(tree.body)
    if not isinstance(root, Value):
        root = Value(root)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return root, [leaves[n] for n in bindings if n in used]

