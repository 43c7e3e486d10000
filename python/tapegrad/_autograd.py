"""Autograd controls of the native backend: no_grad and grad.

The grad-mode flag lives in the C++ core (thread-local, cpp/core/grad_mode.h)
and is shared by the native Value and Tensor engines.
"""
from __future__ import annotations

import contextlib

from . import _core

__all__ = ["no_grad", "is_grad_enabled", "grad"]

is_grad_enabled = _core.is_grad_enabled


@contextlib.contextmanager
def no_grad():
    """Context manager (also usable as a decorator) that records nothing."""
    previous = _core.is_grad_enabled()
    _core.set_grad_enabled(False)
    try:
        yield
    finally:
        _core.set_grad_enabled(previous)


def grad(output, inputs, gradient=None, retain_graph=False):
    """d output / d input for each input, without touching any ``.grad``.

    ``inputs`` may be one node or a sequence of nodes; the result has the same
    form. An input that ``output`` does not depend on gets a zero gradient.
    """
    single = not isinstance(inputs, (list, tuple))
    nodes = [inputs] if single else list(inputs)
    grads = output._gradients(nodes, gradient=gradient, retain_graph=retain_graph)
    return grads[0] if single else tuple(grads)
