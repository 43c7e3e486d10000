"""tg.nn.functional: losses and activations as functions (both backends).

Each function works on whatever backend its input comes from. Where the
backend has a fused kernel (``tg.cross_entropy``, ``tg.mse_loss``, with the
op strings of docs/DESIGN.md) it is used; otherwise the loss is composed from
primitive ops. ``mse_loss`` and ``binary_cross_entropy`` also take scalar
Values (or lists of them), micrograd-style.
"""
import numpy as _np

from . import _params
from ._nn_functional_layers import avg_pool2d, batch_norm, conv2d, dropout, layer_norm, linear, max_pool2d
from ._shared import check_shape as _check_shape

__all__ = ["mse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy", "softmax", "log_softmax",
           "relu", "tanh", "sigmoid", "gelu", "silu", "leaky_relu", "softplus", "embedding", "one_hot",
           "linear", "layer_norm", "batch_norm", "dropout", "conv2d", "max_pool2d", "avg_pool2d"]


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


def _class_ids(labels, n: int, fn: str = "cross_entropy", what: str = "logits") -> _np.ndarray:
    arr = _np.asarray(labels.numpy() if _params.is_tensor(labels) else labels)
    if arr.dtype.kind == "f" and _np.all(_np.isfinite(arr)) and _np.all(arr == _np.round(arr)):
        arr = arr.astype(_np.intp)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{fn}: labels must be integer class ids, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{fn}: labels of shape {arr.shape} for {what} of batch size {n}")
    return arr.astype(_np.intp)


def _whole_floats(labels):
    """A float Tensor of whole numbers as int64, else None (the slow path then names the problem)."""
    if _np.dtype(labels.dtype).kind != "f":
        return None
    try:
        ids = labels.long()
    except ValueError:  # NaN, inf, beyond int64
        return None
    return ids if (ids != labels).sum().item() == 0 else None


def cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[label].

    ``logits``: a Tensor of shape (N, C), or (C,) for one sample; ``labels``:
    N integer class ids (NumPy array, list or Tensor), or one id.
    """
    if not _params.is_tensor(logits):
        raise TypeError(f"cross_entropy: logits must be a Tensor, got {type(logits).__name__}")
    fused = getattr(_params.backend_of(logits), "cross_entropy", None)
    if fused is not None and logits.ndim == 2 and _params.is_tensor(labels) and labels.dtype == _np.int64:
        return fused(logits, labels)  # int64 labels as they are: the fused op checks them, in the same words
    if fused is not None and logits.ndim == 2 and _params.is_tensor(labels) and labels.shape == (logits.shape[0],):
        ids = _whole_floats(labels)  # tg.tensor of an integer array: float ids, cast by two native ops
        if ids is not None:
            return fused(logits, ids)
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
    if fused is not None:
        return fused(logits, ids)
    onehot = _np.zeros((n, classes), dtype=logits.dtype)
    onehot[_np.arange(n), ids] = 1.0
    # -log p[label] picked out by a one-hot mask: d/dlogits = softmax - onehot, per row
    return -(logits.log_softmax(1) * _like(logits, onehot)).sum() / n


def nll_loss(log_probs, labels):
    """Mean over the batch of -log_probs[i, labels[i]] (PyTorch's reduction="mean").

    ``log_probs``: a Tensor of shape (N, C), or (C,) for one sample, usually
    ``x.log_softmax(1)``; ``labels``: N integer class ids (an int64 Tensor, a
    NumPy array or a list), or one id. Made of indexing and a mean, so it is
    differentiable to any order.
    """
    if not _params.is_tensor(log_probs):
        raise TypeError(f"nll_loss: log_probs must be a Tensor, got {type(log_probs).__name__}")
    if log_probs.ndim == 1:
        log_probs = log_probs.reshape(1, log_probs.shape[0])
        labels = _np.asarray(labels.numpy() if _params.is_tensor(labels) else labels).reshape(1)
    if log_probs.ndim != 2:
        raise ValueError(f"nll_loss: log_probs must have shape (N, C), got {tuple(log_probs.shape)}")
    n, classes = log_probs.shape
    ids = _class_ids(labels, n, "nll_loss", "log_probs")
    if ((ids < 0) | (ids >= classes)).any():
        bad = ids[(ids < 0) | (ids >= classes)][0]
        raise IndexError(f"nll_loss: label {bad} is out of range for {classes} classes")
    backend = _params.backend_of(log_probs)
    rows = backend.tensor(_np.arange(n), dtype=_np.int64)
    return -log_probs[rows, backend.tensor(ids, dtype=_np.int64)].mean()


def _int64_tensor(x, fn: str, name: str):
    """An int64 Tensor argument (PyTorch's index tensors), else a TypeError naming what it is."""
    if not _params.is_tensor(x):
        raise TypeError(f"{fn}: {name} must be an int64 tensor, got {type(x).__name__}")
    if x.dtype != _np.int64:
        raise TypeError(f"{fn}: {name} must be an int64 tensor, got {x.dtype}")
    return x


_TENSOR_BACKENDS: dict = {}  # Tensor class -> its backend module (F.embedding is on the hot path)


def embedding(idx, weight):
    """The rows of ``weight`` (num_embeddings, embedding_dim) picked by the int64 ids
    ``idx`` (any shape): shape ``idx.shape + (embedding_dim,)``, op ``embedding``.
    The gradient adds each row of g into the row it came from (repeated ids add up)."""
    backend = _TENSOR_BACKENDS.get(type(weight))
    if backend is None:
        if not _params.is_tensor(weight):
            raise TypeError(f"embedding: weight must be a Tensor, got {type(weight).__name__}")
        backend = _TENSOR_BACKENDS[type(weight)] = _params.backend_of(weight)
    return backend._embedding(idx, weight)  # checks idx, then weight's shape and the ids' range


def one_hot(labels, num_classes: int = -1):
    """int64 one-hot rows: shape ``labels.shape + (num_classes,)`` with a 1 at each label
    (``num_classes=-1``: one more than the largest label). No gradient."""
    arr = _int64_tensor(labels, "one_hot", "labels").numpy()
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, _np.integer)):
        raise TypeError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes == -1:
        if arr.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from empty labels (pass num_classes)")
        num_classes = int(arr.max()) + 1
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be -1 or at least 0, got {num_classes}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"one_hot: labels must be non-negative, got {arr.min()}")
    if arr.size and arr.max() >= num_classes:
        raise ValueError(f"one_hot: label {arr.max()} is out of range for {num_classes} classes")
    _check_shape(arr.shape + (num_classes,), _np.int64)
    out = (arr[..., None] == _np.arange(num_classes)).astype(_np.int64)
    return _params.backend_of(labels).tensor(out, dtype=_np.int64)


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


def gelu(input, approximate="none"):  # noqa: A002 - PyTorch's names
    """x Phi(x), Phi the normal cdf; ``approximate="tanh"`` for its tanh form (fused kernels)."""
    return input.gelu(approximate)


def silu(input):  # noqa: A002
    """x sigmoid(x) (a fused kernel)."""
    return input.silu()


def leaky_relu(input, negative_slope=0.01):  # noqa: A002
    """x where x > 0, else negative_slope x."""
    return input.leaky_relu(negative_slope)


def softplus(input, beta=1.0, threshold=20.0):  # noqa: A002
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (a fused kernel)."""
    return input.softplus(beta, threshold)
