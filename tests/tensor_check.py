"""``check_tensor_op``: one line per Tensor op test (STYLE habit 9).

It runs ``fn`` on float64 tensors of the backend under test and checks
1. the forward values against a NumPy formula (when given) and PyTorch;
2. every gradient against central finite differences (``tg.gradcheck``);
3. every gradient against PyTorch float64 for a random upstream gradient.
PyTorch parts run only where ``torch`` imports (CI installs it).
"""
from __future__ import annotations

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None


def make_input(spec, rng, positive=False) -> np.ndarray:
    """A float64 array: ``spec`` itself if it is an array, else random of shape ``spec``."""
    if isinstance(spec, np.ndarray):
        return spec.astype(np.float64)
    x = rng.standard_normal(spec)
    return np.abs(x) + 0.5 if positive else x


def check_tensor_op(tg, fn, *inputs, torch_fn=None, numpy_fn=None, positive=False,
                    grad=True, use_torch=True, seed=0, atol=1e-9, rtol=1e-7):
    """Check ``fn(*tensors)`` forward and backward; returns the backend's output.

    ``inputs`` are shapes (random normal data, ``positive`` shifts it above 0.5)
    or arrays. ``torch_fn`` replaces ``fn`` for PyTorch when the names differ;
    ``use_torch=False`` skips PyTorch where it has no counterpart.
    """
    rng = np.random.default_rng(seed)
    arrays = [make_input(spec, rng, positive) for spec in inputs]
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    got = np.asarray(out.numpy())
    assert out.dtype == np.float64, out.dtype
    if numpy_fn is not None:
        np.testing.assert_allclose(got, numpy_fn(*arrays), atol=atol, rtol=rtol)
    if grad:
        assert tg.gradcheck(fn, xs)
    if torch is not None and use_torch:
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        t_out = (torch_fn or fn)(*ts)
        np.testing.assert_allclose(got, t_out.detach().numpy(), atol=atol, rtol=rtol)
        if grad:
            upstream = rng.standard_normal(got.shape)
            fn(*xs).backward(gradient=tg.tensor(upstream))
            t_out.backward(torch.tensor(upstream))
            for x, t in zip(xs, ts):
                mine = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
                theirs = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
                np.testing.assert_allclose(mine, theirs, atol=atol, rtol=rtol)
    return out
