"""tg.compile on the reference backend: the driver of ``tapegrad/_compile.py``
bound to the Python tracer and tape (``_trace.py``, ``_tape.py``)."""
from __future__ import annotations

from .._compile import Adapter, CompileWarning, build
from . import _trace
from ._autograd import is_grad_enabled
from .creation import generator
from .tensor import Tensor
from .value import Value

__all__ = ["compile", "CompileWarning"]

ADAPTER = Adapter(_trace.Tracer, Value, Tensor, is_grad_enabled, generator)
compile = build(ADAPTER)
