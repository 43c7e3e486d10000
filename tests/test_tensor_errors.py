"""Every Tensor error case of docs/API.md: the exception type and the whole message.

Both backends say the same words (Note [Errors]; tests/test_same_errors.py
compares them case by case); here each message is written out once.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

import expect
from expect import me, raises


def _other_backend(tg):
    return importlib.import_module("tapegrad.reference" if tg.__name__ == "tapegrad" else "tapegrad")


def python_says(fn) -> str:
    return expect.python_says(fn, "Tensor")


# ----------------------------------------------------------------------------
# TypeError: non-numeric data, unsupported operands, mixing kinds and backends


@pytest.mark.parametrize(
    "data, message",
    [("abc", "str holding dtype <U3"), (["a", "b"], "list holding dtype <U1"), ([1, "a"], "list holding dtype <U21"),
     (None, "NoneType holding dtype object"), (np.array([object()]), "ndarray holding dtype object"),
     ([1 + 2j], "list holding dtype complex128"), (np.array(["x"]), "ndarray holding dtype <U1")],
    ids=["str", "str list", "mixed list", "None", "object array", "complex", "str array"],
)
def test_non_numeric_data(tg, data, message):
    with raises(TypeError, "tensor data must be real numbers, got " + message):
        tg.tensor(data)


def test_unsupported_dtype(tg):
    with raises(TypeError, "tapegrad tensors hold float32, float64 or int64, not int32"):
        tg.tensor([1, 2], dtype=np.int32)


@pytest.mark.parametrize("other", ["abc", None, object(), 1 + 2j], ids=["str", "None", "object", "complex"])
def test_unsupported_operands(tg, other):
    """Python's own words, as for any class that declines the operator."""
    x = tg.tensor([1.0])
    for op in (lambda x: x + other, lambda x: other + x, lambda x: x * other, lambda x: x @ other,
               lambda x: x - other, lambda x: x / other, lambda x: x**other, lambda x: x < other):
        with raises(TypeError, python_says(op)):
            op(x)


def test_value_with_tensor(tg):
    v, x = tg.Value(2.0), tg.tensor([1.0])
    value, tensor = f"a {me(tg)} Value", f"a {me(tg)} Tensor"
    for op, message in ((lambda: v + x, f"cannot combine {value} with {tensor}"),
                        (lambda: x + v, f"cannot combine {tensor} with {value}"),
                        (lambda: x * v, f"cannot combine {tensor} with {value}"),
                        (lambda: v * x, f"cannot combine {value} with {tensor}"),
                        (lambda: x / v, f"cannot combine {tensor} with {value}"),
                        (lambda: v - x, f"cannot combine {value} with {tensor}"),
                        (lambda: x**v, f"cannot combine {tensor} with {value}"),
                        (lambda: x @ v, f"cannot combine {tensor} with {value}"),
                        (lambda: tg.where(x, v, x), f"where: cannot combine {value} with {me(tg)} Tensors")):
        with raises(TypeError, message):
            op()


def test_other_backends_tensor(tg):
    other = _other_backend(tg)
    x, y = tg.tensor([1.0]), other.tensor([1.0])
    mine, theirs = f"a {me(tg)} Tensor", f"a {me(other)} Tensor"
    for op, message in ((lambda: x + y, f"cannot combine {mine} with {theirs}"),
                        (lambda: y + x, f"cannot combine {theirs} with {mine}"),
                        (lambda: x * y, f"cannot combine {mine} with {theirs}"),
                        (lambda: x @ y, f"cannot combine {mine} with {theirs}")):
        with raises(TypeError, message):
            op()


def test_native_tensor_detected_without_importing_core():
    """A class from a native tapegrad module is named as such, whatever the build state."""
    from tapegrad import reference as rtg

    native_like = type("Tensor", (), {"__module__": "tapegrad._core"})()
    x = rtg.tensor([1.0])
    combine = "cannot combine a tapegrad.reference Tensor with a tapegrad (native) Tensor"
    for op, message in ((lambda: x + native_like, combine), (lambda: x - native_like, combine),
                        (lambda: rtg.concatenate([x, native_like]),
                         "concatenate: cannot combine a tapegrad (native) Tensor with tapegrad.reference Tensors"),
                        (lambda: rtg.where(x, native_like, x),
                         "where: cannot combine a tapegrad (native) Tensor with tapegrad.reference Tensors")):
        with raises(TypeError, message):
            op()


def test_dim_and_axis_together(tg):
    with raises(TypeError, "sum() got both dim and axis"):
        tg.zeros((2, 2)).sum(dim=0, axis=1)


def test_len_and_iteration_of_a_0d_tensor(tg):
    s = tg.tensor(1.0)
    with raises(TypeError, "len() of a 0-d tensor"):
        len(s)
    with raises(TypeError, "iteration over a 0-d tensor"):
        iter(s)


# ----------------------------------------------------------------------------
# ValueError: shapes, dims, reshapes, sizes


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**", "<", "=="])
def test_shapes_that_do_not_broadcast(tg, op):
    a, b = tg.zeros((2, 3)), tg.ones((4,))
    fn = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
          "**": lambda: a**b, "<": lambda: a < b, "==": lambda: a == b}[op]
    with raises(ValueError, f"{op}: shapes (2, 3) and (4,) do not broadcast"):
        fn()


def test_where_and_mse_loss_shapes(tg):
    with raises(ValueError, "where: shapes (3,) and (2,) and () do not broadcast"):
        tg.where(tg.ones(3), tg.ones((2,)), 0.0)
    with raises(ValueError, "mse_loss: shapes (2, 3) and (3, 2) do not broadcast"):
        tg.mse_loss(tg.ones((2, 3)), tg.ones((3, 2)))


@pytest.mark.parametrize(
    "shapes, message",
    [(((2, 3), (2, 3)), "@: shapes (2, 3) and (2, 3) do not match for matmul (3 != 2)"),
     (((3,), (4,)), "@: shapes (3,) and (4,) do not match for matmul (3 != 4)"),
     (((2, 3), (4,)), "@: shapes (2, 3) and (4,) do not match for matmul (3 != 4)"),
     (((5, 2, 3), (4, 3, 2)), "@: the batch dimensions of shapes (5, 2, 3) and (4, 3, 2) do not broadcast"),
     (((), (3,)), "@: matmul needs tensors of at least one dimension, got shapes () and (3,)")],
    ids=lambda v: str(v) if isinstance(v, tuple) else "",
)
def test_matmul_shapes(tg, shapes, message):
    a, b = (tg.zeros(s) for s in shapes)
    with raises(ValueError, message):
        a @ b


@pytest.mark.parametrize(
    "call, message",
    [(lambda x: x.sum(dim=2), "dim 2 is out of range for a tensor with 2 dimensions"),
     (lambda x: x.mean(dim=-3), "dim -3 is out of range for a tensor with 2 dimensions"),
     (lambda x: x.max(dim=5), "dim 5 is out of range for a tensor with 2 dimensions"),
     (lambda x: x.min(axis=(0, 2)), "dim 2 is out of range for a tensor with 2 dimensions"),
     (lambda x: x.sum(dim=(0, 0)), "dim (0, 0) repeats a dimension"),
     (lambda x: x.softmax(2), "dim 2 is out of range for a tensor with 2 dimensions"),
     (lambda x: x.log_softmax(-3), "dim -3 is out of range for a tensor with 2 dimensions"),
     (lambda x: x.transpose(0, 2), "dim 2 is out of range for a tensor with 2 dimensions"),
     (lambda x: x.permute(0, 0), "permute: dims (0, 0) are not a permutation of the 2 dimensions"),
     (lambda x: x.permute(1, 0, 2), "permute: dims (1, 0, 2) given for a tensor with 2 dimensions")],
    ids=["sum", "mean", "max", "min tuple", "repeated", "softmax", "log_softmax", "transpose",
         "permute repeated", "permute length"],
)
def test_bad_dim(tg, call, message):
    with raises(ValueError, message):  # exactly ValueError: NumPy's AxisError must not leak
        call(tg.zeros((2, 3)))


@pytest.mark.parametrize(
    "shape, message",
    [((4,), "cannot reshape a tensor of shape (2, 3) (6 elements) into shape (4,)"),
     ((5, -1), "cannot reshape a tensor of shape (2, 3) (6 elements) into shape (5, -1)"),
     ((-1, -1), "reshape: bad shape (-1, -1) (sizes >= 0, at most one -1)"),
     ((2, -2), "reshape: bad shape (2, -2) (sizes >= 0, at most one -1)"),
     ((7,), "cannot reshape a tensor of shape (2, 3) (6 elements) into shape (7,)")],
    ids=lambda v: str(v) if isinstance(v, tuple) else "",
)
def test_bad_reshape(tg, shape, message):
    with raises(ValueError, message):
        tg.zeros((2, 3)).reshape(*shape)


@pytest.mark.parametrize("make, shape", [(lambda tg: tg.zeros((2, -1)), "(2, -1)"), (lambda tg: tg.ones(-3), "(-3,)"),
                                         (lambda tg: tg.randn(2, -2), "(2, -2)")],
                         ids=["zeros", "ones", "randn"])
def test_negative_sizes(tg, make, shape):
    with raises(ValueError, "negative dimensions are not allowed: shape " + shape):
        make(tg)


def test_join_errors(tg):
    with raises(ValueError, "concatenate: shapes (2, 3) and (3, 2) differ outside dim 0"):
        tg.concatenate([tg.zeros((2, 3)), tg.zeros((3, 2))], dim=0)
    with raises(ValueError, "stack: shapes (2,) and (3,) differ"):
        tg.stack([tg.zeros((2,)), tg.zeros((3,))])
    with raises(ValueError, "concatenate() needs at least one tensor"):
        tg.concatenate([])
    with raises(ValueError, "dim 3 is out of range for a tensor with 2 dimensions"):
        tg.stack([tg.zeros((2,))], dim=3)


def test_cross_entropy_errors(tg):
    logits = tg.zeros((2, 3))
    with raises(ValueError, "cross_entropy: labels of shape (3,) for logits of batch size 2"):
        tg.cross_entropy(logits, np.array([0, 1, 2]))
    with raises(ValueError, "cross_entropy: labels of shape (2, 1) for logits of batch size 2"):
        tg.cross_entropy(logits, np.array([[0], [1]]))
    with raises(ValueError, "cross_entropy: logits must have shape (N, C), got (3,)"):
        tg.cross_entropy(tg.zeros((3,)), np.array([0]))
    with raises(IndexError, "cross_entropy: label 3 is out of range for 3 classes"):
        tg.cross_entropy(logits, np.array([0, 3]))
    with raises(IndexError, "cross_entropy: label -1 is out of range for 3 classes"):
        tg.cross_entropy(logits, np.array([-1, 0]))
    with raises(TypeError, "cross_entropy: labels must be integer class ids"):
        tg.cross_entropy(logits, np.array([0.5, 1.0]))


def test_max_min_over_an_empty_dimension(tg):
    z = tg.zeros((0, 3))
    for call, name in ((lambda: z.max(), "max"), (lambda: z.min(dim=0), "min"), (lambda: z.max(axis=(0, 1)), "max")):
        with raises(ValueError, f"{name}() over an empty dimension of a tensor of shape (0, 3)"):
            call()


def test_item_of_many_elements(tg):
    for convert in (lambda t: t.item(), float, int):
        with raises(ValueError, "item() needs a tensor with one element, got shape (2,)"):
            convert(tg.zeros(2))
    with raises(ValueError, "the truth value of a tensor of shape (2,) is ambiguous (only single-element tensors have one)"):
        bool(tg.zeros(2))


# ----------------------------------------------------------------------------
# IndexError


@pytest.mark.parametrize(
    "key, message",
    [(3, "index 3 is out of bounds for axis 0 with size 3"), (-4, "index -4 is out of bounds for axis 0 with size 3"),
     ((0, 5), "index 5 is out of bounds for axis 1 with size 4"),
     ((0, 0, 0), "too many indices for tensor: tensor is 2-dimensional, but 3 were indexed"),
     ([0, 7], "index 7 is out of bounds for axis 0 with size 3"),
     (np.array([-9]), "index -9 is out of bounds for axis 0 with size 3")],
    ids=["3", "-4", "(0, 5)", "(0, 0, 0)", "[0, 7]", "array([-9])"],
)
def test_index_out_of_range(tg, key, message):
    with raises(IndexError, message):
        tg.zeros((3, 4))[key]


def test_non_integer_tensor_index(tg):
    with raises(IndexError, "tensor indices must hold integers"):
        tg.zeros(3)[tg.tensor([0.5])]


# ----------------------------------------------------------------------------
# MemoryError: refused before allocating


@pytest.mark.parametrize(
    "make, message",
    [(lambda tg: tg.zeros((10**12, 10**12)),
      "a float32 tensor of shape (1000000000000, 1000000000000) needs 4000000000000000000000000 bytes"),
     (lambda tg: tg.ones(10**15), "a float32 tensor of shape (1000000000000000,) needs 4000000000000000 bytes"),
     (lambda tg: tg.randn(10**8, 10**8),  # drawn in float64
      "a float64 tensor of shape (100000000, 100000000) needs 80000000000000000 bytes"),
     (lambda tg: tg.zeros((10**6, 1)) + tg.zeros((1, 10**7)),
      "a float32 tensor of shape (1000000, 10000000) needs 40000000000000 bytes")],
    ids=["zeros", "ones", "randn", "broadcast"],
)
def test_absurd_sizes(tg, make, message):
    with raises(MemoryError, message + ", more than this machine's memory"):
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
    with raises(MemoryError, message + ", more than this machine's memory"):
        make(tg)


@pytest.mark.parametrize("data, dtype, becomes", [([2**31 + 1], None, "float32 (2147483649 becomes 2147483648.0)"),
                                                  ([2**24 + 1, 3], None, "float32 (16777217 becomes 16777216.0)"),
                                                  ([2**53 + 1], "float64",
                                                   "float64 (9007199254740993 becomes 9007199254740992.0)"),
                                                  ([2**63 - 1], "float64",
                                                   "float64 (9223372036854775807 becomes 9.223372036854776e+18)")])
def test_integers_that_do_not_fit_the_dtype_warn(tg, data, dtype, becomes):
    arr = np.array(data, dtype=np.int64)
    with pytest.warns(UserWarning) as caught:
        t = tg.tensor(arr, dtype=dtype)
    assert [str(w.message) for w in caught] == [
        f"integer data holds values that {becomes.replace(' (', ' cannot represent exactly (', 1)}; "
        "pass dtype=float64 (exact up to 2**53) to keep more of them"]
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


NOT_REQUIRING_GRAD = ("backward() of a tensor that does not require grad: none of its inputs has requires_grad=True, "
                      "or it was computed under no_grad()")


def test_backward_of_a_non_scalar_needs_gradient(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with raises(RuntimeError, "backward() of a non-scalar tensor (shape (2,)) needs a `gradient` argument of that "
                              "shape; only a one-element output has the implicit gradient 1"):
        (x * 2).backward()


def test_backward_of_something_not_requiring_grad(tg):
    with raises(RuntimeError, NOT_REQUIRING_GRAD):
        tg.tensor([1.0]).sum().backward()
    x = tg.tensor([1.0], requires_grad=True)
    with tg.no_grad():
        y = (x * 2).sum()
    with raises(RuntimeError, NOT_REQUIRING_GRAD):
        y.backward()


def test_gradient_of_the_wrong_shape(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with raises(ValueError, "gradient has shape (3,) but the tensor has shape (2,)"):
        (x * 2).backward(gradient=tg.ones(3))


def test_second_backward_through_a_freed_graph(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.sigmoid() * x).sum()
    y.backward()
    freed = ("backward through a graph that was already freed (at a 'sum' node): pass retain_graph=True to the "
             "first backward() to backward through it again")
    with raises(RuntimeError, freed):
        y.backward()
    with raises(RuntimeError, freed):
        tg.grad(y, x)


def test_requires_grad_of_a_non_leaf(tg):
    y = tg.tensor([1.0], requires_grad=True) * 2
    with raises(RuntimeError, "requires_grad can only be changed on a leaf tensor; this one was computed by op '*' "
                              "(use detach() to get a leaf)"):
        y.requires_grad = False
