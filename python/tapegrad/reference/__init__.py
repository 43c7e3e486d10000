"""tapegrad.reference: the whole tapegrad API in pure Python and NumPy.

It is the oracle the native backend is tested against, the baseline its speed
is measured against, and a readable account of backpropagation. Its public
names are those of ``tapegrad`` (docs/API.md).
"""
# Value and autograd controls
from ..gradcheck import GradcheckError, gradcheck
from ._autograd import _function_node, grad, is_grad_enabled, no_grad
from .value import Value

# Tensor
from .creation import arange, from_dlpack, manual_seed, ones, randn, tensor, zeros
from .functional import concatenate, cross_entropy, mse_loss, stack, where
from .tensor import Tensor
# the layers' kernels, which tg.nn.functional calls (tapegrad/_nn_functional_layers.py)
from .nn_ops import avg_pool2d as _avg_pool2d, batch_norm as _batch_norm, conv2d as _conv2d  # noqa: E402
from .nn_ops import dropout as _dropout, layer_norm as _layer_norm, max_pool2d as _max_pool2d  # noqa: E402
from ._threads import cache_info, empty_cache, get_num_threads, set_cache_limit, set_num_threads

# Around the core: the shared nn, optim, viz, explain, func, autograd, bound to this backend
from . import _tensor_autograd  # noqa: E402,F401 - binds Tensor.register_hook, retain_grad
from . import autograd, func, nn, optim, viz  # noqa: E402
from .explain import explain  # noqa: E402

# Saving and loading state dicts, in the format the native backend uses too
from .._serialization import bound as _bound_serialization  # noqa: E402

save, load = _bound_serialization(__import__("sys").modules[__name__])

__all__: list[str] = [
    # Value and autograd controls
    "Value",
    "no_grad",
    "is_grad_enabled",
    "grad",
    "gradcheck",
    "GradcheckError",
    # Tensor
    "Tensor",
    "tensor",
    "zeros",
    "ones",
    "randn",
    "arange",
    "manual_seed",
    "from_dlpack",
    "concatenate",
    "stack",
    "where",
    "cross_entropy",
    "mse_loss",
    "set_num_threads",
    "get_num_threads",
    "empty_cache",
    "set_cache_limit",
    "cache_info",
    # Around the core
    "nn",
    "optim",
    "viz",
    "explain",
    "autograd",
    "func",
    "save",
    "load",
]

# Importing the implementation modules bound their names here too; this namespace
# holds only the public names (``tensor`` and ``explain`` are the functions).
# The modules stay importable by full name (tapegrad.reference.value, ...).
del creation, elementwise, functional, nn_ops, tensor_ops, tensor_ops_nn, value
