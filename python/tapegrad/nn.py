"""tg.nn on the native backend: the shared code of ``tapegrad._nn_impl`` bound to ``tapegrad``.

``tapegrad.reference.nn`` binds the same classes to the reference backend.
"""
import sys as _sys

from . import _nn_impl
from . import _nn_functional as functional

_ns = _nn_impl.build(_sys.modules[__package__], __name__)
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
_sys.modules[__name__ + ".functional"] = functional

__all__ = [*_nn_impl.__all__, "functional"]
