"""Tensor API on every backend: construction, every op, autograd, conversions."""
from __future__ import annotations

import copy
import operator
import pickle

import numpy as np
import pytest
from op_cases import CASES, ROW_NAMED, ROWS, kind, params
from oracle import check_tensor_op, torch

import tapegrad
from tapegrad import reference

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


# ----------------------------------------------------------------------------
# Construction, dtypes, properties


def test_construction_and_properties(tg):
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert isinstance(x, tg.Tensor)
    assert x.shape == (2, 2) and x.ndim == 2 and x.size == 4 and len(x) == 2
    assert x.dtype == np.float32
    assert x.requires_grad and x.is_leaf and x.grad is None
    assert x.op == "" and x.parents == () and x.label == ""
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    y = tg.Tensor(np.arange(3.0), requires_grad=False)
    assert not y.requires_grad and y.shape == (3,)
    assert tg.tensor(2.5).item() == 2.5 and tg.tensor(2.5).shape == ()


@pytest.mark.parametrize(
    "data, dtype, expected",
    [
        ([1.0, 2.0], None, np.float32),  # Python floats: float32 default
        (np.array([1.0, 2.0]), None, np.float64),  # float64 kept when given
        (np.array([1.0], dtype=np.float32), None, np.float32),
        (np.array([1.0], dtype=np.float16), None, np.float32),  # widened
        ([1, 2, 3], None, np.float32),  # ints become float32
        (np.array([1, 2], dtype=np.int64), None, np.float32),
        ([True, False], None, np.float32),
        ([1, 2], np.float64, np.float64),
        (np.array([1.0]), np.float32, np.float32),
        (3, None, np.float32),
    ],
)
def test_dtypes(tg, data, dtype, expected):
    assert tg.Tensor(data, dtype=dtype).dtype == expected


def test_numbers_take_the_tensor_dtype(tg):
    x32 = tg.tensor([1.0, 2.0])
    x64 = tg.tensor(np.array([1.0, 2.0]))
    for out in (x32 + 1.5, 2 * x32, x32 / 3, 1 - x32, x32**2, 2**x32):
        assert out.dtype == np.float32
    for out in (x64 + 1.5, 2 * x64, x64**0.5):
        assert out.dtype == np.float64
    assert (x32 + x64).dtype == np.float64
    assert (x32 + np.float64(1.0)).dtype == np.float32


def test_constructor_copies_its_input(tg):
    a = np.array([1.0, 2.0])
    x = tg.tensor(a)
    a[0] = 100.0
    assert x.tolist() == [1.0, 2.0]


def test_creation_functions(tg):
    assert tg.zeros((2, 3)).tolist() == [[0.0] * 3] * 2
    assert tg.ones(4).tolist() == [1.0] * 4
    assert tg.zeros((2, 3)).dtype == np.float32
    assert tg.zeros((0, 3)).shape == (0, 3)
    assert tg.arange(4).tolist() == [0, 1, 2, 3]
    assert tg.arange(4).dtype == np.int64  # int arguments: int64, as PyTorch's
    assert tg.arange(4.0).dtype == np.float32 and tg.arange(0, 2, 0.5).tolist() == [0.0, 0.5, 1.0, 1.5]
    r = tg.randn(3, 4, seed=1)
    assert r.shape == (3, 4) and r.dtype == np.float32
    expected = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(r.numpy(), expected)


def test_manual_seed_repeats_draws(tg):
    tg.manual_seed(7)
    a = tg.randn(5).numpy().copy()
    b = tg.randn(5).numpy().copy()
    tg.manual_seed(7)
    np.testing.assert_array_equal(tg.randn(5).numpy(), a)
    np.testing.assert_array_equal(tg.randn(5).numpy(), b)
    assert not np.array_equal(a, b)


def test_repr(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x).startswith("Tensor(") and "requires_grad=True" in repr(x)
    assert "1." in repr(x) and "2." in repr(x)


def test_repr_of_an_empty_tensor_names_its_shape(tg):
    assert "(0, 3)" in repr(tg.zeros((0, 3)))


def test_numpy_scalars_and_bools_as_operands(tg):
    x = tg.tensor([1.0, -2.0], requires_grad=True)
    for out in (np.float32(2) * x, np.float64(2) * x, x * np.int64(2), True * x * 2):
        assert isinstance(out, tg.Tensor) and out.dtype == np.float32
        assert out.tolist() == [2.0, -4.0]


def test_hash_is_identity_and_comparisons_are_tensors(tg):
    a, b = tg.tensor([1.0]), tg.tensor([1.0])
    assert len({a, b}) == 2
    eq = a == b
    assert isinstance(eq, tg.Tensor) and eq.tolist() == [1.0]


# ----------------------------------------------------------------------------
# Elementwise ops: each op's forward, gradients, op string and numbers on either
# side are rows of tests/op_cases.py (tests/test_ops.py); here broadcasting.

SHAPE_PAIRS = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((4, 1, 3), (2, 1)),
               ((), (2, 3)), ((2, 3), ()), ((1,), (2, 2))]


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("case", params([c for c in CASES if kind(c.row.op) == "binary"]))
def test_binary_broadcasting(tg, case, shapes):
    rng = np.random.default_rng(0)
    arrays = [spec.domain.array(rng, shape) for spec, shape in zip(case.row.inputs, shapes)]
    out = check_tensor_op(tg, case, *arrays, torch_fn=case.torch, numpy_fn=case.numpy)
    assert out.op == case.op_string


def test_numpy_array_operands(tg):
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = np.array([10.0, 20.0])
    assert (x + a).tolist() == [11.0, 22.0]
    assert (a + x).tolist() == [11.0, 22.0]
    assert isinstance(a * x, tg.Tensor)
    (a * x).sum().backward()
    assert x.grad.tolist() == [10.0, 20.0]


def test_broadcast_is_an_expand_node(tg):
    a = tg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    b = tg.tensor([[1.0], [2.0]], requires_grad=True)
    out = a + b
    assert out.shape == (2, 3)
    assert [p.op for p in out.parents] == ["expand", "expand"]
    out.sum().backward()
    assert a.grad.tolist() == [[2.0, 2.0, 2.0]]
    assert b.grad.tolist() == [[3.0], [3.0]]


def test_constants_broadcast_implicitly(tg):
    # DESIGN Note [Tensor details]: constants broadcast implicitly, so
    # (a + 2).parents is (a, Tensor(2.)), and a constant tensor is its own parent.
    a = tg.tensor(np.ones((2, 3)), requires_grad=True)
    w = tg.tensor(np.array([1.0, 2.0, 3.0]))
    assert (a * w).parents[1] is w
    two = (a + 2).parents[1]
    assert two.shape == () and two.item() == 2.0 and not two.requires_grad


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_constant_given_requires_grad_after_the_op_gets_its_own_shape(tg, create_graph):
    # the constant broadcast implicitly (no expand node); its gradient is summed back to it
    a = tg.tensor(np.ones((2, 3)), requires_grad=True)
    c = tg.tensor(np.arange(3.0))
    y = a * c + c
    c.requires_grad = True
    y.sum().backward(create_graph=create_graph)
    assert c.grad.shape == (3,) and c.grad.tolist() == [4.0, 4.0, 4.0]
    assert a.grad.tolist() == [[0.0, 1.0, 2.0]] * 2


@pytest.mark.parametrize("other", [None, "text", b"1", bytearray(b"1"), memoryview(b"1"), object(), 1 + 2j],
                         ids=lambda o: type(o).__name__)
def test_equality_with_a_non_number_is_false(tg, other):
    # docs/API.md: x == None and x == "text" are False, as Python's default for unlike types
    x = tg.tensor([1.0, 2.0])
    assert (x == other) is False and (x != other) is True


def test_comparisons(tg):
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert (x < 2).tolist() == [1.0, 0.0, 0.0]
    assert (x <= 2).tolist() == [1.0, 1.0, 0.0]
    assert (x > 2).tolist() == [0.0, 0.0, 1.0]
    assert (x >= 2).tolist() == [0.0, 1.0, 1.0]
    assert (x == 2).tolist() == [0.0, 1.0, 0.0]
    assert (x != 2).tolist() == [1.0, 0.0, 1.0]
    assert (2 < x).tolist() == [0.0, 0.0, 1.0]
    c = x > tg.tensor(np.array([[0.0], [5.0]]))
    assert c.shape == (2, 3) and c.dtype == np.float64 and not c.requires_grad
    assert (x > 1).dtype == np.float32


def test_ieee_numbers(tg):
    x = tg.tensor([0.0, -1.0, 1.0], requires_grad=True)
    y = x.log()
    assert y.tolist()[0] == -np.inf and np.isnan(y.tolist()[1])
    assert np.isnan(x.sqrt().tolist()[1])
    assert (tg.tensor([1.0]) / 0).tolist() == [np.inf]
    assert (tg.tensor([0.0]) ** -1).tolist() == [np.inf]
    y.sum().backward()
    assert x.grad.tolist()[0] == np.inf


def test_pow_gradients_at_zero(tg):
    x = tg.tensor(np.array([0.0, 2.0]), requires_grad=True)
    (x**0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]  # a^0 is constant, even at 0
    a = tg.tensor(np.array([0.0, 0.0, 2.0]), requires_grad=True)
    b = tg.tensor(np.array([0.0, 2.0, 0.0]), requires_grad=True)
    (a**b).sum().backward()
    assert a.grad.tolist() == [0.0, 0.0, 0.0]
    assert b.grad.tolist() == [0.0, 0.0, np.log(2.0)]
    if torch is not None:
        ta = torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
        tb = torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
        (ta**tb).sum().backward()
        assert ta.grad.tolist() == a.grad.tolist() and tb.grad.tolist() == b.grad.tolist()


def test_sigmoid_is_stable_for_large_inputs(tg):
    x = tg.tensor(np.array([-1000.0, 0.0, 1000.0]), requires_grad=True)
    s = x.sigmoid()
    assert s.tolist() == [0.0, 0.5, 1.0]
    s.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


# ----------------------------------------------------------------------------
# Matmul


@pytest.mark.parametrize(
    "shapes",
    [((2, 3), (3, 4)), ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((5, 2, 3), (5, 3, 4)),
     ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((3,), (5, 3, 2)),
     ((5, 2, 3), (3,)), ((1, 3), (3, 1))],
    ids=str,
)
def test_matmul(tg, shapes):
    out = check_tensor_op(tg, lambda a, b: a @ b, *shapes, numpy_fn=np.matmul)
    assert out.op == "@"


def test_matmul_with_numpy_operand(tg):
    x = tg.tensor(np.eye(2), requires_grad=True)
    assert (np.ones((1, 2)) @ x).tolist() == [[1.0, 1.0]]
    assert (x @ np.ones(2)).tolist() == [1.0, 1.0]


# ----------------------------------------------------------------------------
# Reductions

REDUCE_ARGS = [dict(), dict(dim=0), dict(dim=1), dict(dim=-1, keepdim=True), dict(dim=(0, 2)),
               dict(dim=(0, 2), keepdim=True), dict(axis=1), dict(axis=(1, 2), keepdims=True),
               dict(dim=None, keepdim=True)]


@pytest.mark.parametrize("kwargs", REDUCE_ARGS, ids=str)
@pytest.mark.parametrize("op", [row.op for row in ROWS if kind(row.op) == "reduce"])
def test_reductions(tg, op, kwargs):
    # each reduction's row of tests/op_cases.py gives its NumPy and PyTorch spellings
    row = ROW_NAMED[op]
    axis = kwargs.get("dim", kwargs.get("axis"))
    keep = kwargs.get("keepdim", kwargs.get("keepdims", False))
    torch_kwargs = {} if axis is None and not keep else \
        {"dim": tuple(range(3)) if axis is None else axis, "keepdim": keep}
    out = check_tensor_op(
        tg, lambda a: getattr(a, op)(**kwargs), (2, 3, 4),
        torch_fn=lambda a: (row.torch or row.fn)(a, torch_kwargs),
        numpy_fn=lambda a: row.np(a, {"dim": axis, "keepdim": keep}))
    assert out.op == op


@pytest.mark.parametrize("op, sign", [("max", 1.0), ("min", -1.0)])
def test_max_min_ties_share_the_gradient(tg, op, sign):
    x = tg.tensor(sign * np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    getattr(x, op)(dim=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    y = tg.tensor(np.array([5.0, 5.0]), requires_grad=True)
    getattr(y, op)().backward()
    assert y.grad.tolist() == [0.5, 0.5]


def test_reductions_of_a_scalar_and_of_zero_size(tg):
    s = tg.tensor(3.0, requires_grad=True)
    assert s.sum().item() == 3.0 and s.sum(dim=0).item() == 3.0
    s.mean().backward()
    assert s.grad.item() == 1.0
    z = tg.zeros((0, 3))
    assert z.sum().item() == 0.0
    assert z.sum(dim=0).tolist() == [0.0, 0.0, 0.0]
    assert z.max(dim=1).shape == (0,) and z.min(dim=-1, keepdim=True).shape == (0, 1)
    assert np.isnan(z.mean().item())


# ----------------------------------------------------------------------------
# Movement: reshape, transpose, permute, flatten, indexing


def test_reshape(tg):
    check_tensor_op(tg, lambda a: a.reshape(3, 4), (2, 6))
    check_tensor_op(tg, lambda a: a.reshape((4, -1)), (2, 6))
    check_tensor_op(tg, lambda a: a.reshape(-1), (2, 3, 2))
    out = check_tensor_op(tg, lambda a: a.reshape(()), (1, 1))
    assert out.shape == () and out.op == "reshape"


def test_transpose_permute_flatten(tg):
    assert check_tensor_op(tg, lambda a: a.T, (2, 3)).op == "transpose"
    check_tensor_op(tg, lambda a: a.T, (2, 3, 4), torch_fn=lambda a: a.permute(2, 1, 0))
    assert check_tensor_op(tg, lambda a: a.transpose(0, 2), (2, 3, 4)).shape == (4, 3, 2)
    check_tensor_op(tg, lambda a: a.transpose(-1, 0), (2, 3))
    assert check_tensor_op(tg, lambda a: a.permute(1, 2, 0), (2, 3, 4)).op == "permute"
    check_tensor_op(tg, lambda a: a.permute((2, 0, 1)), (2, 3, 4), torch_fn=lambda a: a.permute(2, 0, 1))
    out = check_tensor_op(tg, lambda a: a.flatten(), (2, 3, 4))
    assert out.shape == (24,) and out.op == "reshape"


INDICES = [
    ("int", 1), ("neg int", -1), ("slice", slice(1, 3)), ("neg step", slice(None, None, -1)),
    ("step 2", slice(None, None, -2)), ("tuple", (1, slice(None, 2))), ("none", (None, 0)),
    ("ellipsis", (Ellipsis, 1)), ("int array", np.array([0, 2, 0])),
    ("repeated", np.array([1, 1, 1])), ("list", [2, 0]), ("2-d int array", np.array([[0, 1], [1, 1]])),
    ("mixed", (np.array([0, 0]), slice(None), np.array([1, 1]))), ("empty", slice(2, 2)),
    ("empty array", np.array([], dtype=np.int64)),
]


@pytest.mark.parametrize("key", [i[1] for i in INDICES], ids=[i[0] for i in INDICES])
def test_getitem(tg, key):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4, 2))
    out = check_tensor_op(tg, lambda x: x[key], a,
                          use_torch=_torch_can_index(key),
                          numpy_fn=lambda x: x[key])
    assert out.op == "getitem"


def _torch_can_index(key) -> bool:
    """PyTorch has no negative steps: check those against NumPy and FD only."""
    parts = key if isinstance(key, tuple) else (key,)
    return not any(isinstance(k, slice) and (k.step or 1) < 0 for k in parts)


@pytest.mark.parametrize("key", [slice(None, None, -1), slice(None, None, -2)], ids=["rev", "rev2"])
def test_negative_steps_without_torch(tg, key):
    x = tg.tensor(np.arange(5.0), requires_grad=True)
    y = x[key]
    np.testing.assert_array_equal(y.numpy(), np.arange(5.0)[key])
    (y * tg.tensor(np.arange(len(y), dtype=np.float64) + 1)).sum().backward()
    expected = np.zeros(5)
    expected[key] = np.arange(len(y)) + 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_repeated_indices_accumulate(tg):
    x = tg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]
    y = tg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y[tg.tensor([1, 1])].sum().backward()  # a (float) Tensor of integer ids
    assert y.grad.tolist() == [0.0, 2.0, 0.0]


def test_iteration_and_len(tg):
    x = tg.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert len(rows) == 3 and rows[2].tolist() == [4.0, 5.0]
    sum(r.sum() for r in rows).backward()
    assert x.grad.tolist() == [[1.0, 1.0]] * 3


# ----------------------------------------------------------------------------
# Softmax family, joins, where, losses


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(tg, dim):
    out = check_tensor_op(tg, lambda a: a.softmax(dim), (3, 4))
    assert out.op == "softmax"
    np.testing.assert_allclose(out.numpy().sum(axis=dim), 1.0)
    assert check_tensor_op(tg, lambda a: a.log_softmax(dim), (3, 4)).op == "log_softmax"
    w = np.arange(12.0).reshape(3, 4)
    check_tensor_op(tg, lambda a: (a.softmax(dim) * tg.tensor(w)).sum(),
                    (3, 4), torch_fn=lambda a: (a.softmax(dim) * torch.tensor(w)).sum())


def test_softmax_is_stable_with_large_logits(tg):
    logits = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]])
    x = tg.tensor(logits, requires_grad=True)
    s = x.softmax(1)
    ls = x.log_softmax(1)
    assert np.all(np.isfinite(s.numpy())) and np.all(np.isfinite(ls.numpy()))
    shifted = logits - logits.max(axis=1, keepdims=True)
    expected = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(ls.numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(s.numpy(), np.exp(expected), atol=1e-12)
    (ls[:, 0].sum() + s[:, 2].sum()).backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_concatenate_and_stack(tg):
    out = check_tensor_op(tg, lambda a, b, c: tg.concatenate([a, b, c], dim=1), (2, 1), (2, 3), (2, 2),
                          torch_fn=lambda a, b, c: torch.cat([a, b, c], dim=1))
    assert out.op == "concatenate" and out.shape == (2, 6) and len(out.parents) == 3
    check_tensor_op(tg, lambda a, b: tg.concatenate((a, b)), (1, 2), (3, 2),
                    torch_fn=lambda a, b: torch.cat((a, b)))
    check_tensor_op(tg, lambda a, b: tg.concatenate([a, b], axis=-1), (2,), (3,),
                    torch_fn=lambda a, b: torch.cat([a, b], dim=-1))
    out = check_tensor_op(tg, lambda a, b: tg.stack([a, b], dim=1), (2, 3), (2, 3),
                          torch_fn=lambda a, b: torch.stack([a, b], dim=1))
    assert out.op == "stack" and out.shape == (2, 2, 3)
    check_tensor_op(tg, lambda a, b: tg.stack([a, b], dim=-1), (3,), (3,),
                    torch_fn=lambda a, b: torch.stack([a, b], dim=-1))


def test_concatenate_same_tensor_twice(tg):
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (tg.concatenate([x, x]) * tg.tensor(np.array([1.0, 2.0, 3.0, 4.0]))).sum().backward()
    assert x.grad.tolist() == [4.0, 6.0]


def test_where(tg):
    cond = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    out = check_tensor_op(tg, lambda a, b: tg.where(tg.tensor(cond), a, b), (2, 3), (3,),
                          torch_fn=lambda a, b: torch.where(torch.tensor(cond) != 0, a, b),
                          numpy_fn=lambda a, b: np.where(cond != 0, a, b))
    assert out.op == "where"
    check_tensor_op(tg, lambda a: tg.where(cond[0], a, 0.0), (2, 3),
                    torch_fn=lambda a: torch.where(torch.tensor(cond[0]) != 0, a, 0.0))
    check_tensor_op(tg, lambda a: tg.where(cond[:, :1] > 0, 1.0, a), (3,),
                    torch_fn=lambda a: torch.where(torch.tensor(cond[:, :1]) > 0, 1.0, a))
    x = tg.tensor([-1.0, 2.0], requires_grad=True)
    y = tg.where(x > 0, x, x * 0.1)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.1, 1.0])


def test_cross_entropy(tg):
    labels = np.array([0, 2, 1, 2])
    out = check_tensor_op(tg, lambda z: tg.cross_entropy(z, labels), (4, 3),
                          torch_fn=lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(labels)))
    assert out.op == "cross_entropy" and out.shape == ()
    z = tg.tensor(np.array([[1000.0, 0.0], [0.0, -1000.0]]), requires_grad=True)
    loss = tg.cross_entropy(z, tg.tensor([1, 1]))
    np.testing.assert_allclose(loss.item(), (1000.0 + 1000.0) / 2)
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy(), [[0.5, -0.5], [0.5, -0.5]])
    assert tg.cross_entropy(tg.zeros((2, 3)), np.array([0, 1])).dtype == np.float32


def test_mse_loss(tg):
    out = check_tensor_op(tg, lambda p, t: tg.mse_loss(p, t), (3, 2), (3, 2),
                          torch_fn=lambda p, t: torch.nn.functional.mse_loss(p, t),
                          numpy_fn=lambda p, t: np.mean((p - t) ** 2))
    assert out.op == "mse_loss"
    check_tensor_op(tg, lambda p: tg.mse_loss(p, tg.tensor(np.ones((3, 2)))), (3, 2),
                    torch_fn=lambda p: torch.nn.functional.mse_loss(p, torch.ones(3, 2, dtype=torch.float64)))
    check_tensor_op(tg, lambda p: tg.mse_loss(p, 0.5), (4,), use_torch=False,
                    numpy_fn=lambda p: np.mean((p - 0.5) ** 2))


# ----------------------------------------------------------------------------
# Autograd behaviour


def test_backward_accumulates_and_repeats(tg):
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    assert x.grad.tolist() == [2.0, 4.0]
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    assert x.grad.dtype == np.float64 and x.grad.requires_grad is False


def test_fan_out_sums_over_paths_and_only_leaves_keep_grad(tg):
    x = tg.tensor(np.array([3.0]), requires_grad=True)
    u = x * 2
    y = (u * u + u).sum()  # dy/du = 2u + 1 = 13, dy/dx = 26
    y.backward()
    assert x.grad.tolist() == [26.0]
    assert u.grad is None and not u.is_leaf


def test_grad_dtype_follows_the_leaf(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    w = tg.tensor(np.array([1.0, 1.0]))
    (x * w).sum().backward()
    assert x.grad.dtype == np.float32


def test_backward_of_a_leaf(tg):
    s = tg.tensor(np.array(2.0), requires_grad=True)
    s.backward()
    assert s.grad.item() == 1.0 and s.grad.shape == ()
    one = tg.tensor([[3.0]], requires_grad=True)  # any one-element tensor has the implicit seed 1
    (one * 2).backward()
    assert one.grad.tolist() == [[2.0]]


def test_backward_with_gradient(tg):
    x = tg.tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    (x * 3).backward(gradient=tg.tensor(np.array([[1.0, -1.0]])))
    assert x.grad.tolist() == [[3.0, -3.0]]
    x.zero_grad()
    assert x.grad is None
    (x * 3).backward(np.array([[2.0, 0.0]]))
    assert x.grad.tolist() == [[6.0, 0.0]]


def test_retain_graph_frees_the_graph(tg):
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    z = (x.exp() * x).sum()
    z.backward(retain_graph=True)
    z.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp([1.0, 2.0]) * np.array([2.0, 3.0]))


def test_freed_shared_subgraph_raises(tg):
    x = tg.tensor([1.0], requires_grad=True)
    h = x.tanh()
    a, b = (h * 2).sum(), (h * 3).sum()
    a.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        b.backward()


def test_no_grad(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.no_grad():
        y = x * 2 + 1
    assert not y.requires_grad and y.is_leaf and y.op == "" and y.parents == ()
    assert (x * 2).requires_grad


def test_constants_are_not_tracked(tg):
    a = tg.tensor([1.0]) * tg.tensor([2.0])
    assert not a.requires_grad and a.is_leaf


def test_tg_grad_leaves_dot_grad_untouched(tg):
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = tg.tensor(np.array([3.0]), requires_grad=True)
    u = x * x
    y = (u * w).sum()
    gx, gu, gw = tg.grad(y, [x, u, w], retain_graph=True)
    assert gx.tolist() == [6.0, 12.0] and gu.tolist() == [3.0, 3.0] and gw.tolist() == [5.0]
    assert x.grad is None and w.grad is None and u.grad is None
    (gx_only,) = tg.grad(y, (x,))
    assert gx_only.tolist() == [6.0, 12.0]
    other = tg.tensor([5.0], requires_grad=True)
    z = (x * 2).sum()
    assert tg.grad(z, other).tolist() == [0.0]


def test_detach_and_requires_grad(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.tolist() == [2.0, 4.0]
    (d * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    leaf = tg.tensor([1.0])
    leaf.requires_grad = True
    (leaf * 2).sum().backward()
    assert leaf.grad.tolist() == [2.0]


def test_label_is_assignable(tg):
    x = tg.tensor([1.0], requires_grad=True)
    x.label = "x"
    assert x.label == "x"


def test_data_is_assignable_and_keeps_dtype(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    x.data = x.data - 0.5 * np.array([1.0, 1.0])
    assert x.dtype == np.float32 and x.tolist() == [0.5, 1.5]


# ----------------------------------------------------------------------------
# Conversions: NumPy, DLPack, PyTorch, pickle


def test_numpy_and_asarray(tg):
    x = tg.tensor(np.array([[1.0, 2.0]]))
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float64
    assert np.shares_memory(np.asarray(x), a)
    assert not np.shares_memory(np.array(x), a)
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError):
        np.asarray(x, dtype=np.float32, copy=False)
    assert np.asarray(x, copy=False) is not None
    assert float(tg.tensor([2.5])) == 2.5


def test_dlpack_roundtrip_with_numpy(tg):
    a = np.arange(6.0).reshape(2, 3)
    x = tg.from_dlpack(a)
    assert x.dtype == np.float64 and x.shape == (2, 3)
    a[0, 0] = 42.0  # zero-copy: the tensor sees the change
    assert x.tolist()[0][0] == 42.0
    back = np.from_dlpack(x)
    assert np.shares_memory(back, a)
    x2 = tg.from_dlpack(np.arange(3, dtype=np.float32))
    assert x2.dtype == np.float32


def test_dlpack_from_numpy_keeps_the_memory_writeable(tg):
    # NumPy < 2.1 (what pip installs for Python 3.9) imports every DLPack
    # capsule as a read-only view, even of writeable memory
    a = np.arange(3.0)
    x = tg.from_dlpack(a)
    assert np.shares_memory(x.numpy(), a) and x.numpy().flags.writeable


class _OldConsumerView:
    """Offers only DLPack before 1.0, as NumPy < 2.1 and the native from_dlpack ask for it."""

    def __init__(self, x):
        self.x = x

    def __dlpack__(self, stream=None):
        return self.x.__dlpack__()

    def __dlpack_device__(self):
        return self.x.__dlpack_device__()


def test_reference_dlpack_exports_read_only_memory():
    import tapegrad as native_tg
    import tapegrad.reference as ref

    a = np.arange(6.0).reshape(2, 3)
    a.flags.writeable = False
    x = ref.from_dlpack(a)
    assert np.shares_memory(x.numpy(), a) and not x.numpy().flags.writeable
    # DLPack before 1.0 cannot say read-only: that consumer gets a copy
    old = np.from_dlpack(_OldConsumerView(x))
    assert old.tolist() == a.tolist() and not np.shares_memory(old, a)
    native = native_tg.from_dlpack(x)
    assert native.tolist() == a.tolist() and not np.shares_memory(native.numpy(), a)
    # whatever NumPy asks for, it never gets write access to the memory
    back = np.from_dlpack(x)
    assert back.tolist() == a.tolist() and not (back.flags.writeable and np.shares_memory(back, a))


@needs_torch
def test_dlpack_roundtrip_with_torch(tg):
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    x = tg.from_dlpack(t)
    t[1, 2] = -1.0
    assert x.tolist()[1][2] == -1.0
    y = tg.tensor(np.ones((2, 2)))
    ty = torch.from_dlpack(y)
    assert ty.dtype == torch.float64
    ty[0, 0] = 5.0
    assert y.tolist()[0][0] == 5.0


@pytest.mark.parametrize("clone", [lambda t: pickle.loads(pickle.dumps(t)), copy.deepcopy], ids=["pickle", "deepcopy"])
def test_pickle_and_deepcopy(tg, clone):
    for x in (tg.tensor(np.array([[1.0, 2.0]]), requires_grad=True), tg.tensor([3.0])):
        y = clone(x)
        assert type(y) is type(x) and y is not x
        assert y.tolist() == x.tolist() and y.dtype == x.dtype and y.requires_grad == x.requires_grad
        assert not np.shares_memory(y.numpy(), x.numpy())


# ----------------------------------------------------------------------------
# Worked example in tensor form: y = (x1 + x2) * x3 at (4, 2, -5)


def test_worked_example(tg):
    x1, x2, x3 = (tg.tensor([v], requires_grad=True) for v in (4.0, 2.0, -5.0))
    s = x1 + x2
    y = (s * x3).sum()
    gs, = tg.grad(y, [s], retain_graph=True)
    assert gs.tolist() == [-5.0]
    y.backward()
    assert y.item() == -30.0
    assert (x1.grad.tolist(), x2.grad.tolist(), x3.grad.tolist()) == ([-5.0], [-5.0], [6.0])


# ----------------------------------------------------------------------------
# The oracle itself can fail


def test_check_tensor_op_catches_a_wrong_gradient(tg):
    # forward a^2, but backward sees only one factor: d/da = a instead of 2a
    with pytest.raises(AssertionError):
        check_tensor_op(tg, lambda a: a * a.detach(), (3,), use_torch=False)


@needs_torch
def test_check_tensor_op_catches_a_torch_mismatch(tg):
    with pytest.raises(AssertionError):
        check_tensor_op(tg, lambda a: a.exp(), (3,), torch_fn=lambda a: a.exp() * 1.001)


@pytest.mark.parametrize("shape, dim", [((100_003,), None), ((7, 30_011), None), ((7, 30_011), 1), ((30_011, 7), 0)])
def test_large_float32_sums_accumulate_in_double(tg, shape, dim):
    # one contiguous run (all dims), rows and columns: 16 partial sums in float64
    # (kernels_reduce.cpp), so the float32 result is the float64 sum rounded once
    x = (np.random.default_rng(11).random(shape) * 3 + 1e4).astype(np.float32)
    got = tg.tensor(x).sum(dim).numpy() if dim is not None else tg.tensor(x).sum().numpy()
    want = x.astype(np.float64).sum(axis=dim)
    np.testing.assert_allclose(got, want, rtol=2 ** -23)
