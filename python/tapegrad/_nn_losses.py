"""tg.nn.functional's losses (both backends): mse_loss, cross_entropy,
nll_loss, binary_cross_entropy, with PyTorch's ``reduction``, ``ignore_index``
and ``label_smoothing`` (keyword arguments here, never positional, so that a
call written for PyTorch's positional ``weight`` or ``size_average`` fails
loudly instead of meaning something else).

Where the backend has a fused kernel (``tg.cross_entropy``, ``tg.mse_loss``,
with the op strings of docs/DESIGN.md) the default arguments use it; the
others are composed from primitive ops (log_softmax, indexing, where, sum),
so they differentiate to any order. ``mse_loss`` and ``binary_cross_entropy``
also take scalar Values (or lists of them), micrograd-style.
"""
import numbers as _numbers

import numpy as _np

from . import _params

__all__ = ["mse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy"]

_REDUCTIONS = ("mean", "sum", "none")


def _reduction(reduction, fn: str) -> str:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _ignore_index(ignore_index, fn: str) -> int:
    if type(ignore_index) is int:  # the usual case, without the ABC check (these run every step)
        return ignore_index
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, _numbers.Integral):
        raise TypeError(f"{fn}: ignore_index must be an int, got {type(ignore_index).__name__}")
    return int(ignore_index)


def _label_smoothing(eps) -> float:
    if type(eps) is float and 0.0 <= eps <= 1.0:
        return eps
    if isinstance(eps, bool) or not isinstance(eps, _numbers.Real):
        raise TypeError(f"cross_entropy: label_smoothing must be a number, got {type(eps).__name__}")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {eps}")
    return float(eps)


def _reduce(terms, reduction: str):
    """Values (a list) or a Tensor of per-element losses, reduced."""
    if isinstance(terms, list):
        if reduction == "none":
            return terms
        total = sum(terms[1:], terms[0])
        return total / len(terms) if reduction == "mean" else total
    if reduction == "none":
        return terms
    return terms.mean() if reduction == "mean" else terms.sum()


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


def mse_loss(pred, target, *, reduction="mean"):
    """(pred - target)^2, reduced (``reduction``: "mean", "sum" or "none"): a Tensor
    (shapes broadcast), or a Value (a list of Values for "none") for Values."""
    reduction = _reduction(reduction, "mse_loss")
    if _is_scalar_input(pred):
        return _reduce([(p - t) ** 2 for p, t in _pairs(pred, target, "mse_loss")], reduction)
    if not _params.is_tensor(pred):
        raise TypeError(f"mse_loss: pred must be a Tensor or Value(s), got {type(pred).__name__}")
    backend = _params.backend_of(pred)
    fused = getattr(backend, "mse_loss", None)
    if fused is not None and reduction == "mean":
        return fused(pred, target if _params.is_tensor(target) else _like(pred, target))
    d = pred - _like(pred, target)
    return _reduce(d * d, reduction)


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


def _fused_cross_entropy(fused, logits, labels, ignore_index: int):
    """The fused op where it applies (labels of a 2-d batch as a Tensor), else None. An
    ignore_index that is no class id (PyTorch's -100) fails its range check: only then
    are the labels read, and if one is ignore_index the composed path takes over."""
    if logits.ndim != 2 or not _params.is_tensor(labels) or 0 <= ignore_index < logits.shape[1]:
        return None
    if labels.dtype != _np.int64:
        if labels.shape != (logits.shape[0],):
            return None
        labels = _whole_floats(labels)  # tg.tensor of an integer array: float ids, cast by two native ops
        if labels is None:
            return None
    try:
        return fused(logits, labels)  # it checks the labels, in the words of the composed path
    except IndexError:
        if labels.ndim == 1 and (labels.numpy() == ignore_index).any():
            return None
        raise


def _picked(scores, ids: _np.ndarray, keep):
    """scores[i, ids[i]] for each row, a gather by getitem (an ignored row reads column 0, masked later)."""
    backend = _params.backend_of(scores)
    rows = backend.tensor(_np.arange(ids.shape[0]), dtype=_np.int64)
    return scores[rows, backend.tensor(ids if keep is None else _np.where(keep, ids, 0), dtype=_np.int64)]


def _masked_reduce(per_row, keep, reduction: str, one: bool):
    """Ignored rows give 0 (a where, so NaN there cannot leak); "mean" divides by the kept rows."""
    if keep is not None:
        per_row = per_row.masked_fill(~keep, 0.0)
    if reduction == "none":
        return per_row.reshape(()) if one else per_row
    total = per_row.sum()
    if reduction == "sum":
        return total
    return total / float(per_row.shape[0] if keep is None else keep.sum())


def _batch(scores, labels, fn: str):
    """(N, C) scores and the labels as an array; one sample (C,) becomes a batch of one."""
    if scores.ndim == 1:
        scores = scores.reshape(1, scores.shape[0])
        labels = _np.asarray(labels.numpy() if _params.is_tensor(labels) else labels).reshape(1)
        return scores, labels, True
    if scores.ndim != 2:
        what = "logits" if fn == "cross_entropy" else "log_probs"
        raise ValueError(f"{fn}: {what} must have shape (N, C), got {tuple(scores.shape)}")
    return scores, labels, False


def _checked_ids(labels, n: int, classes: int, ignore_index: int, fn: str, what: str):
    """The ids, checked here so that both backends fail alike, and which samples count
    (None: all of them; the common case costs one comparison)."""
    ids = _class_ids(labels, n, fn, what)
    keep = ids != ignore_index if 0 <= ignore_index < classes else None
    if (ids.view(_np.uintp) >= classes).any():  # a negative id or one >= classes: ignored, or an error
        keep = ids != ignore_index if keep is None else keep
        bad = keep & ((ids < 0) | (ids >= classes))
        if bad.any():
            raise IndexError(f"{fn}: label {ids[bad][0]} is out of range for {classes} classes")
    return ids, None if keep is None or keep.all() else keep


def cross_entropy(logits, labels, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """-log softmax(logits)[label] per sample, reduced (PyTorch's defaults: the mean).

    ``logits``: a Tensor of shape (N, C), or (C,) for one sample; ``labels``:
    N integer class ids (NumPy array, list or Tensor), or one id. Samples
    whose label is ``ignore_index`` contribute nothing, and "mean" divides by
    the number of the others. ``label_smoothing`` eps: the target is
    ``(1 - eps) onehot + eps / C``. The defaults run one fused op.
    """
    if not _params.is_tensor(logits):
        raise TypeError(f"cross_entropy: logits must be a Tensor, got {type(logits).__name__}")
    reduction, ignore_index = _reduction(reduction, "cross_entropy"), _ignore_index(ignore_index, "cross_entropy")
    eps = _label_smoothing(label_smoothing)
    fused = getattr(_params.backend_of(logits), "cross_entropy", None)
    if fused is not None and reduction == "mean" and eps == 0.0:
        out = _fused_cross_entropy(fused, logits, labels, ignore_index)
        if out is not None:
            return out
    logits, labels, one = _batch(logits, labels, "cross_entropy")
    n, classes = logits.shape
    ids, keep = _checked_ids(labels, n, classes, ignore_index, "cross_entropy", "logits")
    if fused is not None and reduction == "mean" and eps == 0.0 and keep is None:
        return fused(logits, ids)
    logp = logits.log_softmax(1)
    per_row = -_picked(logp, ids, keep)
    if eps:  # -sum_c (eps / C) log p_c, beside (1 - eps) times the picked term
        per_row = per_row * (1.0 - eps) - logp.sum(1) * (eps / classes)
    return _masked_reduce(per_row, keep, reduction, one)


def nll_loss(log_probs, labels, *, ignore_index=-100, reduction="mean"):
    """-log_probs[i, labels[i]] per sample, reduced (PyTorch's default: the mean).

    ``log_probs``: a Tensor of shape (N, C), or (C,) for one sample, usually
    ``x.log_softmax(1)``; ``labels``: N integer class ids (an int64 Tensor, a
    NumPy array or a list), or one id. Samples labelled ``ignore_index`` count
    for nothing ("mean" divides by the others). Made of indexing and a sum, so
    it is differentiable to any order.
    """
    if not _params.is_tensor(log_probs):
        raise TypeError(f"nll_loss: log_probs must be a Tensor, got {type(log_probs).__name__}")
    reduction, ignore_index = _reduction(reduction, "nll_loss"), _ignore_index(ignore_index, "nll_loss")
    log_probs, labels, one = _batch(log_probs, labels, "nll_loss")
    n, classes = log_probs.shape
    ids, keep = _checked_ids(labels, n, classes, ignore_index, "nll_loss", "log_probs")
    if keep is None and reduction == "mean":
        return -_picked(log_probs, ids, keep).mean()
    return _masked_reduce(-_picked(log_probs, ids, keep), keep, reduction, one)


def binary_cross_entropy(pred, target, *, reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)) for probabilities ``pred``, reduced.

    Unlike PyTorch the logs are not clamped at -100: p = 0 or 1 against the
    wrong target gives inf, as IEEE arithmetic says.
    """
    reduction = _reduction(reduction, "binary_cross_entropy")
    if _is_scalar_input(pred):
        pairs = _pairs(pred, target, "binary_cross_entropy")
        return _reduce([-(t * p.log() + (1 - t) * (1 - p).log()) for p, t in pairs], reduction)
    if not _params.is_tensor(pred):
        raise TypeError(f"binary_cross_entropy: pred must be a Tensor or Value(s), got {type(pred).__name__}")
    t = _like(pred, target)
    return _reduce(-(t * pred.log() + (1 - t) * (1 - pred).log()), reduction)
