"""tg.func on the reference backend: the shared code of ``tapegrad._func_impl`` bound to
``tapegrad.reference`` (no copy of it, and no use of ``tapegrad._core``).

``tapegrad.func`` binds the same functions to the native backend.
"""
import sys as _sys

from .. import _func_impl
from . import _autograd


def _set_grad_enabled(flag: bool) -> None:
    _autograd._mode.enabled = flag  # the thread-local flag that no_grad() sets


_ns = _func_impl.build(_sys.modules[__package__], __name__, _set_grad_enabled)
grad = _ns["grad"]
value_and_grad = _ns["value_and_grad"]
vjp = _ns["vjp"]
jvp = _ns["jvp"]
hvp = _ns["hvp"]
jacobian = _ns["jacobian"]
hessian = _ns["hessian"]
del _ns

__all__ = list(_func_impl.__all__)
