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
from .._shared import float32, float64, int64, long
from .creation import arange, from_dlpack, manual_seed, multinomial, ones, randint, randn, tensor, zeros
from .functional import concatenate, cross_entropy, maximum, minimum, mse_loss, stack, where
from .tensor import Tensor
# the layers' kernels, which tg.nn.functional calls (tapegrad/_nn_functional_layers.py)
from .nn_ops import avg_pool2d as _avg_pool2d, batch_norm as _batch_norm, conv2d as _conv2d  # noqa: E402
from .nn_ops import dropout as _dropout, layer_norm as _layer_norm, max_pool2d as _max_pool2d  # noqa: E402
from .nn_ops import linear as _linear  # noqa: E402
from ._tensor_int import embedding as _embedding  # binds argmax, gather, long... too
from . import _tensor_convert  # noqa: E402,F401 - binds Tensor.numpy, item, tolist, __bool__, ...
from ._threads import cache_info, empty_cache, get_num_threads, set_cache_limit, set_num_threads
from . import _tensor_nn  # noqa: E402,F401 - binds Tensor.gelu, var, clone, ... (the Tensor-only rows)
from .._tensor_methods import functions as _functions, install as _install  # noqa: E402

_install(Tensor)  # unsqueeze, view, expand, split, masked_fill, tril, ... (shared with the native backend)
_fns = _functions(__import__("sys").modules[__name__])
tril, triu, cat, zeros_like, ones_like, randn_like, inference_mode = (
    _fns[n] for n in ("tril", "triu", "cat", "zeros_like", "ones_like", "randn_like", "inference_mode"))

# Compile: record once, replay (here with a plain Python loop: the oracle)
from ._compile_ref import CompileWarning, compile  # noqa: E402

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
    "randint",
    "multinomial",
    "manual_seed",
    "from_dlpack",
    "float32",
    "float64",
    "int64",
    "long",
    "concatenate",
    "stack",
    "where",
    "maximum",
    "minimum",
    "tril",
    "triu",
    "cat",
    "zeros_like",
    "ones_like",
    "randn_like",
    "inference_mode",
    "cross_entropy",
    "mse_loss",
    "set_num_threads",
    "get_num_threads",
    "empty_cache",
    "set_cache_limit",
    "cache_info",
    # Compile
    "compile",
    "CompileWarning",
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
del creation, elementwise, elementwise_nn, functional, index_ops, nn_ops, tensor_ops, tensor_ops_layers
del tensor_ops_nn, value, _fns
