"""The nn layers' rows of op_cases.py: how each row calls its layer on either
backend and on PyTorch, and NumPy formulas for their forward, written the
plain way (loops over windows, two-pass moments) as an independent oracle."""
from __future__ import annotations

import numpy as np

import tapegrad
from tapegrad import reference

try:
    import torch
    import torch.nn.functional as torch_F
except ImportError:  # pragma: no cover - the CI image has torch
    torch = None

RUNNING_MEAN = np.array([0.25, -0.5, 1.0])
RUNNING_VAR = np.array([0.5, 1.5, 2.0])
DROPOUT_SEED, DROPOUT_P = 5, 0.5


def is_torch(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def backend(x):
    return reference if type(x).__module__.startswith("tapegrad.reference") else tapegrad


def F(x):
    """nn.functional of x's library: tapegrad's, the reference's or PyTorch's."""
    return torch_F if is_torch(x) else backend(x).nn.functional


def constant(x, values: np.ndarray):
    """``values`` as a constant tensor of x's library and dtype."""
    if is_torch(x):
        return torch.tensor(values, dtype=x.dtype)
    return backend(x).tensor(values.astype(x.dtype), dtype=x.dtype)


def batch_norm(a, w, b, mode):
    """F.batch_norm in training mode (no running statistics) or evaluation mode (fixed ones)."""
    if mode == "train":
        return F(a).batch_norm(a, None, None, w, b, True, 0.1, 1e-5)
    return F(a).batch_norm(a, constant(a, RUNNING_MEAN), constant(a, RUNNING_VAR), w, b, False, 0.1, 1e-5)


def dropout_noise(shape, dtype) -> np.ndarray:
    """tg.nn.functional.dropout's noise after tg.manual_seed(DROPOUT_SEED): keep where a
    float64 draw of the stream is below 1 - p, scaled by 1 / (1 - p) in the dtype."""
    keep = np.random.default_rng(DROPOUT_SEED).random(shape) < 1.0 - DROPOUT_P
    one = np.dtype(dtype).type(1.0)
    return keep.astype(dtype) * (one / np.dtype(dtype).type(1.0 - DROPOUT_P))


def dropout(a):
    """Dropout with the stream reseeded (the same mask at every call); PyTorch multiplies by our noise."""
    if is_torch(a):
        return a * torch.tensor(dropout_noise(tuple(a.shape), np.float64), dtype=a.dtype)
    backend(a).manual_seed(DROPOUT_SEED)
    return F(a).dropout(a, DROPOUT_P)


# ----------------------------------------------------------------------------
# NumPy forwards


def np_layer_norm(a, w, b, shape, eps=1e-5):
    axes = tuple(range(a.ndim - len(shape), a.ndim))
    mean = a.mean(axis=axes, keepdims=True)
    var = ((a - mean) ** 2).mean(axis=axes, keepdims=True)
    return (a - mean) / np.sqrt(var + eps) * w + b


def np_batch_norm(a, w, b, mode, eps=1e-5):
    axes = (0,) + tuple(range(2, a.ndim))
    kept = (1, -1) + (1,) * (a.ndim - 2)
    if mode == "train":
        mean, var = a.mean(axis=axes, keepdims=True), a.var(axis=axes, keepdims=True)
    else:
        mean, var = RUNNING_MEAN.reshape(kept), RUNNING_VAR.reshape(kept)
    return (a - mean) / np.sqrt(var + eps) * w.reshape(kept) + b.reshape(kept)


def np_dropout(a):
    return a * dropout_noise(a.shape, a.dtype)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def np_conv2d(x, w, b, k):
    (sh, sw), (ph, pw) = _pair(k.get("stride", 1)), _pair(k.get("padding", 0))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, o, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def np_pool(reduce):
    def pool(x, k):
        (kh, kw) = _pair(k["kernel_size"])
        sh, sw = _pair(k.get("stride") or (kh, kw))
        oh, ow = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
        out = np.zeros(x.shape[:2] + (oh, ow))
        for i in range(oh):
            for j in range(ow):
                out[:, :, i, j] = reduce(x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(2, 3))
        return out
    return pool
