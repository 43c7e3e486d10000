"""Autograd controls of the native backend: no_grad and grad.

The grad-mode flag lives in the C++ core (thread-local, cpp/core/grad_mode.h)
and is shared by the native Value and Tensor engines.
"""
from __future__ import annotations

import contextlib

from . import _core

from ._shared import grad  # re-exported: the one backend-agnostic tg.grad

__all__ = ["no_grad", "is_grad_enabled", "grad", "_function_node"]

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


def _function_node(out, inputs, name, run):
    """A tg.autograd.Function's node on this backend (tapegrad/autograd.py makes ``run``)."""
    if isinstance(out, _core.Tensor):
        return _core._tensor_function(out, inputs, name, run)
    return _core._value_function(out, inputs, name, run)
