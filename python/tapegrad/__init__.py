"""tapegrad: reverse-mode automatic differentiation with a C++ tape engine.

``import tapegrad as tg`` gives the native backend; ``from tapegrad import
reference as tg`` gives the pure-Python/NumPy backend with the same API
(docs/API.md).
"""
# No `from __future__ import annotations` in the public modules: it would bind the
# name `annotations` in their namespaces (tests/test_api_doc.py checks them).

__version__ = "0.1.0"


def _preload_openblas() -> None:
    """Load scipy-openblas32's library (matmul's BLAS) so that _core links against it."""
    try:
        import ctypes
        import os

        import scipy_openblas32
    except ImportError:
        return
    lib_dir = scipy_openblas32.get_lib_dir()
    for name in sorted(os.listdir(lib_dir)):
        if name.startswith(("libscipy_openblas", "scipy_openblas")) and name.endswith((".so", ".dylib", ".dll")):
            ctypes.CDLL(os.path.join(lib_dir, name), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            return


_preload_openblas()

try:
    from . import _core
except ImportError as _exc:  # pragma: no cover - only without a built extension
    _core = None
    _CORE_ERROR = _exc
else:
    _CORE_ERROR = None

__all__: list[str] = []

if _core is not None:
    # NumPy's OpenBLAS runs its threads on tapegrad's pool (Note [One BLAS pool])
    from . import _blas, _signatures

    _blas.install(_core)

    # Value and autograd controls (native)
    from ._autograd import _function_node, grad, is_grad_enabled, no_grad
    from ._core import Value
    from .gradcheck import GradcheckError, gradcheck

    _signatures.give_value_its_signature(Value)

    __all__ += ["Value", "no_grad", "is_grad_enabled", "grad", "gradcheck", "GradcheckError"]

    # Tensor (native)
    from ._core import Tensor, _embedding, concatenate, cross_entropy, maximum, minimum, mse_loss, stack, tensor, where
    # the layers' kernels, which tg.nn.functional calls (_nn_functional_layers.py)
    from ._core import _avg_pool2d, _batch_norm, _conv2d, _dropout, _layer_norm, _linear, _max_pool2d
    from ._shared import float32, float64, int64, long
    from ._tensor import (arange, cache_info, empty_cache, from_dlpack, get_num_threads, manual_seed, multinomial,
                          ones, randint, randn, set_cache_limit, set_num_threads, zeros)
    from ._tensor_methods import functions as _functions, install as _install

    _install(Tensor)  # unsqueeze, view, expand, split, masked_fill, tril, ... (shared with the reference)
    _fns = _functions(__import__("sys").modules[__name__])
    tril, triu, cat, zeros_like, ones_like, randn_like, inference_mode = (
        _fns[n] for n in ("tril", "triu", "cat", "zeros_like", "ones_like", "randn_like", "inference_mode"))
    del _fns

    __all__ += [
        "Tensor", "tensor", "zeros", "ones", "randn", "arange", "randint", "multinomial", "manual_seed",
        "from_dlpack", "float32", "float64", "int64", "long",
        "concatenate", "stack", "where", "maximum", "minimum", "tril", "triu", "cat", "zeros_like", "ones_like",
        "randn_like", "inference_mode", "cross_entropy", "mse_loss",
        "set_num_threads", "get_num_threads", "empty_cache", "set_cache_limit", "cache_info",
    ]

    # Compile: record once, replay in native code (Note [Compile])
    from ._compile_native import CompileWarning, compile

    __all__ += ["compile", "CompileWarning"]

# Around the core: nn, optim, viz, explain, func, autograd (written once for both backends, see _nn_impl)
from . import autograd, func, nn, optim, viz  # noqa: E402
from .explain import explain  # noqa: E402

__all__ += ["nn", "optim", "viz", "explain", "func", "autograd"]

# Saving and loading state dicts (both backends share the format; see _serialization.py)
from ._serialization import bound as _bound_serialization  # noqa: E402

save, load = _bound_serialization(__import__("sys").modules[__name__])
__all__ += ["save", "load"]


def __getattr__(name: str):
    # "reference" must fall through to AttributeError: `from tapegrad import reference`
    # then imports the submodule, which works without the extension.
    if _CORE_ERROR is not None and not name.startswith("__") and name != "reference":
        raise ImportError(
            f"tapegrad.{name} needs the compiled extension tapegrad._core, which failed to "
            f"import ({_CORE_ERROR}). Install a prebuilt wheel (pip install tapegrad) or build "
            "from source (pip install .); the pure-Python backend is available as "
            "tapegrad.reference."
        ) from _CORE_ERROR
    raise AttributeError(f"module 'tapegrad' has no attribute {name!r}")
