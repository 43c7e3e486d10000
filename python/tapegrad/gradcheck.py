"""Check a function's backward pass against central finite differences.

Backend-agnostic: it only uses the public API (``.data``, ``.numpy()``,
``.grad``, ``backward``), so ``tapegrad.gradcheck`` and
``tapegrad.reference.gradcheck`` are this same function. It never imports
the native extension.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """The analytic and numeric gradients disagree.

    An AssertionError, so that a failed check inside a test reads as a failed
    assertion. The message names the worst mismatch.
    """

    def __init__(self, *args):  # spelled out: inspect.signature reads no builtin exception's
        super().__init__(*args)


def _is_value(x) -> bool:
    return type(x).__name__ == "Value" and hasattr(x, "data") and hasattr(x, "grad")


def _is_tensor(x) -> bool:
    return type(x).__name__ == "Tensor" and hasattr(x, "numpy")


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """True if ``fn``'s gradients match central differences; else raise GradcheckError.

    ``inputs`` is one Value/Tensor or a sequence passed to ``fn`` as
    positional arguments. Values and Tensors with ``requires_grad=True`` are
    checked; anything else (numbers, label arrays, Tensors without
    requires_grad) is passed through unchanged. ``fn`` is always called on
    fresh float64 copies of the checked inputs, never on the originals, so
    their ``.grad`` is untouched.

    The numeric Jacobian comes from ``(f(x + eps) - f(x - eps)) / (2 eps)``
    per input element. The analytic one comes from one backward pass per
    output element (seeded with a one-hot ``gradient`` for a non-scalar
    Tensor output), so every entry of the Jacobian is compared, not a random
    projection of it. An entry passes when ``|analytic - numeric| <= atol +
    rtol * |numeric|``; nan matches only nan, inf only the same inf.
    """
    args = list(inputs) if isinstance(inputs, Sequence) else [inputs]
    checked = [i for i, x in enumerate(args) if _is_value(x) or (_is_tensor(x) and x.requires_grad)]
    if not checked:
        raise ValueError("gradcheck() needs at least one Value or Tensor with requires_grad=True "
                         f"among its inputs, got {[type(x).__name__ for x in args]}")
    base = {i: _as_array(args[i]) for i in checked}

    def call(arrays: dict):
        """fn on fresh copies holding ``arrays``; returns (output, the copies)."""
        copies = list(args)
        for i in checked:
            copies[i] = _make_like(args[i], arrays[i])
        return fn(*copies), copies

    out0 = _as_array(call(base)[0])
    numeric = {i: np.zeros(out0.shape + base[i].shape) for i in checked}
    for i in checked:
        for idx in np.ndindex(base[i].shape):
            shifted = dict(base)
            plus, minus = base[i].copy(), base[i].copy()
            plus[idx] += eps
            minus[idx] -= eps
            shifted[i] = plus
            f_plus = _as_array(call(shifted)[0])
            shifted[i] = minus
            f_minus = _as_array(call(shifted)[0])
            numeric[i][(...,) + idx] = (f_plus - f_minus) / (2.0 * eps)

    analytic = {i: np.zeros_like(numeric[i]) for i in checked}
    for out_idx in np.ndindex(out0.shape):
        out, copies = call(base)
        _backward_one(out, out_idx, out0.shape)
        for i in checked:
            analytic[i][out_idx] = _grad_of(copies[i], base[i].shape)

    _compare(analytic, numeric, out0.shape, atol, rtol)
    return True


def _as_array(x) -> np.ndarray:
    if _is_value(x):
        return np.array(float(x.data), dtype=np.float64)
    if _is_tensor(x):
        return np.array(x.numpy(), dtype=np.float64)
    raise TypeError(f"gradcheck() fn must return a Value or a Tensor, not {type(x).__name__}")


def _make_like(x, array: np.ndarray):
    if _is_value(x):
        return type(x)(float(array))
    return type(x)(array.copy(), requires_grad=True, dtype=np.float64)


def _backward_one(out, out_idx: tuple, shape: tuple) -> None:
    """Backpropagate d out[out_idx] into the copies' ``.grad``."""
    if _is_value(out):
        out.backward()
    elif out.requires_grad:  # an output independent of every input has no graph
        seed = np.zeros(shape)
        seed[out_idx] = 1.0
        out.backward(gradient=type(out)(seed.astype(out.numpy().dtype)))


def _grad_of(copy, shape: tuple) -> np.ndarray:
    g = copy.grad
    if g is None:  # a Tensor the output does not depend on
        return np.zeros(shape)
    return np.array(g if _is_value(copy) else g.numpy(), dtype=np.float64).reshape(shape)


def _compare(analytic: dict, numeric: dict, out_shape: tuple, atol: float, rtol: float) -> None:
    worst = None  # (excess over tolerance, input, element, analytic, numeric)
    bad = total = 0
    for i in analytic:
        a, n = analytic[i], numeric[i]
        same_nonfinite = (np.isnan(a) & np.isnan(n)) | (np.isinf(a) & (a == n))
        with np.errstate(invalid="ignore"):
            excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        excess = np.where(same_nonfinite, -np.inf, np.nan_to_num(excess, nan=np.inf))
        total += excess.size
        bad += int(np.count_nonzero(excess > 0))
        if excess.size and excess.max() > 0:
            at = np.unravel_index(int(np.argmax(excess)), excess.shape)
            if worst is None or excess[at] > worst[0]:
                worst = (excess[at], i, at, a[at], n[at])
    if worst is not None:
        _, i, at, a, n = worst
        out_idx, in_idx = at[: len(out_shape)], at[len(out_shape):]
        where = f"input {i}, element {tuple(int(k) for k in in_idx)}"
        if out_shape:
            where += f", output element {tuple(int(k) for k in out_idx)}"
        raise GradcheckError(
            f"gradcheck failed at {where}: analytic {float(a)!r} vs numeric {float(n)!r} "
            f"(atol={atol}, rtol={rtol}; {bad} of {total} Jacobian entries differ)")
