"""The Tensor ops for real models (issue 16), beyond their rows of tests/op_cases.py.

The op test table checks every op away from its kinks, where finite
differences hold. Here, on both backends and against PyTorch float64 (or
float32 where said): the conventions exactly at the kinks and ties (clamp at
its bounds, leaky_relu at 0, maximum's ties, NaN, signed zeros), first and
second derivatives there; the edge cases of var, std and logsumexp; and the
movement and convenience methods (view, expand, split, masked_fill, tril,
...), which compose ops of the table.
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad import reference

torch = pytest.importorskip("torch")
F = torch.nn.functional

NAN, INF = float("nan"), float("inf")


def both(fn_tg, fn_torch, data, *, second=True, dtype=np.float64, rtol=1e-12, atol=1e-12, seed=1, signed_zeros=True):
    """fn on tapegrad (both backends) and PyTorch at ``data``: values, gradients (for an
    upstream gradient), and with ``second`` the second derivative of sum(grad * w)."""
    data = [np.asarray(d, dtype=dtype) for d in data]
    rng = np.random.default_rng(seed)
    ts = [torch.tensor(d, requires_grad=True) for d in data]
    t_out = fn_torch(*ts)
    up = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
    weights = [rng.standard_normal(d.shape).astype(dtype) for d in data]
    t_grads = torch.autograd.grad(t_out, ts, torch.tensor(up), create_graph=second, allow_unused=True)
    want = [t_out.detach().numpy()] + [np.zeros(d.shape, dtype) if g is None else g.detach().numpy()
                                       for g, d in zip(t_grads, data)]
    if second:
        s = sum((torch.tensor(w) * g).sum() for w, g in zip(weights, t_grads) if g is not None)
        hs = torch.autograd.grad(s, ts, allow_unused=True) if s.requires_grad else [None] * len(ts)
        want += [np.zeros(d.shape, dtype) if h is None else h.numpy() for h, d in zip(hs, data)]
    for tg in (tapegrad, reference):
        xs = [tg.tensor(d, requires_grad=True) for d in data]
        out = fn_tg(*xs)
        grads = tg.grad(out, xs, gradient=tg.tensor(up), create_graph=second)
        got = [out.numpy()] + [g.numpy() for g in grads]
        if second:
            s = sum((tg.tensor(w) * g).sum() for w, g in zip(weights, grads))
            got += [h.numpy() for h in tg.grad(s, xs)] if s.requires_grad else [np.zeros(d.shape) for d in data]
        for i, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == w.dtype, (tg.__name__, i)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"{tg.__name__} [{i}]")
            if i == 0 and signed_zeros:  # the sign of a zero result (a gradient's is g * 0's, Note [Numerics])
                np.testing.assert_array_equal(np.signbit(g[g == 0]), np.signbit(w[g == 0]), err_msg=tg.__name__)


# ----------------------------------------------------------------------------
# Kinks and ties: PyTorch's conventions, exactly


KINKS = np.array([-1.0, -0.5, -0.0, 0.0, 0.25, 0.8, 1.0, NAN, -INF, INF])


@pytest.mark.parametrize("lo, hi", [(-0.5, 0.8), (-0.5, None), (None, 0.8), (0.8, -0.5), (0.0, 0.0), (-0.0, 1.0),
                                    (NAN, 1.0), (-1.0, NAN)])
def test_clamp_at_its_bounds(lo, hi):
    # gradient 1 from bound to bound, the bounds included; min > max gives max; nan in, nan out
    both(lambda x: x.clamp(lo, hi), lambda x: x.clamp(lo, hi), [KINKS])


@pytest.mark.parametrize("slope", [0.01, 0.2, -1.5, 0.0])
def test_leaky_relu_at_zero(slope):
    both(lambda x: x.leaky_relu(slope), lambda x: F.leaky_relu(x, slope), [KINKS])


def test_maximum_minimum_ties_and_nan():
    # PyTorch's sign of a tie of zeros depends on its vector width (its scalar loop gives the
    # first operand, its SIMD one the second): compared apart, below
    a = np.array([1.0, 2.0, NAN, 3.0, -0.0, 0.0, 2.0, -INF, INF])
    b = np.array([1.0, 1.0, 1.0, NAN, 0.0, -0.0, 5.0, -INF, 1.0])
    both(lambda x, y: tapegrad_module(x).maximum(x, y), torch.maximum, [a, b], signed_zeros=False)
    both(lambda x, y: tapegrad_module(x).minimum(x, y), torch.minimum, [a, b], signed_zeros=False)
    both(lambda x, y: x.maximum(y), torch.maximum, [a, b], signed_zeros=False)


def test_a_tie_gives_the_first_operand(tg):
    a, b = tg.tensor([-0.0, 0.0]), tg.tensor([0.0, -0.0])
    for out in (tg.maximum(a, b), tg.minimum(a, b), a.maximum(b), a.minimum(b)):
        assert np.signbit(out.numpy()).tolist() == [True, False]


def tapegrad_module(x):
    return reference if type(x).__module__.startswith("tapegrad.reference") else tapegrad


def test_maximum_broadcasts_and_takes_numbers(tg):
    x = tg.tensor([[1.0, -2.0, 0.0]], requires_grad=True)
    y = tg.maximum(x, 0.0)
    assert y.tolist() == [[1.0, 0.0, 0.0]] and y.op == "maximum" and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 0.5]]
    z = tg.minimum([[0.0], [1.0]], x)
    assert z.shape == (2, 3) and z.dtype == np.float32
    assert tg.minimum(np.zeros((2, 1)), x).dtype == np.float64  # float64 data stays float64 (Note [Dtypes])


def test_softplus_at_its_threshold():
    # beta x == threshold is on the sigmoid side, as PyTorch's first derivative (its double
    # backward puts that point on the linear side: second derivatives are compared off it)
    x = np.array([-40.0, -1.0, 0.0, 9.999, 10.001, 19.0, 20.5, 800.0])
    for beta, threshold in [(1.0, 20.0), (2.0, 20.0), (0.5, 3.0)]:
        both(lambda t: t.softplus(beta, threshold), lambda t: F.softplus(t, beta, threshold), [x])
        edge = np.array([threshold / beta, 10.0, 20.0])
        both(lambda t: t.softplus(beta, threshold), lambda t: F.softplus(t, beta, threshold), [edge], second=False)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_everywhere(approximate):
    x = np.array([-40.0, -6.0, -3.0, -1.0, -1e-8, -0.0, 0.0, 1e-8, 0.5, 3.0, 6.0, 40.0, NAN, -INF, INF])
    # second derivatives at +-inf are 0 * inf in PyTorch's formulas too: compare them where finite
    both(lambda t: t.gelu(approximate), lambda t: F.gelu(t, approximate=approximate), [x[:-3]])
    both(lambda t: t.gelu(approximate), lambda t: F.gelu(t, approximate=approximate), [x[-3:]], second=False)


def test_silu_everywhere():
    x = np.array([-800.0, -40.0, -3.0, -0.0, 0.0, 1e-8, 3.0, 40.0, 800.0])
    both(lambda t: t.silu(), F.silu, [x])


ACTIVATIONS = {"gelu": (lambda t: t.gelu(), F.gelu),
               "gelu_tanh": (lambda t: t.gelu("tanh"), lambda t: F.gelu(t, approximate="tanh")),
               "silu": (lambda t: t.silu(), F.silu), "softplus": (lambda t: t.softplus(), F.softplus)}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_float32_is_as_close_as_pytorchs(tg, name):
    # float32 values and gradients against float64 ones: within 1e-6 (PyTorch's float32 gelu is
    # 9e-7 off; both lose the relative accuracy of 1 + erf(x) for x below -3)
    x = np.linspace(-8, 8, 1001)
    ours, theirs = ACTIVATIONS[name]
    t = torch.tensor(x, requires_grad=True)
    want = theirs(t)
    (want_grad,) = torch.autograd.grad(want.sum(), t)
    x32 = tg.tensor(x.astype(np.float32), requires_grad=True)
    out = ours(x32)
    out.sum().backward()
    assert out.dtype == x32.grad.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=4e-7, atol=1e-6)
    np.testing.assert_allclose(x32.grad.numpy(), want_grad.numpy(), rtol=4e-7, atol=1e-6)


# ----------------------------------------------------------------------------
# var, std, logsumexp at their edges


def test_std_has_gradient_zero_where_it_is_zero():
    both(lambda x: x.std(1), lambda x: x.std(1), [np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])])


@pytest.mark.parametrize("correction", [0, 1, 1.5, 2])
def test_var_std_corrections(correction):
    data = [np.random.default_rng(3).standard_normal((3, 4))]
    both(lambda x: x.var(0, correction=correction), lambda x: x.var(0, correction=correction), data)
    both(lambda x: x.std(-1, correction=correction, keepdim=True),
         lambda x: x.std(-1, correction=correction, keepdim=True), data)


def test_var_of_too_few_values(tg):
    # n - correction <= 0: the divisor is 0, as in PyTorch (values only: PyTorch's gradients there are not a formula)
    x = tg.tensor([3.0])
    assert np.isnan(x.var().item()) and np.isnan(x.std().item())
    assert tg.tensor([1.0, 3.0]).var(correction=2).item() == INF
    assert np.isnan(tg.zeros(0).var().item())
    assert tg.tensor(2.0).var(correction=0).item() == 0.0


def test_var_agrees_in_float32(tg):
    x = (np.random.default_rng(4).standard_normal((32, 200)) * 3 + 1000).astype(np.float32)
    want = torch.tensor(x, dtype=torch.float64).var(1).numpy()
    np.testing.assert_allclose(tg.tensor(x).var(1).numpy(), want, rtol=2e-6)


def test_logsumexp_with_infinities():
    x = np.array([[1.0, INF], [-INF, -INF], [INF, -INF], [NAN, 1.0], [1000.0, 1000.0], [-1000.0, -1001.0]])
    both(lambda t: t.logsumexp(1), lambda t: t.logsumexp(1), [x], second=False)
    both(lambda t: t.logsumexp(1), lambda t: t.logsumexp(1), [x[4:]])


def test_logsumexp_dims(tg):
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    both(lambda t: t.logsumexp((0, 2), keepdim=True), lambda t: t.logsumexp((0, 2), keepdim=True), [x])
    both(lambda t: t.logsumexp(1), lambda t: t.logsumexp(1), [x.transpose(2, 0, 1)])  # a non-contiguous input
    assert tg.tensor(3.0).logsumexp(0).item() == 3.0
    assert tg.zeros((2, 0)).logsumexp(1).tolist() == [-INF, -INF]


# ----------------------------------------------------------------------------
# Movement and convenience methods: values, op, gradient vs PyTorch


MOVES = {
    "unsqueeze 0": (lambda x: x.unsqueeze(0), None),
    "unsqueeze -1": (lambda x: x.unsqueeze(-1), None),
    "unsqueeze 2": (lambda x: x.unsqueeze(2), None),
    "squeeze": (lambda x: x.unsqueeze(1).squeeze(), None),
    "squeeze dim": (lambda x: x.unsqueeze(1).unsqueeze(0).squeeze(1), None),
    "squeeze tuple": (lambda x: x.unsqueeze(1).unsqueeze(0).squeeze((0, 1)), None),
    "squeeze not 1": (lambda x: x.squeeze(0), None),
    "view": (lambda x: x.view(3, 2), None),
    "view -1": (lambda x: x.view(-1, 3), None),
    "view tuple": (lambda x: x.view((6,)), None),
    "view of a transpose": (lambda x: x.T.view(6), lambda x: x.T.reshape(6)),
    "flatten": (lambda x: x.flatten(), None),
    "flatten 1": (lambda x: x.unsqueeze(1).flatten(1), None),
    "flatten 0 1": (lambda x: x.unsqueeze(2).flatten(0, 1), None),
    "expand": (lambda x: x.unsqueeze(1).expand(2, 4, 3), None),
    "expand -1": (lambda x: x.unsqueeze(1).expand(-1, 4, -1), None),
    "expand new dims": (lambda x: x.expand(5, 2, 3), None),
    "expand tuple": (lambda x: x.expand((2, 2, 3)), lambda x: x.expand(2, 2, 3)),
    "split": (lambda x: x.split(2, 1)[1], None),
    "split list": (lambda x: x.split([1, 2], 1)[1] * 2, None),
    "chunk": (lambda x: x.chunk(2, 1)[0], None),
    "chunk more than size": (lambda x: x.chunk(5, 0)[-1], None),
    "masked_fill": (lambda x: x.masked_fill(np.array([[True, False, True], [False, False, True]]), -1.5),
                    lambda x: x.masked_fill(torch.tensor([[True, False, True], [False, False, True]]), -1.5)),
    "masked_fill broadcast": (lambda x: x.masked_fill(np.array([True, False, False]), -np.inf),
                              lambda x: x.masked_fill(torch.tensor([True, False, False]), -np.inf)),
    "masked_fill compare": (lambda x: x.masked_fill(x > 0, 0.0), lambda x: x.masked_fill(x > 0, 0.0)),
    "tril": (lambda x: x.tril(), None),
    "tril 1": (lambda x: x.tril(1), None),
    "triu -1": (lambda x: x.triu(-1), None),
    "triu 2": (lambda x: x.triu(2), None),
    "tril batched": (lambda x: x.expand(4, 2, 3).tril(), None),
    "clone": (lambda x: x.clone() * 2, None),
    "float double": (lambda x: x.float().double() * 2, None),
    "amax": (lambda x: x.amax(1), None),
    "amin": (lambda x: x.amin(0, keepdim=True), None),
    "amax all": (lambda x: x.amax(), None),
    "contiguous": (lambda x: x.T.contiguous(), None),
}


@pytest.mark.parametrize("name", list(MOVES))
def test_movement_and_convenience_methods(name):
    ours, theirs = MOVES[name]
    x = np.random.default_rng(6).standard_normal((2, 3))
    both(ours, theirs or ours, [x])


@pytest.mark.parametrize("name, op", [("view", "reshape"), ("unsqueeze", "reshape"), ("squeeze", "reshape"),
                                      ("flatten", "reshape"), ("expand", "expand"), ("split", "getitem"),
                                      ("chunk", "getitem"), ("masked_fill", "where"), ("tril", "where"),
                                      ("triu", "where"), ("clone", "clone"), ("float", "astype"), ("amax", "max"),
                                      ("amin", "min")])
def test_the_ops_they_make(tg, name, op):
    x = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    out = {"view": lambda: x.view(3, 2), "unsqueeze": lambda: x.unsqueeze(0), "squeeze": lambda: x.squeeze(),
           "flatten": lambda: x.flatten(), "expand": lambda: x.expand(2, 2, 3), "split": lambda: x.split(1)[0],
           "chunk": lambda: x.chunk(2)[1], "masked_fill": lambda: x.masked_fill(x > 2, 0.0),
           "tril": lambda: x.tril(), "triu": lambda: tg.triu(x), "clone": lambda: x.clone(),
           "float": lambda: x.double().float(), "amax": lambda: x.amax(1), "amin": lambda: x.amin()}[name]()
    assert out.op == op


def test_split_and_chunk_shapes_are_pytorch(tg):
    for n, size in [(10, 3), (10, 5), (10, 11), (0, 3)]:
        want = [tuple(t.shape) for t in torch.zeros(n, 2).split(size)]
        assert [t.shape for t in tg.zeros(n, 2).split(size)] == want
    for n, chunks in [(10, 4), (5, 4), (0, 4), (3, 3), (7, 1)]:
        want = [tuple(t.shape) for t in torch.zeros(2, n).chunk(chunks, 1)]
        assert [t.shape for t in tg.zeros(2, n).chunk(chunks, dim=1)] == want
    assert [t.shape for t in tg.zeros(2, 6).split([1, 0, 5], dim=-1)] == [(2, 1), (2, 0), (2, 5)]


def test_clone_owns_its_memory(tg):
    x = tg.tensor([1.0, 2.0])
    y = x.clone()
    y.numpy()[0] = 5.0
    assert x.tolist() == [1.0, 2.0] and y.op == "" and not y.requires_grad


def test_float_double_and_requires_grad_(tg):
    x = tg.tensor([1.0, 2.0])
    assert x.float() is x and x.double().dtype == np.float64 and x.double().double().dtype == np.float64
    assert x.requires_grad_() is x and x.requires_grad
    assert x.requires_grad_(False) is x and not x.requires_grad
    y = x.double() * 2
    assert tg.float32 == np.float32 and tg.float64 == np.float64 and y.dtype == tg.float64
    assert x.contiguous() is x


def test_tril_triu_functions_and_a_causal_mask(tg):
    mask = tg.tril(tg.ones(4, 4))
    np.testing.assert_array_equal(mask.numpy(), np.tril(np.ones((4, 4))))
    np.testing.assert_array_equal(tg.triu(tg.ones(2, 3, 4), 1).numpy(), np.triu(np.ones((2, 3, 4)), 1))
    scores = tg.randn(2, 4, 4, seed=0)
    att = scores.masked_fill(mask == 0, float("-inf")).softmax(-1)
    np.testing.assert_allclose(att.numpy()[:, 0, 0], 1.0)
    assert np.all(att.numpy()[:, 0, 1:] == 0.0)


def test_like_functions(tg):
    x = tg.tensor(np.ones((2, 3)))
    z, o = tg.zeros_like(x), tg.ones_like(x, dtype=np.float32, requires_grad=True)
    assert z.shape == (2, 3) and z.dtype == np.float64 and not z.requires_grad and np.all(z.numpy() == 0)
    assert o.dtype == np.float32 and o.requires_grad and np.all(o.numpy() == 1)
    r = tg.randn_like(x, seed=7)
    np.testing.assert_array_equal(r.numpy(), tapegrad.randn(2, 3, seed=7, dtype=np.float64).numpy())
    np.testing.assert_array_equal(r.numpy(), reference.randn(2, 3, seed=7, dtype=np.float64).numpy())


def test_cat_and_inference_mode_are_the_same_functions(tg):
    assert tg.cat is tg.concatenate and tg.inference_mode is tg.no_grad
    x = tg.tensor([1.0], requires_grad=True)
    with tg.inference_mode():
        assert not (x * 2).requires_grad
    assert tg.cat([x, x * 2]).tolist() == [1.0, 2.0]


def test_functional_activations(tg):
    x = tg.tensor(np.linspace(-2, 2, 5), requires_grad=True)
    Fn = tg.nn.functional
    for ours, theirs in [(Fn.gelu(x), F.gelu), (Fn.gelu(x, approximate="tanh"), lambda t: F.gelu(t, approximate="tanh")),
                         (Fn.silu(x), F.silu), (Fn.leaky_relu(x, 0.3), lambda t: F.leaky_relu(t, 0.3)),
                         (Fn.softplus(x, beta=2.0), lambda t: F.softplus(t, beta=2.0)),
                         (Fn.softmax(x, 0), lambda t: F.softmax(t, 0)), (Fn.log_softmax(x, 0), lambda t: F.log_softmax(t, 0))]:
        np.testing.assert_allclose(ours.numpy(), theirs(torch.tensor(x.numpy())).numpy(), rtol=1e-12, atol=1e-15)


def test_no_graph_without_requires_grad(tg):
    x = tg.tensor([[1.0, -2.0], [3.0, 0.5]])
    for out in (x.gelu(), x.clamp(0), x.var(), x.logsumexp(1), x.clone(), tg.maximum(x, 0.0), x.unsqueeze(0),
                x.expand(2, 2, 2), x.split(1)[0], x.masked_fill(x > 0, 0.0), x.tril()):
        assert out.is_leaf and not out.requires_grad and out.op == ""
