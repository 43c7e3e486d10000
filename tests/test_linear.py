"""tg.nn.functional.linear and nn.Linear on it (issue 16): PyTorch's F.linear as one op.

tests/op_cases.py's row checks a (2, 3, 4) input with a bias (forward, gradients,
second derivatives, recorded against fused, dtypes, replay); here the other
layouts: no bias, 1-D and 2-D inputs, strided inputs and weights, empty
sizes, float32, and that nn.Linear makes one node.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

LAYOUTS = {  # input shape, weight shape (out, in), whether there is a bias
    "3-d": ((2, 3, 4), (5, 4), True),
    "3-d no bias": ((2, 3, 4), (5, 4), False),
    "2-d": ((6, 4), (3, 4), True),
    "1-d": ((4,), (3, 4), True),
    "1-d no bias": ((4,), (3, 4), False),
    "4-d": ((2, 1, 3, 4), (2, 4), True),
    "one feature": ((3, 1), (2, 1), True),
}


def _arrays(x_shape, w_shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[:1])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_forward_and_gradients_against_torch(tg, layout):
    x_shape, w_shape, with_bias = LAYOUTS[layout]
    x, w, b = _arrays(x_shape, w_shape)
    xs, ws, bs = (tg.tensor(a, requires_grad=True, dtype=np.float64) for a in (x, w, b))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = tg.nn.functional.linear(xs, ws, bs if with_bias else None)
    yt = torch.nn.functional.linear(xt, wt, bt if with_bias else None)
    assert y.op == "linear" and y.shape == tuple(yt.shape)
    assert len(y.parents) == (3 if with_bias else 2)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-13, atol=1e-13)
    seed = np.random.default_rng(1).standard_normal(y.shape)
    (y * tg.tensor(seed)).sum().backward()
    (yt * torch.tensor(seed)).sum().backward()
    for mine, theirs in ((xs, xt), (ws, wt)) + (((bs, bt),) if with_bias else ()):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)
    if not with_bias:
        assert bs.grad is None


@pytest.mark.parametrize("with_bias", [True, False])
def test_second_derivatives_against_torch(tg, with_bias):
    x, w, b = _arrays((3, 2, 4), (5, 4), seed=2)
    xs, ws, bs = (tg.tensor(a, requires_grad=True, dtype=np.float64) for a in (x, w, b))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = tg.nn.functional.linear(xs, ws, bs if with_bias else None)
    yt = torch.nn.functional.linear(xt, wt, bt if with_bias else None)
    gx, gw = tg.grad((y * y).sum(), [xs, ws], create_graph=True)
    gxt, gwt = torch.autograd.grad((yt * yt).sum(), [xt, wt], create_graph=True)
    np.testing.assert_allclose(gx.numpy(), gxt.detach().numpy(), rtol=1e-12, atol=1e-12)
    hx, hw = tg.grad((gx * gx).sum() + (gw * gw).sum(), [xs, ws])
    hxt, hwt = torch.autograd.grad((gxt * gxt).sum() + (gwt * gwt).sum(), [xt, wt])
    np.testing.assert_allclose(hx.numpy(), hxt.numpy(), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(hw.numpy(), hwt.numpy(), rtol=1e-11, atol=1e-11)


def test_strided_input_and_weight(tg):
    # a transposed input and a transposed weight are read in place (or copied): the same values
    x, w, _ = _arrays((4, 6), (4, 3), seed=3)  # x.T (6, 4), w.T (3, 4)
    b = np.arange(3.0)
    xs, ws = tg.tensor(x, requires_grad=True, dtype=np.float64), tg.tensor(w, requires_grad=True, dtype=np.float64)
    y = tg.nn.functional.linear(xs.T, ws.T, tg.tensor(b, dtype=np.float64))
    np.testing.assert_allclose(y.numpy(), x.T @ w + b, rtol=1e-13, atol=1e-13)
    y.sum().backward()
    g = np.ones((6, 3))
    np.testing.assert_allclose(xs.grad.numpy(), (g @ w.T).T, rtol=1e-13)  # x.T's gradient g @ w.T, transposed back
    np.testing.assert_allclose(ws.grad.numpy(), (g.T @ x.T).T, rtol=1e-13)


@pytest.mark.parametrize("x_shape, w_shape", [((0, 4), (3, 4)), ((2, 0), (3, 0)), ((2, 4), (0, 4)), ((2, 0, 4), (3, 4))])
def test_empty_sizes(tg, x_shape, w_shape):
    x, w, b = _arrays(x_shape, w_shape)
    xs, ws, bs = (tg.tensor(a, requires_grad=True, dtype=np.float64) for a in (x, w, b))
    y = tg.nn.functional.linear(xs, ws, bs)
    want = torch.nn.functional.linear(*(torch.tensor(a) for a in (x, w, b))).numpy()
    assert y.shape == want.shape
    np.testing.assert_array_equal(y.numpy(), want)  # no features: the bias itself
    y.sum().backward()
    assert xs.grad.shape == x.shape and ws.grad.shape == w.shape and bs.grad.shape == b.shape


def test_float32_stays_float32_and_mixed_dtypes_promote(tg):
    x, w, b = _arrays((5, 7), (3, 7), seed=4)
    xs, ws, bs = (tg.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b))
    y = tg.nn.functional.linear(xs, ws, bs)
    assert y.dtype == np.float32
    want = torch.nn.functional.linear(*(torch.tensor(a.astype(np.float32)) for a in (x, w, b))).numpy()
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)
    y.sum().backward()
    assert xs.grad.dtype == ws.grad.dtype == bs.grad.dtype == np.float32
    w64 = tg.tensor(w, requires_grad=True, dtype=np.float64)
    y = tg.nn.functional.linear(xs, w64, bs)
    assert y.dtype == np.float64
    y.sum().backward()
    assert w64.grad.dtype == np.float64


def test_native_equals_reference():
    import tapegrad
    from tapegrad import reference

    x, w, b = (a.astype(np.float32) for a in _arrays((4, 8, 16), (12, 16), seed=6))
    outs = []
    for tg in (tapegrad, reference):
        xs, ws, bs = (tg.tensor(a, requires_grad=True) for a in (x, w, b))
        y = tg.nn.functional.linear(xs, ws, bs)
        (y * y).sum().backward()
        outs.append([y.numpy(), xs.grad.numpy(), ws.grad.numpy(), bs.grad.numpy()])
    for p, q in zip(*outs):
        np.testing.assert_allclose(p, q, rtol=2e-5, atol=2e-5)


def test_module_makes_one_linear_node(tg):
    layer = tg.nn.Linear(4, 3, dtype=np.float64, seed=0)
    for shape in ((4,), (2, 4), (2, 5, 4)):
        y = layer(tg.tensor(np.ones(shape)))
        assert y.op == "linear" and y.parents[1] is layer.weight and y.parents[2] is layer.bias
        assert y.shape == shape[:-1] + (3,)
    no_bias = tg.nn.Linear(4, 3, bias=False, dtype=np.float64, seed=0)
    y = no_bias([[1.0, 2.0, 3.0, 4.0]])  # a list becomes a Tensor of the weight's dtype
    assert y.op == "linear" and len(y.parents) == 2 and y.dtype == np.float64


def test_module_against_torch_with_copied_weights(tg):
    mine = tg.nn.Linear(6, 4, dtype=np.float64, seed=1)
    theirs = torch.nn.Linear(6, 4).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(mine.weight.numpy()))
        theirs.bias.copy_(torch.tensor(mine.bias.numpy()))
    x = np.random.default_rng(7).standard_normal((3, 2, 6))
    y, yt = mine(tg.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-13, atol=1e-13)
    y.tanh().sum().backward()
    yt.tanh().sum().backward()
    np.testing.assert_allclose(mine.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mine.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_same_bits_at_one_and_two_threads(dtype):
    import tapegrad

    rng = np.random.default_rng(8)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((16, 32, 64), (256, 64), (256,)))
    runs = []
    before = tapegrad.get_num_threads()
    try:
        for threads in (1, 2):
            tapegrad.set_num_threads(threads)
            xs, ws, bs = (tapegrad.tensor(a, requires_grad=True) for a in (x, w, b))
            y = tapegrad.nn.functional.linear(xs, ws, bs)
            (y * 0.5).sum().backward()
            runs.append([a.numpy().copy() for a in (y, xs.grad, ws.grad, bs.grad)])
    finally:
        tapegrad.set_num_threads(before)
    for p, q in zip(*runs):
        np.testing.assert_array_equal(p.view(np.uint8), q.view(np.uint8))
