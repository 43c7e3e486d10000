"""tg.optim: SGD and Adam step for step against PyTorch, on Values and Tensors."""
from __future__ import annotations

import numpy as np
import pytest

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01, dampening=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in CONFIGS]
STEPS = 6

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.2, -0.3], [-0.7, 0.9, 0.1], [0.0, -2.0, 1.0]])
T = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0], [-1.0, 0.3]])
W0 = np.array([[0.3, -0.2, 0.1], [0.05, 0.4, -0.6]])
B0 = np.array([0.1, -0.1])


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed")


@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_tensor_parameters_match_torch(tg, name, kw):
    torch = _torch()
    lin = tg.nn.Linear(3, 2, dtype=np.float64)
    lin.load_state_dict({"weight": W0, "bias": B0})
    opt = getattr(tg.optim, name)(lin.parameters(), **kw)
    tw = torch.tensor(W0, requires_grad=True)
    tb = torch.tensor(B0, requires_grad=True)
    topt = getattr(torch.optim, name)([tw, tb], **kw)
    for _ in range(STEPS):
        opt.zero_grad()
        out = lin(X)
        tg.nn.functional.mse_loss(out * out.tanh(), T).backward()
        opt.step()
        topt.zero_grad()
        tout = torch.tensor(X) @ tw.T + tb
        torch.nn.functional.mse_loss(tout * tout.tanh(), torch.tensor(T)).backward()
        topt.step()
    np.testing.assert_allclose(lin.weight.numpy(), tw.detach().numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(lin.bias.numpy(), tb.detach().numpy(), rtol=0, atol=1e-5)
    # in fact they agree to rounding
    np.testing.assert_allclose(lin.weight.numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_value_parameters_match_torch(tg, name, kw):
    torch = _torch()
    start = [0.5, -1.5, 2.0]
    ws = [tg.Value(v) for v in start]
    opt = getattr(tg.optim, name)(ws, **kw)
    tws = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in start]
    topt = getattr(torch.optim, name)(tws, **kw)

    def loss(w, lib_tanh):
        return (w[0] * w[1] - 1.0) ** 2 + lib_tanh(w[2] * w[0]) + w[1] ** 2 * 0.5

    for _ in range(STEPS):
        opt.zero_grad()
        loss(ws, lambda v: v.tanh()).backward()
        opt.step()
        topt.zero_grad()
        loss(tws, torch.tanh).backward()
        topt.step()
    assert [w.data for w in ws] == pytest.approx([t.item() for t in tws], abs=1e-5)
    assert [w.data for w in ws] == pytest.approx([t.item() for t in tws], rel=1e-10, abs=1e-12)


def test_float32_parameters_stay_float32_and_in_place(tg):
    torch = _torch()
    model = tg.nn.Sequential(tg.nn.Linear(3, 4, seed=0), tg.nn.Tanh(), tg.nn.Linear(4, 2, seed=1))
    params = model.parameters()
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        for tp, (name, p) in zip(tmodel.parameters(), model.named_parameters()):
            tp.copy_(torch.from_numpy(p.numpy().copy()))
    opt = tg.optim.Adam(params, lr=0.01)
    topt = torch.optim.Adam(tmodel.parameters(), lr=0.01)
    x = X.astype(np.float32)
    for _ in range(STEPS):
        opt.zero_grad()
        tg.nn.functional.mse_loss(model(x), T.astype(np.float32)).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.mse_loss(tmodel(torch.from_numpy(x)), torch.from_numpy(T.astype(np.float32))).backward()
        topt.step()
    assert [p is q for p, q in zip(params, model.parameters())] == [True] * 4
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), atol=1e-5)


def test_parameters_without_grad_are_skipped(tg):
    a = tg.tensor(np.ones(3), requires_grad=True)
    b = tg.tensor(np.ones(3), requires_grad=True)
    opt = tg.optim.SGD([a, b], lr=0.5, momentum=0.9)
    (a * 2).sum().backward()
    opt.step()
    np.testing.assert_array_equal(a.numpy(), np.zeros(3))
    np.testing.assert_array_equal(b.numpy(), np.ones(3))
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_zero_grad_on_values_and_lr_is_mutable(tg):
    w = tg.Value(1.0)
    opt = tg.optim.SGD([w], lr=1.0)
    (w * 3).backward()
    assert w.grad == 3.0
    opt.lr = 0.5
    opt.step()
    assert w.data == -0.5
    opt.zero_grad()
    assert w.grad == 0.0


def test_bad_arguments(tg):
    w = tg.Value(1.0)
    with pytest.raises(ValueError, match="empty parameter list"):
        tg.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        tg.optim.SGD([w], lr=-1)
    with pytest.raises(ValueError, match="momentum"):
        tg.optim.SGD([w], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="nesterov"):
        tg.optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        tg.optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps"):
        tg.optim.Adam([w], eps=-1.0)
    with pytest.raises(TypeError, match="optimizes Values and Tensors"):
        tg.optim.Adam([1.0])
