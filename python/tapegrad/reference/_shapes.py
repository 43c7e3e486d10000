"""Shapes: NumPy's broadcasting, its reverse (``sum_to``), and dim arguments."""
from __future__ import annotations

import math

import numpy as np

# one dim argument, checked in the native core's words (shared with tapegrad/_tensor_methods.py)
from .._shared import dim_in_range as _in_range, is_int as _is_int, one_dim

__all__ = ["broadcast_shape", "broadcasts_to", "sum_to", "normalize_dims", "one_dim", "softmax_axis", "reshape_target",
           "permute_axes"]


def broadcast_shape(*shapes: tuple, op: str = "") -> tuple:
    """NumPy's broadcast of ``shapes``; ValueError naming them (and the op) when they clash."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        where = f"{op}: " if op else ""
        raise ValueError(f"{where}shapes {listed} do not broadcast") from None


def broadcasts_to(shape: tuple, to: tuple) -> bool:
    """Whether ``shape`` broadcasts to exactly ``to`` (so ``sum_to(g, shape)`` is defined for a ``g`` of ``to``)."""
    lead = len(to) - len(shape)
    return lead >= 0 and all(d in (1, t) for d, t in zip(shape, to[lead:]))


def sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched, down to ``shape``.

    This reverses ``np.broadcast_to(x, g.shape)``: leading axes that ``shape``
    lacks are summed away, and axes where ``shape`` has size 1 are summed with
    keepdims.
    """
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def softmax_axis(dim, ndim: int):
    """softmax's ``dim`` as NumPy's axis; None for a 0-d tensor (one value), which takes dim 0 and -1."""
    axis = one_dim(dim, ndim)
    return axis if ndim else None


def normalize_dims(dim, ndim: int) -> tuple:
    """``dim`` (None, an int or a tuple/list of ints) as a sorted tuple of axes in range."""
    if dim is None:
        return tuple(range(ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    out = []
    for d in dims:
        if not _is_int(d):
            raise TypeError(f"dim must be an int or a tuple of ints, got {type(d).__name__}")
        out.append(_in_range(d, ndim))
    if len(set(out)) != len(out):
        raise ValueError(f"dim {tuple(int(d) for d in dims)} repeats a dimension")
    # a 0-d tensor accepts dim 0 / -1 (as PyTorch does) and has nothing to reduce
    return tuple(sorted(out)) if ndim else ()


def reshape_target(shape: tuple, from_shape: tuple) -> tuple:
    """The shape that ``reshape(*shape)`` of a tensor of ``from_shape`` gives (one size may be -1)."""
    for n in shape:
        if not _is_int(n):
            raise TypeError(f"reshape: shape {shape} must hold ints, got {type(n).__name__}")
    shape, size = tuple(int(n) for n in shape), math.prod(from_shape)
    if sum(n == -1 for n in shape) > 1 or any(n < -1 for n in shape):
        raise ValueError(f"reshape: bad shape {shape} (sizes >= 0, at most one -1)")
    known = math.prod(n for n in shape if n != -1)  # Python ints: a size beyond int64 simply does not match
    if (known != size) if -1 not in shape else (known == 0 or size % known):
        raise ValueError(f"cannot reshape a tensor of shape {tuple(from_shape)} ({size} elements) into shape {shape}")
    return tuple(size // known if n == -1 else n for n in shape)


def permute_axes(dims: tuple, ndim: int) -> tuple:
    """``permute(*dims)`` of a tensor with ``ndim`` dimensions as axes (the core's checks, in its order)."""
    for d in dims:
        if not _is_int(d):
            raise TypeError(f"permute: dims {dims} must hold ints, got {type(d).__name__}")
    dims = tuple(int(d) for d in dims)
    if len(dims) != ndim:
        raise ValueError(f"permute: dims {dims} given for a tensor with {ndim} dimensions")
    axes = tuple(one_dim(d, ndim) for d in dims)
    if sorted(axes) != list(range(ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {ndim} dimensions")
    return axes
