"""Property tests: random expression DAGs with shared subexpressions.

A program is a list of steps; each step applies an op to earlier nodes picked
at random, so nodes are reused (fan-out) as often as not. The same program
is built from Values, from Values with one input nudged (finite
differences), and from torch float64 tensors.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from op_cases import smooth_steps
from oracle import close, torch

# Every Value op of the op table (tests/op_cases.py), its operands lifted into
# its domain smoothly (a * a + 1 where it needs them positive or nonzero), so
# that central differences apply at any point; numbers on either side of the
# binary ops and each exponent of **k are one-operand steps.
UNARY, BINARY = smooth_steps("V")

inputs = st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=1, max_size=3)
steps = st.lists(
    st.tuples(st.booleans(), st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000)),
    min_size=1, max_size=10,
)


def build(program, leaves):
    """Run ``program`` on ``leaves``; returns every node, the output last."""
    nodes = list(leaves)
    for binary, op, i, j in program:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        if binary:
            nodes.append(BINARY[op % len(BINARY)](a, b))
        else:
            nodes.append(UNARY[op % len(UNARY)](a))
    return nodes


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(xs=inputs, program=steps)
def test_random_dag_gradients_match_finite_differences(tg, xs, program):
    leaves = [tg.Value(x) for x in xs]
    nodes = build(program, leaves)
    out = nodes[-1]
    assume(math.isfinite(out.data) and abs(out.data) < 1e4)
    # no overflow on the way either (x / inf is a finite 0 whose gradient holds 0 * inf)
    assume(all(math.isfinite(n.data) and abs(n.data) < 1e8 for n in nodes))
    out.backward()
    for i, x in enumerate(xs):
        def central(h):
            plus = build(program, [tg.Value(v + h if j == i else v) for j, v in enumerate(xs)])[-1].data
            minus = build(program, [tg.Value(v - h if j == i else v) for j, v in enumerate(xs)])[-1].data
            return (plus - minus) / (2 * h)

        # Richardson's extrapolation cancels the central difference's h^2 f'''(x) / 6,
        # which exp and powers of powers can make larger than the tolerance
        numeric = (4 * central(0.5e-6) - central(1e-6)) / 3
        assume(math.isfinite(numeric))
        # rounding in f(x +- h) costs about ulp(f) / h; allow for it
        assert close(leaves[i].grad, numeric, 1e-5, 1e-6 + 1e-8 * abs(out.data)), (i, leaves[i].grad, numeric)


@SETTINGS
@given(xs=inputs, program=steps)
def test_random_dag_matches_torch_at_every_node(tg, xs, program):
    if torch is None:
        pytest.skip("torch is not importable")
    leaves = [tg.Value(x) for x in xs]
    nodes = build(program, leaves)
    assume(all(math.isfinite(n.data) and abs(n.data) < 1e8 for n in nodes))
    nodes[-1].backward()
    tleaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    tnodes = build(program, tleaves)
    for t in tnodes[len(xs):]:
        t.retain_grad()
    tnodes[-1].backward()
    for n, t in zip(nodes, tnodes):
        assert close(n.data, t.item(), 1e-12, 1e-12)
        want = 0.0 if t.grad is None else t.grad.item()
        # a leaf listed twice among the nodes is one node: compare once per object
        assert close(n.grad, want, 1e-9, 1e-9), (n.grad, want)


@SETTINGS
@given(xs=inputs, program=steps)
def test_repeated_backward_and_grad_agree(tg, xs, program):
    leaves = [tg.Value(x) for x in xs]
    nodes = build(program, leaves)
    out = nodes[-1]
    assume(math.isfinite(out.data))
    first = tg.grad(out, nodes)
    assume(all(math.isfinite(g) for g in first))
    assert all(n.grad == 0.0 for n in nodes)
    out.backward()
    assert [n.grad for n in nodes] == list(first)
    out.backward()
    assert [n.grad for n in nodes] == [2 * g for g in first]
