"""The op-table rows of the int64 side (Note [Dtypes]): argmax/argmin, gather, embedding.

argmax and argmin give int64 positions and no graph: like the comparisons,
the Tensor calls their ``forward`` and wraps a leaf. gather and embedding are
NumPy indexing with a key the Tensor builds from an int64 index (Note [Gather
plans] in cpp/core/indexing.h), so their backward is getitem's: the
scatter-add of ``F.scatter`` (a ``getitem_backward`` node when recorded),
whose own backward gathers again.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Argmax", "Argmin", "Gather", "Embedding"]


class Argmax:
    """The first position of the largest value (a NaN counts as largest, as in NumPy)."""

    name, saves, python = "argmax", "none", "argmax"
    reduce = staticmethod(np.argmax)

    @classmethod
    def forward(cls, a, axis, keepdims):
        if axis is None:
            out = cls.reduce(a)
            return np.reshape(out, (1,) * a.ndim) if keepdims else np.asarray(out)
        return np.asarray(cls.reduce(a, axis=axis, keepdims=keepdims))


class Argmin(Argmax):
    name, python = "argmin", "argmin"
    reduce = staticmethod(np.argmin)


class Gather:
    """``a.gather(dim, index)``: ``out[i][j] = a[index[i][j]][j]`` for dim 0; ``key`` is
    the index with an arange for every other dim (broadcast against it)."""

    name, saves, python = "gather", "none", "gather"

    @staticmethod
    def forward(a, key):
        return a[key]

    @staticmethod
    def backward(g, s, F):  # scatter g back where the values came from
        return (F.scatter(g, s.in_shape(0), s.params["key"]),)


class Embedding(Gather):
    """``embedding(idx, weight)``: the rows ``weight[idx]``; ``key`` is ``(idx,)``."""

    name, python = "embedding", ""
