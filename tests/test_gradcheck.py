"""tg.gradcheck: finite differences vs backward, True or a named worst mismatch."""
from __future__ import annotations

import re

import pytest


def test_gradcheck_accepts_correct_gradients(tg):
    a, b = tg.Value(1.3), tg.Value(-0.7)
    assert tg.gradcheck(lambda x, y: (x * y).sin() + x ** 2 / y.exp(), [a, b]) is True
    assert tg.gradcheck(lambda x: x.tanh() * x, tg.Value(0.4)) is True  # one input, no list


def test_gradcheck_leaves_the_inputs_alone(tg):
    a = tg.Value(1.5)
    a.grad = 7.0
    tg.gradcheck(lambda x: x * x, [a])
    assert (a.data, a.grad) == (1.5, 7.0)


def test_gradcheck_names_the_worst_mismatch(tg):
    a, b = tg.Value(2.0), tg.Value(3.0)

    def wrong(x, y):
        # y.data enters as a constant: backward misses d/dy of the second term
        return x * y + y * y.data

    with pytest.raises(AssertionError) as info:
        tg.gradcheck(wrong, [a, b])
    err = info.value
    assert type(err).__name__ == "GradcheckError"
    message = str(err)
    assert "input 1" in message and "element ()" in message
    assert re.search(r"analytic 5\.0 vs numeric (8\.0|7\.99)", message), message


def test_gradcheck_passes_numbers_through(tg):
    # fn(x, 3.0): the number is a constant, not a checked input
    assert tg.gradcheck(lambda x, k: x ** k, [tg.Value(1.2), 3.0])


def test_gradcheck_tolerances(tg):
    a = tg.Value(1.0)

    def off_by_1e_4(x):
        # forward is 2x + 1e-4 x, backward sees only 2x
        return x * 2.0 + 1e-4 * x.data

    with pytest.raises(AssertionError, match="input 0"):
        tg.gradcheck(off_by_1e_4, [a], atol=1e-6, rtol=1e-6)
    assert tg.gradcheck(off_by_1e_4, [a], atol=1e-3, rtol=0)


def test_gradcheck_nan_only_matches_nan(tg):
    # log(-1) = nan forward; its derivative 1/a = -1 is finite: a mismatch
    with pytest.raises(AssertionError, match="analytic -1.0 vs numeric nan"):
        tg.gradcheck(lambda x: x.log(), [tg.Value(-1.0)])
    # sqrt(-1): nan on both sides
    assert tg.gradcheck(lambda x: x.sqrt(), [tg.Value(-1.0)])


def test_gradcheck_needs_something_to_check(tg):
    with pytest.raises(ValueError, match="requires_grad"):
        tg.gradcheck(lambda k: tg.Value(k), [2.0])


def test_gradcheck_rejects_a_non_node_output(tg):
    with pytest.raises(TypeError, match="float"):
        tg.gradcheck(lambda x: x.data, [tg.Value(2.0)])


def test_gradcheck_on_a_shared_subexpression(tg):
    x1, x2, x3, x4 = (tg.Value(v) for v in (-7.0, 2.0, 2.0, -1.0))

    def five_nodes(a, b, c, d):
        u2 = c * d
        return ((a + b) * u2) * u2 ** 2

    assert tg.gradcheck(five_nodes, [x1, x2, x3, x4])


# ----------------------------------------------------------------------------
# Tensors


def test_gradcheck_tensor_function(tg):
    import numpy as np

    x = tg.tensor(np.array([[0.5, -1.0], [2.0, 0.3]]), requires_grad=True)
    w = tg.tensor(np.array([1.5, -0.5]), requires_grad=True)
    assert tg.gradcheck(lambda a, b: ((a * b).tanh() @ b).sum(), [x, w])
    assert tg.gradcheck(lambda a: a.softmax(1), [x])  # a non-scalar output: every Jacobian entry


def test_gradcheck_tensor_names_the_worst_element(tg):
    import numpy as np

    x = tg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)

    def wrong_at_2(a):
        # forward adds 1e-3 * a[2]^2 through a detached copy: backward misses it
        return a.sum() + 1e-3 * float(a.numpy()[2]) ** 2

    with pytest.raises(AssertionError, match=r"input 0, element \(2,\)"):
        tg.gradcheck(wrong_at_2, [x])


def test_gradcheck_tensor_passes_constants_through(tg):
    import numpy as np

    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = tg.tensor(np.array([3.0, 4.0]))  # no requires_grad: passed unchanged
    labels = np.array([1])
    assert tg.gradcheck(lambda a, k: (a * k).sum(), [x, c])
    assert tg.gradcheck(lambda a, y: tg.cross_entropy(a.reshape(1, 2), y), [x, labels])
    assert x.grad is None
