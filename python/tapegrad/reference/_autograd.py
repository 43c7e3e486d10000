"""The autograd machinery shared by the reference Value and Tensor.

Note [Topological order]: backward() visits a node only after every node
that consumes it, so that its gradient is the complete sum over all paths
before it is passed on. The textbook writes this as a recursive depth-first
search::

    def build(v):
        if v not in seen:
            seen.add(v)
            for p in v.parents:
                build(p)
            order.append(v)

Recursion depth equals graph depth, so a 10**6-node chain would exceed
Python's recursion limit. ``topo_order`` runs the same post-order search with
an explicit stack: the path from the root to the node being expanded, and
beside it, for each node on the path, how many of its parents are done.
(Two flat lists rather than a stack of (node, iterator) pairs: allocating a
pair per node makes the garbage collector rescan the growing stack, which
tripled the time of a 10**6-node sort.) Nodes are set keys: Value and
Tensor hash by identity (docs/DESIGN.md Note [Dtypes]).

The native engine reaches the same sums another way (cpp/core/graph.h, Note
[Backward pass]): nodes that only one edge uses pass their gradient on at
once, and the others wait, by dependency counting, for all their consumers.
"""
from __future__ import annotations

import contextlib
import threading

from .._shared import grad  # re-exported: the one backend-agnostic tg.grad

__all__ = ["topo_order", "no_grad", "is_grad_enabled", "grad"]


def topo_order(root) -> list:
    """Every node reachable from ``root`` (through ``._parents``), parents first."""
    order = []
    seen = {root}
    path = [root]  # the nodes being expanded, root first
    done = [0]     # done[k]: how many parents of path[k] have been looked at
    while path:
        node, parents, i = path[-1], path[-1]._parents, done[-1]
        while i < len(parents):
            parent = parents[i]
            i += 1
            if parent not in seen:  # descend; come back to parents[i] later
                seen.add(parent)
                done[-1] = i
                path.append(parent)
                done.append(0)
                break
        else:  # every parent is in order: the node follows them
            order.append(node)
            path.pop()
            done.pop()
    return order


class _GradMode(threading.local):
    enabled = True
    anomaly = False  # tg.autograd.detect_anomaly(): backward checks for NaN
    recording_backward = False  # a recorded backward pass runs: its nodes are marked


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """False inside ``no_grad()``: operations then record no graph."""
    return _mode.enabled


@contextlib.contextmanager
def no_grad():
    """Context manager (also usable as a decorator) that records nothing."""
    previous = _mode.enabled
    _mode.enabled = False
    try:
        yield
    finally:
        _mode.enabled = previous


def is_recording_backward() -> bool:
    return _mode.recording_backward


@contextlib.contextmanager
def recording_backward():
    """Marks the nodes made meanwhile as made by a recorded backward pass (tg.viz draws them so)."""
    previous = _mode.recording_backward
    _mode.recording_backward = True
    try:
        yield
    finally:
        _mode.recording_backward = previous


def is_anomaly_enabled() -> bool:
    """True inside ``tg.autograd.detect_anomaly()`` (per thread)."""
    return _mode.anomaly


def set_anomaly_enabled(enabled: bool) -> None:
    _mode.anomaly = bool(enabled)


def anomaly(op: str, label: str, i: int) -> RuntimeError:
    """The error of detect_anomaly, in the native engine's words."""
    where = f" ({label})" if label else ""
    return RuntimeError(f"detect_anomaly: the backward of op '{op}'{where} produced nan values in the gradient "
                        f"of its input {i}")


def _function_node(out, inputs, name, run):
    """A tg.autograd.Function's node on this backend (tapegrad/autograd.py makes ``run``)."""
    from ._tensor_autograd import function_node
    from .tensor import Tensor
    from .value import Value, function_value

    if isinstance(out, Tensor):
        return function_node(out, inputs, name, run)
    assert isinstance(out, Value)
    return function_value(out, inputs, name, run)
