"""tg.nn's layers, containers, nn.init, nn.utils and optim.AdamW, on both backends.

Each layer gets PyTorch's weights through state_dict (float64), then its
output and the gradients of its input and parameters are compared with
torch's; train()/eval() and BatchNorm's running statistics likewise.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tnn = torch.nn


def to_tg(tg, module, torch_module):
    """``module`` made float64 and loaded with torch_module's parameters and buffers (float64)."""
    module.double().load_state_dict({k: v.detach().numpy().astype(np.float64) if v.is_floating_point() else v.numpy()
                            for k, v in torch_module.state_dict().items()})
    return module


def compare(tg, module, torch_module, x, rtol=1e-10, atol=1e-12, int_input=False):
    """Forward and backward of both modules on x; outputs and all gradients agree."""
    if int_input:
        xt, xg = torch.tensor(x), tg.tensor(x, dtype=tg.int64)
    else:
        xt = torch.tensor(x, requires_grad=True)
        xg = tg.tensor(x, requires_grad=True)
    yt, yg = torch_module(xt), module(xg)
    np.testing.assert_allclose(yg.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    w = np.random.default_rng(5).standard_normal(yt.shape)
    (yt * torch.tensor(w)).sum().backward()
    (yg * tg.tensor(w)).sum().backward()
    if not int_input:
        np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)
    grads = dict(torch_module.named_parameters())
    names = [n for n, _ in module.named_parameters()]
    assert names == list(grads)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), rtol=rtol, atol=atol, err_msg=name)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("make, tmake, shape", [
    (lambda nn: nn.Linear(4, 3), lambda: tnn.Linear(4, 3), (2, 4)),
    (lambda nn: nn.Linear(4, 3), lambda: tnn.Linear(4, 3), (2, 5, 4)),
    (lambda nn: nn.Linear(4, 3, bias=False), lambda: tnn.Linear(4, 3, bias=False), (2, 1, 3, 4)),
    (lambda nn: nn.Linear(4, 3), lambda: tnn.Linear(4, 3), (2, 0, 4)),
    (lambda nn: nn.LayerNorm(5), lambda: tnn.LayerNorm(5), (3, 5)),
    (lambda nn: nn.LayerNorm((2, 3), eps=1e-3), lambda: tnn.LayerNorm((2, 3), eps=1e-3), (4, 2, 3)),
    (lambda nn: nn.LayerNorm(4, bias=False), lambda: tnn.LayerNorm(4, bias=False), (2, 4)),
    (lambda nn: nn.Conv2d(2, 3, 3), lambda: tnn.Conv2d(2, 3, 3), (2, 2, 6, 5)),
    (lambda nn: nn.Conv2d(2, 4, (3, 2), stride=2, padding=1, bias=False),
     lambda: tnn.Conv2d(2, 4, (3, 2), stride=2, padding=1, bias=False), (1, 2, 7, 6)),
    (lambda nn: nn.MaxPool2d(2), lambda: tnn.MaxPool2d(2), (2, 3, 6, 4)),
    (lambda nn: nn.AvgPool2d((2, 3), stride=1), lambda: tnn.AvgPool2d((2, 3), stride=1), (2, 3, 5, 5)),
    (lambda nn: nn.Flatten(), lambda: tnn.Flatten(), (2, 3, 4)),
    (lambda nn: nn.Flatten(0, 1), lambda: tnn.Flatten(0, 1), (2, 3, 4)),
    (lambda nn: nn.GELU(), lambda: tnn.GELU(), (3, 4)),
    (lambda nn: nn.GELU(approximate="tanh"), lambda: tnn.GELU(approximate="tanh"), (3, 4)),
    (lambda nn: nn.SiLU(), lambda: tnn.SiLU(), (3, 4)),
    (lambda nn: nn.LeakyReLU(0.2), lambda: tnn.LeakyReLU(0.2), (3, 4)),
    (lambda nn: nn.Softplus(), lambda: tnn.Softplus(), (3, 4)),
    (lambda nn: nn.Softmax(dim=1), lambda: tnn.Softmax(dim=1), (3, 4)),
    (lambda nn: nn.LogSoftmax(dim=-1), lambda: tnn.LogSoftmax(dim=-1), (3, 4)),
    (lambda nn: nn.Identity(), lambda: tnn.Identity(), (3, 4)),
    (lambda nn: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)),
     lambda: tnn.Sequential(tnn.Linear(4, 6), tnn.Tanh(), tnn.Linear(6, 2)), (5, 4)),
])
def test_layer_matches_torch(tg, make, tmake, shape):
    torch.manual_seed(0)
    tm = tmake().double()
    module = to_tg(tg, make(tg.nn), tm)
    compare(tg, module, tm, rand(*shape))


def test_embedding_matches_torch(tg):
    torch.manual_seed(0)
    tm = tnn.Embedding(7, 3).double()
    module = to_tg(tg, tg.nn.Embedding(7, 3), tm)
    compare(tg, module, tm, np.array([[1, 4, 1], [6, 0, 4]], dtype=np.int64), int_input=True)
    # a float tensor of whole numbers (tg.tensor of an int array) is taken as int64 ids
    np.testing.assert_array_equal(module(tg.tensor(np.array([1, 4]))).detach().numpy(),
                                  module.weight.detach().numpy()[[1, 4]])
    with pytest.raises(TypeError, match="int64"):
        module(tg.tensor([0.5, 1.0]))


@pytest.mark.parametrize("cls, shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                        ("BatchNorm2d", (4, 3, 2, 5))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_train_and_eval_match_torch(tg, cls, shape, momentum):
    torch.manual_seed(0)
    tm = getattr(tnn, cls)(3, momentum=momentum).double()
    with torch.no_grad():
        tm.weight.uniform_(0.5, 1.5)
        tm.bias.uniform_(-0.5, 0.5)
    module = to_tg(tg, getattr(tg.nn, cls)(3, momentum=momentum), tm)
    for step in range(3):
        compare(tg, module, tm, rand(*shape, seed=step) * 2 + 1)
        for name in ("running_mean", "running_var"):
            np.testing.assert_allclose(getattr(module, name).numpy(), getattr(tm, name).numpy(), rtol=1e-12)
        assert int(module.num_batches_tracked.item()) == step + 1
        module.zero_grad()
        tm.zero_grad()
    module.eval()
    tm.eval()
    assert not module.training and not module.weight is None
    compare(tg, module, tm, rand(*shape, seed=9))
    assert int(module.num_batches_tracked.item()) == 3
    assert set(module.state_dict()) == set(tm.state_dict())
    assert [n for n, _ in module.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]


def test_batchnorm_rejects_wrong_rank(tg):
    with pytest.raises(ValueError, match=r"expected 4D input \(got 2D input\)"):
        tg.nn.BatchNorm2d(3)(tg.ones(2, 3))


def test_dropout_train_eval(tg):
    tg.manual_seed(0)
    d = tg.nn.Dropout(0.5)
    x = tg.ones(200)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 0).sum() < 200
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        tg.nn.Dropout(1.5)


def test_default_init_matches_torch_distributions(tg):
    tg.manual_seed(0)
    emb = tg.nn.Embedding(1000, 50).weight.numpy()
    assert abs(emb.mean()) < 0.02 and abs(emb.std() - 1) < 0.02 and emb.dtype == np.float32
    conv = tg.nn.Conv2d(4, 8, 3)
    bound = 1 / np.sqrt(4 * 9)
    assert np.abs(conv.weight.numpy()).max() <= bound and np.abs(conv.bias.numpy()).max() <= bound
    ln = tg.nn.LayerNorm(6)
    np.testing.assert_array_equal(ln.weight.numpy(), np.ones(6, np.float32))
    np.testing.assert_array_equal(ln.bias.numpy(), np.zeros(6, np.float32))


def test_backends_initialize_identically():
    import tapegrad
    import tapegrad.reference as ref
    mods = []
    for b in (tapegrad, ref):
        b.manual_seed(3)
        mods.append(b.nn.Sequential(b.nn.Embedding(5, 4), b.nn.Conv2d(1, 2, 2), b.nn.LayerNorm(3)))
    a, r = (m.state_dict() for m in mods)
    assert list(a) == list(r)
    for k in a:
        np.testing.assert_array_equal(a[k], r[k])


class _Net:
    @staticmethod
    def make(tg):
        nn = tg.nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 3)])
                self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 2)})
                self.bn = nn.BatchNorm1d(3)
                self.register_buffer("mask", tg.ones(2, 2))
                self.register_buffer("scratch", tg.zeros(2), persistent=False)

            def forward(self, x):
                for b in self.blocks:
                    x = b(x)
                return self.heads["a"](self.bn(x))
        return Net()


def test_module_tree_names_match_torch(tg):
    net = _Net.make(tg)

    class TNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = tnn.ModuleList([tnn.Linear(3, 3), tnn.Linear(3, 3)])
            self.heads = tnn.ModuleDict({"a": tnn.Linear(3, 1), "b": tnn.Linear(3, 2)})
            self.bn = tnn.BatchNorm1d(3)
            self.register_buffer("mask", torch.ones(2, 2))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)
    t = TNet()
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(net.state_dict()) == list(t.state_dict())
    assert [n for n, _ in net.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in net.named_modules()] == [n for n, _ in t.named_modules()]
    assert len(net.children()) == len(list(t.children())) == 3
    assert len(net.modules()) == len(list(t.modules()))
    assert "mask" not in dict(net.named_parameters())
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    text = repr(net)
    assert "(blocks): ModuleList(\n    (0-1): 2 x Linear(in_features=3, out_features=3, bias=True)" in text
    assert text == repr(t).replace("TNet", "Net")


def test_containers(tg):
    nn = tg.nn
    ml = nn.ModuleList()
    ml.append(nn.Tanh()).extend([nn.ReLU()])
    ml.insert(0, nn.SiLU())
    assert len(ml) == 3 and isinstance(ml[0], nn.SiLU) and len(ml[1:]) == 2
    md = nn.ModuleDict({"x": nn.Tanh()})
    md["y"] = nn.ReLU()
    assert list(md) == ["x", "y"] and "y" in md and len(md) == 2
    with pytest.raises(TypeError, match="takes Modules"):
        nn.ModuleList([3])
    p = nn.Parameter(tg.zeros(3))
    assert p.requires_grad and isinstance(p, nn.Parameter) and not isinstance(tg.zeros(2), nn.Parameter)


def test_load_state_dict_keeps_the_models_dtype_and_sharing(tg):
    # PyTorch's rule: the values are cast into the existing tensors (float64 weights into a
    # float32 model are rounded), which stay the same objects, shared where the model shares them
    nn = tg.nn
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.Tanh(), lin)  # one module twice
    weight = lin.weight
    state = {k: np.full(v.shape, 0.1) for k, v in seq.state_dict().items()}
    seq.load_state_dict(state)
    assert lin.weight is weight and seq[2].weight is seq[0].weight
    assert [p.dtype for p in seq.parameters()] == [np.float32, np.float32]
    np.testing.assert_array_equal(lin.weight.numpy(), np.full((2, 2), np.float32(0.1)))
    seq.load_state_dict({k: tg.tensor(v * 2, dtype=np.float64) for k, v in state.items()})  # Tensors work as arrays
    assert lin.weight.dtype == np.float32 and lin.bias.numpy()[0] == np.float32(0.2)
    doubled = nn.Linear(2, 2).double()
    doubled.load_state_dict({"weight": state["0.weight"], "bias": state["0.bias"]})
    assert doubled.weight.dtype == np.float64 and doubled.weight.numpy()[0, 0] == 0.1
    bn = nn.BatchNorm1d(2)
    bn.load_state_dict({**{k: v for k, v in bn.state_dict().items()}, "num_batches_tracked": np.array(3.0)})
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.item() == 3
    with pytest.raises(KeyError, match="missing keys"):
        seq.load_state_dict({})
    with pytest.raises(ValueError, match="has shape"):  # checked before anything is written
        seq.load_state_dict({"0.weight": np.zeros((2, 2)), "0.bias": np.zeros(3)})
    assert lin.bias.numpy()[0] == np.float32(0.2)


def test_init_functions(tg):
    init = tg.nn.init
    w = tg.zeros(30, 40)
    assert init.ones_(w) is w and (w.numpy() == 1).all()
    init.zeros_(w)
    assert (w.numpy() == 0).all()
    init.constant_(w, 2.5)
    assert (w.numpy() == 2.5).all()
    init.uniform_(w, -0.1, 0.1, generator=1)
    assert np.abs(w.numpy()).max() <= 0.1
    init.normal_(w, 1.0, 0.01, generator=1)
    assert abs(w.numpy().mean() - 1.0) < 0.01
    init.xavier_uniform_(w, generator=1)
    assert np.abs(w.numpy()).max() <= np.sqrt(6 / 70)
    init.kaiming_uniform_(w, nonlinearity="relu", generator=1)
    assert np.abs(w.numpy()).max() <= np.sqrt(2) * np.sqrt(3 / 40)
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(tg.zeros(3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("foo")


def test_init_is_the_same_on_both_backends():
    import tapegrad
    import tapegrad.reference as ref
    out = []
    for b in (tapegrad, ref):
        b.manual_seed(7)
        out.append(b.nn.init.kaiming_uniform_(b.zeros(4, 5)).numpy())
    np.testing.assert_array_equal(*out)


@pytest.mark.parametrize("max_norm, norm_type", [(0.5, 2.0), (100.0, 2.0), (0.3, 1.0), (0.2, float("inf"))])
def test_clip_grad_norm_matches_torch(tg, max_norm, norm_type):
    shapes = [(3, 4), (4,), (2, 2)]
    grads = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    ps = [tg.tensor(np.zeros(s), requires_grad=True) for s in shapes]
    tps = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    for p, tp, g in zip(ps, tps, grads):
        (p * tg.tensor(g)).sum().backward()
        tp.grad = torch.tensor(g)
    total = tg.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
    assert float(total.item()) == pytest.approx(float(ttotal), rel=1e-12)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_clip_grad_value(tg):
    p = tg.tensor(np.zeros(4), requires_grad=True)
    (p * tg.tensor([-3.0, -0.5, 0.5, 3.0])).sum().backward()
    tg.nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, -0.5, 0.5, 1.0])


@pytest.mark.parametrize("kw", [{}, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
                                {"weight_decay": 0.0}])
def test_adamw_matches_torch(tg, kw):
    w0, target = rand(3, 4), rand(3, 4, seed=1)
    p = tg.tensor(w0.copy(), requires_grad=True)
    tp = torch.tensor(w0.copy(), requires_grad=True)
    opt, topt = tg.optim.AdamW([p], **kw), torch.optim.AdamW([tp], **kw)
    for _ in range(6):
        for o, q, t in ((opt, p, tg.tensor(target)), (topt, tp, torch.tensor(target))):
            o.zero_grad()
            ((q - t) ** 2).sum().backward()
            o.step()
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_adamw_defaults_are_torchs(tg):
    opt = tg.optim.AdamW([tg.zeros(2, requires_grad=True)])
    t = torch.optim.AdamW([torch.zeros(2, requires_grad=True)])
    for key in ("lr", "betas", "eps", "weight_decay"):
        assert opt.param_groups[0][key] == t.param_groups[0][key]


def test_param_groups_set_the_rate_per_group(tg):
    a = tg.tensor(np.ones(2), requires_grad=True)
    b = tg.tensor(np.ones(2), requires_grad=True)
    opt = tg.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    opt.param_groups[0]["lr"] = 0.2
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), [0.8, 0.8])
    np.testing.assert_allclose(b.detach().numpy(), [0.5, 0.5])
    opt.lr = 1.0
    assert [g["lr"] for g in opt.param_groups] == [1.0, 1.0]


def test_loss_modules(tg):
    logits = rand(4, 3)
    labels = np.array([0, 2, 1, 2])
    got = tg.nn.CrossEntropyLoss()(tg.tensor(logits), tg.tensor(labels, dtype=tg.int64)).item()
    want = tnn.CrossEntropyLoss()(torch.tensor(logits), torch.tensor(labels)).item()
    assert got == pytest.approx(want, rel=1e-12)
    lp = torch.log_softmax(torch.tensor(logits), 1)
    got = tg.nn.NLLLoss()(tg.tensor(lp.numpy()), tg.tensor(labels, dtype=tg.int64)).item()
    assert got == pytest.approx(tnn.NLLLoss()(lp, torch.tensor(labels)).item(), rel=1e-12)
    got = tg.nn.MSELoss()(tg.tensor(logits), tg.tensor(logits * 0.5)).item()
    assert got == pytest.approx(float(((logits * 0.5) ** 2).mean()), rel=1e-12)


@pytest.mark.parametrize("make, tmake", [
    (lambda nn: nn.Linear(4, 3), lambda: tnn.Linear(4, 3)),
    (lambda nn: nn.Conv2d(2, 3, 3), lambda: tnn.Conv2d(2, 3, 3)),
    (lambda nn: nn.Conv2d(2, 3, (3, 2), stride=2, padding=1, bias=False),
     lambda: tnn.Conv2d(2, 3, (3, 2), stride=2, padding=1, bias=False)),
    (lambda nn: nn.Embedding(7, 3), lambda: tnn.Embedding(7, 3)),
    (lambda nn: nn.BatchNorm2d(4), lambda: tnn.BatchNorm2d(4)),
    (lambda nn: nn.GELU(), lambda: tnn.GELU()),
    (lambda nn: nn.Flatten(), lambda: tnn.Flatten()),
    (lambda nn: nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.ModuleList([nn.SiLU()])),
     lambda: tnn.Sequential(tnn.Linear(2, 2), tnn.Tanh(), tnn.ModuleList([tnn.SiLU()]))),
])
def test_repr_is_torchs(tg, make, tmake):
    assert repr(make(tg.nn)) == repr(tmake())


def test_zero_grad_set_to_none_false_zeroes_in_place(tg):
    lin = tg.nn.Linear(3, 2)
    lin(tg.ones((1, 3))).sum().backward()
    lin.zero_grad(set_to_none=False)
    assert all(p.grad is not None and (p.grad.numpy() == 0).all() for p in lin.parameters())
    opt = tg.optim.SGD(lin.parameters(), lr=0.1)
    opt.zero_grad()
    assert all(p.grad is None for p in lin.parameters())


def test_apply_and_dtype_casts(tg):
    net = _Net.make(tg)
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    t = []
    torch_net = tnn.Sequential(tnn.Linear(2, 2))
    torch_net.apply(lambda m: t.append(type(m).__name__))
    assert seen[-1] == "Net" and seen[0] == "Linear" and t == ["Linear", "Sequential"]
    assert net.double() is net
    assert {np.dtype(p.dtype) for p in net.parameters()} == {np.dtype(np.float64)}
    assert np.dtype(net.mask.dtype) == np.float64 and np.dtype(net.scratch.dtype) == np.float64
    assert np.dtype(net.bn.num_batches_tracked.dtype) == np.int64
    assert all(p.requires_grad for p in net.parameters()) and not net.mask.requires_grad
    net.float()
    assert {np.dtype(p.dtype) for p in net.parameters()} == {np.dtype(np.float32)}
    with pytest.raises(TypeError, match="float dtype"):
        net.to(np.int64)
