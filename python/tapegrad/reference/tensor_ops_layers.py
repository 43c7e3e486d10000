"""The reference's rows of the neural-network layers (the op table's kind "nn").

layer_norm, batch_norm, dropout, conv2d, max_pool2d, avg_pool2d, in the
order of ``cpp/core/op_table.h``, forward beside backward as in
tensor_ops.py. The normalizations follow Note [Normalization numerics]
(cpp/core/kernels_nn.h) operation for operation: statistics accumulated in
float64 and rounded once to the dtype, ``((x - m) * s) * w + b``. conv2d is
Note [conv2d as one GEMM] (cpp/core/ops_conv.cpp): the input as a column
matrix gathered by positions (``_im2col_positions``), one matrix product,
and the adjoint's scatter-add in the same order as the native col2im, so
the two backends agree within a few ulps.

Each backward has two forms, chosen by ``F.recorded``: NumPy on the saved
arrays (the fused sweep), or the same formulas in Tensor ops on the parents
(``create_graph=True``), where the column matrix and the pools' windows are
getitem gathers and their scatter-adds (getitem_backward), so every gradient
differentiates again.
"""
from __future__ import annotations

import functools

import numpy as np

from .tensor_ops import Row

__all__ = ["NN_OPS", "LayerNorm", "BatchNorm", "Dropout", "Conv2d", "MaxPool2d", "AvgPool2d", "Linear"]

F64 = np.float64


def _count(shape: tuple, axes: tuple) -> int:
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def _moments(x: np.ndarray, axes: tuple):
    """Mean and sum of squared deviations over ``axes`` in float64 (kept as size 1)."""
    xd = x.astype(F64)
    mu = xd.sum(axis=axes, keepdims=True) / _count(x.shape, axes)
    d = xd - mu
    return mu, (d * d).sum(axis=axes, keepdims=True)


def _affine(x, m, s, w, b):
    y = (x - m) * s
    if w is not None:
        y = y * w
    return y + b if b is not None else y


def _norm_grads(g, x, w, m, s, axes: tuple, other: tuple, with_stats: bool):
    """dx, dw, db of ``((x - m) * s) * w + b`` (Note [Normalization numerics]); w, m, s broadcast to x."""
    dt = x.dtype
    xhat = (x - m) * s
    dxhat = g * w if w is not None else g
    if with_stats:
        n = _count(x.shape, axes)
        a = (dxhat.astype(F64).sum(axis=axes, keepdims=True) / n).astype(dt)
        c = ((dxhat.astype(F64) * xhat.astype(F64)).sum(axis=axes, keepdims=True) / n).astype(dt)
        dx = s * ((dxhat - a) - xhat * c)
    else:
        dx = s * dxhat
    dw = (g.astype(F64) * xhat.astype(F64)).sum(axis=other).astype(dt)
    return dx, dw, g.astype(F64).sum(axis=other).astype(dt)


def _recorded_norm_grads(g, x, w, stats, axes: tuple, other: tuple, eps: float):
    """The same in Tensor ops; ``stats`` None: the batch's own statistics, recorded from x."""
    if stats is None:
        d = x - x.mean(dim=axes, keepdim=True)
        s = 1.0 / ((d * d).mean(dim=axes, keepdim=True) + eps).sqrt()
        xhat = d * s
    else:
        m, s = stats
        xhat = (x - m) * s
    dxhat = g * w if w is not None else g
    if stats is None:
        a, c = dxhat.mean(dim=axes, keepdim=True), (dxhat * xhat).mean(dim=axes, keepdim=True)
        dx = s * ((dxhat - a) - xhat * c)
    else:
        dx = s * dxhat
    return dx, (g * xhat).sum(dim=other), g.sum(dim=other)


def _in_parent_order(grads, p: dict) -> tuple:
    dx, dw, db = grads
    return (dx,) + ((dw,) if p["has_weight"] else ()) + ((db,) if p["has_bias"] else ())


def _split_affine(wb: tuple, has_weight: bool, has_bias: bool, dt):
    """The weight and the bias (None where absent) in the dtype ``dt``."""
    w = wb[0].astype(dt) if has_weight else None
    b = wb[-1].astype(dt) if has_bias else None
    return w, b


class LayerNorm(Row):
    """Saves (custom): x and the weight in the result's dtype, each row's mean and s."""

    name, saves, python = "layer_norm", "custom", "layer_norm"

    @staticmethod
    def forward(x, *wb, ndim, eps, has_weight, has_bias):
        dt = np.result_type(x, *wb)
        w, b = _split_affine(wb, has_weight, has_bias, dt)
        x = x.astype(dt, copy=False)
        axes = tuple(range(x.ndim - ndim, x.ndim))
        mu, sq = _moments(x, axes)
        m, s = mu.astype(dt), (1.0 / np.sqrt(sq / _count(x.shape, axes) + eps)).astype(dt)
        return _affine(x, m, s, w, b), (x, w, m, s)

    @staticmethod
    def backward(g, s, F):  # dx = s ((gw - mean gw) - xhat mean(gw xhat)), dw = sum g xhat, db = sum g
        p = s.params
        nd = len(s.in_shape(0))
        axes, other = tuple(range(nd - p["ndim"], nd)), tuple(range(nd - p["ndim"]))
        if F.recorded:
            w = s.input(1) if p["has_weight"] else None
            return _in_parent_order(_recorded_norm_grads(g, s.input(0), w, None, axes, other, p["eps"]), p)
        x, w, m, sd = (s.saved(i) for i in range(4))
        return _in_parent_order(_norm_grads(g, x, w, m, sd, axes, other, True), p)


class BatchNorm(Row):
    """Saves (custom): x and the weight, each channel's mean and s (the batch's or the running ones)."""

    name, saves, python = "batch_norm", "custom", "batch_norm"

    @staticmethod
    def forward(x, *wb, running_mean, running_var, training, momentum, eps, has_weight, has_bias):
        dt = np.result_type(x, *wb)
        w, b = _split_affine(wb, has_weight, has_bias, dt)
        x = x.astype(dt, copy=False)
        axes, kept = _channel_axes(x.ndim), (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if training:
            n = _count(x.shape, axes)
            mu, sq = (a.reshape(-1) for a in _moments(x, axes))
            mean, var = mu, sq / n
            for t, new in ((running_mean, mu), (running_var, sq / (n - 1))):
                if t is not None:
                    t._data[...] = momentum * new + (1.0 - momentum) * t._data.astype(F64)
        else:
            mean, var = running_mean._data.astype(F64), running_var._data.astype(F64)
        m, s = mean.astype(dt).reshape(kept), (1.0 / np.sqrt(var + eps)).astype(dt).reshape(kept)
        wk, bk = (None if a is None else a.reshape(kept) for a in (w, b))
        return _affine(x, m, s, wk, bk), (x, wk, m, s)

    @staticmethod
    def backward(g, s, F):  # training: layer_norm's rule per channel; evaluation: dx = s g w
        p = s.params
        nd = len(s.in_shape(0))
        axes = _channel_axes(nd)
        if F.recorded:
            kept = (1, s.in_shape(0)[1]) + (1,) * (nd - 2)
            w = s.input(1).reshape(kept) if p["has_weight"] else None
            stats = None if p["training"] else (F.constant(s.saved(2)), F.constant(s.saved(3)))
            return _in_parent_order(_recorded_norm_grads(g, s.input(0), w, stats, axes, axes, p["eps"]), p)
        x, w, m, sd = (s.saved(i) for i in range(4))
        return _in_parent_order(_norm_grads(g, x, w, m, sd, axes, axes, p["training"]), p)


def _channel_axes(ndim: int) -> tuple:
    return (0,) + tuple(range(2, ndim))


class Dropout(Row):
    """Saves (custom): the noise (0 where dropped, 1 / (1 - p) elsewhere)."""

    name, saves, python = "dropout", "custom", "dropout"

    @staticmethod
    def forward(x, noise):
        return x * noise, (noise,)

    @staticmethod
    def backward(g, s, F):  # d(a * noise)/da = noise, a constant
        return (g * F.constant(s.saved(0)),)


# ----------------------------------------------------------------------------
# conv2d and pooling (NCHW)


@functools.lru_cache(maxsize=64)
def _im2col_positions(n, c, h, w, kh, kw, sh, sw, ph, pw) -> np.ndarray:
    """(C*KH*KW, N*OH*OW): the flat position in x of each column entry; x.size for the padding."""
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    ci, i, j = np.meshgrid(np.arange(c), np.arange(kh), np.arange(kw), indexing="ij")
    ni, ohi, owi = np.meshgrid(np.arange(n), np.arange(oh), np.arange(ow), indexing="ij")
    rows = ohi.reshape(1, -1) * sh + i.reshape(-1, 1) - ph
    cols = owi.reshape(1, -1) * sw + j.reshape(-1, 1) - pw
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    flat = ((ni.reshape(1, -1) * c + ci.reshape(-1, 1)) * h + rows) * w + cols
    pos = np.where(inside, flat, n * c * h * w)
    pos.flags.writeable = False
    return pos


def _positions(x_shape, w_shape, stride, padding) -> np.ndarray:
    return _im2col_positions(*x_shape, *w_shape[2:], *stride, *padding)


def _out_size(x_shape, kernel, stride, padding) -> tuple:
    return tuple((x_shape[2 + d] + 2 * padding[d] - kernel[d]) // stride[d] + 1 for d in (0, 1))


def _im2col(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return np.concatenate([x.reshape(-1), np.zeros(1, x.dtype)])[pos]


def _col2im(col: np.ndarray, pos: np.ndarray, shape: tuple) -> np.ndarray:
    """Each entry added back to where it came from, in row-major order (the native col2im's)."""
    out = np.zeros(int(np.prod(shape)) + 1, col.dtype)
    np.add.at(out, pos.reshape(-1), col.reshape(-1))
    return out[:-1].reshape(shape)


class Conv2d(Row):
    """Saves (custom): x and the weight in the result's dtype."""

    name, saves, python = "conv2d", "custom", "conv2d"

    @staticmethod
    def forward(x, w, *b, stride, padding):
        dt = np.result_type(x, w, *b)
        x, w = x.astype(dt, copy=False), w.astype(dt, copy=False)
        n, o = x.shape[0], w.shape[0]
        oh, ow = _out_size(x.shape, w.shape[2:], stride, padding)
        pos = _positions(x.shape, w.shape, stride, padding)
        y = w.reshape(o, pos.shape[0]) @ _im2col(x, pos)
        out = y.reshape(o, n, oh * ow).transpose(1, 0, 2)
        if b:
            out = out + b[0].astype(dt).reshape(1, o, 1)
        return np.ascontiguousarray(out).reshape(n, o, oh, ow), (x, w)

    @staticmethod
    def backward(g, s, F):  # dx = col2im(W^T G), dW = G col^T, db = sum g (Note [conv2d as one GEMM])
        p = s.params
        x_shape, w_shape = s.in_shape(0), s.in_shape(1)
        pos, o = _positions(x_shape, w_shape, p["stride"], p["padding"]), w_shape[0]
        has_bias = s.count() == 3
        if F.recorded:
            return _recorded_conv_grads(g, s.input(0), s.input(1), pos, has_bias, any(p["padding"]))
        x, w = s.saved(0), s.saved(1)
        gy = g.transpose(1, 0, 2, 3).reshape(o, pos.shape[1])
        dw = (gy @ _im2col(x, pos).T).reshape(w.shape)
        dx = _col2im(w.reshape(o, pos.shape[0]).T @ gy, pos, x.shape)
        return (dx, dw) + ((gy.astype(F64).sum(axis=1).astype(g.dtype),) if has_bias else ())


def _recorded_conv_grads(g, x, w, pos, has_bias: bool, padded: bool) -> tuple:
    from .functional import concatenate
    from .tensor import Tensor, apply
    from .tensor_ops import GetItem, GetItemBackward

    o, numel = w.shape[0], x.size
    gy = g.permute(1, 0, 2, 3).reshape(o, pos.shape[1])
    src = x.reshape(numel)
    if padded:  # a zero after x's elements, which the padding's entries take
        src = concatenate([src, Tensor._wrap(np.zeros(1, x.dtype))])
    col = apply(GetItem, (src,), key=(pos,))
    dw = (gy @ col.transpose(0, 1)).reshape(w.shape)
    dcol = w.reshape(o, pos.shape[0]).transpose(0, 1) @ gy
    dsrc = apply(GetItemBackward, (dcol,), shape=(numel + padded,), key=(pos,))
    dx = (dsrc[:numel] if padded else dsrc).reshape(x.shape)
    return (dx, dw) + ((g.sum(dim=(0, 2, 3)),) if has_bias else ())


@functools.lru_cache(maxsize=64)
def _window_positions(n, c, h, w, kh, kw, sh, sw) -> np.ndarray:
    """(N, C, OH, OW, KH*KW): the flat positions in x of each window, row-major."""
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    nc = np.arange(n * c).reshape(n, c, 1, 1, 1) * (h * w)
    rows = (np.arange(oh) * sh).reshape(1, 1, oh, 1, 1) + np.repeat(np.arange(kh), kw).reshape(1, 1, 1, 1, -1)
    cols = (np.arange(ow) * sw).reshape(1, 1, 1, ow, 1) + np.tile(np.arange(kw), kh).reshape(1, 1, 1, 1, -1)
    pos = nc + rows * w + cols
    pos.flags.writeable = False
    return pos


def _windows(x_shape, kernel, stride) -> np.ndarray:
    return _window_positions(*x_shape, *kernel, *stride)


class MaxPool2d(Row):
    """Saves (custom): each window's maximum's position (the first; a NaN wins, the last one)."""

    name, saves, python = "max_pool2d", "custom", "max_pool2d"

    @staticmethod
    def forward(x, kernel, stride):
        pos = _windows(x.shape, kernel, stride)
        win = x.reshape(-1)[pos]
        nan = np.isnan(win)
        last_nan = win.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
        arg = np.where(nan.any(axis=-1), last_nan, np.argmax(win, axis=-1))
        where = np.take_along_axis(pos, arg[..., None], axis=-1)[..., 0]
        return x.reshape(-1)[where], (np.unravel_index(where, x.shape),)

    @staticmethod
    def backward(g, s, F):  # g goes to each window's maximum
        return (F.scatter(g, s.in_shape(0), s.saved(0)),)


class AvgPool2d(Row):
    name, python = "avg_pool2d", "avg_pool2d"

    @staticmethod
    def forward(x, kernel, stride):
        win = x.reshape(-1)[_windows(x.shape, kernel, stride)]
        return win.astype(F64).sum(axis=-1).astype(x.dtype) * x.dtype.type(1.0 / (kernel[0] * kernel[1]))

    @staticmethod
    def backward(g, s, F):  # d mean/dx = 1 / (KH KW) for each window x is in
        p, shape = s.params, s.in_shape(0)
        pos = _windows(shape, p["kernel"], p["stride"])
        k = pos.shape[-1]
        share = g.reshape(g.shape + (1,)) * (1.0 / k)
        return (F.scatter(F.broadcast_to(share, pos.shape), shape, np.unravel_index(pos, shape)),)


# ----------------------------------------------------------------------------
# linear (F.linear; Note [linear as one GEMM] in cpp/core/matmul.cpp)


def _rows(x_shape: tuple) -> int:
    return int(np.prod(x_shape[:-1], dtype=np.int64))


class Linear(Row):
    """Saves (custom): x as a (rows, in) matrix and the weight, in the result's dtype."""

    name, saves, python = "linear", "custom", "linear"

    @staticmethod
    def forward(x, w, *b):
        dt = np.result_type(x, w, *b)
        x2 = x.astype(dt, copy=False).reshape(_rows(x.shape), x.shape[-1])
        w = w.astype(dt, copy=False)
        y = x2 @ w.T
        if b:
            y = y + b[0].astype(dt)
        return y.reshape(x.shape[:-1] + (w.shape[0],)), (x2, w)

    @staticmethod
    def backward(g, s, F):  # with x and g as (rows, in) and (rows, out): dx = g w, dw = g^T x, db = sum of g's rows
        x_shape, w_shape = s.in_shape(0), s.in_shape(1)
        rows = _rows(x_shape)
        g2 = g.reshape(rows, w_shape[0])
        if F.recorded:
            x2, w = s.input(0).reshape(rows, x_shape[-1]), s.input(1)
            db = (g2.sum(dim=0),)
        else:
            x2, w = s.saved(0), s.saved(1)
            db = (g2.astype(F64).sum(axis=0).astype(g.dtype),)
        grads = ((g2 @ w).reshape(x_shape), g2.transpose(1, 0) @ x2)
        return grads + (db if s.count() == 3 else ())


NN_OPS = (LayerNorm, BatchNorm, Dropout, Conv2d, MaxPool2d, AvgPool2d, Linear)
