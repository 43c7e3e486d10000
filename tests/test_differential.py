"""Differential tests: the native backend against the reference, op for op.

Both backends compute in float64 with the same formulas (value_rules.h beside
reference/value.py), so a random program must give the same bits on both:
every node's forward value and, after ``backward()``, every node's gradient.
Independently of the reference, the native gradients must match central
finite differences wherever the program is smooth at the drawn point.

A program is a list of steps; each applies one op to earlier nodes drawn at
random, so subexpressions are shared and nodes fan out. Steps cover every
Value op of the op table (tests/op_cases.py), with plain numbers on either
side. Leaves include huge, tiny, subnormal, signed-zero, infinite and NaN
data for the backend comparison (IEEE results must agree there too).

The Tensor half does the same with broadcastable shapes, both float dtypes,
0-d and zero-size tensors and non-contiguous or byte-swapped NumPy inputs.

Runs are random by default; set TAPEGRAD_DERANDOMIZE=1 (CI may) to make every
run draw the same examples.
"""
from __future__ import annotations

import contextlib
import math
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

import tapegrad
from op_cases import AWAY, POS, REAL, ROW_NAMED, elementwise_steps, reduce_steps
from tapegrad import reference as ref
from tapegrad.reference import _autograd as ref_autograd

native = tapegrad
DERANDOMIZE = os.environ.get("TAPEGRAD_DERANDOMIZE", "") not in ("", "0")


def profile(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=DERANDOMIZE,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def same_bits(a: float, b: float) -> bool:
    """Identical doubles: equal with the same sign of zero, or both NaN (any payload)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


# ----- Value programs ---------------------------------------------------------

# Every Value op of the op table (tests/op_cases.py), each a callable on (a, b,
# c): a and b are nodes, c a number; binary ops also with c on either side.
VALUE_OPS = elementwise_steps("V")
OP_NAMES = sorted(VALUE_OPS)

EXTREME = [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-12, 1e300, -1e300, 1.7976931348623157e308,
           math.inf, -math.inf, math.nan]
EXPONENTS = [0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 1.5, 2.5]

# Leaves for the backend comparison: anything a float can be.
any_float = st.one_of(
    st.floats(-4.0, 4.0),
    st.sampled_from(EXTREME),
    st.floats(allow_nan=True, allow_infinity=True),
)
constants = st.one_of(st.sampled_from(EXPONENTS), st.floats(-3.0, 3.0), st.sampled_from(EXTREME))
step = st.tuples(st.sampled_from(OP_NAMES), st.integers(0, 10**6), st.integers(0, 10**6), constants)


def run_program(tg, leaves, program, ops=VALUE_OPS):
    """Build ``program`` with ``tg.Value``; returns every node, the output last."""
    nodes = [tg.Value(x) for x in leaves]
    for name, i, j, c in program:
        # Later steps prefer recent nodes (deep chains) but may reach any (fan-out).
        a = nodes[-1 - i % len(nodes)] if i % 3 else nodes[i % len(nodes)]
        b = nodes[j % len(nodes)]
        nodes.append(ops[name](a, b, c))
    return nodes


def snapshot(nodes, root):
    """Forward data of every node, then every node's grad after root.backward()."""
    data = [n.data for n in nodes]
    root.backward()
    return data, [n.grad for n in nodes]


def assert_same_values(program, leaves):
    n_nodes = run_program(native, leaves, program)
    r_nodes = run_program(ref, leaves, program)
    n_data, n_grad = snapshot(n_nodes, n_nodes[-1])
    r_data, r_grad = snapshot(r_nodes, r_nodes[-1])
    for k, (x, y) in enumerate(zip(n_data, r_data)):
        assert same_bits(x, y), f"node {k} ({n_nodes[k].op!r}) forward: native {x!r} vs reference {y!r}"
    for k, (x, y) in enumerate(zip(n_grad, r_grad)):
        assert same_bits(x, y), f"node {k} ({n_nodes[k].op!r}) grad: native {x!r} vs reference {y!r}"
    for k, (a, b) in enumerate(zip(n_nodes, r_nodes)):
        assert a.op == b.op, f"node {k}: op {a.op!r} vs {b.op!r}"
        assert len(a.parents) == len(b.parents)
        for x, y in zip(a._local_grads(), b._local_grads()):
            assert same_bits(x, y), f"node {k} ({a.op!r}) local grads {a._local_grads()} vs {b._local_grads()}"


@profile(300)
@given(st.lists(any_float, min_size=1, max_size=4), st.lists(step, min_size=1, max_size=14))
def test_value_programs_agree_bit_for_bit(leaves, program):
    assert_same_values(program, leaves)


@profile(60)
@given(st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=3), st.lists(step, min_size=40, max_size=120))
def test_long_value_programs_agree_bit_for_bit(leaves, program):
    assert_same_values(program, leaves)


@profile(40)
@given(st.lists(any_float, min_size=1, max_size=3), st.lists(step, min_size=1, max_size=10))
def test_backward_twice_and_grad_agree(leaves, program):
    # A second backward adds the same amounts; tg.grad leaves .grad alone.
    n_nodes = run_program(native, leaves, program)
    r_nodes = run_program(ref, leaves, program)
    for nodes in (n_nodes, r_nodes):
        nodes[-1].backward()
        nodes[-1].backward()
    for k, (a, b) in enumerate(zip(n_nodes, r_nodes)):
        assert same_bits(a.grad, b.grad), f"node {k} ({a.op!r}) grad after two passes: {a.grad!r} vs {b.grad!r}"
    n_g = native.grad(n_nodes[-1], n_nodes[: len(leaves)])
    r_g = ref.grad(r_nodes[-1], r_nodes[: len(leaves)])
    for x, y in zip(n_g, r_g):
        assert same_bits(x, y), f"tg.grad: {n_g} vs {r_g}"


def build_and_drop(tg, leaves, program, keep, ops=VALUE_OPS):
    """``run_program``, then drop the Python objects of every node but the
    leaves, the output and those whose position is in ``keep``: dropped nodes
    that only one edge uses are then swept by the engine's fast first phase
    (Note [Backward pass] in cpp/core/graph.h), shared ones in the second."""
    nodes = run_program(tg, leaves, program, ops)
    n_leaves = len(leaves)
    kept = [n for k, n in enumerate(nodes[n_leaves:-1]) if k in keep]
    return nodes[:n_leaves], kept, nodes[-1]


def order_free(root) -> set:
    """The nodes (of a reference graph) whose gradient cannot depend on the
    order in which the engine sums the paths into it: at most two consumer
    edges (a + b and b + a are the same double), each from such a node."""
    order = ref_autograd.topo_order(root)
    consumers = {id(n): [] for n in order}
    for n in order:
        for p in n._parents:
            consumers[id(p)].append(n)
    free = set()
    for n in reversed(order):  # consumers first
        cs = consumers[id(n)]
        if len(cs) <= 2 and all(id(c) in free for c in cs):
            free.add(id(n))
    return free


@profile(300)
@given(st.lists(any_float, min_size=1, max_size=4), st.lists(step, min_size=1, max_size=30),
       st.sets(st.integers(0, 30), max_size=6))
def test_programs_with_dropped_intermediates_agree(leaves, program, keep):
    # Bit for bit wherever the order of summing three or more paths cannot
    # matter; the exact-arithmetic test below covers the other nodes.
    n_leaves, n_kept, n_root = build_and_drop(native, leaves, program, keep)
    r_leaves, r_kept, r_root = build_and_drop(ref, leaves, program, keep)
    free = order_free(r_root)
    n_nodes, r_nodes = n_leaves + n_kept, r_leaves + r_kept
    n_g = native.grad(n_root, n_nodes)
    r_g = ref.grad(r_root, r_nodes)
    n_root.backward()
    r_root.backward()
    for k, (a, b) in enumerate(zip(n_nodes + [n_root], r_nodes + [r_root])):
        if id(b) not in free:
            continue
        if k < len(n_g):
            assert same_bits(n_g[k], r_g[k]), f"tg.grad input {k}: native {n_g[k]!r} vs reference {r_g[k]!r}"
        assert same_bits(a.grad, b.grad), f"node {k} grad: native {a.grad!r} vs reference {b.grad!r}"


# Integer leaves and ops whose local gradients are small integers: every
# value and gradient is an exact integer below 2^53, so any summation order
# gives the same bits, and every node can be compared.
EXACT_OPS = {name: VALUE_OPS[name] for name in ("+", "-", "neg", "relu", "abs", "*c", "c*", "+c", "c-")}
exact_step = st.tuples(st.sampled_from(sorted(EXACT_OPS)), st.integers(0, 10**6), st.integers(0, 10**6),
                       st.sampled_from([-1.0, 2.0, 3.0]))


def run_exact(tg, leaves, program, keep):
    """The leaves and kept nodes, and the output, of an EXACT_OPS program."""
    n_leaves, kept, root = build_and_drop(tg, leaves, program, keep, EXACT_OPS)
    return n_leaves + kept, root


@profile(300)
@given(st.lists(st.integers(-3, 3).map(float), min_size=1, max_size=4),
       st.lists(exact_step, min_size=1, max_size=20), st.sets(st.integers(0, 20), max_size=5))
def test_exact_programs_with_dropped_intermediates_agree_bit_for_bit(leaves, program, keep):
    n_nodes, n_root = run_exact(native, leaves, program, keep)
    r_nodes, r_root = run_exact(ref, leaves, program, keep)
    n_g, r_g = native.grad(n_root, n_nodes), ref.grad(r_root, r_nodes)
    assert [struct.pack("<d", g) for g in n_g] == [struct.pack("<d", g) for g in r_g], (n_g, r_g)
    for _ in range(2):  # the second pass adds the same amounts again
        n_root.backward()
        r_root.backward()
        for k, (a, b) in enumerate(zip(n_nodes + [n_root], r_nodes + [r_root])):
            assert same_bits(a.grad, b.grad), f"node {k} grad: native {a.grad!r} vs reference {b.grad!r}"


# Doubles from every binade, subnormals and the edges of the normal range included.
any_bits = st.integers(0, 2**64 - 1).map(lambda u: struct.unpack("<d", struct.pack("<Q", u))[0])
tiny = st.one_of(st.floats(-1e-300, 1e-300), st.integers(-2**53, 2**53).map(lambda m: m * 5e-324))


@contextlib.contextmanager
def subnormal_path(path: str):
    """Within it, the native sweep multiplies subnormals by the integer path
    (``"integer"``, taken on Intel CPUs) or by the hardware (``"hardware"``,
    elsewhere): both must give the IEEE product (Note [Subnormal products] in
    cpp/core/chain_mul.h)."""
    was = tapegrad._core._set_soft_subnormal_products(path == "integer")
    try:
        yield
    finally:
        tapegrad._core._set_soft_subnormal_products(was)


@pytest.mark.parametrize("path", ["integer", "hardware"])
def test_chain_rule_products_are_ieee_products(path):
    @profile(1000)
    @given(st.one_of(any_bits, tiny), st.one_of(any_bits, tiny, st.floats(-2.0, 2.0)))
    def check(upstream, local):
        # d(x * local)/dx = local, so tg.grad's sweep computes upstream * local
        # (added to a 0.0 start): it must be the IEEE product, subnormal results
        # included.
        for tg in (native, ref):
            x = tg.Value(1.0)
            got = tg.grad(x * local, x, gradient=upstream)
            want = 0.0 + upstream * local
            assert same_bits(got, want), f"{tg.__name__}: {upstream!r} * {local!r} gave {got!r}, not {want!r}"

    with subnormal_path(path):
        check()


@pytest.mark.parametrize("path", ["integer", "hardware"])
def test_vanishing_gradient_through_a_deep_chain_matches_the_reference(path):
    # W2's chain: the gradient goes subnormal after ~33,000 steps and then stays
    # at 5e-324; every step's product must still be the IEEE one, eager and compiled.
    def chain(tg, x):
        y = x
        for _ in range(40_000):
            y = (y * 0.999 + 0.001).tanh()
        return y

    with subnormal_path(path):
        nx, rx = native.Value(0.5), ref.Value(0.5)
        chain(native, nx).backward()
        chain(ref, rx).backward()
        assert 0.0 < rx.grad < 2.2250738585072014e-308  # the case this test is about
        assert same_bits(nx.grad, rx.grad)
        step = native.compile(lambda v: chain(native, v))
        for _ in range(2):  # the trace, then a replay
            cx = native.Value(0.5)
            step(cx).backward()
            assert same_bits(cx.grad, rx.grad)


# ----- finite differences where the program is smooth ---------------------------

MARGIN = 1e-2  # distance kept from kinks and domain edges


def smooth_at(nodes) -> bool:
    """True when every node is finite, moderate, and away from every non-smooth
    point: its parents keep MARGIN inside their op's domains (tests/op_cases.py;
    a ** k with k a whole number >= 0 is smooth everywhere)."""
    for n in nodes:
        if not math.isfinite(n.data) or abs(n.data) > 1e4:
            return False
        if not n.parents:
            continue
        op = "**k" if n.op.startswith("**") and n.op != "**" else n.op
        if op == "**k" and float(n.op[2:]) >= 0 and float(n.op[2:]).is_integer():
            continue
        for spec, p in zip(ROW_NAMED[op].inputs, n.parents):
            if (spec.domain is POS and p.data < MARGIN) or (spec.domain is AWAY and abs(p.data) < MARGIN):
                return False
    return True


def fd_grad(leaves, program, i, h):
    plus = list(leaves)
    minus = list(leaves)
    plus[i] += h
    minus[i] -= h
    return (run_program(native, plus, program)[-1].data - run_program(native, minus, program)[-1].data) / (2 * h)


@profile(150)
@given(st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=3),
       st.lists(st.tuples(st.sampled_from(OP_NAMES), st.integers(0, 10**6), st.integers(0, 10**6),
                          st.one_of(st.sampled_from(EXPONENTS), st.floats(-2.0, 2.0))),
                min_size=1, max_size=10))
def test_value_programs_match_finite_differences(leaves, program):
    nodes = run_program(native, leaves, program)
    if not smooth_at(nodes):
        event("not smooth: backend comparison only")
        return  # a kink, a domain edge or overflow: only the backend comparison applies
    grads = native.grad(nodes[-1], nodes[: len(leaves)])
    for i, x in enumerate(leaves):
        h = 1e-5 * max(1.0, abs(x))
        fd1, fd2 = fd_grad(leaves, program, i, h), fd_grad(leaves, program, i, h / 2)
        if not (math.isfinite(fd1) and math.isfinite(fd2)) or abs(fd1 - fd2) > 1e-6 * (1 + abs(fd2)):
            event("finite differences unsettled")
            continue  # finite differences do not settle here (a kink crossed, huge curvature)
        event("checked against finite differences")
        note(f"input {i}: backward {grads[i]!r}, fd {fd2!r}")
        assert abs(grads[i] - fd2) <= 1e-5 * (1 + abs(fd2)), (
            f"input {i}: backward {grads[i]!r} vs finite difference {fd2!r}")


# ----- Tensor programs -----------------------------------------------------------

# Every elementwise Tensor op of the op table, each f(x, y, c) on tensors x, y of
# broadcastable shapes and a number c (``T_OPS[name].b`` is None where f uses
# only x), and the reductions and softmaxes, f(x, dim, keepdim).
T_OPS = elementwise_steps("T")
T_NAMES = sorted(T_OPS)
T_REDUCE = reduce_steps()

small = st.integers(0, 3)
shapes = st.lists(small, min_size=0, max_size=3).map(tuple)


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: drop leading dims and set some dims to 1."""
    shape = draw(shapes)
    other = list(shape[draw(st.integers(0, len(shape))):])
    for d in range(len(other)):
        if draw(st.booleans()):
            other[d] = 1
    if draw(st.booleans()):
        return shape, tuple(other)
    return tuple(other), shape


@st.composite
def array_input(draw, shape, dtype, lo=-2.0, hi=2.0):
    """A NumPy array of ``shape``: contiguous, a strided view, or byte-swapped."""
    size = int(np.prod(shape)) if shape else 1
    values = draw(st.lists(st.floats(lo, hi), min_size=size, max_size=size))
    arr = np.asarray(values, dtype=np.float64).reshape(shape).astype(dtype)
    layout = draw(st.sampled_from(["contiguous", "strided", "transposed", "byteswapped"]))
    if layout == "strided" and arr.ndim:
        big = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), dtype=dtype)
        big[..., ::2] = arr
        arr = big[..., ::2]
    elif layout == "transposed" and arr.ndim >= 2:
        arr = np.ascontiguousarray(np.swapaxes(arr, -1, -2)).swapaxes(-1, -2)
    elif layout == "byteswapped":
        arr = arr.astype(arr.dtype.newbyteorder(">" if arr.dtype.byteorder in "=<" else "<"))
    return arr


def tensor_grads(tg, arrays, fn):
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    loss = (out * out).sum() if out.ndim else out * out
    loss.backward()
    return out.numpy().copy(), [None if x.grad is None else x.grad.numpy().copy() for x in xs]


def assert_close_arrays(a, b, what, rtol):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs {b.dtype}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, equal_nan=True, err_msg=what)


def assert_tensor_agree(arrays, fn, dtype):
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    n_out, n_grads = tensor_grads(native, arrays, fn)
    r_out, r_grads = tensor_grads(ref, arrays, fn)
    assert_close_arrays(n_out, r_out, "forward", rtol)
    for i, (g, h) in enumerate(zip(n_grads, r_grads)):
        assert (g is None) == (h is None), f"input {i}: grad {g} vs {h}"
        if g is not None:
            assert_close_arrays(g, h, f"input {i} grad", rtol)


dtypes = st.sampled_from([np.float32, np.float64])


@profile(150)
@given(st.data(), broadcast_pair(), dtypes, st.sampled_from(T_NAMES), st.sampled_from(EXPONENTS))
def test_tensor_elementwise_agree(data, pair, dtype, name, c):
    fn = T_OPS[name]
    x = data.draw(array_input(pair[0], dtype))
    y = data.draw(array_input(pair[1], dtype))
    if fn.b is None:
        assert_tensor_agree([x], lambda a: fn(a, None, c), dtype)
    else:
        assert_tensor_agree([x, y], lambda a, b: fn(a, b, c), dtype)


@profile(100)
@given(st.data(), st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple), dtypes,
       st.sampled_from(sorted(T_REDUCE)), st.booleans())
def test_tensor_reductions_agree(data, shape, dtype, name, keepdim):
    x = data.draw(array_input(shape, dtype))
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    if name in ("softmax", "log_softmax") and dim is None:
        dim = -1
    assert_tensor_agree([x], lambda a: T_REDUCE[name](a, dim, keepdim), dtype)


@profile(100)
@given(st.data(), st.lists(small, min_size=0, max_size=3).map(tuple), dtypes)
def test_tensor_shape_ops_agree(data, shape, dtype):
    x = data.draw(array_input(shape, dtype))
    nd = len(shape)
    choice = data.draw(st.sampled_from(["reshape", "flatten", "T", "transpose", "permute", "getitem",
                                        "neg_step", "stack", "concatenate", "where", "sum_all"]))
    if choice == "reshape":
        fn = lambda a: a.reshape(-1)  # noqa: E731
    elif choice == "flatten":
        fn = lambda a: a.flatten()  # noqa: E731
    elif choice == "T":
        fn = lambda a: a.T  # noqa: E731
    elif choice == "transpose" and nd >= 2:
        fn = lambda a: a.transpose(0, nd - 1)  # noqa: E731
    elif choice == "permute":
        perm = data.draw(st.permutations(range(nd)))
        fn = lambda a: a.permute(*perm)  # noqa: E731
    elif choice == "getitem" and nd >= 1 and shape[0] > 0:
        i = data.draw(st.integers(-shape[0], shape[0] - 1))
        fn = lambda a: a[i]  # noqa: E731
    elif choice == "neg_step" and nd >= 1:
        fn = lambda a: a[::-1]  # noqa: E731
    elif choice == "stack":
        fn = lambda a: native_or_ref(a).stack([a, a * 2.0], dim=0)  # noqa: E731
    elif choice == "concatenate" and nd >= 1:
        fn = lambda a: native_or_ref(a).concatenate([a, a.exp()], dim=0)  # noqa: E731
    elif choice == "where":
        fn = lambda a: native_or_ref(a).where(a > 0.0, a, a * a)  # noqa: E731
    else:
        fn = lambda a: a.sum()  # noqa: E731
    assert_tensor_agree([x], fn, dtype)


@profile(80)
@given(st.data(), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), dtypes)
def test_tensor_matmul_agree(data, n, k, m, batch, dtype):
    lead = (2,) * batch
    a = data.draw(array_input(lead + (n, k), dtype))
    b = data.draw(array_input((k, m) if data.draw(st.booleans()) else lead + (k, m), dtype))
    assert_tensor_agree([a, b], lambda x, y: x @ y, dtype)
    v = data.draw(array_input((k,), dtype))
    assert_tensor_agree([a, v], lambda x, y: x @ y, dtype)


def native_or_ref(t):
    """The backend module a Tensor belongs to (tests call its free functions)."""
    return ref if type(t).__module__.startswith("tapegrad.reference") else native


@profile(60)
@given(st.data(), broadcast_pair(), st.lists(st.sampled_from(T_NAMES), min_size=1, max_size=6))
def test_tensor_programs_agree_and_match_fd(data, pair, names):
    # A chain of elementwise ops with fan-out, in float64, against the reference
    # and against central differences of the summed output.
    x = data.draw(array_input(pair[0], np.float64, 0.5, 2.0))
    y = data.draw(array_input(pair[1], np.float64, 0.5, 2.0))

    def fn(a, b):
        nodes = [a, b]
        for k, name in enumerate(names):
            f = T_OPS[name]
            u, v = nodes[-1], nodes[k % len(nodes)]
            # every node is positive here; exp keeps the operands of log, sqrt, / and ** well inside
            # their domains
            u = u if f.a is REAL else u.exp()
            v = v if f.b in (None, REAL) else v.exp()
            out = f(u, v, 1.5)
            nodes.append(out.tanh() + 1.5)
        return nodes[-1]

    assert_tensor_agree([x, y], fn, np.float64)
    xs = [native.tensor(x, requires_grad=True), native.tensor(y, requires_grad=True)]
    ok = native.gradcheck(fn, xs, eps=1e-6, atol=1e-5, rtol=1e-3)
    assert ok


@profile(100)
@given(st.data(), broadcast_pair(), dtypes, st.sampled_from(T_NAMES), st.sampled_from(EXPONENTS))
def test_tensor_extreme_values_agree(data, pair, dtype, name, c):
    # Huge, tiny, subnormal, signed-zero, infinite and NaN elements: IEEE results
    # (and their gradients) must agree too.
    fn = T_OPS[name]

    def extreme(shape):
        size = int(np.prod(shape)) if shape else 1
        values = data.draw(st.lists(st.one_of(st.sampled_from(EXTREME), st.floats(-3.0, 3.0)),
                                    min_size=size, max_size=size))
        with np.errstate(over="ignore"):  # 1e300 becomes inf in float32, on purpose
            return np.asarray(values, dtype=np.float64).reshape(shape).astype(dtype)

    x, y = extreme(pair[0]), extreme(pair[1])
    with np.errstate(all="ignore"):
        if fn.b is None:
            assert_tensor_agree([x], lambda a: fn(a, None, c), dtype)
        else:
            assert_tensor_agree([x, y], lambda a, b: fn(a, b, c), dtype)


@profile(100)
@given(st.integers(0, 2**32 - 1), st.integers(1, 25), st.sets(st.integers(0, 25), max_size=4))
def test_tensor_programs_with_dropped_intermediates_agree(seed, steps, keep):
    # The Tensor sweep's first phase takes nodes only one edge holds
    # (graph.h, Note [Backward pass]); here most intermediates are dropped,
    # some kept (shared), and values fan out, as in a training step.
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((3, 4))
    w0 = rng.standard_normal((4, 4)) * 0.5
    plan = [(int(rng.integers(0, 6)), int(rng.integers(0, 10**6))) for _ in range(steps)]

    def run(tg):
        x = tg.tensor(x0, requires_grad=True, dtype=np.float64)
        w = tg.tensor(w0, requires_grad=True, dtype=np.float64)
        nodes, kept = [x], []
        for k, (op, j) in enumerate(plan):
            a, b = nodes[-1], nodes[j % len(nodes)]
            y = [lambda: a * b, lambda: (a @ w).tanh(), lambda: a + b.sigmoid(), lambda: a - b * 0.5,
                 lambda: (a * a).relu(), lambda: a.exp() * 0.1][op]()
            nodes.append(y)
            if k in keep:
                kept.append(y)
            if len(nodes) > 3:  # drop the Python objects of older intermediates
                nodes[1] = None
                nodes = [n for n in nodes if n is not None]
        out = (nodes[-1] * nodes[-1]).sum()
        grads = tg.grad(out, [x, w] + kept, retain_graph=True)
        out.backward()
        leaf_grads = [None if t.grad is None else t.grad.numpy().copy() for t in (x, w)]  # None: w unused
        return [g.numpy().copy() for g in grads] + leaf_grads

    for a, b in zip(run(native), run(ref)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
