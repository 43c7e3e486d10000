"""tg.func on the native backend: the shared code of ``tapegrad._func_impl`` bound to ``tapegrad``.

``tapegrad.reference.func`` binds the same functions to the reference backend.
"""
import sys as _sys

from . import _func_impl


def _set_grad_enabled(flag: bool) -> None:
    # Looked up at call time: `import tapegrad` works without the extension (tapegrad/__init__.py).
    _sys.modules[__package__]._core.set_grad_enabled(flag)


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
