"""Hostile input: every bad call raises the documented exception and leaves the process healthy.

Each case runs on both backends through the ``tg`` fixture where it applies
and checks the exact exception type of docs/API.md ("Errors") and the whole
message, which both backends word alike (Note [Errors]). After every test an
autouse fixture computes a small graph on both backends and checks its
gradients, so a case that corrupted the engine's state (the native pool, the
grad-mode flag, a half-built node) fails there even if the bad call itself
looked fine.
"""
from __future__ import annotations

import copy
import math
import pickle
import sys

import numpy as np
import pytest

import tapegrad
from expect import me, python_says, raises
from tapegrad import reference

BACKENDS = {"native": tapegrad, "reference": reference}


def healthy_small_graph(tg):
    """d/da and d/db of tanh(a*b + b) at (2, -3): the process still computes correctly."""
    a, b = tg.Value(2.0), tg.Value(-3.0)
    out = (a * b + b).tanh()
    out.backward()
    t = math.tanh(-9.0)
    assert out.data == t
    assert a.grad == (1 - t * t) * -3.0
    assert b.grad == (1 - t * t) * 3.0
    assert tg.is_grad_enabled()
    x = tg.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * np.array([[1.0, -2.0], [3.0, 0.5]], np.float32))


@pytest.fixture(autouse=True)
def still_healthy():
    yield
    for tg in BACKENDS.values():
        healthy_small_graph(tg)


def other(tg):
    return reference if tg is tapegrad else tapegrad


class Weird:
    """An object that is not a number and refuses to be one."""

    def __float__(self):
        raise RuntimeError("do not call me")


class FloatLike:
    """Has __float__ but is not a numbers.Real: not accepted as Value data."""

    def __float__(self):
        return 1.0


NOT_NUMBERS = ["abc", "1.0", b"1", None, object(), Weird(), FloatLike(), 1 + 2j, 2j, [1.0], (1.0,), {}, {1.0},
               np.array([1.0, 2.0]), np.array("x"), slice(1), print, type, np.bool_(True)]
NOT_NUMBER_IDS = ["str", "numeric-str", "bytes", "None", "object", "weird", "float-like", "complex", "imag", "list",
                  "tuple", "dict", "set", "ndarray", "str-ndarray", "slice", "function", "type",
                  "np.bool_"]  # NumPy does not register np.bool_ as a numbers.Real


# ----- Value: wrong types -------------------------------------------------------

@pytest.mark.parametrize("bad", NOT_NUMBERS, ids=NOT_NUMBER_IDS)
def test_value_rejects_non_numbers(tg, bad):
    with raises(TypeError, f"Value() data must be a real number, not {type(bad).__name__}"):
        tg.Value(bad)


@pytest.mark.parametrize("good, expected", [(True, 1.0), (False, 0.0), (3, 3.0), (np.float32(0.5), 0.5),
                                            (np.int64(-7), -7.0), (-0.0, -0.0)],
                         ids=["True", "False", "int", "np.float32", "np.int64", "negzero"])
def test_value_accepts_real_numbers(tg, good, expected):
    v = tg.Value(good)
    assert v.data == expected and math.copysign(1, v.data) == math.copysign(1, expected)


def test_value_huge_int_overflows(tg):
    # float(10**400) raises OverflowError in Python; both backends do the same.
    with raises(OverflowError, "int too large to convert to float"):
        tg.Value(10**400)
    with raises(OverflowError, "int too large to convert to float"):
        tg.Value(1.0) + 10**400


OPERATORS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "**": lambda a, b: a ** b, "@": lambda a, b: a @ b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b, "<": lambda a, b: a < b,
}
BAD_OPERANDS = ["abc", None, object(), 1 + 2j, [1.0], np.array([1.0, 2.0]), {}]
BAD_OPERAND_IDS = ["str", "None", "object", "complex", "list", "ndarray", "dict"]


@pytest.mark.parametrize("bad", BAD_OPERANDS, ids=BAD_OPERAND_IDS)
@pytest.mark.parametrize("op", list(OPERATORS), ids=list(OPERATORS))
@pytest.mark.parametrize("side", ["left", "right"])
def test_value_operators_reject_bad_operands(tg, op, bad, side):
    """Python's own words, as for any class that declines the operand."""
    f = OPERATORS[op]
    call = (lambda v: f(v, bad)) if side == "left" else (lambda v: f(bad, v))
    with raises(TypeError, python_says(call, "Value")):
        call(tg.Value(1.5))


def python_words_for_pow_with_modulo(type_name: str) -> str:
    """This Python's message for pow(x, 3, 5) on a type without a three-argument pow
    (3.9 says "for pow()", later versions "for ** or pow()")."""
    with pytest.raises(TypeError) as info:
        pow(object(), 3, 5)
    return str(info.value).replace("'object'", f"'{type_name}'")


def test_value_pow_with_modulo_is_unsupported(tg):
    with raises(TypeError, python_words_for_pow_with_modulo("Value")):
        pow(tg.Value(2.0), 3, 5)


@pytest.mark.parametrize("attr, bad", [("data", "x"), ("data", None), ("data", 1j), ("grad", "x"), ("grad", None),
                                       ("grad", [1.0]), ("label", 3), ("label", None), ("label", b"x")])
def test_value_attribute_assignment_checks_types(tg, attr, bad):
    v = tg.Value(1.0)
    expected = "a str" if attr == "label" else "a real number"
    with raises(TypeError, f"Value.{attr} must be {expected}, not {type(bad).__name__}"):
        setattr(v, attr, bad)
    assert v.data == 1.0 and v.grad == 0.0 and v.label == ""


@pytest.mark.parametrize("attr", ["data", "grad", "label", "op", "parents"])
def test_value_attributes_cannot_be_deleted(tg, attr):
    v = tg.Value(1.0) * 2
    with raises(AttributeError, f"property {attr!r} of 'Value' object has no deleter"):
        delattr(v, attr)
    assert v.data == 2.0


@pytest.mark.parametrize("attr", ["op", "parents", "_op", "_prev"])
def test_value_read_only_attributes(tg, attr):
    v = tg.Value(1.0) * 2
    with raises(AttributeError, f"property {attr!r} of 'Value' object has no setter"):
        setattr(v, attr, getattr(v, attr))
    assert v.op == "*" and len(v.parents) == 2


@pytest.mark.parametrize("bad", [["x"], [None], [1.0], "abc", None, 3, [object()]],
                         ids=["list-str", "list-None", "list-float", "str", "None", "int", "list-object"])
def test_grad_inputs_must_be_values(tg, bad):
    out = tg.Value(2.0) * 3
    first = bad[0] if isinstance(bad, list) else bad
    with raises(TypeError, f"grad() inputs must be Values, not {type(first).__name__}"):
        tg.grad(out, bad)


@pytest.mark.parametrize("bad", ["x", None, 1j, [1.0]], ids=["str", "None-ok", "complex", "list"])
def test_grad_gradient_must_be_a_number(tg, bad):
    a = tg.Value(2.0)
    out = a * 3
    if bad is None:  # None means "the default seed 1"
        assert tg.grad(out, a) == 3.0
        return
    with raises(TypeError, f"grad() gradient must be a real number, not {type(bad).__name__}"):
        tg.grad(out, a, gradient=bad)


def test_value_reinit_and_bare_new_do_not_crash(tg):
    # Hostile uses of the type itself: __init__ again with bad data, a Value made by
    # __new__ alone. Either a clean exception or a working leaf, never a crash.
    v = tg.Value(1.0)
    with raises(TypeError, "Value() data must be a real number, not str"):
        v.__init__("abc")
    bare = tg.Value.__new__(tg.Value)
    try:
        repr(bare)
        (bare * 2).backward()
    except AttributeError:
        pass  # the reference's slots are unset until __init__ runs


def test_value_label_with_lone_surrogate(tg):
    # A str that has no UTF-8 form: accepted as a label, or a UnicodeEncodeError; never a crash.
    v = tg.Value(1.0)
    try:
        v.label = "bad\ud800label"
    except UnicodeEncodeError:
        assert v.label == ""
    else:
        assert v.label == "bad\ud800label"


def test_value_huge_label(tg):
    v = tg.Value(1.0, label="x" * 10**6)
    assert len(v.label) == 10**6
    v.label = ""
    assert v.label == ""


# ----- Value: NaN and inf propagate, never raise ------------------------------------

NAN, INF = math.nan, math.inf
IEEE_CASES = {
    # name: (fn, inputs, expected forward, expected grads); None = NaN
    "log0": (lambda a: a.log(), [0.0], -INF, [INF]),
    "log-1": (lambda a: a.log(), [-1.0], None, [-1.0]),
    "sqrt-1": (lambda a: a.sqrt(), [-1.0], None, [None]),
    "sqrt0": (lambda a: a.sqrt(), [0.0], 0.0, [INF]),
    "div0": (lambda a, b: a / b, [1.0, 0.0], INF, [INF, -INF]),
    "0div0": (lambda a, b: a / b, [0.0, 0.0], None, [INF, None]),
    "rdiv0": (lambda a: 1 / a, [0.0], INF, [-INF]),
    "pow0-1": (lambda a: a ** -1, [0.0], INF, [-INF]),
    "exp-overflow": (lambda a: a.exp(), [1000.0], INF, [INF]),
    "exp-underflow": (lambda a: a.exp(), [-1000.0], 0.0, [0.0]),
    "inf-inf": (lambda a, b: a - b, [INF, INF], None, [1.0, -1.0]),
    "inf*0": (lambda a, b: a * b, [INF, 0.0], None, [0.0, INF]),
    "nan-through-tanh": (lambda a: a.tanh(), [NAN], None, [None]),
    "tanh-inf": (lambda a: a.tanh(), [INF], 1.0, [0.0]),
    "sigmoid-inf": (lambda a: a.sigmoid(), [-INF], 0.0, [0.0]),
    "sigmoid-nan": (lambda a: a.sigmoid(), [NAN], None, [None]),
    "relu-nan": (lambda a: a.relu(), [NAN], None, [0.0]),
    "abs-nan": (lambda a: abs(a), [NAN], None, [None]),
    "sin-inf": (lambda a: a.sin(), [INF], None, [None]),
    "neg-pow-frac": (lambda a: a ** 0.5, [-4.0], None, [None]),
    "pow-value-neg-base": (lambda a, b: a ** b, [-8.0, 1.0 / 3.0], None, [None, None]),
    "pow-huge": (lambda a, b: a ** b, [10.0, 400.0], INF, [INF, INF]),
    "rpow-0": (lambda a: 0.0 ** a, [-1.0], INF, [-INF]),  # d/db a^b = a^b log(a) = inf * -inf
    "max-float": (lambda a: a * 2, [sys.float_info.max], INF, [2.0]),
    "subnormal": (lambda a: a * a, [5e-324], 0.0, [1e-323]),
    "nan-fanout": (lambda a: a * a + a, [NAN], None, [None]),
}


def ieee_equal(got, want):
    return math.isnan(got) if want is None else got == want


@pytest.mark.parametrize("name", list(IEEE_CASES))
def test_nan_and_inf_propagate(tg, name):
    fn, xs, want, want_grads = IEEE_CASES[name]
    vs = [tg.Value(x) for x in xs]
    out = fn(*vs)
    out.backward()
    assert ieee_equal(out.data, want), f"{name}: forward {out.data!r}, expected {want!r}"
    for v, g in zip(vs, want_grads):
        assert ieee_equal(v.grad, g), f"{name}: grad {v.grad!r}, expected {g!r}"
    out.backward()  # a second pass through inf/nan is fine too


# ----- Value: mixing backends and kinds ------------------------------------------------

@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
@pytest.mark.parametrize("native_left", [True, False], ids=["native-left", "reference-left"])
def test_mixing_backend_values_names_both(op, native_left):
    a, b = tapegrad.Value(2.0), reference.Value(3.0)
    left, right = (a, b) if native_left else (b, a)
    first, second = ("tapegrad (native)", "tapegrad.reference") if native_left else ("tapegrad.reference", "tapegrad (native)")
    with raises(TypeError, f"cannot combine a {first} Value with a {second} Value"):  # in operand order
        OPERATORS[op](left, right)


def test_value_from_other_backend_value(tg):
    with raises(TypeError, f"Value() data must be a real number, not a {me(other(tg))} Value"):
        tg.Value(other(tg).Value(1.0))


def test_grad_of_other_backend_inputs(tg):
    out = tg.Value(2.0) * 3
    with raises(TypeError, f"grad() inputs must be Values, not a {me(other(tg))} Value"):
        tg.grad(out, [other(tg).Value(1.0)])


@pytest.mark.parametrize("op", ["+", "*", "-"])
def test_value_with_tensor_is_a_type_error(tg, op):
    value, tensor = f"a {me(tg)} Value", f"a {me(tg)} Tensor"
    with raises(TypeError, f"cannot combine {value} with {tensor}"):
        OPERATORS[op](tg.Value(1.0), tg.tensor([1.0, 2.0]))
    with raises(TypeError, f"cannot combine {tensor} with {value}"):
        OPERATORS[op](tg.tensor([1.0, 2.0]), tg.Value(1.0))


# ----- Value: mutating data between forward and backward (Note [Mutating data]) -----

def test_mutating_leaf_data_before_backward_value(tg):
    # Local-gradient rules read the parents' data at backward time and a node's
    # own stored output: d(a*a)/da is evaluated with the new a, forward stays old.
    a = tg.Value(2.0)
    sq = a * a
    a.data = 3.0
    sq.backward()
    assert sq.data == 4.0
    assert a.grad == 6.0
    # tanh's rule uses its stored output, so mutating the input changes nothing there.
    b = tg.Value(0.5)
    t = b.tanh()
    b.data = 100.0
    t.backward()
    assert b.grad == 1 - math.tanh(0.5) ** 2


def test_mutating_nonleaf_data_before_backward_value(tg):
    a = tg.Value(2.0)
    e = a.exp()
    e.data = 10.0  # exp's rule uses its own output: d/da becomes 10
    e.backward()
    assert a.grad == 10.0


# ----- Value: pickling and copying -------------------------------------------------------

@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy", "pickle-proto0"])
@pytest.mark.parametrize("x", [1.5, -0.0, NAN, INF, 5e-324], ids=["1.5", "-0", "nan", "inf", "subnormal"])
def test_value_copies_round_trip(tg, how, x):
    a = tg.Value(x, label="a")
    out = a * 2
    out.backward()
    src = out
    src.label = "out"
    dup = {
        "pickle": lambda v: pickle.loads(pickle.dumps(v)),
        "pickle-proto0": lambda v: pickle.loads(pickle.dumps(v, protocol=0)),
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
    }[how](src)
    assert type(dup) is type(src)
    assert ieee_equal(dup.data, None if math.isnan(src.data) else src.data)
    assert dup.grad == src.grad and dup.label == "out"
    assert dup.op == "" and dup.parents == ()  # copies are leaves: the graph is not copied
    (dup * 3).backward()
    assert dup.grad == 4.0


def test_native_value_unpickle_garbage():
    # Only the native Value has __setstate__ (the grad of a pickled Value); the
    # reference's pickles rebuild a leaf through the constructor.
    a = tapegrad.Value(1.0)
    with raises(TypeError, "Value.grad must be a real number, not str"):
        a.__setstate__("not a number")
    assert a.grad == 0.0


def test_pickled_value_list_keeps_sharing(tg):
    a = tg.Value(1.0)
    b, c = pickle.loads(pickle.dumps([a, a]))
    assert b is c


# ----- Value: no_grad exits cleanly on exceptions -----------------------------------------

def test_no_grad_restored_after_exception(tg):
    with raises(TypeError, "unsupported operand type(s) for +: 'Value' and 'str'"):
        with tg.no_grad():
            tg.Value(1.0) + "x"
    assert tg.is_grad_enabled()
    assert (tg.Value(1.0) * 2).op == "*"


def test_exceptions_midway_leave_no_half_graph(tg):
    # An exception while building leaves the nodes built so far usable and collectable.
    a = tg.Value(1.0)
    parts = [a * k for k in range(1, 50)]
    with raises(TypeError, "unsupported operand type(s) for +: 'Value' and 'NoneType'"):
        sum(parts, tg.Value(0.0)) + None
    total = sum(parts, tg.Value(0.0))
    total.backward()
    assert a.grad == sum(range(1, 50))


# ============================================================================
# Tensor


BAD_TENSOR_DATA = ["abc", None, object(), [1 + 2j], np.array([1 + 2j]), [["a", "b"]], np.array(["x"]),
                   {"a": 1}, np.array([object()]), [None, 1.0]]
BAD_TENSOR_IDS = ["str", "None", "object", "complex-list", "complex-array", "str-list", "str-array", "dict",
                  "object-array", "None-in-list"]


def not_real_numbers(data) -> str:
    return f"tensor data must be real numbers, got {type(data).__name__} holding dtype {np.asarray(data).dtype}"


@pytest.mark.parametrize("bad", BAD_TENSOR_DATA, ids=BAD_TENSOR_IDS)
def test_tensor_rejects_non_numbers(tg, bad):
    with raises(TypeError, not_real_numbers(bad)):
        tg.tensor(bad)


@pytest.mark.parametrize("dtype", [np.int32, np.complex64, "U3", object, np.bool_, "foo"],
                         ids=["int32", "complex64", "unicode", "object", "bool", "unknown"])
def test_tensor_rejects_bad_dtype(tg, dtype):
    try:
        message = f"tapegrad tensors hold float32, float64 or int64, not {np.dtype(dtype)}"
    except TypeError as exc:  # not a dtype at all: NumPy's own words
        message = str(exc)
    with raises(TypeError, message):
        tg.tensor([1.0], dtype=dtype)


def test_tensor_ragged_is_value_error(tg):
    with pytest.raises(ValueError) as numpy_says:
        np.asarray([[1.0, 2.0], [3.0]])
    with raises(ValueError, f"tensor data has an irregular (ragged) shape: {numpy_says.value}"):
        tg.tensor([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("bad", ["abc", None, object(), 1 + 2j, {}, [["a"]]],
                         ids=["str", "None", "object", "complex", "dict", "str-list"])
@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**", "@"])
def test_tensor_operators_reject_bad_operands(tg, op, bad):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    f = OPERATORS[op]
    for call in (lambda t: f(t, bad), lambda t: f(bad, t)):
        # a list operand is data for a tensor (NumPy's rule); anything else is declined, in Python's words
        with raises(TypeError, not_real_numbers(bad) if isinstance(bad, list) else python_says(call, "Tensor")):
            call(x)


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
def test_tensor_list_operand_is_converted(tg, op):
    # Where docs/API.md is silent, NumPy: a list operand becomes an array.
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    got = OPERATORS[op](x, [3.0, 4.0])
    np.testing.assert_allclose(got.numpy(), OPERATORS[op](np.array([1.0, 2.0], np.float32), np.array([3.0, 4.0])),
                               rtol=1e-6)


@pytest.mark.parametrize("shapes", [((2, 3), (4,)), ((2, 3), (3, 2)), ((0,), (2,)), ((2, 1, 3), (4, 3, 1, 2)),
                                    ((5,), (4,))], ids=["2x3+4", "2x3+3x2", "0+2", "3d+4d", "5+4"])
@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**", "<", "where"])
def test_shapes_that_do_not_broadcast(tg, shapes, op):
    a, b = tg.ones(shapes[0], requires_grad=True), tg.ones(shapes[1])
    listed = " and ".join(str(s) for s in ((shapes[0],) if op != "where" else (shapes[0], shapes[0])) + (shapes[1],))
    with raises(ValueError, f"{op}: shapes {listed} do not broadcast"):
        if op == "where":
            tg.where(a > 0.5, a, b)
        else:
            OPERATORS[op](a, b)


@pytest.mark.parametrize("shapes, message",
                         [(((2, 3), (2, 3)), "@: shapes (2, 3) and (2, 3) do not match for matmul (3 != 2)"),
                          (((3,), (4,)), "@: shapes (3,) and (4,) do not match for matmul (3 != 4)"),
                          (((2, 2, 3), (3, 3, 2)), "@: the batch dimensions of shapes (2, 2, 3) and (3, 3, 2) do not broadcast"),
                          (((0, 2), (3, 1)), "@: shapes (0, 2) and (3, 1) do not match for matmul (2 != 3)")],
                         ids=["2x3@2x3", "3@4", "batch", "zero"])
def test_matmul_shape_mismatch(tg, shapes, message):
    with raises(ValueError, message):
        tg.ones(shapes[0]) @ tg.ones(shapes[1])


def test_matmul_of_0d(tg):
    with raises(ValueError, "@: matmul needs tensors of at least one dimension, got shapes () and (2,)"):
        tg.tensor(2.0) @ tg.ones((2,))


@pytest.mark.parametrize("shape", [(7,), (2, 4), (-1, 5), (-1, -1), (0,), (3, -2), (2.5,), ("3",)],
                         ids=["7", "2x4", "-1x5", "-1x-1", "0", "3x-2", "float", "str"])
def test_bad_reshape(tg, shape):
    x = tg.ones((2, 3), requires_grad=True)
    if not all(isinstance(s, int) for s in shape):
        expected = (TypeError, f"reshape: shape {shape} must hold ints, got {type(shape[0]).__name__}")
    elif shape.count(-1) > 1 or min(shape) < -1:
        expected = (ValueError, f"reshape: bad shape {shape} (sizes >= 0, at most one -1)")
    else:
        expected = (ValueError, f"cannot reshape a tensor of shape (2, 3) (6 elements) into shape {shape}")
    with raises(*expected):
        x.reshape(*shape)


@pytest.mark.parametrize("index, message",
                         [(5, "index 5 is out of bounds for axis 0 with size 5"),
                          (-6, "index -6 is out of bounds for axis 0 with size 5"),
                          ((0, 3), "index 3 is out of bounds for axis 1 with size 3"),
                          ((slice(None), 3), "index 3 is out of bounds for axis 1 with size 3"),
                          ((0, 0, 0), "too many indices for tensor: tensor is 2-dimensional, but 3 were indexed"),
                          ([0, 7], "index 7 is out of bounds for axis 0 with size 5"),
                          (np.array([-9]), "index -9 is out of bounds for axis 0 with size 5"),
                          ((np.array([0, 1]), np.array([0, 5])), "index 5 is out of bounds for axis 1 with size 3")],
                         ids=["5", "-6", "0,3", ":,3", "too-many", "list-7", "array-neg", "pair-5"])
def test_index_out_of_range(tg, index, message):
    x = tg.ones((5, 3), requires_grad=True)
    with raises(IndexError, message):
        x[index]


def test_index_on_0d_and_empty(tg):
    with raises(IndexError, "too many indices for tensor: tensor is 0-dimensional, but 1 were indexed"):
        tg.tensor(1.0)[0]
    with raises(IndexError, "index 0 is out of bounds for axis 0 with size 0"):
        tg.zeros((0, 3))[0]
    assert tg.zeros((0, 3))[1:].shape == (0, 3)


@pytest.mark.parametrize("index", ["a", 1.5, None, object()], ids=["str", "float", "None-ok", "object"])
def test_index_of_wrong_type(tg, index):
    x = tg.ones((2, 3))
    if index is None:
        assert x[index].shape == (1, 2, 3)
        return
    with raises(IndexError, "only integers, slices (`:`), ellipsis (`...`), None and integer arrays are valid "
                            f"indices, got {type(index).__name__}"):
        x[index]


@pytest.mark.parametrize("maker", ["zeros", "ones", "randn"])
@pytest.mark.parametrize("shape", [(-1,), (2, -3), (-(2**62),)], ids=["-1", "2x-3", "-2^62"])
def test_negative_sizes(tg, maker, shape):
    with raises(ValueError, f"negative dimensions are not allowed: shape {shape}"):
        getattr(tg, maker)(*shape)


@pytest.mark.parametrize("maker", ["zeros", "ones", "randn"])
@pytest.mark.parametrize("shape", [(2**62,), (2**40, 2**40), (2**31, 2**31, 2**31), (2**70,)],
                         ids=["2^62", "2^40x2^40", "2^31^3", "2^70"])
def test_huge_allocations_are_memory_errors(tg, maker, shape):
    dtype = np.dtype(np.float64 if maker == "randn" else np.float32)  # randn draws in float64
    with raises(MemoryError, f"a {dtype} tensor of shape {shape} needs {math.prod(shape) * dtype.itemsize} bytes, "
                             "more than this machine's memory"):
        getattr(tg, maker)(*shape)


def test_huge_broadcast_is_a_memory_error(tg):
    a = tg.ones((2**20, 1), dtype=np.float32)
    b = tg.ones((1, 2**20), dtype=np.float32)
    with raises(MemoryError, "a float32 tensor of shape (1048576, 1048576) needs 4398046511104 bytes, "
                             "more than this machine's memory"):
        a + b  # 2^40 elements


@pytest.mark.parametrize("call, message", [
    ("sum", "dim 2 is out of range for a tensor with 2 dimensions"),
    ("mean", "dim -3 is out of range for a tensor with 2 dimensions"),
    ("max", "dim 5 is out of range for a tensor with 2 dimensions"),
    ("min", "dim (0, 0) repeats a dimension"),
    ("softmax", "dim 2 is out of range for a tensor with 2 dimensions"),
    ("log_softmax", "dim -3 is out of range for a tensor with 2 dimensions"),
    ("transpose", "dim 2 is out of range for a tensor with 2 dimensions"),
    ("permute", "permute: dims (0, 0) are not a permutation of the 2 dimensions"),
    ("concatenate", "dim 2 is out of range for a tensor with 2 dimensions"),
    ("stack", "dim 4 is out of range for a tensor with 3 dimensions"),
])
def test_bad_dims(tg, call, message):
    x = tg.ones((2, 3), requires_grad=True)
    with raises(ValueError, message):  # exactly ValueError: never NumPy's AxisError (an IndexError too)
        {
            "sum": lambda: x.sum(2), "mean": lambda: x.mean(-3), "max": lambda: x.max(5),
            "min": lambda: x.min((0, 0)), "softmax": lambda: x.softmax(2),
            "log_softmax": lambda: x.log_softmax(-3), "transpose": lambda: x.transpose(0, 2),
            "permute": lambda: x.permute(0, 0), "concatenate": lambda: tg.concatenate([x, x], dim=2),
            "stack": lambda: tg.stack([x, x], dim=4),
        }[call]()


def test_bad_joins(tg):
    with raises(ValueError, "concatenate() needs at least one tensor"):
        tg.concatenate([], dim=0)
    with raises(ValueError, "stack: shapes (2,) and (3,) differ"):
        tg.stack([tg.ones((2,)), tg.ones((3,))])
    with raises(ValueError, "concatenate: shapes (2, 2) and (2, 3) differ outside dim 0"):
        tg.concatenate([tg.ones((2, 2)), tg.ones((2, 3))], dim=0)
    with raises(ValueError, "concatenate: zero-dimensional tensors cannot be concatenated"):
        tg.concatenate([tg.tensor(1.0), tg.tensor(2.0)])
    with raises(TypeError, "tensor data must be real numbers, got str holding dtype <U1"):
        tg.stack([tg.ones((2,)), "x"])


FREED = ("backward through a graph that was already freed (at a 'sum' node): pass retain_graph=True to the first "
         "backward() to backward through it again")
NOT_REQUIRING_GRAD = ("backward() of a tensor that does not require grad: none of its inputs has requires_grad=True, "
                      "or it was computed under no_grad()")


def non_scalar(shape) -> str:
    return (f"backward() of a non-scalar tensor (shape {shape}) needs a `gradient` argument of that shape; "
            "only a one-element output has the implicit gradient 1")


def test_backward_twice_through_freed_graph(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with raises(RuntimeError, FREED):
        y.backward()
    z = (x.exp() * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * (np.exp([1.0, 2.0]) * np.array([2.0, 3.0])), rtol=1e-6)


def test_tg_grad_through_freed_graph(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    tg.grad(y, [x])
    with raises(RuntimeError, FREED):
        tg.grad(y, [x])


def test_backward_of_non_scalar(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with raises(RuntimeError, non_scalar((2,))):
        (x * 2).backward()
    (x * 2).backward(gradient=tg.tensor([1.0, 1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_backward_of_empty_tensor(tg):
    x = tg.zeros((0,), requires_grad=True)
    with raises(RuntimeError, non_scalar((0,))):
        (x * 2).backward()
    x.sum().backward()
    assert x.grad.shape == (0,)


@pytest.mark.parametrize("gradient", [[1.0], [[1.0, 1.0]], [1.0, 1.0, 1.0], 1.0, "x"],
                         ids=["short", "2d", "long", "scalar", "str"])
def test_gradient_of_wrong_shape(tg, gradient):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    if gradient == "x":
        expected = (TypeError, "tensor data must be real numbers, got str holding dtype <U1")
    else:
        expected = (ValueError, f"gradient has shape {np.shape(gradient)} but the tensor has shape (2,)")
    with raises(*expected):
        (x * 2).backward(gradient=gradient)
    assert x.grad is None


def test_backward_without_requires_grad(tg):
    with raises(RuntimeError, NOT_REQUIRING_GRAD):
        tg.tensor([1.0, 2.0]).sum().backward()
    x = tg.tensor([1.0], requires_grad=True)
    with tg.no_grad():
        y = (x * 2).sum()
    with raises(RuntimeError, NOT_REQUIRING_GRAD):
        y.backward()


@pytest.mark.parametrize("name", ["log", "sqrt", "exp", "div0", "inf-inf", "softmax-inf", "max-nan", "pow"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_nan_inf_propagate(tg, name, dtype):
    data = np.array([0.0, -1.0, np.inf, -np.inf, np.nan, 1000.0, 2.0], dtype=dtype)
    x = tg.tensor(data, requires_grad=True)
    fn = {
        "log": lambda t: t.log(), "sqrt": lambda t: t.sqrt(), "exp": lambda t: t.exp(),
        "div0": lambda t: t / (t * 0.0), "inf-inf": lambda t: t - t * 1.0, "softmax-inf": lambda t: t.softmax(0),
        "max-nan": lambda t: t.max(), "pow": lambda t: t ** -1.5,
    }[name]
    with np.errstate(all="ignore"):
        out = fn(x)
        (out.sum() if out.ndim else out).backward()
    assert out.dtype == dtype and x.grad.dtype == dtype
    r = reference.tensor(data, requires_grad=True)
    rout = fn(r)
    (rout.sum() if rout.ndim else rout).backward()
    np.testing.assert_allclose(out.numpy(), rout.numpy(), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(x.grad.numpy(), r.grad.numpy(), rtol=1e-6, equal_nan=True)


def left_tg(x):
    """The backend a Tensor belongs to."""
    return reference if type(x).__module__.startswith("tapegrad.reference") else tapegrad


def test_mixing_backend_tensors_names_both():
    a, b = tapegrad.tensor([1.0]), reference.tensor([1.0])
    for left, right in ((a, b), (b, a)):
        for op in ("+", "*", "@", "<"):
            with raises(TypeError, f"cannot combine a {me(left_tg(left))} Tensor with a {me(left_tg(right))} Tensor"):
                OPERATORS[op](left, right)
    with raises(TypeError, "where: cannot combine a tapegrad.reference Tensor with tapegrad (native) Tensors"):
        tapegrad.where(a > 0, a, b)
    with raises(TypeError, "concatenate: cannot combine a tapegrad (native) Tensor with tapegrad.reference Tensors"):
        reference.concatenate([b, a])


def test_tensor_from_other_backend(tg):
    o = other(tg)
    with raises(TypeError, f"stack: cannot combine a {me(o)} Tensor with {me(tg)} Tensors"):
        tg.stack([tg.ones((1,)), o.ones((1,))])


@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("requires_grad", [True, False])
def test_tensor_copies_round_trip(tg, how, dtype, requires_grad):
    x = tg.tensor(np.array([[1.0, np.nan], [np.inf, -0.0]], dtype=dtype), requires_grad=requires_grad)
    dup = {"pickle": lambda t: pickle.loads(pickle.dumps(t)), "copy": copy.copy, "deepcopy": copy.deepcopy}[how](x)
    assert type(dup) is type(x)
    assert dup.dtype == dtype and dup.requires_grad == requires_grad and dup.shape == (2, 2)
    np.testing.assert_array_equal(dup.numpy(), x.numpy())
    if requires_grad:
        (dup * 2).sum().backward()
        assert x.grad is None and dup.grad is not None


def test_tensor_zero_size_and_0d_pickle(tg):
    for t in (tg.zeros((0, 3)), tg.tensor(3.5, dtype=np.float64)):
        dup = pickle.loads(pickle.dumps(t))
        assert dup.shape == t.shape and dup.dtype == t.dtype


def test_mutating_leaf_tensor_data_before_backward(tg):
    # Note [Mutating data]: what a Tensor op saved for backward is what backward uses.
    x = tg.tensor([2.0, 3.0], requires_grad=True, dtype=np.float64)
    y = (x * x).sum()
    x.data = np.array([10.0, 10.0])  # rebinds x's data; the saved forward inputs are unchanged
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 6.0])


def test_item_len_bool_on_bad_shapes(tg):
    with raises(ValueError, "item() needs a tensor with one element, got shape (2,)"):
        tg.ones((2,)).item()
    with raises(TypeError, "len() of a 0-d tensor"):
        len(tg.tensor(1.0))
    with raises(ValueError, "the truth value of a tensor of shape (2,) is ambiguous (only single-element tensors have one)"):
        bool(tg.ones((2,)))


@pytest.mark.parametrize("labels, expected",
                         [(np.array([0, 5]), (IndexError, "cross_entropy: label 5 is out of range for 3 classes")),
                          (np.array([-1, 0]), (IndexError, "cross_entropy: label -1 is out of range for 3 classes")),
                          (np.array([0.5, 1.0]), (TypeError, "cross_entropy: labels must be integer class ids")),
                          (np.array([0]), (ValueError, "cross_entropy: labels of shape (1,) for logits of batch size 2"))],
                         ids=["too-big", "negative", "float", "short"])
def test_cross_entropy_bad_labels(tg, labels, expected):
    logits = tg.ones((2, 3), requires_grad=True)
    with raises(*expected):
        tg.cross_entropy(logits, labels)


def test_from_dlpack_bad_object(tg):
    with raises(TypeError, "from_dlpack() needs an object with __dlpack__, got str"):
        tg.from_dlpack("not an array")


# ----- a broken installation ---------------------------------------------------------------

def test_reference_imports_without_the_extension():
    # With _core unimportable, `import tapegrad.reference` must still work
    # (docs/API.md promises the pure-Python backend), and native names raise a
    # helpful ImportError.
    import subprocess

    code = (
        "import sys; sys.modules['tapegrad._core'] = None\n"
        "from tapegrad import reference\n"
        "assert reference.Value(2.0).data == 2.0\n"
        "import tapegrad\n"
        "try:\n"
        "    tapegrad.Value\n"
        "except ImportError as e:\n"
        "    assert 'tapegrad.reference' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("dtype", [">f8", "<f8", ">f4", "<f4"])
def test_byteswapped_input_keeps_float_dtype(tg, dtype):
    # Note [Dtypes]: float input keeps its dtype, whatever its byte order.
    arr = np.array([[1.5, -2.0], [3.0, 4.0]], dtype=dtype)
    x = tg.tensor(arr, requires_grad=True)
    assert x.dtype == np.dtype(dtype).newbyteorder("=")
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * arr)


@pytest.mark.parametrize("shape", [(0, 2**62), (0, 2**62, 2**62), (2**62, 2**62, 0)],
                         ids=["0x2^62", "0x2^62x2^62", "2^62x2^62x0"])
def test_zero_size_with_huge_dims(tg, shape):
    # Zero elements, but the byte strides of such a shape overflow 64 bits (UBSan:
    # signed overflow computing strides): NumPy refuses it, and so must zeros().
    with raises(ValueError, f"tensor is too big: shape {shape} of float32 overflows 64-bit sizes"):
        tg.zeros(*shape)


@pytest.mark.parametrize("dims", [(0, 0), (-1, 0), (1, 1), (-4, -4), (5, 0)])
def test_transpose_of_0d_checks_dims(tg, dims):
    # A 0-d tensor accepts dims 0 and -1 (as PyTorch); anything else is a bad dim.
    x = tg.tensor(2.0, requires_grad=True)
    if all(d in (0, -1) for d in dims):
        assert x.transpose(*dims).shape == ()
    else:
        bad = next(d for d in dims if d not in (0, -1))
        with raises(ValueError, f"dim {bad} is out of range for a tensor with 0 dimensions"):
            x.transpose(*dims)


@pytest.mark.parametrize("case, expected", [("rebind", [4.0, 6.0]), ("inplace", [20.0, 20.0]),
                                            ("inplace-exp", list(np.exp([2.0, 3.0]))),
                                            ("inplace-output-exp", [10.0, 10.0])])
def test_mutating_tensor_data_cases(tg, case, expected):
    # Note [Mutating data]: ops keep the arrays their backward reads by reference.
    x = tg.tensor([2.0, 3.0], requires_grad=True, dtype=np.float64)
    if case == "rebind":  # x now holds a new array; the graph keeps the old one
        y = (x * x).sum()
        x.data = np.array([10.0, 10.0])
    elif case == "inplace":  # written into the saved input: d(x*x)/dx at the new point
        y = (x * x).sum()
        x.numpy()[:] = 10.0
    elif case == "inplace-exp":  # exp's rule reads its output, which was not written
        y = x.exp().sum()
        x.numpy()[:] = 10.0
    else:  # writing into exp's output changes its rule's answer
        e = x.exp()
        y = e.sum()
        e.numpy()[:] = 10.0
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_mutating_leaf_data_to_another_shape(tg):
    x = tg.tensor([2.0, 3.0], requires_grad=True)
    y = (x * 3.0).sum()
    x.data = np.array([1.0, 2.0, 3.0])
    # The graph recorded shape (2,): a ValueError naming both shapes, on both
    # backends (as PyTorch refuses a gradient of the wrong shape); .grad unchanged.
    with raises(ValueError, "backward(): a leaf's gradient has shape (2,) but the leaf now has shape (3,) "
                            "(its data was reassigned after the graph used it)"):
        y.backward()
    assert x.grad is None


@pytest.mark.parametrize("create_graph", [False, True])
def test_mutating_leaf_data_to_a_shape_it_broadcasts_to(tg, create_graph):
    # A gradient that broadcasts to the leaf's new shape is broadcast, on both backends.
    x = tg.tensor([2.0, 3.0], requires_grad=True)
    y = (x * 3.0).sum()
    x.data = np.ones((2, 2))
    y.backward(create_graph=create_graph)
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 3.0], [3.0, 3.0]])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, -1, 1, 5, -2])
def test_softmax_of_0d_checks_dim(tg, name, dim):
    # Found by the fuzzer: a 0-d tensor takes dim 0 or -1 only, as in every other dim argument.
    x = tg.tensor(1.5, requires_grad=True)
    if dim in (0, -1):
        out = getattr(x, name)(dim)
        assert out.shape == ()
    else:
        with raises(ValueError, f"dim {dim} is out of range for a tensor with 0 dimensions"):
            getattr(x, name)(dim)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", [((0,), 0), ((1, 0, 2), 1), ((2, 0), -1), ((0, 3), 1)])
def test_softmax_over_zero_size(tg, name, shape, dim):
    # Found by the fuzzer: softmax of a zero-size tensor is a zero-size tensor (as
    # PyTorch), not NumPy's "zero-size array to reduction operation maximum".
    x = tg.zeros(shape, requires_grad=True)
    out = getattr(x, name)(dim)
    assert out.shape == shape
    out.sum().backward()
    assert x.grad.shape == shape


def test_cross_entropy_of_empty_batch(tg):
    # Found by the fuzzer: the mean over zero samples is nan (IEEE 0/0), no exception.
    x = tg.zeros((0, 3), requires_grad=True, dtype=np.float64)
    loss = tg.cross_entropy(x, np.array([], dtype=np.int64))
    assert math.isnan(loss.item())
    loss.backward()
    assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("blob", [b"1", bytearray(b"12"), memoryview(b"abc")], ids=["bytes", "bytearray", "memoryview"])
def test_bytes_plus_tensor_is_a_type_error(tg, blob):
    # Found by the fuzzer: `bytes + tensor` must not concatenate the tensor's raw
    # memory (what a buffer-protocol object gets from bytes.__add__).
    x = tg.tensor([1.0, 2.0])
    # Python's words for a Tensor that is no buffer (the reference's is not; the native's declines)
    with raises(TypeError, python_says(lambda t: blob + t, "Tensor")):
        blob + x
    with raises(TypeError, python_says(lambda t: t + blob, "Tensor")):
        x + blob
    # Found by the fuzzer: a comparison is not arithmetic; == is False, as for any foreign type
    assert (x == blob) is False and (blob == x) is False and (x != blob) is True
    with raises(TypeError, python_says(lambda t: t < blob, "Tensor")):
        x < blob


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_pow_gradients_at_zero(tg, dtype):
    # Note [Tensor details]: a ** 0 has gradient 0 at a = 0, and for a ** b the
    # exponent's gradient is 0 where a == 0 (no 0 * inf NaN), as PyTorch and Value.
    a = tg.tensor(np.array([0.0, 2.0], dtype=dtype), requires_grad=True)
    (a ** 0.0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])
    a = tg.tensor(np.array([0.0, 0.0, 2.0], dtype=dtype), requires_grad=True)
    b = tg.tensor(np.array([0.0, 2.0, 1.0], dtype=dtype), requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 0.0, 2.0 * np.log(2.0)], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (3,)])
def test_tensor_pow_with_a_tensor_exponent_is_c_pow_at_any_rank(tg, dtype, shape):
    # Found by the fuzzer: a Tensor exponent means C's pow, so (-inf) ** 0.5 is
    # +inf and (-0.0) ** 0.5 is +0.0 (a number 0.5 means sqrt, NaN and -0.0).
    # The reference got NaN for 0-d operands: NumPy's 0-d power takes sqrt there.
    half = tg.tensor(np.full(shape, 0.5, dtype=dtype))
    bases = [(-np.inf, np.inf), (-0.0, 0.0)] + [(-1e39, np.inf)] * (dtype == np.float32)  # -inf in float32
    for base, want in bases:
        with np.errstate(over="ignore"):
            got = (base ** half).numpy()
            got_t = (tg.tensor(np.full(shape, base, dtype=dtype)) ** half).numpy()
        for g in (got, got_t):
            assert g.dtype == dtype and g.shape == shape
            np.testing.assert_array_equal(g, want)
            assert not np.signbit(g).any()
    np.testing.assert_array_equal((tg.tensor(np.full(shape, -np.inf, dtype=dtype)) ** 0.5).numpy(), np.nan)


@pytest.mark.parametrize("case", ["1d@1d", "1d@plain", "2d@2d", "grad"])
def test_matmul_of_none_indexed_scalars(tg, case):
    # Found by the fuzzer: t[None] of a 0-d tensor has a zero stride; the native
    # matmul handed that to BLAS as a leading dimension ("On entry to SGEMM
    # parameter number 10 had an illegal value") and returned uninitialised memory.
    a = tg.tensor(2.0, requires_grad=True)
    b = tg.tensor(3.0, requires_grad=True)
    if case == "1d@1d":
        assert (a[None] @ b[None]).item() == 6.0
    elif case == "1d@plain":
        assert (a[None] @ tg.tensor([3.0])).item() == 6.0
    elif case == "2d@2d":
        np.testing.assert_array_equal((a[None][None] @ b[None][None]).numpy(), [[6.0]])
    else:
        (a[None] @ b[None]).backward()
        assert a.grad.item() == 3.0 and b.grad.item() == 2.0


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_with_inf_is_nan_across_the_row(tg, name, dtype):
    # Found by the fuzzer: with +inf in a row, inf - max(row) = nan, and the row's
    # normaliser is nan, so every entry is nan (NumPy, PyTorch); not [nan, 0].
    x = tg.tensor(np.array([[np.inf, -0.4], [0.5, 1.0]], dtype=dtype), requires_grad=True)
    out = getattr(x, name)(1).numpy()
    assert np.isnan(out[0]).all(), out
    assert np.isfinite(out[1]).all(), out
