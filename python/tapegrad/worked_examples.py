"""The two worked examples of backpropagation, built on any backend.

``simple(tg)``: ``y = (x1 + x2) * x3`` at x1 = 4, x2 = 2, x3 = -5, so that
u = 6, y = -30 and dy/du = -5, dy/dx3 = 6, dy/dx1 = dy/dx2 = -5.

``five_node(tg)``: ``u1 = x1 + x2, u2 = x3 * x4, u3 = u1 * u2, u4 = u2 ** 2,
y = u3 * u4`` at (x1, x2, x3, x4) = (-7, 2, 2, -1): u1 = -5, u2 = -2, u3 = 10,
u4 = 4, y = 40. u2 feeds both u3 and u4, so its gradient is the sum over
the two paths: dy/du2 = -20 (via u3) + -40 (via u4) = -60; then dy/dx3 = 60,
dy/dx4 = -120, dy/dx1 = dy/dx2 = -8.

Each returns ``(y, nodes)`` with ``nodes`` a dict from label to Value;
every node carries its label, as in the figures.
"""
from __future__ import annotations

__all__ = ["simple", "five_node"]


def _labelled(value, label: str):
    value.label = label
    return value


def simple(tg):
    x1, x2, x3 = (tg.Value(v, label=name) for v, name in ((4.0, "x1"), (2.0, "x2"), (-5.0, "x3")))
    u = _labelled(x1 + x2, "u")
    y = _labelled(u * x3, "y")
    return y, {"x1": x1, "x2": x2, "x3": x3, "u": u, "y": y}


def five_node(tg):
    x1, x2, x3, x4 = (
        tg.Value(v, label=name) for v, name in ((-7.0, "x1"), (2.0, "x2"), (2.0, "x3"), (-1.0, "x4"))
    )
    u1 = _labelled(x1 + x2, "u1")
    u2 = _labelled(x3 * x4, "u2")
    u3 = _labelled(u1 * u2, "u3")
    u4 = _labelled(u2 ** 2, "u4")
    y = _labelled(u3 * u4, "y")
    return y, {"x1": x1, "x2": x2, "x3": x3, "x4": x4, "u1": u1, "u2": u2, "u3": u3, "u4": u4, "y": y}
