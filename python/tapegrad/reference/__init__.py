"""tapegrad.reference: the whole tapegrad API in pure Python and NumPy.

It is the oracle the native backend is tested against, the baseline its speed
is measured against, and a readable account of backpropagation.
"""
from __future__ import annotations

# Value and autograd controls
from ..gradcheck import GradcheckError, gradcheck
from ._autograd import grad, is_grad_enabled, no_grad
from .value import Value

__all__: list[str] = [
    # Value and autograd controls
    "Value",
    "no_grad",
    "is_grad_enabled",
    "grad",
    "gradcheck",
    "GradcheckError",
]
