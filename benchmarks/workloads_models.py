"""W6 and W7: training steps of the models of "from micrograd to GPT" (tapegrad._examples).

W6 is the makemore MLP (batch 32, block 3, embedding 10, hidden 200,
vocabulary 27); W7 the tiny GPT (2 layers, 4 heads, d=64, context 32, batch
16, vocabulary 65). A step is forward, backward and an SGD update, in
float32. Every backend runs the same model code (tapegrad._examples, written
against PyTorch's names) from the same weights: the reference backend's
seeded initialisation, copied into the others through ``load_state_dict``.
The batches are seeded random ids, the same on every backend.

Loaded by workloads.py (``workloads(base)`` returns its Workload rows).
"""
from __future__ import annotations

import numpy as np

BACKENDS = ("native-1t", "reference-1t", "torch-1t", "native-2t", "torch-2t")
SGD_LR = 0.05


class _State:
    pass


def _initial_state(base, module, cfg):
    """The model's first weights, as float32 arrays: the reference backend's, seeded."""
    ref = base.load_backend("reference")
    base._require(ref, "nn.Embedding", "nn.LayerNorm", "nn.functional.embedding")
    ref.manual_seed(0)
    model = module.model_class(ref)(cfg)
    return {k: np.asarray(v, dtype=np.float32) for k, v in model.state_dict().items()}  # tg: NumPy arrays


def _batch(vocab, x_shape, y_shape, seed=7):
    rng = np.random.default_rng(seed)
    return rng.integers(0, vocab, x_shape).astype(np.int64), rng.integers(0, vocab, y_shape).astype(np.int64)


def _setup(base, backend, module, cfg, x_shape, y_shape):
    st = _State()
    st.torch = backend.startswith("torch")
    tg = base.load_backend(backend)
    if not st.torch:
        base._require(tg, "nn.Embedding", "nn.functional.embedding", "optim.SGD")
    weights = _initial_state(base, module, cfg)
    x, y = _batch(cfg.vocab, x_shape, y_shape)
    model = module.model_class(tg)(cfg)
    if st.torch:
        model.load_state_dict({k: tg.from_numpy(v.copy()) for k, v in weights.items()})
        st.x, st.y = tg.from_numpy(x), tg.from_numpy(y)
    else:
        model.load_state_dict({k: tg.tensor(v) for k, v in weights.items()})
        st.x, st.y = tg.tensor(x), tg.tensor(y)
    st.model = model
    st.params = list(model.parameters())
    st.opt = tg.optim.SGD(st.params, lr=SGD_LR)
    return st


def _step(st):
    _, loss = st.model(st.x, st.y)
    st.opt.zero_grad()
    loss.backward()
    st.opt.step()
    return None


def _check(st):
    _, loss = st.model(st.x, st.y)
    loss.backward()
    grads = [np.asarray(p.grad.detach().numpy() if st.torch else p.grad.numpy(), dtype=np.float64)
             for p in st.params]
    return float(loss.item()), grads


def workloads(base):
    try:
        from tapegrad._examples import gpt, makemore
    except ImportError:  # a tapegrad from before the examples (benchmarks/compare_builds.py's old build)
        return []

    w6_cfg = makemore.Config()
    w7_cfg = gpt.Config(vocab=65)

    def w6_setup(backend, size):
        return _setup(base, backend, makemore, w6_cfg, (w6_cfg.batch, w6_cfg.block), (w6_cfg.batch,))

    def w7_setup(backend, size):
        return _setup(base, backend, gpt, w7_cfg, (w7_cfg.batch, w7_cfg.context), (w7_cfg.batch, w7_cfg.context))

    def checker(setup):
        def check(backend, size):
            loss, grads = _check(setup(backend, size))
            return base.Check(loss, grads)
        return check

    return [
        base.Workload(
            name="W6", title="makemore MLP step (batch 32, block 3, embedding 10, hidden 200, vocabulary 27)",
            backends=BACKENDS, sizes=(32,), quick_sizes=(32,), tiny_sizes=(32,),
            setup=w6_setup, step=_step, check=checker(w6_setup),
            size_label=lambda s: f"batch {s}", rtol=1e-3, atol=1e-5,
            notes="tapegrad._examples.makemore; forward, backward, SGD; float32",
        ),
        base.Workload(
            name="W7", title="tiny GPT step (2 layers, 4 heads, d=64, context 32, batch 16, vocabulary 65)",
            backends=BACKENDS, sizes=(16,), quick_sizes=(16,), tiny_sizes=(16,),
            setup=w7_setup, step=_step, check=checker(w7_setup),
            size_label=lambda s: f"batch {s}", rtol=2e-3, atol=1e-5,
            notes="tapegrad._examples.gpt; forward, backward, SGD; float32",
        ),
    ]
