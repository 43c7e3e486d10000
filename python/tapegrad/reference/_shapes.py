"""Shapes: NumPy's broadcasting, its reverse (``sum_to``), and dim arguments."""
from __future__ import annotations

import numpy as np

__all__ = ["broadcast_shape", "broadcasts_to", "sum_to", "normalize_dims"]


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


def normalize_dims(dim, ndim: int) -> tuple:
    """``dim`` (None, an int or a tuple of ints) as a sorted tuple of axes in range."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise TypeError(f"dim must be an int or a tuple of ints, got {type(d).__name__}")
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise ValueError(f"dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(int(d) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"dim {dim} repeats a dimension")
    # a 0-d tensor accepts dim 0 / -1 (as PyTorch does) and has nothing to reduce
    return tuple(sorted(out)) if ndim else ()
