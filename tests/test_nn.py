"""tg.nn: micrograd-compatible Value modules, Tensor modules, state, functional losses."""
from __future__ import annotations

import importlib
import pathlib
import pickle

import numpy as np
import pytest

from conftest import load_backend


def values(xs):
    return [float(v.data) for v in xs]


# -- binding: one code, two backends ---------------------------------------------------


def test_nn_is_bound_to_its_backend(tg):
    m = tg.nn.MLP(3, [4, 1], seed=0)
    assert all(isinstance(p, tg.Value) for p in m.parameters())
    lin = tg.nn.Linear(3, 2, seed=0)
    assert isinstance(lin.weight, tg.Tensor) and isinstance(lin.bias, tg.Tensor)
    assert isinstance(m, tg.nn.Module) and isinstance(lin, tg.nn.Module)
    assert tg.nn.functional.mse_loss is importlib.import_module(tg.__name__ + ".nn.functional").mse_loss


def test_one_implementation_for_both_backends():
    import tapegrad
    from tapegrad import _nn_impl
    from tapegrad import reference

    for name in ("Neuron", "Layer", "MLP", "Linear"):
        native_cls, ref_cls = getattr(tapegrad.nn, name), getattr(reference.nn, name)
        assert native_cls.__mro__[1] is ref_cls.__mro__[1] is getattr(_nn_impl, name)
        assert ref_cls.__module__ == "tapegrad.reference.nn"
    assert tapegrad.nn.Module is reference.nn.Module is _nn_impl.Module
    assert reference.optim.Adam is tapegrad.optim.Adam and reference.explain is tapegrad.explain
    src = pathlib.Path(reference.nn.__file__).read_text()
    assert "_core" not in src.replace("tapegrad._core", "")


# -- micrograd's modules ---------------------------------------------------------------


def test_mlp_structure_and_reprs(tg):
    m = tg.nn.MLP(3, [4, 4, 1], seed=0)
    assert len(m.parameters()) == 4 * 4 + 4 * 5 + 5
    assert repr(m) == ("MLP of [Layer of [ReLUNeuron(3), ReLUNeuron(3), ReLUNeuron(3), ReLUNeuron(3)], "
                       "Layer of [ReLUNeuron(4), ReLUNeuron(4), ReLUNeuron(4), ReLUNeuron(4)], "
                       "Layer of [LinearNeuron(4)]]")
    n = tg.nn.Neuron(5, nonlin=False, seed=1)
    assert repr(n) == "LinearNeuron(5)" and n.b.data == 0.0
    assert all(-1.0 <= w.data <= 1.0 for w in n.w)
    layer = tg.nn.Layer(2, 3, seed=0)
    assert repr(layer) == "Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)]"
    out = layer([1.0, -2.0])
    assert isinstance(out, list) and len(out) == 3
    assert isinstance(tg.nn.Layer(2, 1, seed=0)([1.0, 2.0]), tg.Value)


def test_reprs_match_micrograd(tg):
    mg = pytest.importorskip("micrograd.nn", reason="micrograd is not installed")
    assert repr(tg.nn.MLP(3, [4, 4, 1], seed=0)) == repr(mg.MLP(3, [4, 4, 1]))
    assert repr(tg.nn.Neuron(2, nonlin=False)) == repr(mg.Neuron(2, nonlin=False))


def test_mlp_matches_micrograd_numbers(tg):
    mg = pytest.importorskip("micrograd.nn", reason="micrograd is not installed")
    ours = tg.nn.MLP(3, [4, 4, 1], seed=7)
    theirs = mg.MLP(3, [4, 4, 1])
    for p, q in zip(ours.parameters(), theirs.parameters()):
        q.data = p.data
    x = [2.0, 3.0, -1.0]
    y1, y2 = ours(x), theirs(x)
    assert y1.data == pytest.approx(y2.data, rel=1e-14, abs=1e-14)
    y1.backward()
    y2.backward()
    assert [p.grad for p in ours.parameters()] == pytest.approx([q.grad for q in theirs.parameters()], rel=1e-12, abs=1e-14)


def test_seeded_initialisation_is_reproducible_across_backends(tg):
    ref = load_backend("reference")
    a = values(tg.nn.MLP(2, [3, 1], seed=42).parameters())
    assert a == values(tg.nn.MLP(2, [3, 1], seed=42).parameters())
    assert a == values(ref.nn.MLP(2, [3, 1], seed=42).parameters())
    assert a != values(tg.nn.MLP(2, [3, 1], seed=43).parameters())
    tg.manual_seed(5)
    b = values(tg.nn.MLP(2, [3, 1]).parameters())
    tg.manual_seed(5)
    assert b == values(tg.nn.MLP(2, [3, 1]).parameters())
    ref.manual_seed(5)
    assert b == values(ref.nn.MLP(2, [3, 1]).parameters())
    w = tg.nn.Linear(4, 3, seed=3).weight.numpy()
    np.testing.assert_array_equal(w, ref.nn.Linear(4, 3, seed=3).weight.numpy())


def test_zero_grad_on_values(tg):
    m = tg.nn.MLP(2, [3, 1], seed=0)
    m([1.0, 2.0]).backward()
    assert any(p.grad != 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad == 0 for p in m.parameters())


# -- Tensor modules ------------------------------------------------------------------------


def test_linear_init_like_pytorch(tg):
    lin = tg.nn.Linear(16, 5, seed=0)
    assert lin.weight.shape == (5, 16) and lin.bias.shape == (5,)
    assert lin.weight.dtype == np.float32 and lin.weight.requires_grad and lin.weight.is_leaf
    bound = 1 / 4
    w = lin.weight.numpy()
    assert np.all(np.abs(w) <= bound) and np.abs(w).max() > 0.8 * bound
    assert np.all(np.abs(lin.bias.numpy()) <= bound)
    nobias = tg.nn.Linear(16, 5, bias=False, seed=0)
    assert nobias.bias is None and len(nobias.parameters()) == 1
    assert repr(lin) == "Linear(in_features=16, out_features=5, bias=True)"
    assert tg.nn.Linear(2, 2, dtype=np.float64).weight.dtype == np.float64
    with pytest.raises(ValueError, match="non-negative"):
        tg.nn.Linear(-1, 2)


def test_linear_forward_and_grads_against_numpy(tg):
    lin = tg.nn.Linear(3, 2, dtype=np.float64, seed=0)
    x = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    W, b = lin.weight.numpy().copy(), lin.bias.numpy().copy()
    y = lin(x)
    np.testing.assert_allclose(y.numpy(), x @ W.T + b, rtol=1e-12)
    (y * y).sum().backward()
    g = 2 * (x @ W.T + b)
    np.testing.assert_allclose(lin.weight.grad.numpy(), g.T @ x, rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad.numpy(), g.sum(0), rtol=1e-12)
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_activations_and_sequential(tg):
    model = tg.nn.Sequential(tg.nn.Linear(2, 4, seed=0), tg.nn.Tanh(), tg.nn.Linear(4, 3, seed=1),
                             tg.nn.ReLU(), tg.nn.Linear(3, 1, seed=2), tg.nn.Sigmoid())
    assert [n for n, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert len(model) == 6 and isinstance(model[1], tg.nn.Tanh) and len(model[:2]) == 2
    x = np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32)
    W = [model[i].weight.numpy().astype(np.float64) for i in (0, 2, 4)]
    B = [model[i].bias.numpy().astype(np.float64) for i in (0, 2, 4)]
    h = np.tanh(x @ W[0].T + B[0])
    h = np.maximum(h @ W[1].T + B[1], 0)
    h = 1 / (1 + np.exp(-(h @ W[2].T + B[2])))
    np.testing.assert_allclose(model(tg.tensor(x)).numpy(), h, rtol=1e-5)
    assert repr(model).startswith("Sequential(\n  (0): Linear(in_features=2, out_features=4, bias=True)")
    with pytest.raises(TypeError, match="Modules"):
        tg.nn.Sequential(lambda x: x)


def test_train_eval_and_custom_modules(tg):
    class Net(tg.nn.Module):
        def __init__(self):
            self.body = tg.nn.Sequential(tg.nn.Linear(2, 3, seed=0), tg.nn.ReLU())
            self.head = tg.nn.Linear(3, 1, seed=1)
            self.scale = tg.tensor(np.array([2.0], dtype=np.float32))  # a constant: not a parameter

        def forward(self, x):
            return self.head(self.body(x)) * self.scale

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    assert net.train() is net and net.body[0].training
    assert net(np.ones((4, 2))).shape == (4, 1)


# -- state ---------------------------------------------------------------------------------


def test_state_dict_roundtrip_values(tg, tmp_path):
    a = tg.nn.MLP(2, [3, 1], seed=0)
    b = tg.nn.MLP(2, [3, 1], seed=1)
    sd = a.state_dict()
    assert list(sd)[:4] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1", "layers.0.neurons.0.b",
                            "layers.0.neurons.1.w.0"]
    assert all(v.shape == () and v.dtype == np.float64 for v in sd.values())
    b.load_state_dict(sd)
    assert values(a.parameters()) == values(b.parameters())
    c = tg.nn.MLP(2, [3, 1], seed=2)
    a.save(tmp_path / "mlp.npz")
    c.load(tmp_path / "mlp.npz")
    assert values(c.parameters()) == values(a.parameters())


def test_state_dict_roundtrip_tensors(tg, tmp_path):
    a = tg.nn.Sequential(tg.nn.Linear(3, 4, seed=0), tg.nn.ReLU(), tg.nn.Linear(4, 2, seed=1))
    b = tg.nn.Sequential(tg.nn.Linear(3, 4, seed=5), tg.nn.ReLU(), tg.nn.Linear(4, 2, seed=6))
    sd = a.state_dict()
    assert set(sd) == {"0.weight", "0.bias", "2.weight", "2.bias"} and sd["0.weight"].shape == (4, 3)
    sd["0.weight"][0, 0] = 123.0  # a copy: the model is not changed
    assert a[0].weight.numpy()[0, 0] != 123.0
    weight_obj = b[0].weight
    b.load_state_dict(a.state_dict())
    assert b[0].weight is weight_obj  # updated in place: optimizers keep working
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)
    x = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    path = tmp_path / "model.npz"
    a.save(path)
    c = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(), tg.nn.Linear(4, 2))
    c.load(path)
    np.testing.assert_array_equal(c(x).numpy(), a(x).numpy())


def test_state_dict_errors(tg):
    a = tg.nn.Sequential(tg.nn.Linear(3, 4, seed=0))
    with pytest.raises(KeyError, match="missing keys.*0.bias"):
        a.load_state_dict({"0.weight": np.zeros((4, 3))})
    with pytest.raises(KeyError, match="unexpected keys.*extra"):
        a.load_state_dict({**a.state_dict(), "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"0.weight has shape \(3, 4\)"):
        a.load_state_dict({"0.weight": np.zeros((3, 4)), "0.bias": np.zeros(4)})
    a.load_state_dict({"0.bias": np.arange(4.0)}, strict=False)
    np.testing.assert_array_equal(a[0].bias.numpy(), np.arange(4.0))


def test_pickle_a_model(tg):
    m = tg.nn.MLP(2, [2, 1], seed=0)
    m2 = pickle.loads(pickle.dumps(m))
    assert type(m2) is type(m) and values(m2.parameters()) == values(m.parameters())


# -- functional ------------------------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed")


LOGITS = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0], [2.0, 2.0, 2.0], [-5.0, 0.1, 4.0]])
LABELS = np.array([2, 1, 0, 0])


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
def test_cross_entropy_against_torch(tg, monkeypatch, fused):
    torch = _torch()
    if not fused:
        monkeypatch.delattr(tg, "cross_entropy", raising=False)
    x = tg.tensor(LOGITS, requires_grad=True)
    loss = tg.nn.functional.cross_entropy(x, LABELS)
    tx = torch.tensor(LOGITS, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tx, torch.tensor(LABELS))
    loss.backward()
    tl.backward()
    assert loss.item() == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    # labels as a Tensor, and one unbatched sample
    assert tg.nn.functional.cross_entropy(tg.tensor(LOGITS), tg.tensor(LABELS.astype(np.float64))).item() == \
        pytest.approx(tl.item(), rel=1e-12)
    one = tg.nn.functional.cross_entropy(tg.tensor(LOGITS[1]), 1).item()
    assert one == pytest.approx(torch.nn.functional.cross_entropy(torch.tensor(LOGITS[1]), torch.tensor(1)).item())


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
def test_cross_entropy_bad_labels(tg, monkeypatch, fused):
    if not fused:
        monkeypatch.delattr(tg, "cross_entropy", raising=False)
    x = tg.tensor(LOGITS)
    with pytest.raises(IndexError, match="out of range"):
        tg.nn.functional.cross_entropy(x, np.array([0, 1, 3, 0]))
    with pytest.raises(TypeError, match="integer"):
        tg.nn.functional.cross_entropy(x, np.array([0.5, 1, 2, 0]))
    with pytest.raises(ValueError):
        tg.nn.functional.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(TypeError, match="Tensor"):
        tg.nn.functional.cross_entropy([[1.0, 2.0]], [0])


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
def test_mse_loss_against_torch(tg, monkeypatch, fused):
    torch = _torch()
    if not fused:
        monkeypatch.delattr(tg, "mse_loss", raising=False)
    p = tg.tensor(LOGITS, requires_grad=True)
    target = LOGITS[::-1].copy() * 0.5
    loss = tg.nn.functional.mse_loss(p, target)
    tp = torch.tensor(LOGITS, requires_grad=True)
    tl = torch.nn.functional.mse_loss(tp, torch.tensor(target))
    loss.backward()
    tl.backward()
    assert loss.item() == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_losses_on_values(tg):
    a, b = tg.Value(0.5), tg.Value(-1.0)
    loss = tg.nn.functional.mse_loss([a, b], [1.0, 1.0])
    assert loss.data == pytest.approx((0.25 + 4.0) / 2)
    loss.backward()
    assert (a.grad, b.grad) == pytest.approx((-0.5, -2.0))
    p = tg.Value(0.8)
    bce = tg.nn.functional.binary_cross_entropy(p, 1.0)
    assert bce.data == pytest.approx(-np.log(0.8))
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        tg.nn.functional.mse_loss([a, b], [1.0])


def test_bce_softmax_log_softmax_against_torch(tg):
    torch = _torch()
    probs = np.array([[0.1, 0.9], [0.7, 0.3]])
    target = np.array([[0.0, 1.0], [1.0, 1.0]])
    p = tg.tensor(probs, requires_grad=True)
    tp = torch.tensor(probs, requires_grad=True)
    loss = tg.nn.functional.binary_cross_entropy(p, target)
    tl = torch.nn.functional.binary_cross_entropy(tp, torch.tensor(target))
    loss.backward()
    tl.backward()
    assert loss.item() == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)
    x = tg.tensor(LOGITS)
    F = tg.nn.functional
    np.testing.assert_allclose(F.softmax(x, dim=1).numpy(), torch.softmax(torch.tensor(LOGITS), 1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(x, dim=0).numpy(),
                               torch.log_softmax(torch.tensor(LOGITS), 0).numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.relu(x).numpy(), np.maximum(LOGITS, 0))
    np.testing.assert_allclose(F.tanh(x).numpy(), np.tanh(LOGITS), rtol=1e-12)
    np.testing.assert_allclose(F.sigmoid(x).numpy(), 1 / (1 + np.exp(-LOGITS)), rtol=1e-12)
