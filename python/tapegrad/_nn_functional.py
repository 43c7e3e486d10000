"""tg.nn.functional: losses, activations and layers as functions (both backends).

Each function works on whatever backend its input comes from. The losses
are ``_nn_losses.py``, the layers ``_nn_functional_layers.py``.
"""
import numpy as _np

from . import _params
from ._nn_losses import binary_cross_entropy, cross_entropy, mse_loss, nll_loss
from ._nn_functional_layers import avg_pool2d, batch_norm, conv2d, dropout, layer_norm, linear, max_pool2d
from ._shared import check_shape as _check_shape

__all__ = ["mse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy", "softmax", "log_softmax",
           "relu", "tanh", "sigmoid", "gelu", "silu", "leaky_relu", "softplus", "embedding", "one_hot",
           "linear", "layer_norm", "batch_norm", "dropout", "conv2d", "max_pool2d", "avg_pool2d"]


def _int64_tensor(x, fn: str, name: str):
    """An int64 Tensor argument (PyTorch's index tensors), else a TypeError naming what it is."""
    if not _params.is_tensor(x):
        raise TypeError(f"{fn}: {name} must be an int64 tensor, got {type(x).__name__}")
    if x.dtype != _np.int64:
        raise TypeError(f"{fn}: {name} must be an int64 tensor, got {x.dtype}")
    return x


_TENSOR_BACKENDS: dict = {}  # Tensor class -> its backend module (F.embedding is on the hot path)


def embedding(input, weight, padding_idx=None):  # noqa: A002 - PyTorch's names
    """The rows of ``weight`` (num_embeddings, embedding_dim) picked by the int64 ids
    ``input`` (any shape): shape ``input.shape + (embedding_dim,)``, op ``embedding``.
    The gradient adds each row of g into the row it came from (repeated ids add up),
    except into row ``padding_idx`` (negative: counted from the end), which gets none."""
    backend = _TENSOR_BACKENDS.get(type(weight))
    if backend is None:
        if not _params.is_tensor(weight):
            raise TypeError(f"embedding: weight must be a Tensor, got {type(weight).__name__}")
        backend = _TENSOR_BACKENDS[type(weight)] = _params.backend_of(weight)
    out = backend._embedding(input, weight)  # checks input, then weight's shape and the ids' range
    if padding_idx is None:
        return out
    pad = _padding_index(padding_idx, weight.shape[0], "embedding")
    if not out.requires_grad:
        return out
    if _params.is_tensor(input):
        # tensor ops, so that under tg.compile a replay guards only whether padding occurs
        hit = input == pad
        if not hit.sum().item() > 0:
            return out
        mask = hit.reshape(*hit.shape, 1)
    else:
        mask = (_np.asarray(input) == pad)[..., None]
        if not mask.any():
            return out
    # the same values, but no path from the padding positions back to the weight
    return backend.where(mask, out.detach(), out)


def _padding_index(padding_idx, num_embeddings: int, fn: str) -> int:
    """PyTorch's padding_idx check: an int in [-num_embeddings, num_embeddings), negative from the end."""
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, _np.integer)):
        raise TypeError(f"{fn}: padding_idx must be an int or None, got {type(padding_idx).__name__}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{fn}: padding_idx must be within num_embeddings ({num_embeddings}), got {padding_idx}")
    return int(padding_idx) % num_embeddings if num_embeddings else int(padding_idx)


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
