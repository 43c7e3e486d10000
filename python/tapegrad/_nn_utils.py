"""tg.nn.utils: clip_grad_norm_ (and clip_grad_value_), shared by both backends.

The norms are computed in float64 from each gradient's NumPy copy and the
gradients are scaled in place in their own dtype, so both backends clip by
the same factor.
"""

import math as _math

import numpy as _np

from . import _params

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters, fn: str) -> list:
    if _params.is_tensor(parameters):
        parameters = [parameters]
    out = []
    for p in parameters:
        if not _params.is_tensor(p):
            raise TypeError(f"{fn}: expected Tensors, got {type(p).__name__}")
        if p.grad is not None:
            out.append(p)
    return out


def _scale(p, factor: float) -> None:
    g = p.grad
    arr = _np.asarray(g.numpy())
    _params.assign(g, (arr * _np.asarray(factor, dtype=arr.dtype)).astype(arr.dtype))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients in place so that their joint ``norm_type`` norm is at most
    ``max_norm``: each by ``min(1, max_norm / (total + 1e-6))``, as PyTorch does.
    Returns the total norm before clipping, a 0-d Tensor (0.0 as a float without gradients)."""
    ps = _with_grads(parameters, "clip_grad_norm_")
    if not ps:
        return 0.0
    norm_type = float(norm_type)
    grads = [_np.asarray(p.grad.numpy(), dtype=_np.float64).ravel() for p in ps]
    if _math.isinf(norm_type):
        total = max(float(_np.abs(g).max(initial=0.0)) for g in grads)
    else:
        total = float(sum(_np.sum(_np.abs(g) ** norm_type) for g in grads) ** (1.0 / norm_type))
    if error_if_nonfinite and not _math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           "so it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = float(max_norm) / (total + 1e-6)
    if not coef >= 1.0:  # a NaN total scales by NaN, as in PyTorch
        for p in ps:
            _scale(p, coef)
    backend = _params.backend_of(ps[0])
    return backend.tensor(_np.asarray(total, dtype=_np.dtype(ps[0].grad.dtype)))


def clip_grad_value_(parameters, clip_value) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    c = float(clip_value)
    for p in _with_grads(parameters, "clip_grad_value_"):
        arr = _np.asarray(p.grad.numpy())
        _params.assign(p.grad, _np.clip(arr, -c, c).astype(arr.dtype))
