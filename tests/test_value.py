"""The scalar Value: worked examples, every op, accumulation, attributes, IEEE, errors."""
from __future__ import annotations

import copy
import math
import pickle

import pytest

from op_cases import VALUE_CASES, params
from oracle import check_value_op, close, torch, torch_reference

# ----- worked examples of backpropagation -----------------------------------


def test_sum_times_example(tg):
    # y = (x1 + x2) * x3 at (4, 2, -5)
    x1, x2, x3 = tg.Value(4.0), tg.Value(2.0), tg.Value(-5.0)
    y = (x1 + x2) * x3
    y.backward()
    assert y.data == -30.0
    assert (x1.grad, x2.grad, x3.grad) == (-5.0, -5.0, 6.0)
    assert y.grad == 1.0


def five_node_graph(tg):
    """The worked example u1 = x1+x2, u2 = x3*x4, u3 = u1*u2, u4 = u2**2, y = u3*u4
    at (-7, 2, 2, -1), built step by step: (x1, x2, x3, x4, u1, u2, u3, u4, y)."""
    x1, x2, x3, x4 = (tg.Value(v) for v in (-7.0, 2.0, 2.0, -1.0))
    u1 = x1 + x2
    u2 = x3 * x4
    u3 = u1 * u2
    u4 = u2 ** 2
    y = u3 * u4
    return x1, x2, x3, x4, u1, u2, u3, u4, y


def test_five_node_example_with_fan_out(tg):
    x1, x2, x3, x4, u1, u2, u3, u4, y = five_node_graph(tg)
    y.backward()
    assert (u1.data, u2.data, u3.data, u4.data, y.data) == (-5.0, -2.0, 10.0, 4.0, 40.0)
    assert (u3.grad, u4.grad, u1.grad) == (4.0, 10.0, -8.0)
    # u2 feeds u3 and u4: dy/du2 = dy/du3 * u1 + dy/du4 * 2 u2 = -20 + -40
    assert u2.grad == -60.0
    assert (x1.grad, x2.grad, x3.grad, x4.grad) == (-8.0, -8.0, 60.0, -120.0)
    assert y.grad == 1.0


@pytest.mark.parametrize("x", [-1.3, 0.0, 0.5, 2.0])
def test_sin_of_square(tg, x):
    v = tg.Value(x)
    y = (v ** 2).sin()
    y.backward()
    assert close(y.data, math.sin(x * x), 1e-15, 1e-15)
    assert close(v.grad, 2 * x * math.cos(x * x), 1e-15, 1e-15)
    check_value_op(tg, lambda a: (a ** 2).sin(), x)


# ----- compositions against finite differences and torch --------------------
# (every op alone is a row of tests/op_cases.py, checked by tests/test_ops.py)

COMPOSITES = [
    ("composite", lambda a, b: ((a * b).tanh() + (a / b).exp()) * (b ** 2).sqrt(), (0.3, -1.1)),
    ("reused", lambda a: a * a + a.sin() * a, (0.8,)),
]


@pytest.mark.parametrize("fn, xs", [o[1:] for o in COMPOSITES], ids=[o[0] for o in COMPOSITES])
def test_composite_against_finite_differences_and_torch(tg, fn, xs):
    check_value_op(tg, fn, *xs)


def test_oracle_catches_a_wrong_gradient(tg):
    # a.data enters as a constant, so backward misses half of d(a^2)/da
    with pytest.raises(AssertionError, match="finite difference"):
        check_value_op(tg, lambda a: a * a.data, 1.5)


@pytest.mark.torch
def test_oracle_compares_with_torch(tg):
    if torch is None:
        pytest.skip("torch is not importable: the op tests compared with finite differences only")
    # self-consistent on Values, but not what torch computes
    with pytest.raises(AssertionError, match="vs torch"):
        check_value_op(tg, lambda a: a * (2 if isinstance(a, tg.Value) else 3), 1.5)


# ----- numbers on either side: constant leaves, operand order kept ---------

REFLECTED = [
    ("+", lambda a: a + 2, lambda a: 2 + a, 5.0, 5.0),
    ("-", lambda a: a - 2, lambda a: 2 - a, 1.0, -1.0),
    ("*", lambda a: a * 2, lambda a: 2 * a, 6.0, 6.0),
    ("/", lambda a: a / 2, lambda a: 2 / a, 1.5, 2.0 / 3.0),
    ("**", None, lambda a: 2 ** a, None, 8.0),
]


@pytest.mark.parametrize("op, right, left, right_value, left_value", REFLECTED,
                         ids=[r[0] for r in REFLECTED])
def test_number_operands_become_constant_leaves(tg, op, right, left, right_value, left_value):
    a = tg.Value(3.0)
    if right is not None:
        out = right(a)
        assert out.op == op and out.data == right_value
        assert out.parents[0] is a
        const = out.parents[1]
        assert (const.data, const.op, const.parents, const.label) == (2.0, "", (), "")
    out = left(a)
    assert out.op == op and close(out.data, left_value, 1e-15, 0)
    const, second = out.parents
    assert second is a
    assert (const.data, const.op, const.parents) == (2.0, "", ())


def test_reflected_gradients(tg):
    a = tg.Value(3.0)
    (2 - a).backward()
    assert a.grad == -1.0
    b = tg.Value(4.0)
    (2 / b).backward()
    assert b.grad == -2.0 / 16.0
    c = tg.Value(3.0)
    (2 ** c).backward()
    assert close(c.grad, 8.0 * math.log(2.0), 1e-15, 0)


def test_numpy_scalars_are_numbers(tg):
    np = pytest.importorskip("numpy")
    a = tg.Value(np.float32(1.5))
    assert a.data == 1.5
    for out in (np.float64(2.0) * a, a * np.float64(2.0), np.int64(2) * a):
        assert type(out) is type(a)
        assert out.data == 3.0


# ----- repeated backward adds exactly dy/dnode again ------------------------


def test_repeated_backward_accumulates_exactly(tg):
    nodes = five_node_graph(tg)
    y = nodes[-1]
    y.backward()
    once = [n.grad for n in nodes]
    y.backward()
    # micrograd propagates the accumulated .grad of interior nodes, so its second
    # call would give u1 -8 - 16 and x1 more still; here every node doubles.
    assert [n.grad for n in nodes] == [2 * g for g in once]
    y.backward()
    assert [n.grad for n in nodes] == [3 * g for g in once]


def test_backward_adds_to_existing_grad(tg):
    a = tg.Value(3.0)
    a.grad = 10.0
    (a * a).backward()
    assert a.grad == 16.0


def test_backward_of_a_leaf(tg):
    a = tg.Value(3.0)
    a.backward()
    assert a.grad == 1.0


def test_backward_from_an_interior_node(tg):
    a, b = tg.Value(2.0), tg.Value(5.0)
    c = a * b
    d = c + a
    c.backward()
    assert (a.grad, b.grad, c.grad, d.grad) == (5.0, 2.0, 1.0, 0.0)


# ----- _local_grads, op strings, parents ------------------------------------

@pytest.mark.parametrize("case", params(VALUE_CASES))
def test_op_string_and_local_grads(tg, case):
    for point in case.points():
        xs = [tg.Value(x) for x in point]
        out = case(*xs)
        assert out.op == case.op_string
        assert isinstance(out.parents, tuple) and all(p is x for p, x in zip(out.parents, xs))
        local = out._local_grads()
        assert isinstance(local, tuple) and len(local) == len(out.parents)
        # the sweep multiplies the seed 1.0 by each local gradient: the same bits
        assert local == tg.grad(out, list(out.parents))
        ref = torch_reference(case.torch, point)
        if ref is not None and out.parents:
            for g, want in zip(local, ref[1]):
                assert close(g, want, 1e-14, 1e-15), (point, local, ref[1])


@pytest.mark.parametrize("k, op", [(2, "**2"), (3.0, "**3"), (0.5, "**0.5"), (-1, "**-1"),
                                   (1e-7, "**1e-07"), (2.5, "**2.5")])
def test_power_op_string_formats_the_exponent(tg, k, op):
    out = tg.Value(1.5) ** k
    assert out.op == op
    assert len(out.parents) == 1


def test_leaf_attributes(tg):
    a = tg.Value(2.0)
    assert a.op == "" and a.parents == () and a._local_grads() == ()
    assert a.label == "" and a.grad == 0.0
    b = tg.Value(1, label="b")
    assert b.label == "b" and b.data == 1.0 and isinstance(b.data, float)


def test_parents_are_the_operands(tg):
    a, b = tg.Value(2.0), tg.Value(3.0)
    c = a * b
    assert c.parents == (a, b) and c.parents[0] is a and c.parents[1] is b
    assert (a * a).parents == (a, a)
    assert (-a).parents == (a,)
    assert a.tanh().parents[0] is a


# ----- attributes: data, grad, label, repr, float, identity -----------------


def test_data_and_grad_are_assignable_floats(tg):
    a = tg.Value(2.0)
    a.data = 3
    a.grad = 0  # micrograd's zero_grad writes an int
    assert (a.data, a.grad) == (3.0, 0.0)
    assert isinstance(a.data, float) and isinstance(a.grad, float)
    a.grad = True
    assert a.grad == 1.0


def test_label_is_assignable(tg):
    a = tg.Value(2.0, label="a")
    a.label = "weight"
    assert a.label == "weight"
    assert (a + 1).label == ""


def test_repr_and_float(tg):
    a = tg.Value(2.5)
    assert repr(a) == "Value(data=2.5, grad=0.0)"
    (a * a).backward()
    assert repr(a) == "Value(data=2.5, grad=5.0)"
    assert float(a) == 2.5 and isinstance(float(a), float)


def test_values_hash_and_compare_by_identity(tg):
    a, b = tg.Value(1.0), tg.Value(1.0)
    assert a == a and a != b
    assert len({a, b, a}) == 2
    assert {a: 1}[a] == 1


def test_bool_and_int_data(tg):
    assert tg.Value(True).data == 1.0
    assert tg.Value(7).data == 7.0
    assert tg.Value(2 ** 80).data == float(2 ** 80)


# ----- IEEE 754: no Python exceptions, inf and nan propagate ----------------

IEEE = [
    ("log0", lambda a: a.log(), 0.0, -math.inf, math.inf),
    ("log_neg", lambda a: a.log(), -1.0, math.nan, -1.0),
    ("sqrt_neg", lambda a: a.sqrt(), -1.0, math.nan, math.nan),
    ("sqrt0", lambda a: a.sqrt(), 0.0, 0.0, math.inf),
    ("one_over_zero", lambda a: 1 / a, 0.0, math.inf, -math.inf),
    ("zero_over_zero", lambda a: a / 0.0, 0.0, math.nan, math.inf),
    ("zero_pow_minus1", lambda a: a ** -1, 0.0, math.inf, -math.inf),
    ("neg_pow_frac", lambda a: a ** 0.5, -8.0, math.nan, math.nan),
    ("exp_overflow", lambda a: a.exp(), 1000.0, math.inf, math.inf),
    ("pow_overflow", lambda a: a ** 400, 10.0, math.inf, math.inf),
    ("sin_inf", lambda a: a.sin(), math.inf, math.nan, math.nan),
    ("tanh_inf", lambda a: a.tanh(), math.inf, 1.0, 0.0),
    ("sigmoid_minus_inf", lambda a: a.sigmoid(), -math.inf, 0.0, 0.0),
    ("nan_propagates", lambda a: (a * 2 + 1).exp(), math.nan, math.nan, math.nan),
    ("rpow_zero_base", lambda a: 0.0 ** a, -1.0, math.inf, -math.inf),
]


@pytest.mark.parametrize("fn, x, data, grad", [r[1:] for r in IEEE], ids=[r[0] for r in IEEE])
def test_ieee_semantics(tg, fn, x, data, grad):
    a = tg.Value(x)
    out = fn(a)
    out.backward()
    assert close(out.data, data, 0, 0), out.data
    assert close(a.grad, grad, 0, 0), a.grad


@pytest.mark.torch
@pytest.mark.parametrize("fn, x", [(r[1], r[2]) for r in IEEE], ids=[r[0] for r in IEEE])
def test_ieee_semantics_match_torch(tg, fn, x):
    if torch is None:
        pytest.skip("torch is not importable")
    check_value_op(tg, fn, x, fd=False)


def test_power_of_zero_base_gradients_follow_torch(tg):
    # d(a^0)/da = 0 even at a = 0; d(0^b)/db = 0 for b >= 0 (no 0 * inf = nan)
    check_value_op(tg, lambda a: a ** 0, 0.0, fd=False)
    check_value_op(tg, lambda a, b: a ** b, 0.0, 2.0, fd=False)
    z = tg.Value(0.0)
    (z ** 0).backward()
    assert z.grad == 0.0
    a, b = tg.Value(0.0), tg.Value(2.0)
    (a ** b).backward()
    assert (a.grad, b.grad) == (0.0, 0.0)


# ----- errors (docs/API.md Errors; docs/DESIGN.md Note [Errors]) -----------

NOT_NUMBERS = [("str", "abc"), ("NoneType", None), ("complex", 1j), ("object", object()),
               ("list", [1.0])]


@pytest.mark.parametrize("name, bad", NOT_NUMBERS, ids=[n for n, _ in NOT_NUMBERS])
def test_non_numeric_data_is_a_type_error(tg, name, bad):
    with pytest.raises(TypeError, match=name):
        tg.Value(bad)
    a = tg.Value(1.0)
    with pytest.raises(TypeError, match=name):
        a.data = bad
    with pytest.raises(TypeError, match=name):
        a.grad = bad


@pytest.mark.parametrize("name, bad", NOT_NUMBERS, ids=[n for n, _ in NOT_NUMBERS])
def test_unsupported_operands_are_type_errors(tg, name, bad):
    a = tg.Value(1.0)
    for op in (lambda: a + bad, lambda: bad + a, lambda: a - bad, lambda: bad - a,
               lambda: a * bad, lambda: bad * a, lambda: a / bad, lambda: bad / a,
               lambda: a ** bad, lambda: bad ** a):
        with pytest.raises(TypeError, match=rf"Value|{name}"):
            op()


def test_value_from_value_is_a_type_error(tg):
    with pytest.raises(TypeError, match="Value"):
        tg.Value(tg.Value(1.0))


def test_label_must_be_a_string(tg):
    with pytest.raises(TypeError, match="label"):
        tg.Value(1.0, label=3)


def test_three_argument_pow_is_a_type_error(tg):
    with pytest.raises(TypeError):
        pow(tg.Value(2.0), 3, 5)


def test_value_with_tensor_is_a_type_error(tg):
    a, t = tg.Value(1.0), tg.tensor([1.0, 2.0])
    for op in (lambda: a + t, lambda: a * t, lambda: a - t, lambda: a / t, lambda: a ** t):
        with pytest.raises(TypeError, match=r"Value.*Tensor|Tensor.*Value"):
            op()


def test_mixing_backends_is_a_type_error():
    import tapegrad
    from tapegrad import reference

    native, ref = tapegrad.Value(1.0), reference.Value(2.0)
    for op in (lambda: native + ref, lambda: ref + native, lambda: ref * native,
               lambda: native ** ref, lambda: ref ** native, lambda: ref - native):
        with pytest.raises(TypeError, match=r"tapegrad \(native\) Value") as info:
            op()
        assert "tapegrad.reference Value" in str(info.value)


def test_foreign_objects_are_recognised_by_module():
    # Without the extension built, a stand-in with the native module and class
    # name checks how the reference detects the other backend.
    from tapegrad import reference

    Fake = type("Value", (), {"__module__": "tapegrad._core"})
    ref, fake = reference.Value(1.0), Fake()
    with pytest.raises(TypeError) as info:
        ref + fake
    assert str(info.value) == "cannot combine a tapegrad.reference Value with a tapegrad (native) Value"
    with pytest.raises(TypeError) as info:
        fake + ref
    assert str(info.value) == "cannot combine a tapegrad (native) Value with a tapegrad.reference Value"
    FakeTensor = type("Tensor", (), {"__module__": "tapegrad.reference.tensor"})
    with pytest.raises(TypeError, match="reference Value with a tapegrad.reference Tensor"):
        ref * FakeTensor()


# ----- no_grad and grad() ----------------------------------------------------


def test_no_grad_records_nothing(tg):
    a = tg.Value(2.0)
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        b = (a * 3 + 1).tanh() ** 2
        c = 2 ** a
    assert tg.is_grad_enabled()
    for v in (b, c):
        assert v.op == "" and v.parents == ()
    assert close(b.data, math.tanh(7.0) ** 2, 1e-15, 0) and c.data == 4.0
    b.backward()
    assert a.grad == 0.0 and b.grad == 1.0


def test_no_grad_nests_and_restores_after_an_exception(tg):
    with pytest.raises(RuntimeError):
        with tg.no_grad():
            with tg.no_grad():
                pass
            assert not tg.is_grad_enabled()
            raise RuntimeError("boom")
    assert tg.is_grad_enabled()
    assert (tg.Value(1.0) + 1).op == "+"


def test_grad_returns_gradients_without_touching_grad(tg):
    x1, x2, x3, x4 = (tg.Value(v) for v in (-7.0, 2.0, 2.0, -1.0))
    u2 = x3 * x4
    y = ((x1 + x2) * u2) * u2 ** 2
    unused = tg.Value(5.0)
    assert tuple(tg.grad(y, [x1, x2, x3, x4, u2, unused])) == (-8.0, -8.0, 60.0, -120.0, -60.0, 0.0)
    assert tg.grad(y, x4) == -120.0
    assert tg.grad(y, (y,)) == (1.0,)
    assert all(v.grad == 0.0 for v in (x1, x2, x3, x4, u2, y))
    # the same again: grad() has no memory either
    assert tg.grad(y, x1) == -8.0


# ----- copies ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "copy"])
def test_copies_are_leaves_with_data_grad_label(tg, how):
    a = tg.Value(2.0, label="a")
    y = a * 3
    y.label = "y"
    y.backward()
    dup = {"pickle": lambda v: pickle.loads(pickle.dumps(v)),
           "deepcopy": copy.deepcopy, "copy": copy.copy}[how](y)
    assert type(dup) is type(y) and dup is not y
    assert (dup.data, dup.grad, dup.label) == (6.0, 1.0, "y")
    assert dup.op == "" and dup.parents == ()


def test_grad_rejects_inputs_that_are_not_values(tg):
    a = tg.Value(2.0)
    with pytest.raises(TypeError, match="float"):
        tg.grad(a * a, [a, 3.0])
    assert tg.grad(a * a, []) == ()
