"""Backend-agnostic pieces that both backends export: no ``_core``, no backend state.

``tapegrad`` and ``tapegrad.reference`` each bind these to themselves, so the
code exists once.
"""
from __future__ import annotations

import math
import os
import warnings

import numpy as np

from ._compile_numbers import state as _compile_state

__all__ = ["grad", "RandomState", "arange_args", "num_threads_arg", "warn_inexact_integers", "check_shape",
           "shape_args", "cache_limit_arg", "tensor_dtype", "float32", "float64", "int64", "long",
           "requires_grad_arg", "no_setter", "no_deleter", "named", "argument_error", "is_int", "dim_in_range", "one_dim"]


def grad(output, inputs, gradient=None, retain_graph=None, create_graph=False):
    """d output / d input for each input, without touching any ``.grad``.

    ``inputs`` may be one node or a sequence of nodes; the result has the same
    form. An input that ``output`` does not depend on gets a zero gradient.
    With ``create_graph`` the backward pass records its own operations, so the
    gradients (Values or Tensors) can be differentiated again, to any order;
    ``retain_graph`` defaults to ``create_graph``, as in PyTorch.
    """
    if not hasattr(output, "_gradients"):  # a Value or Tensor of either backend has it
        raise TypeError(f"grad() needs a tapegrad Value or Tensor as output, got {type(output).__name__}")
    single = not isinstance(inputs, (list, tuple))
    nodes = [inputs] if single else list(inputs)
    grads = output._gradients(nodes, gradient=gradient, retain_graph=retain_graph, create_graph=create_graph)
    return grads[0] if single else tuple(grads)


class RandomState:
    """A backend's random stream (Note [Random numbers]): NumPy's ``default_rng``,
    so that the same seed gives the same numbers on both backends."""

    def __init__(self) -> None:
        self._generator = np.random.default_rng()
        self._recorded = 0  # > 0: a draw that tg.compile records as a draw of its tape runs

    def generator(self) -> np.random.Generator:
        """The generator that unseeded random draws use (reseeded by ``manual_seed``)."""
        if _compile_state.trace is not None and not self._recorded:
            # A draw no tape instruction repeats would be a constant of the tape: the
            # trace is marked, and the function runs eagerly (never silently wrong).
            _compile_state.trace.unsupported("a random draw other than tg.randn (it would not draw afresh)")
        return self._generator

    def recorded_draw(self):
        """Context for a draw that the caller records in the running trace (tg.randn)."""
        return _RecordedDraw(self)

    def manual_seed(self, seed: int) -> None:
        """Reseed the generator: later draws repeat on both backends."""
        if _compile_state.trace is not None:  # a replay would not reseed: fn runs eagerly
            _compile_state.trace.unsupported("tg.manual_seed inside the function (a replay would not reseed)")
        self._generator = np.random.default_rng(seed)

    def rng(self, seed=None) -> np.random.Generator:
        """The generator for one draw: a fresh one for an explicit ``seed``, else the stream."""
        return self.generator() if seed is None else np.random.default_rng(seed)


class _RecordedDraw:
    def __init__(self, state: RandomState) -> None:
        self._state = state

    def __enter__(self) -> None:
        self._state._recorded += 1

    def __exit__(self, *exc) -> None:
        self._state._recorded -= 1


def arange_args(start, stop=None, step=1):
    """``(start, stop, step, n)`` of ``arange(n)`` or ``arange(start, stop, step)``,
    checked as NumPy would; ``n`` is the number of elements."""
    if stop is None:
        start, stop = 0, start
    for v in (start, stop, step):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise TypeError(f"arange() takes numbers, got {type(v).__name__}")
    if step == 0:
        raise ValueError("arange() step must not be zero")
    return start, stop, step, max(int(np.ceil((stop - start) / step)), 0)


def num_threads_arg(n) -> int:
    """``n`` for ``set_num_threads(n)``: an int of at least 1, capped at 2**31 - 1.

    Both backends' BLAS libraries cap the count at the threads they were
    built for; the C int they take in between must not overflow first.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads() takes an int, not {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads() needs at least 1 thread, got {n}")
    return min(int(n), 2**31 - 1)


_FLOAT32, _FLOAT64, _INT64 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64)

# The dtypes, by the names PyTorch code uses (tg.float32, tg.long...): NumPy's.
float32, float64, int64, long = np.float32, np.float64, np.int64, np.int64


def tensor_dtype(dtype) -> np.dtype:
    """``dtype`` as one of the three dtypes a Tensor holds (float16 widens to float32); Note [Dtypes]."""
    dt = np.dtype(dtype)
    if dt == np.float16:
        return _FLOAT32
    if dt not in (_FLOAT32, _FLOAT64, _INT64):
        raise TypeError(f"tapegrad tensors hold float32, float64 or int64, not {dt}")
    return dt


def requires_grad_arg(flag) -> bool:
    """``requires_grad`` as given to a Tensor: a bool (or NumPy bool), else a TypeError."""
    if not isinstance(flag, (bool, np.bool_)):
        raise TypeError(f"requires_grad must be a bool, not {type(flag).__name__}")
    return bool(flag)


def no_setter(name: str):
    """The setter of a read-only attribute: the words of Python 3.11+'s property, on every version
    (the native Value's attributes say the same, cpp/bindings/value_type.cpp)."""

    def fset(self, value):
        raise AttributeError(f"property {name!r} of {type(self).__name__!r} object has no setter")

    return fset


def no_deleter(name: str):
    """The deleter of an attribute that cannot be deleted (see ``no_setter``)."""

    def fdel(self):
        raise AttributeError(f"property {name!r} of {type(self).__name__!r} object has no deleter")

    return fdel


def cache_limit_arg(nbytes) -> int:
    """``nbytes`` for ``set_cache_limit(nbytes)``: an int of at least 0."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)):
        raise TypeError(f"set_cache_limit() takes an int (bytes), not {type(nbytes).__name__}")
    if nbytes < 0:
        raise ValueError(f"set_cache_limit() needs a number of bytes >= 0, got {nbytes}")
    return min(int(nbytes), 2**63 - 1)


def warn_inexact_integers(arr: np.ndarray, dtype) -> None:
    """Warn when integer data ``arr`` holds values that ``dtype`` cannot represent exactly.

    Integer data becomes floating point by the contract (float32 unless a
    dtype is given); float32 holds integers exactly only up to 2**24 in
    magnitude (float64: 2**53), so 2**31 + 1 would silently become 2**31.
    Both backends call this once per conversion of integer input.
    """
    if arr.dtype.kind not in "iu" or arr.size == 0:
        return
    with np.errstate(invalid="ignore", over="ignore"):  # out-of-range casts back are inexact anyway
        back = arr.astype(dtype).astype(arr.dtype)
    bad = back != arr
    if bad.any():
        first = arr[bad].flat[0]
        warnings.warn(
            f"integer data holds values that {np.dtype(dtype)} cannot represent exactly "
            f"({first} becomes {float(np.asarray(first).astype(dtype))!r}); "
            "pass dtype=float64 (exact up to 2**53) to keep more of them",
            UserWarning,
            stacklevel=3,
        )


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
        return 2**62


_MEMORY_LIMIT = _physical_memory()


def check_shape(shape, dtype=np.float32) -> tuple:
    """Validate a requested shape before allocating (errors per docs/API.md)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    shape = tuple(shape)
    for n in shape:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"shape {shape} must hold ints, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"negative dimensions are not allowed: shape {shape}")
    shape = tuple(int(n) for n in shape)
    itemsize = np.dtype(dtype).itemsize
    if 0 in shape and math.prod(n for n in shape if n) * itemsize >= 2**63:
        # no elements, but the byte strides (products of the other sizes) must fit 64 bits
        raise ValueError(f"tensor is too big: shape {shape} of {np.dtype(dtype)} overflows 64-bit sizes")
    nbytes = math.prod(shape) * itemsize
    if nbytes > _MEMORY_LIMIT:
        article = "an" if np.dtype(dtype) == _INT64 else "a"
        raise MemoryError(
            f"{article} {np.dtype(dtype)} tensor of shape {shape} needs {nbytes} bytes, "
            "more than this machine's memory"
        )
    return shape


def is_int(d) -> bool:
    """An int (or NumPy integer), not a bool: what a dim or a size must be."""
    return isinstance(d, (int, np.integer)) and not isinstance(d, bool)


def dim_in_range(d, ndim: int) -> int:
    """``d`` as an axis of a tensor with ``ndim`` dimensions (a 0-d tensor takes 0 and -1, as PyTorch);
    the native core's words (normalize_dim) otherwise."""
    n = max(ndim, 1)
    if not -n <= d < n:
        raise ValueError(f"dim {int(d)} is out of range for a tensor with {ndim} dimensions")
    return int(d) % n


def one_dim(dim, ndim: int) -> int:
    """One ``dim`` argument (transpose, softmax, concatenate, stack, ...): an int in range."""
    if not is_int(dim):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    return dim_in_range(dim, ndim)


def shape_args(shape: tuple) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


# ----------------------------------------------------------------------------
# Argument errors (Note [Signatures] in cpp/bindings/signature.h)


def named(fn, qualname: str):
    """``fn`` renamed ``qualname`` ("Tensor.relu") wherever Python reads its name.

    That includes its code object, whose name older Pythons quote in argument
    errors ("relu() takes 1 positional argument but 2 were given").
    """
    name = qualname.rpartition(".")[2]
    fn.__name__, fn.__qualname__ = name, qualname
    code = fn.__code__.replace(co_name=name)
    if hasattr(code, "co_qualname"):  # Python 3.11+
        code = code.replace(co_qualname=qualname)
    fn.__code__ = code
    return fn


_SIGNATURES: dict = {}


def argument_error(qualname: str, params: str, args: tuple, kwargs: dict):
    """Raise the TypeError Python raises for calling a def ``qualname(params)`` with these arguments.

    The native backend calls this when a call does not bind to a native
    callable's signature, so that both backends say, word for word, what
    Python says for the reference's functions ("Tensor.backward() got an
    unexpected keyword argument 'foo'"), on every Python version.
    """
    fn = _SIGNATURES.get((qualname, params))
    if fn is None:
        name = qualname.rpartition(".")[2]
        scope: dict = {}
        exec(f"def {name}({params.replace('$', '')}):\n    pass", scope)  # noqa: S102 - our own signature text
        fn = _SIGNATURES[qualname, params] = named(scope[name], qualname)
    fn(*args, **kwargs)
    raise TypeError(f"{qualname}() cannot take the arguments {args!r}, {kwargs!r}")
