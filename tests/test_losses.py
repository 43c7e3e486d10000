"""The losses' PyTorch arguments (issue 16): reduction, ignore_index, label_smoothing.

Values and gradients against PyTorch in float64, on both backends, for the
functions and the loss modules; bad values are errors naming the argument
(the words are compared across backends in tests/test_same_errors.py).
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tF = torch.nn.functional

REDUCTIONS = ("mean", "sum", "none")
RTOL = ATOL = 1e-12


def _pair(tg, a):
    return tg.tensor(a, requires_grad=True, dtype=np.float64), torch.tensor(a, requires_grad=True)


def _compare(out, tout, x, tx):
    """Forward and the gradient of a weighted sum (any shape of output), against torch."""
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    assert out.shape == tuple(tout.shape)
    seed = np.linspace(0.5, 1.5, max(out.size, 1)).reshape(out.shape)
    (out * _const_like(out, seed)).sum().backward()
    (tout * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=RTOL, atol=ATOL)


def _const_like(t, values):
    import tapegrad
    from tapegrad import reference

    tg = reference if type(t).__module__.startswith("tapegrad.reference") else tapegrad
    return tg.tensor(np.asarray(values, dtype=np.float64), dtype=np.float64)


LOGITS = np.random.default_rng(0).standard_normal((6, 5))
LABELS = np.array([0, 3, -100, 4, 1, 3])
LABELS_ALL = np.array([0, 3, 2, 4, 1, 3])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("labels", ["all kept", "one ignored", "all ignored"])
def test_cross_entropy_against_torch(tg, reduction, smoothing, labels):
    ids = {"all kept": LABELS_ALL, "one ignored": LABELS, "all ignored": np.full(6, -100)}[labels]
    x, tx = _pair(tg, LOGITS)
    out = tg.nn.functional.cross_entropy(x, tg.tensor(ids, dtype=tg.int64), reduction=reduction,
                                         label_smoothing=smoothing)
    tout = tF.cross_entropy(tx, torch.tensor(ids), reduction=reduction, label_smoothing=smoothing)
    if labels == "all ignored" and reduction == "mean":  # 0 / 0 on both
        assert np.isnan(out.item()) and np.isnan(tout.item())
        return
    _compare(out, tout, x, tx)


@pytest.mark.parametrize("ignore_index", [2, 0, 4, -1])
def test_cross_entropy_ignore_index_that_is_a_class(tg, ignore_index):
    # a class id (padding tokens are often 0): those samples count for nothing
    x, tx = _pair(tg, LOGITS)
    labels = LABELS_ALL if ignore_index >= 0 else np.array([0, -1, 2, -1, 1, 3])
    for as_tensor in (True, False):
        x.grad, tx.grad = None, None
        lab = tg.tensor(labels, dtype=tg.int64) if as_tensor else labels
        out = tg.nn.functional.cross_entropy(x, lab, ignore_index=ignore_index)
        tout = tF.cross_entropy(tx, torch.tensor(labels), ignore_index=ignore_index)
        _compare(out, tout, x, tx)


def test_cross_entropy_defaults_keep_the_fused_op(tg):
    x = tg.tensor(LOGITS, requires_grad=True)
    assert tg.nn.functional.cross_entropy(x, tg.tensor(LABELS_ALL, dtype=tg.int64)).op == "cross_entropy"
    ignored = tg.nn.functional.cross_entropy(x, tg.tensor(LABELS, dtype=tg.int64))
    assert ignored.op != "cross_entropy"  # the composed path: the fused op knows no ignored samples
    tout = tF.cross_entropy(torch.tensor(LOGITS), torch.tensor(LABELS))
    np.testing.assert_allclose(ignored.item(), tout.item(), rtol=RTOL)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_one_sample(tg, reduction):
    x, tx = _pair(tg, LOGITS[0])
    out = tg.nn.functional.cross_entropy(x, 3, reduction=reduction, label_smoothing=0.1)
    tout = tF.cross_entropy(tx, torch.tensor(3), reduction=reduction, label_smoothing=0.1)
    _compare(out, tout, x, tx)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("labels", ["all kept", "one ignored"])
def test_nll_loss_against_torch(tg, reduction, labels):
    ids = LABELS_ALL if labels == "all kept" else LABELS
    logp = LOGITS - np.log(np.exp(LOGITS).sum(1, keepdims=True))
    x, tx = _pair(tg, logp)
    out = tg.nn.functional.nll_loss(x, tg.tensor(ids, dtype=tg.int64), reduction=reduction)
    _compare(out, tF.nll_loss(tx, torch.tensor(ids), reduction=reduction), x, tx)
    x.grad, tx.grad = None, None
    out = tg.nn.functional.nll_loss(x, LABELS_ALL, ignore_index=3, reduction=reduction)
    _compare(out, tF.nll_loss(tx, torch.tensor(LABELS_ALL), ignore_index=3, reduction=reduction), x, tx)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_bce_against_torch(tg, reduction):
    rng = np.random.default_rng(1)
    p, t = rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(0.0, 1.0, (3, 4))
    x, tx = _pair(tg, p)
    _compare(tg.nn.functional.mse_loss(x, t, reduction=reduction),
             tF.mse_loss(tx, torch.tensor(t), reduction=reduction), x, tx)
    x.grad, tx.grad = None, None
    _compare(tg.nn.functional.binary_cross_entropy(x, tg.tensor(t, dtype=np.float64), reduction=reduction),
             tF.binary_cross_entropy(tx, torch.tensor(t), reduction=reduction), x, tx)


def test_value_losses_reduce(tg):
    ps = [tg.Value(0.25), tg.Value(0.5)]
    assert tg.nn.functional.mse_loss(ps, [1.0, 0.0], reduction="sum").data == pytest.approx(0.5625 + 0.25)
    terms = tg.nn.functional.mse_loss(ps, [1.0, 0.0], reduction="none")
    assert [v.data for v in terms] == pytest.approx([0.5625, 0.25])
    bce = tg.nn.functional.binary_cross_entropy(ps, [1.0, 0.0], reduction="sum")
    assert bce.data == pytest.approx(-np.log(0.25) - np.log(0.5))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_modules_against_torch(tg, reduction):
    nn = tg.nn
    x, tx = _pair(tg, LOGITS)
    mod = nn.CrossEntropyLoss(ignore_index=4, reduction=reduction, label_smoothing=0.1)
    tmod = torch.nn.CrossEntropyLoss(ignore_index=4, reduction=reduction, label_smoothing=0.1)
    _compare(mod(x, tg.tensor(LABELS_ALL, dtype=tg.int64)), tmod(tx, torch.tensor(LABELS_ALL)), x, tx)
    x.grad, tx.grad = None, None
    logp, tlogp = x.log_softmax(1), tx.log_softmax(1)
    _compare(nn.NLLLoss(ignore_index=3, reduction=reduction)(logp, tg.tensor(LABELS_ALL, dtype=tg.int64)),
             torch.nn.NLLLoss(ignore_index=3, reduction=reduction)(tlogp, torch.tensor(LABELS_ALL)), x, tx)
    x.grad, tx.grad = None, None
    target = np.linspace(0, 1, 30).reshape(6, 5)
    _compare(nn.MSELoss(reduction=reduction)(x, tg.tensor(target, dtype=np.float64)),
             torch.nn.MSELoss(reduction=reduction)(tx, torch.tensor(target)), x, tx)
    x.grad, tx.grad = None, None
    probs, tprobs = x.sigmoid(), tx.sigmoid()
    _compare(nn.BCELoss(reduction=reduction)(probs, tg.tensor(target, dtype=np.float64)),
             torch.nn.BCELoss(reduction=reduction)(tprobs, torch.tensor(target)), x, tx)
    assert "reduction='sum'" in repr(nn.MSELoss(reduction="sum"))


def test_cross_entropy_second_derivative_with_ignored_and_smoothing(tg):
    x, tx = _pair(tg, LOGITS)
    out = tg.nn.functional.cross_entropy(x, tg.tensor(LABELS, dtype=tg.int64), label_smoothing=0.3)
    tout = tF.cross_entropy(tx, torch.tensor(LABELS), label_smoothing=0.3)
    (g,) = tg.grad(out, [x], create_graph=True)
    (tgrad,) = torch.autograd.grad(tout, [tx], create_graph=True)
    (h,) = tg.grad((g * g).sum(), [x])
    (th,) = torch.autograd.grad((tgrad * tgrad).sum(), [tx])
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("make", [
    lambda tg, x: tg.nn.functional.cross_entropy(x, [0, 1, 2, 3, 4, 0], reduction="avg"),
    lambda tg, x: tg.nn.functional.cross_entropy(x, [0, 1, 2, 3, 4, 0], label_smoothing=1.5),
    lambda tg, x: tg.nn.functional.cross_entropy(x, [0, 1, 2, 3, 4, 0], label_smoothing="a"),
    lambda tg, x: tg.nn.functional.cross_entropy(x, [0, 1, 2, 3, 4, 0], ignore_index=1.0),
    lambda tg, x: tg.nn.functional.nll_loss(x, [0, 1, 2, 3, 4, 0], reduction=None),
    lambda tg, x: tg.nn.functional.mse_loss(x, x, reduction="mean "),
    lambda tg, x: tg.nn.functional.binary_cross_entropy(x.sigmoid(), x, reduction="max"),
    lambda tg, x: tg.nn.CrossEntropyLoss(reduction="total"),
    lambda tg, x: tg.nn.CrossEntropyLoss(label_smoothing=-0.1),
    lambda tg, x: tg.nn.MSELoss(reduction=1),
    lambda tg, x: tg.nn.functional.cross_entropy(x, [0, 1, 2, 3, 9, 0], ignore_index=3),
])
def test_bad_values_name_the_argument(tg, make):
    with pytest.raises((ValueError, TypeError, IndexError)) as info:
        make(tg, tg.tensor(LOGITS))
    assert any(w in str(info.value) for w in ("reduction", "label_smoothing", "ignore_index", "out of range"))


def test_losses_arguments_are_keywords(tg):
    # PyTorch's third positional argument is a class weight (cross_entropy) or size_average: never taken positionally
    with pytest.raises(TypeError):
        tg.nn.functional.cross_entropy(tg.tensor(LOGITS), [0] * 6, None)
    with pytest.raises(TypeError):
        tg.nn.functional.mse_loss(tg.tensor(LOGITS), tg.tensor(LOGITS), "sum")
