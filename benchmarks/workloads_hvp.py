"""The hvp workload: one Hessian-vector product of a small MLP's loss.

The model is a 2-layer tanh MLP, 256-256-128 (98,688 parameters), on a batch
of 64, with mean squared error, in float32; the product is taken with respect
to every parameter, against a random direction. tapegrad computes it with
``tg.func.hvp`` (a backward pass that records itself, then a second backward
through it); PyTorch with whichever of ``torch.autograd.functional.hvp`` and
``torch.func.jvp(torch.func.grad(f))`` is faster here, chosen once per
process by timing both.

Loaded by workloads.py (``workloads(base)`` returns its Workload rows).
"""
from __future__ import annotations

import time

import numpy as np

SIZES = (64, 256, 256, 128)  # batch, inputs, hidden, outputs
TINY = (4, 6, 5, 3)


def _arrays(size):
    batch, nin, hidden, nout = size
    rng = np.random.default_rng(15)

    def f32(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    params = [f32(nin, hidden, scale=nin ** -0.5), f32(hidden, scale=0.1), f32(hidden, nout, scale=hidden ** -0.5),
              f32(nout, scale=0.1)]
    direction = [f32(*p.shape) for p in params]
    return f32(batch, nin), f32(batch, nout), params, direction


def _loss(x, y, W1, b1, W2, b2):
    d = (x @ W1 + b1).tanh() @ W2 + b2 - y
    return (d * d).mean()


class _State:
    pass


def _torch_hvp(torch, f, params, direction):
    """The faster of PyTorch's two ways, decided by timing each a few times."""
    def functional():
        return torch.autograd.functional.hvp(f, tuple(params), tuple(direction))[1]

    def func_jvp():
        return torch.func.jvp(torch.func.grad(f, argnums=(0, 1, 2, 3)), tuple(params), tuple(direction))[1]

    best = None
    for way in (functional, func_jvp):
        way()  # warm-up
        t0 = time.perf_counter()
        for _ in range(3):
            way()
        elapsed = time.perf_counter() - t0
        if best is None or elapsed < best[0]:
            best = (elapsed, way)
    return best[1]


def workloads(base):
    """The Workload rows of this file, built on workloads.py's helpers (``base``)."""

    def setup(backend, size):
        x, y, params, direction = _arrays(size)
        st = _State()
        st.torch = backend.startswith("torch")
        if st.torch:
            torch = base.load_backend(backend)
            X, Y = torch.from_numpy(x), torch.from_numpy(y)
            ps = [torch.from_numpy(p) for p in params]
            vs = [torch.from_numpy(v) for v in direction]
            st.run = _torch_hvp(torch, lambda *p: _loss(X, Y, *p), ps, vs)
            return st
        tg = base.load_backend(backend)
        hvp = base._require(tg, "func.hvp")
        X, Y = tg.tensor(x), tg.tensor(y)
        ps = tuple(tg.tensor(p) for p in params)
        vs = tuple(tg.tensor(v) for v in direction)
        st.run = lambda: hvp(lambda *p: _loss(X, Y, *p), ps, vs)[1]
        return st

    def step(st):
        st.run()
        return None

    def check(backend, size):
        st = setup(backend, size)
        out = st.run()
        arrays = [np.asarray(t.detach().numpy() if st.torch else t.numpy(), dtype=np.float64) for t in out]
        return base.Check(None, arrays)

    return [
        base.Workload(
            name="hvp", title="Hessian-vector product, tanh MLP 256-256-128, batch 64, MSE, float32",
            backends=("native-1t", "reference-1t", "torch-1t", "native-2t", "reference-2t", "torch-2t"),
            sizes=(SIZES,), quick_sizes=(SIZES,), tiny_sizes=(TINY,),
            setup=setup, step=step, check=check,
            size_label=lambda s: f"{s[1]}-{s[2]}-{s[3]} b{s[0]}", nodes=lambda s: None,
            rtol=1e-3, atol=1e-4,
            notes="w.r.t. all 4 parameters; torch: the faster of autograd.functional.hvp and func.jvp(func.grad)",
        ),
    ]
