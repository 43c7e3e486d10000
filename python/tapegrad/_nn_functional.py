"""tg.nn.functional: losses and activations as functions (both backends).

Each function works on whatever backend its input comes from. Where the
backend has a fused kernel (``tg.cross_entropy``, ``tg.mse_loss``, with the
op strings of docs/DESIGN.md) it is used; otherwise the loss is composed from
primitive ops. ``mse_loss`` and ``binary_cross_entropy`` also take scalar
Values (or lists of them), micrograd-style.
"""
import numpy as _np

from . import _params
from ._nn_functional_layers import avg_pool2d, batch_norm, conv2d, dropout, layer_norm, max_pool2d

__all__ = ["mse_loss", "cross_entropy", "binary_cross_entropy", "softmax", "log_softmax",
           "relu", "tanh", "sigmoid",
           "layer_norm", "batch_norm", "dropout", "conv2d", "max_pool2d", "avg_pool2d"]


def _like(t, data):
    """``data`` (array, list, number or Tensor) as a constant Tensor of ``t``'s backend and dtype."""
    if _params.is_tensor(data):
        return data
    backend = _params.backend_of(t)
    return backend.tensor(_np.asarray(data, dtype=t.dtype))


def _pairs(pred, target, fn: str) -> list:
    preds = list(pred) if isinstance(pred, (list, tuple)) else [pred]
    targets = list(target) if isinstance(target, (list, tuple, _np.ndarray)) else [target]
    targets = [t if _params.is_value(t) else float(t) for t in targets]
    if len(preds) != len(targets):
        raise ValueError(f"{fn}: {len(preds)} predictions but {len(targets)} targets")
    if not preds:
        raise ValueError(f"{fn}: no predictions")
    return list(zip(preds, targets))


def _is_scalar_input(pred) -> bool:
    if isinstance(pred, (list, tuple)):
        return bool(pred) and all(_params.is_value(p) for p in pred)
    return _params.is_value(pred)


def mse_loss(pred, target):
    """Mean of (pred - target)^2: a Tensor (shapes broadcast), or a Value for Values."""
    if _is_scalar_input(pred):
        terms = [(p - t) ** 2 for p, t in _pairs(pred, target, "mse_loss")]
        return sum(terms[1:], terms[0]) / len(terms)
    if not _params.is_tensor(pred):
        raise TypeError(f"mse_loss: pred must be a Tensor or Value(s), got {type(pred).__name__}")
    backend = _params.backend_of(pred)
    fused = getattr(backend, "mse_loss", None)
    if fused is not None:
        return fused(pred, target if _params.is_tensor(target) else _like(pred, target))
    return ((pred - _like(pred, target)) ** 2).mean()


def _class_ids(labels, n: int) -> _np.ndarray:
    arr = _np.asarray(labels.numpy() if _params.is_tensor(labels) else labels)
    if arr.dtype.kind == "f" and _np.all(_np.isfinite(arr)) and _np.all(arr == _np.round(arr)):
        arr = arr.astype(_np.intp)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integer class ids, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"cross_entropy: labels of shape {arr.shape} for logits of batch size {n}")
    return arr.astype(_np.intp)


def cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[label].

    ``logits``: a Tensor of shape (N, C), or (C,) for one sample; ``labels``:
    N integer class ids (NumPy array, list or Tensor), or one id.
    """
    if not _params.is_tensor(logits):
        raise TypeError(f"cross_entropy: logits must be a Tensor, got {type(logits).__name__}")
    if logits.ndim == 1:
        logits = logits.reshape(1, logits.shape[0])
        labels = _np.asarray(labels.numpy() if _params.is_tensor(labels) else labels).reshape(1)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {tuple(logits.shape)}")
    n, classes = logits.shape
    ids = _class_ids(labels, n)  # checked here, so both backends fail alike
    if ((ids < 0) | (ids >= classes)).any():
        bad = ids[(ids < 0) | (ids >= classes)][0]
        raise IndexError(f"cross_entropy: label {bad} is out of range for {classes} classes")
    fused = getattr(_params.backend_of(logits), "cross_entropy", None)
    if fused is not None:
        return fused(logits, ids)
    onehot = _np.zeros((n, classes), dtype=logits.dtype)
    onehot[_np.arange(n), ids] = 1.0
    # -log p[label] picked out by a one-hot mask: d/dlogits = softmax - onehot, per row
    return -(logits.log_softmax(1) * _like(logits, onehot)).sum() / n


def binary_cross_entropy(pred, target):
    """Mean of -(t log p + (1 - t) log(1 - p)) for probabilities ``pred``.

    Unlike PyTorch the logs are not clamped at -100: p = 0 or 1 against the
    wrong target gives inf, as IEEE arithmetic says.
    """
    if _is_scalar_input(pred):
        pairs = _pairs(pred, target, "binary_cross_entropy")
        terms = [-(t * p.log() + (1 - t) * (1 - p).log()) for p, t in pairs]
        return sum(terms[1:], terms[0]) / len(terms)
    if not _params.is_tensor(pred):
        raise TypeError(f"binary_cross_entropy: pred must be a Tensor or Value(s), got {type(pred).__name__}")
    t = _like(pred, target)
    return -(t * pred.log() + (1 - t) * (1 - pred).log()).mean()


def softmax(x, dim: int = -1):
    return x.softmax(dim)


def log_softmax(x, dim: int = -1):
    return x.log_softmax(dim)


def relu(x):
    return x.relu()


def tanh(x):
    return x.tanh()


def sigmoid(x):
    return x.sigmoid()
