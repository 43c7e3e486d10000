"""tg.nn on the native backend: the shared code of ``tapegrad._nn_impl`` (and ``_nn_layers``,
``_nn_containers``) bound to ``tapegrad``.

``tapegrad.reference.nn`` binds the same classes to the reference backend.
"""
import sys as _sys

from . import _nn_impl
from . import _nn_functional as functional
from . import _nn_init as init
from . import _nn_utils as utils

_ns = _nn_impl.build(_sys.modules[__package__], __name__)
globals().update(_ns)
del _ns

# `import tapegrad.nn.functional as F` (and nn.init, nn.utils) work as in PyTorch.
_sys.modules[__name__ + ".functional"] = functional
_sys.modules[__name__ + ".init"] = init
_sys.modules[__name__ + ".utils"] = utils

__all__ = [*_nn_impl.public_names(), "functional", "init", "utils"]
