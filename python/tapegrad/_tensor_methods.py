"""PyTorch's Tensor conveniences, written once for both backends.

Each method here is a composition of ops of the table, so both backends
record the same nodes and raise the same words:

* views: ``unsqueeze``, ``squeeze``, ``view`` and ``flatten`` make a
  ``reshape`` node, ``expand`` an ``expand`` node, ``split`` and ``chunk``
  one ``getitem`` (a view) per part;
* selections: ``masked_fill``, ``tril`` and ``triu`` make a ``where`` node;
* habits: ``contiguous`` (a tensor's memory layout is the library's
  business: it returns the tensor itself), ``requires_grad_``, ``amax`` and
  ``amin`` (the values of ``max`` and ``min``).

``install(Tensor)`` puts the methods on a backend's Tensor class;
``functions(backend)`` gives the module-level names (``tril``, ``triu``,
``cat``, ``zeros_like``, ``ones_like``, ``randn_like``, ``inference_mode``).
"""
from __future__ import annotations

import math

import numpy as np

from . import _params
from ._shared import check_shape, is_int, named, one_dim, shape_args

__all__ = ["install", "functions"]


# ----------------------------------------------------------------------------
# Views


def unsqueeze(self, dim):
    """A new dimension of size 1 at ``dim`` (-ndim-1 <= dim <= ndim); a ``reshape`` node."""
    if not is_int(dim):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    n = self.ndim + 1
    if not -n <= dim < n:
        raise ValueError(f"unsqueeze: dim {int(dim)} is out of range for a tensor with {self.ndim} dimensions "
                         f"(a new dim goes at {-n} to {n - 1})")
    d = int(dim) % n
    return self.reshape(self.shape[:d] + (1,) + self.shape[d:])


def squeeze(self, dim=None):
    """The dimensions of size 1 removed: all of them, or those among ``dim`` (an int or a tuple)."""
    if dim is None:
        dims = range(self.ndim)
    else:
        given = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        dims = {one_dim(d, self.ndim) for d in given}
    return self.reshape(tuple(n for i, n in enumerate(self.shape) if not (i in dims and n == 1)))


def view(self, *shape):
    """``reshape`` under PyTorch's name: the same values in a new shape (one size may be -1).

    Unlike PyTorch's, it never fails for a layout: where the values cannot be
    viewed in the new shape they are copied.
    """
    return self.reshape(*shape)


def flatten(self, start_dim=0, end_dim=-1):
    """Dims ``start_dim`` to ``end_dim`` merged into one (all of them by default: a 1-D tensor)."""
    s, e = one_dim(start_dim, self.ndim), one_dim(end_dim, self.ndim)
    if self.ndim == 0:
        return self.reshape(1)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = self.shape
    return self.reshape(shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def expand(self, *size):
    """This tensor broadcast to ``size`` (a view; op ``expand``). -1 keeps a dimension's size;
    new dimensions go in front; only dimensions of size 1 grow."""
    size = shape_args(size)
    if not all(type(n) is int for n in size):  # plain ints are the common case: no conversion
        for n in size:
            if not is_int(n):
                raise TypeError(f"expand: size {tuple(size)} must hold ints, got {type(n).__name__}")
        size = tuple(int(n) for n in size)
    size, have = tuple(size), tuple(self.shape)
    lead = len(size) - len(have)
    if lead < 0:
        raise ValueError(f"expand: {len(size)} sizes given for a tensor with {len(have)} dimensions")
    shape = []
    for i, n in enumerate(size):
        if i < lead:  # a new dimension, in front
            if n < 0:
                raise ValueError(f"expand: the new dimension {i} needs a size >= 0, got {n}")
            shape.append(n)
            continue
        old = have[i - lead]
        if n == -1:
            shape.append(old)
        elif n < 0:
            raise ValueError(f"expand: bad size {n} for dimension {i - lead} (sizes are >= 0, or -1 to keep one)")
        elif n == old or old == 1:
            shape.append(n)
        else:
            raise ValueError(f"cannot expand a tensor of shape {have} to size {size}: "
                             f"dimension {i - lead} has size {old}, not 1")
    if max(shape, default=0) >= 1 << 31 or math.prod(shape) >= 1 << 31:  # only a huge one can be too big
        check_shape(tuple(shape), self.dtype)
    return self._expand(shape)


def _slices(self, dim: int, sizes) -> tuple:
    """Consecutive parts of ``sizes`` elements along ``dim``, each a ``getitem`` view."""
    parts, start = [], 0
    for n in sizes:
        parts.append(self._slice(dim, start, start + n))
        start += n
    return tuple(parts)


def split(self, split_size, dim=0):
    """Parts along ``dim``: of ``split_size`` elements each (the last may be smaller), or of the
    sizes in a list, which must add up to the dimension's size."""
    if self.ndim == 0:
        raise ValueError("split: a 0-d tensor cannot be split")
    d = one_dim(dim, self.ndim)
    length = self.shape[d]
    if is_int(split_size):
        if split_size < 0 or (split_size == 0 and length):
            raise ValueError(f"split: split_size must be positive, got {split_size}")
        if length == 0:
            return _slices(self, d, [0])
        sizes = [int(split_size)] * (length // split_size) + ([length % split_size] if length % split_size else [])
        return _slices(self, d, sizes)
    if not isinstance(split_size, (list, tuple)):
        raise TypeError(f"split: split_size must be an int or a list of ints, got {type(split_size).__name__}")
    for n in split_size:
        if not is_int(n) or n < 0:
            raise ValueError(f"split: sizes {list(split_size)} must be ints >= 0")
    if sum(split_size) != length:
        raise ValueError(f"split: sizes {list(split_size)} add up to {sum(split_size)}, "
                         f"not to the size {length} of dim {d}")
    return _slices(self, d, [int(n) for n in split_size])


def chunk(self, chunks, dim=0):
    """``chunks`` parts along ``dim`` of equal size (the last may be smaller; there may be fewer
    parts when the dimension is short), as PyTorch's."""
    if not is_int(chunks):
        raise TypeError(f"chunk: chunks must be an int, got {type(chunks).__name__}")
    if chunks < 1:
        raise ValueError(f"chunk: chunks must be at least 1, got {chunks}")
    if self.ndim == 0:
        raise ValueError("chunk: a 0-d tensor cannot be chunked")
    d = one_dim(dim, self.ndim)
    size = -(-self.shape[d] // chunks)
    return _slices(self, d, [0] * chunks) if size == 0 else self.split(size, d)


# ----------------------------------------------------------------------------
# Selections


def masked_fill(self, mask, value):
    """``value`` where ``mask`` is nonzero (a bool array or 0/1 tensor, broadcast), else this
    tensor's values; a ``where`` node, so the gradient flows where the mask is 0."""
    if _params.is_tensor(value) and value.ndim != 0:
        raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {tuple(value.shape)}")
    return _params.backend_of(self).where(mask, value, self)


def _triangle(x, diagonal, lower: bool, name: str):
    if not _params.is_tensor(x):
        raise TypeError(f"{name}() takes a Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name}: the tensor must have at least 2 dimensions, got shape {tuple(x.shape)}")
    if not is_int(diagonal):
        raise TypeError(f"{name}: diagonal must be an int, got {type(diagonal).__name__}")
    rows, cols = x.shape[-2:]
    below = np.tri(rows, cols, k=int(diagonal) if lower else int(diagonal) - 1, dtype=bool)
    return _params.backend_of(x).where(below if lower else ~below, x, 0.0)


def tril(self, diagonal=0):
    """The lower triangle of the last two dims (at and below the ``diagonal``-th diagonal); zeros above."""
    return _triangle(self, diagonal, True, "tril")


def triu(self, diagonal=0):
    """The upper triangle of the last two dims (at and above the ``diagonal``-th diagonal); zeros below."""
    return _triangle(self, diagonal, False, "triu")


# ----------------------------------------------------------------------------
# PyTorch habits


def contiguous(self):
    """This tensor itself: its memory layout is the library's business (ops copy where they need to)."""
    return self


def requires_grad_(self, requires_grad=True):
    """Set ``requires_grad`` (of a leaf) and return this tensor."""
    self.requires_grad = requires_grad
    return self


def amax(self, dim=None, keepdim=False):
    """The largest values over ``dim``: ``max``'s (an op ``max`` node; ties share the gradient)."""
    return self.max(dim, keepdim)


def amin(self, dim=None, keepdim=False):
    """The smallest values over ``dim``: ``min``'s (an op ``min`` node; ties share the gradient)."""
    return self.min(dim, keepdim)


_METHODS = (unsqueeze, squeeze, view, flatten, expand, split, chunk, masked_fill, tril, triu, contiguous,
            requires_grad_, amax, amin)


def install(tensor_class) -> None:
    """Give ``tensor_class`` (a backend's Tensor) the methods of this module."""
    for fn in _METHODS:
        setattr(tensor_class, fn.__name__, named(fn, f"Tensor.{fn.__name__}"))


# ----------------------------------------------------------------------------
# Module-level functions


def functions(backend) -> dict:
    """The module-level names for ``backend`` (``tapegrad`` or ``tapegrad.reference``)."""

    def tril(input, diagonal=0):  # noqa: A002 - PyTorch's name
        """The lower triangle of the last two dims of ``input`` (zeros above the ``diagonal``-th diagonal)."""
        return _triangle(input, diagonal, True, "tril")

    def triu(input, diagonal=0):  # noqa: A002
        """The upper triangle of the last two dims of ``input`` (zeros below the ``diagonal``-th diagonal)."""
        return _triangle(input, diagonal, False, "triu")

    def _like(input, name):  # noqa: A002
        if not _params.is_tensor(input):
            raise TypeError(f"{name}() takes a Tensor, got {type(input).__name__}")
        return tuple(input.shape)

    def zeros_like(input, *, dtype=None, requires_grad=False):  # noqa: A002
        """Zeros of ``input``'s shape, in its dtype unless ``dtype`` is given."""
        shape = _like(input, "zeros_like")
        return backend.zeros(*shape, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad)

    def ones_like(input, *, dtype=None, requires_grad=False):  # noqa: A002
        """Ones of ``input``'s shape, in its dtype unless ``dtype`` is given."""
        shape = _like(input, "ones_like")
        return backend.ones(*shape, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad)

    def randn_like(input, *, seed=None, dtype=None, requires_grad=False):  # noqa: A002
        """Standard normal samples of ``input``'s shape (``randn``'s stream and seeding)."""
        shape = _like(input, "randn_like")
        return backend.randn(*shape, seed=seed, dtype=input.dtype if dtype is None else dtype,
                             requires_grad=requires_grad)

    made = {f.__name__: named(f, f.__name__) for f in (tril, triu, zeros_like, ones_like, randn_like)}
    return {**made, "cat": backend.concatenate, "inference_mode": backend.no_grad}
