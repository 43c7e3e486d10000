"""Every Tensor error case of docs/API.md: the exception type and a message naming the problem."""
from __future__ import annotations

import importlib
import re

import numpy as np
import pytest


def _other_backend(tg):
    name = "tapegrad.reference" if tg.__name__ == "tapegrad" else "tapegrad"
    other = importlib.import_module(name)
    if not hasattr(other, "Tensor"):
        pytest.skip(f"{name} has no Tensor yet")
    return other


# ----------------------------------------------------------------------------
# TypeError: non-numeric data, unsupported operands, mixing kinds and backends


@pytest.mark.parametrize(
    "data",
    ["abc", ["a", "b"], [1, "a"], None, np.array([object()]), [1 + 2j], np.array(["x"])],
    ids=["str", "str list", "mixed list", "None", "object array", "complex", "str array"],
)
def test_non_numeric_data(tg, data):
    with pytest.raises(TypeError, match="numbers|numeric|dtype"):
        tg.tensor(data)


def test_non_float_dtype(tg):
    with pytest.raises(TypeError, match="float32 or float64"):
        tg.tensor([1, 2], dtype=np.int64)


@pytest.mark.parametrize("other", ["abc", None, object(), 1 + 2j], ids=["str", "None", "object", "complex"])
def test_unsupported_operands(tg, other):
    x = tg.tensor([1.0])
    for op in (lambda: x + other, lambda: other + x, lambda: x * other, lambda: x @ other,
               lambda: x - other, lambda: x / other, lambda: x**other, lambda: x < other):
        with pytest.raises(TypeError):
            op()


def test_value_with_tensor(tg):
    v, x = tg.Value(2.0), tg.tensor([1.0])
    for op in (lambda: v + x, lambda: x + v, lambda: x * v, lambda: v * x, lambda: x / v,
               lambda: v - x, lambda: x**v, lambda: x @ v, lambda: tg.where(x, v, x)):
        with pytest.raises(TypeError, match="Value") as info:
            op()
        assert "Tensor" in str(info.value)


def test_other_backends_tensor(tg):
    other = _other_backend(tg)
    x, y = tg.tensor([1.0]), other.tensor([1.0])
    for op in (lambda: x + y, lambda: y + x, lambda: x * y, lambda: x @ y):
        with pytest.raises(TypeError, match=r"tapegrad \(native\)") as info:
            op()
        assert "tapegrad.reference" in str(info.value)


def test_native_tensor_detected_without_importing_core():
    """A class from a native tapegrad module is named as such, whatever the build state."""
    from tapegrad import reference as rtg

    native_like = type("Tensor", (), {"__module__": "tapegrad._core"})()
    x = rtg.tensor([1.0])
    for op in (lambda: x + native_like, lambda: x - native_like,
               lambda: rtg.concatenate([x, native_like]), lambda: rtg.where(x, native_like, x)):
        with pytest.raises(TypeError, match=re.escape("tapegrad (native) Tensor")):
            op()


def test_dim_and_axis_together(tg):
    with pytest.raises(TypeError, match="dim and axis"):
        tg.zeros((2, 2)).sum(dim=0, axis=1)


def test_len_and_iteration_of_a_0d_tensor(tg):
    s = tg.tensor(1.0)
    with pytest.raises(TypeError, match="0-d"):
        len(s)
    with pytest.raises(TypeError, match="0-d"):
        iter(s)


# ----------------------------------------------------------------------------
# ValueError: shapes, dims, reshapes, sizes


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**", "<", "=="])
def test_shapes_that_do_not_broadcast(tg, op):
    a, b = tg.zeros((2, 3)), tg.ones((4,))
    fn = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
          "**": lambda: a**b, "<": lambda: a < b, "==": lambda: a == b}[op]
    with pytest.raises(ValueError, match=re.escape("(2, 3)")) as info:
        fn()
    assert "(4,)" in str(info.value) and "broadcast" in str(info.value)


def test_where_and_mse_loss_shapes(tg):
    with pytest.raises(ValueError, match=re.escape("(3,)")):
        tg.where(tg.ones(3), tg.ones((2,)), 0.0)
    with pytest.raises(ValueError, match=re.escape("(2, 3)")):
        tg.mse_loss(tg.ones((2, 3)), tg.ones((3, 2)))


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((3,), (4,)), ((2, 3), (4,)), ((5, 2, 3), (4, 3, 2)), ((), (3,))], ids=str)
def test_matmul_shapes(tg, shapes):
    a, b = (tg.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=re.escape(str(shapes[0]))) as info:
        a @ b
    assert str(shapes[1]) in str(info.value)


@pytest.mark.parametrize(
    "call",
    [lambda x: x.sum(dim=2), lambda x: x.mean(dim=-3), lambda x: x.max(dim=5), lambda x: x.min(axis=(0, 2)),
     lambda x: x.sum(dim=(0, 0)), lambda x: x.softmax(2), lambda x: x.log_softmax(-3),
     lambda x: x.transpose(0, 2), lambda x: x.permute(0, 0), lambda x: x.permute(1, 0, 2)],
    ids=["sum", "mean", "max", "min tuple", "repeated", "softmax", "log_softmax", "transpose",
         "permute repeated", "permute length"],
)
def test_bad_dim(tg, call):
    with pytest.raises(ValueError) as info:
        call(tg.zeros((2, 3)))
    assert not isinstance(info.value, IndexError), "NumPy's AxisError must not leak"
    assert re.search(r"dim", str(info.value))


@pytest.mark.parametrize("shape", [(4,), (5, -1), (-1, -1), (2, -2), (7,)], ids=str)
def test_bad_reshape(tg, shape):
    with pytest.raises(ValueError, match="reshape"):
        tg.zeros((2, 3)).reshape(*shape)


@pytest.mark.parametrize("make", [lambda tg: tg.zeros((2, -1)), lambda tg: tg.ones(-3), lambda tg: tg.randn(2, -2)],
                         ids=["zeros", "ones", "randn"])
def test_negative_sizes(tg, make):
    with pytest.raises(ValueError, match="negative"):
        make(tg)


def test_join_errors(tg):
    with pytest.raises(ValueError, match=re.escape("(2, 3)")):
        tg.concatenate([tg.zeros((2, 3)), tg.zeros((3, 2))], dim=0)
    with pytest.raises(ValueError, match=re.escape("(2,)")):
        tg.stack([tg.zeros((2,)), tg.zeros((3,))])
    with pytest.raises(ValueError, match="at least one"):
        tg.concatenate([])
    with pytest.raises(ValueError, match="dim"):
        tg.stack([tg.zeros((2,))], dim=3)


def test_cross_entropy_errors(tg):
    logits = tg.zeros((2, 3))
    with pytest.raises(ValueError, match=re.escape("(3,)")):
        tg.cross_entropy(logits, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="logits"):
        tg.cross_entropy(tg.zeros((3,)), np.array([0]))
    with pytest.raises(IndexError, match="out of range"):
        tg.cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(IndexError, match="out of range"):
        tg.cross_entropy(logits, np.array([-1, 0]))
    with pytest.raises(TypeError, match="integer"):
        tg.cross_entropy(logits, np.array([0.5, 1.0]))


def test_max_min_over_an_empty_dimension(tg):
    z = tg.zeros((0, 3))
    for call in (lambda: z.max(), lambda: z.min(dim=0), lambda: z.max(axis=(0, 1))):
        with pytest.raises(ValueError, match="empty"):
            call()


def test_item_of_many_elements(tg):
    with pytest.raises(ValueError, match=re.escape("(2,)")):
        tg.zeros(2).item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(tg.zeros(2))


# ----------------------------------------------------------------------------
# IndexError


@pytest.mark.parametrize("key", [3, -4, (0, 5), (0, 0, 0), [0, 7], np.array([-9])], ids=str)
def test_index_out_of_range(tg, key):
    with pytest.raises(IndexError):
        tg.zeros((3, 4))[key]


def test_non_integer_tensor_index(tg):
    with pytest.raises(IndexError, match="integer"):
        tg.zeros(3)[tg.tensor([0.5])]


# ----------------------------------------------------------------------------
# MemoryError: refused before allocating


@pytest.mark.parametrize(
    "make",
    [lambda tg: tg.zeros((10**12, 10**12)), lambda tg: tg.ones(10**15), lambda tg: tg.randn(10**8, 10**8),
     lambda tg: tg.zeros((10**6, 1)) + tg.zeros((1, 10**7))],
    ids=["zeros", "ones", "randn", "broadcast"],
)
def test_absurd_sizes(tg, make):
    with pytest.raises(MemoryError, match="bytes|memory"):
        make(tg)


@pytest.mark.parametrize(
    "make, message",
    [(lambda tg: tg.zeros(2**63),
      "a float32 tensor of shape (9223372036854775808,) needs 36893488147419103232 bytes"),
     (lambda tg: tg.ones((2**40, 2**40), dtype="float64"),
      "a float64 tensor of shape (1099511627776, 1099511627776) needs 9671406556917033397649408 bytes"),
     (lambda tg: tg.zeros((2**30, 1)) @ tg.zeros((1, 2**30)),
      "a float32 tensor of shape (1073741824, 1073741824) needs 4611686018427387904 bytes")],
    ids=["zeros beyond int64", "ones", "matmul result"],
)
def test_memory_error_names_the_size(tg, make, message):
    with pytest.raises(MemoryError) as info:
        make(tg)
    assert str(info.value) == message + ", more than this machine's memory"


@pytest.mark.parametrize("data, dtype", [([2**31 + 1], None), ([2**24 + 1, 3], None), ([2**53 + 1], "float64"),
                                         ([2**63 - 1], "float64")])
def test_integers_that_do_not_fit_the_dtype_warn(tg, data, dtype):
    arr = np.array(data, dtype=np.int64)
    with pytest.warns(UserWarning, match="integer data holds values that float(32|64) cannot represent exactly"):
        t = tg.tensor(arr, dtype=dtype)
    assert t.numpy()[0] == np.array(data[:1]).astype(t.dtype)[0]  # still converted, as the contract says


@pytest.mark.parametrize("data, dtype", [([2**24, -(2**24), 0], None), ([2**31], None), ([2**53], "float64"),
                                         (np.array([255], dtype=np.uint8), None)])
def test_integers_that_fit_convert_silently(tg, data, dtype):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.tensor(np.asarray(data), dtype=dtype)


# ----------------------------------------------------------------------------
# RuntimeError: backward misuse


def test_backward_of_a_non_scalar_needs_gradient(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient"):
        (x * 2).backward()


def test_backward_of_something_not_requiring_grad(tg):
    with pytest.raises(RuntimeError, match="require"):
        tg.tensor([1.0]).sum().backward()
    x = tg.tensor([1.0], requires_grad=True)
    with tg.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="require"):
        y.backward()


def test_gradient_of_the_wrong_shape(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=re.escape("(3,)")) as info:
        (x * 2).backward(gradient=tg.ones(3))
    assert "(2,)" in str(info.value)


def test_second_backward_through_a_freed_graph(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.sigmoid() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        tg.grad(y, x)


def test_requires_grad_of_a_non_leaf(tg):
    y = tg.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
