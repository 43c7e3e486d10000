"""tg.nn on the reference backend: the shared code of ``tapegrad._nn_impl`` bound to
``tapegrad.reference`` (no copy of it, and no use of ``tapegrad._core``).

``tapegrad.nn`` binds the same classes to the native backend.
"""
from __future__ import annotations

import sys

from .. import _nn_impl
from .. import nn_functional as functional

_ns = _nn_impl.build(sys.modules[__package__], __name__)
Module = _ns["Module"]
Neuron = _ns["Neuron"]
Layer = _ns["Layer"]
MLP = _ns["MLP"]
Linear = _ns["Linear"]
ReLU = _ns["ReLU"]
Tanh = _ns["Tanh"]
Sigmoid = _ns["Sigmoid"]
Sequential = _ns["Sequential"]
del _ns

# `import tapegrad.nn.functional as F` works as in PyTorch.
sys.modules[__name__ + ".functional"] = functional

__all__ = [*_nn_impl.__all__, "functional"]
