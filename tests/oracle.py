"""Shared oracles: one call checks an op's forward value and every gradient.

``check_value_op(tg, fn, *xs)`` runs the same ``fn`` (written with operators
and methods that Values and torch tensors share: ``a * b``, ``a.tanh()``,
``abs(a)``, ``2 ** a``) on ``tg.Value``s and compares
  * every gradient with central finite differences in float64, and
  * the forward value and every gradient with PyTorch float64 when torch
    is importable.
"""
from __future__ import annotations

import math

try:
    import torch
except ImportError:  # pragma: no cover - the CI image has torch
    torch = None

FD_EPS = 1e-6
FD_RTOL = 1e-6
FD_ATOL = 1e-6
TORCH_RTOL = 1e-12
TORCH_ATOL = 1e-12


def close(a: float, b: float, rtol: float, atol: float) -> bool:
    """|a - b| <= atol + rtol |b|; nan matches nan, inf the same inf."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def fd_gradients(tg, fn, xs, eps: float = FD_EPS) -> list[float]:
    """Central differences of ``fn(*Values).data`` with respect to each input."""
    grads = []
    for i, x in enumerate(xs):
        h = eps * max(1.0, abs(x))  # relative step keeps roundoff small for large x
        plus = [tg.Value(v + h if j == i else v) for j, v in enumerate(xs)]
        minus = [tg.Value(v - h if j == i else v) for j, v in enumerate(xs)]
        grads.append((fn(*plus).data - fn(*minus).data) / (2.0 * h))
    return grads


def torch_reference(fn, xs) -> tuple[float, list[float]] | None:
    """(forward value, gradients) of ``fn`` in PyTorch float64, or None without torch."""
    if torch is None:
        return None
    ts = [torch.tensor(float(x), dtype=torch.float64, requires_grad=True) for x in xs]
    out = fn(*ts)
    grads = torch.autograd.grad(out, ts, allow_unused=True)
    return out.item(), [0.0 if g is None else g.item() for g in grads]


def check_value_op(tg, fn, *xs: float, fd: bool = True, torch_fn=None):
    """Forward and gradients of ``fn`` on ``tg.Value``s against FD and torch; returns the output.

    ``torch_fn`` replaces ``fn`` for PyTorch where the spellings differ."""
    values = [tg.Value(x) for x in xs]
    out = fn(*values)
    out.backward()
    grads = [v.grad for v in values]
    if fd:
        for i, (g, n) in enumerate(zip(grads, fd_gradients(tg, fn, xs))):
            assert close(g, n, FD_RTOL, FD_ATOL), f"input {i}: backward {g!r} vs finite difference {n!r}"
    ref = torch_reference(torch_fn or fn, xs)
    if ref is not None:
        data, torch_grads = ref
        assert close(out.data, data, TORCH_RTOL, TORCH_ATOL), f"forward {out.data!r} vs torch {data!r}"
        for i, (g, t) in enumerate(zip(grads, torch_grads)):
            assert close(g, t, TORCH_RTOL, TORCH_ATOL), f"input {i}: backward {g!r} vs torch {t!r}"
    return out


# ----------------------------------------------------------------------------
# Tensors: ``check_tensor_op(tg, fn, *shapes_or_arrays)`` runs ``fn`` on float64
# tensors and checks the forward values against a NumPy formula (when given)
# and PyTorch, every gradient against central finite differences
# (``tg.gradcheck``), and every gradient against PyTorch float64 for a random
# upstream gradient. PyTorch parts run only where ``torch`` imports.

import numpy as np  # noqa: E402


def make_input(spec, rng, positive=False) -> np.ndarray:
    """A float64 array: ``spec`` itself if it is an array, else random of shape ``spec``."""
    if isinstance(spec, np.ndarray):
        return spec.astype(np.float64)
    x = rng.standard_normal(spec)
    return np.abs(x) + 0.5 if positive else x


def check_tensor_op(tg, fn, *inputs, torch_fn=None, numpy_fn=None, positive=False,
                    grad=True, use_torch=True, seed=0, atol=1e-9, rtol=1e-7, out_dtype=np.float64):
    """Check ``fn(*tensors)`` forward and backward; returns the backend's output.

    ``inputs`` are shapes (random normal data, ``positive`` shifts it above 0.5)
    or arrays. ``torch_fn`` replaces ``fn`` for PyTorch when the names differ;
    ``use_torch=False`` skips PyTorch where it has no counterpart; ``out_dtype`` is
    the result's dtype (float64, or int64 for argmax).
    """
    rng = np.random.default_rng(seed)
    arrays = [make_input(spec, rng, positive) for spec in inputs]
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    got = np.asarray(out.numpy())
    assert out.dtype == out_dtype, out.dtype
    if numpy_fn is not None:
        np.testing.assert_allclose(got, numpy_fn(*arrays), atol=atol, rtol=rtol)
    if grad:
        assert tg.gradcheck(fn, xs)
    if torch is not None and use_torch:
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        t_out = (torch_fn or fn)(*ts)
        theirs = t_out.detach().numpy()
        if theirs.dtype == bool:  # comparisons: PyTorch's bools are our 1.0 / 0.0
            theirs = theirs.astype(got.dtype)
        np.testing.assert_allclose(got, theirs, atol=atol, rtol=rtol)
        if grad:
            upstream = rng.standard_normal(got.shape)
            fn(*xs).backward(gradient=tg.tensor(upstream))
            t_out.backward(torch.tensor(upstream))
            for x, t in zip(xs, ts):
                mine = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
                theirs = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
                np.testing.assert_allclose(mine, theirs, atol=atol, rtol=rtol)
    return out
