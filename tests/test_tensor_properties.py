"""Property tests: random broadcastable shapes and random reduction dims.

Each example is compared with NumPy (forward) and with central finite
differences (every gradient, via ``tg.gradcheck``), in float64.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import (array_shapes, basic_indices, integer_array_indices,
                                   mutually_broadcastable_shapes)
from op_cases import CASES, kind

# The ``tg`` fixture is a module, the same for every example.
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# the binary elementwise rows of the op table (tests/op_cases.py), each operand in its domain
BINARY = {c.row.op: c for c in CASES if kind(c.row.op) == "binary"}
REDUCE = [c.row.op for c in CASES if kind(c.row.op) == "reduce"]


def _data(draw_seed: int, shape) -> np.ndarray:
    return np.random.default_rng(draw_seed).standard_normal(shape)


@SETTINGS
@given(op=st.sampled_from(sorted(BINARY)),
       shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_like_numpy(tg, op, shapes, seed):
    case = BINARY[op]
    rng = np.random.default_rng(seed)
    a, b = (spec.domain.array(rng, shape) for spec, shape in zip(case.row.inputs, shapes.input_shapes))
    x, y = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    out = case(x, y)
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.numpy(), case.numpy(a, b), rtol=1e-12, atol=1e-12)
    assert tg.gradcheck(case, [x, y])


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=2, max_side=3),
       seed=st.integers(0, 2**16))
def test_matmul_shapes_like_numpy(tg, shapes, seed):
    a = _data(seed, shapes.input_shapes[0])
    b = _data(seed + 1, shapes.input_shapes[1])
    x, y = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    out = x @ y
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-12, atol=1e-12)
    assert tg.gradcheck(lambda p, q: p @ q, [x, y])


@st.composite
def _reduction(draw):
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    if draw(st.booleans()) or not shape:
        dim = None
    else:
        dims = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1,
                             max_size=len(shape), unique_by=lambda d: d % len(shape)))
        dim = dims[0] if len(dims) == 1 and draw(st.booleans()) else tuple(dims)
    return shape, dim, draw(st.booleans())


@SETTINGS
@given(op=st.sampled_from(REDUCE), case=_reduction(), seed=st.integers(0, 2**16),
       alias=st.booleans())
def test_reductions_like_numpy(tg, op, case, seed, alias):
    shape, dim, keep = case
    a = _data(seed, shape)  # continuous data: no ties, so max/min are differentiable
    kwargs = dict(axis=dim, keepdims=keep) if alias else dict(dim=dim, keepdim=keep)
    x = tg.tensor(a, requires_grad=True)
    out = getattr(x, op)(**kwargs)
    expected = getattr(np, op)(a, axis=dim, keepdims=keep)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert tg.gradcheck(lambda t: getattr(t, op)(**kwargs), [x])


@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=4), seed=st.integers(0, 2**16),
       data=st.data())
def test_softmax_rows_sum_to_one(tg, shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = _data(seed, shape) * 50  # large logits
    x = tg.tensor(a, requires_grad=True)
    s = x.softmax(dim)
    np.testing.assert_allclose(s.numpy().sum(axis=dim), 1.0, rtol=1e-12)
    np.testing.assert_allclose(x.log_softmax(dim).numpy(), np.log(s.numpy()), atol=1e-9)



@SETTINGS
@given(data=st.data(), shape=array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
       seed=st.integers(0, 2**16))
def test_basic_indexing_like_numpy(tg, data, shape, seed):
    """Ints, slices (negative steps, empty), None and Ellipsis; gradient = upstream put back."""
    key = data.draw(basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    a = _data(seed, shape)
    x = tg.tensor(a, requires_grad=True)
    out = x[key]
    np.testing.assert_array_equal(out.numpy(), a[key])
    upstream = _data(seed + 1, np.shape(a[key]))
    out.backward(gradient=tg.tensor(upstream))
    expected = np.zeros(shape)
    expected[key] = upstream  # basic indexing never selects an element twice
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@SETTINGS
@given(data=st.data(), shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       seed=st.integers(0, 2**16))
def test_integer_array_indexing_accumulates(tg, data, shape, seed):
    """Integer arrays (with repeats): the gradient of an element sums over its selections."""
    key = data.draw(integer_array_indices(shape, result_shape=array_shapes(max_dims=2, max_side=5)))
    a = _data(seed, shape)
    x = tg.tensor(a, requires_grad=True)
    out = x[key]
    np.testing.assert_array_equal(out.numpy(), a[key])
    upstream = _data(seed + 1, out.shape)
    out.backward(gradient=tg.tensor(upstream))
    expected = np.zeros(shape)
    np.add.at(expected, key, upstream)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-12)
