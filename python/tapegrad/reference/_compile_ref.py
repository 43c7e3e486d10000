"""tg.compile on the reference backend: the driver of ``tapegrad/_compile.py``
bound to the Python tracer and tape (``_trace.py``, ``_tape.py``)."""
from __future__ import annotations

from .._compile import CompileWarning, build
from .._compile_args import flatten as _flatten
from . import _trace
from ._autograd import is_grad_enabled
from .creation import generator
from .tensor import Tensor
from .value import Value

__all__ = ["compile", "CompileWarning"]


def _node_kind(x):
    if isinstance(x, Value):
        return "V"
    if isinstance(x, Tensor):
        return "T"
    return None


class _Adapter:
    """What the driver needs of the reference backend."""

    Trace = _trace.Tracer
    node_kind = staticmethod(_node_kind)

    @staticmethod
    def flatten(args, kwargs):
        key, leaves = _flatten(args, kwargs, _node_kind, Value)
        return (is_grad_enabled(), key), leaves

    @staticmethod
    def rng_state():
        return generator().bit_generator.state

    @staticmethod
    def set_rng_state(s) -> None:
        generator().bit_generator.state = s


ADAPTER = _Adapter
compile = build(ADAPTER)
