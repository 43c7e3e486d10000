"""tg.compile on random programs (hypothesis): a replay gives eager's values and
gradients bit for bit, on Values and on Tensors, on both backends.

A program is a list of steps, each an elementwise op of the op table applied to
earlier nodes (tests/op_cases.py's smooth steps), as in test_value_properties.py.
Its leaves are parameters read from the closure and arguments (numbers,
Values, Tensors); one step branches on the sign of a node's ``.data`` /
``.item()``, so that replays also go through the guards.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from op_cases import smooth_steps

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

numbers = st.floats(-2.0, 2.0, allow_nan=False)
steps = st.lists(st.tuples(st.booleans(), st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000)),
                 min_size=1, max_size=12)


def run(program, nodes, unary, binary, sign_of):
    """Every node of ``program`` on ``nodes``; step 0's sign picks one of two ops for the rest."""
    nodes = list(nodes)
    flip = None
    for binary_step, op, i, j in program:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        if flip is None:
            flip = sign_of(a) > 0  # a data-dependent branch: a guard of the tape
            op += 1 if flip else 0
        nodes.append(binary[op % len(binary)](a, b) if binary_step else unary[op % len(unary)](a))
    return nodes[-1]


def bits(x) -> bytes:
    """The float64 bits of x, every NaN as one: which NaN an operation on two NaN
    operands returns (its sign, its payload) IEEE 754 leaves open, and compilers
    commute ``a + b`` freely (CPython's own float ``+`` returns the second
    operand's NaN, the C++ engine the first's; Note [Numerics])."""
    a = np.asarray(x, dtype=np.float64)
    return np.where(np.isnan(a), np.float64(np.nan), a).tobytes()


@SETTINGS
@given(params=st.lists(numbers, min_size=1, max_size=3), calls=st.lists(st.tuples(numbers, numbers), min_size=2,
                                                                         max_size=4), program=steps)
def test_random_value_programs_replay_eager_bit_for_bit(tg, params, calls, program):
    unary, binary = smooth_steps("V")
    w = [tg.Value(p) for p in params]

    def f(x, v):
        return run(program, w + [tg.Value(x), v], unary, binary, lambda a: a.data)

    step = tg.compile(f)
    for x, y in calls:
        got, want = [], []
        for fn, out in ((step, got), (f, want)):
            for p in w:
                p.grad = 0.0
            v = tg.Value(y)
            r = fn(x, v)
            r.backward()
            out += [bits(r.data), bits(v.grad)] + [bits(p.grad) for p in w]
        assert got == want
    assert 1 <= step.traces <= 2


@SETTINGS
@given(params=st.lists(numbers, min_size=3, max_size=3), calls=st.lists(st.lists(numbers, min_size=3, max_size=3),
                                                                         min_size=2, max_size=4), program=steps)
def test_random_tensor_programs_replay_eager_bit_for_bit(tg, params, calls, program):
    unary, binary = smooth_steps("T")
    w = tg.tensor(np.array(params, np.float32), requires_grad=True)

    def f(x):
        out = run(program, [w, x, w * x], unary, binary, lambda a: a.sum().item())
        return (out * out).sum() + w.sum()  # w always gets a gradient

    step = tg.compile(f)
    for xs in calls:
        got, want = [], []
        for fn, out in ((step, got), (f, want)):
            w.grad = None
            r = fn(tg.tensor(np.array(xs, np.float32)))
            r.backward()
            out += [r.numpy().tobytes(), w.grad.numpy().tobytes()]
        assert got == want
    assert 1 <= step.traces <= 2
