"""Every op of the registry, one row each (tests/op_cases.py), on both backends.

For every row: the op it makes (``.op``, its parents, the registry's method
name); the forward against NumPy and PyTorch float64; the gradients against
central finite differences (``tg.gradcheck``) and PyTorch; float32 kept
float32 and float32 with float64 promoted; a plain number on either side of
a binary op; the native backend against the reference; the recorded
backward (``create_graph=True``) against the fused one; and second
derivatives through the recorded backward, against finite differences of the
first gradient and PyTorch's double backward. Values run the same rows
where the registry gives the op to Value. The first tests assert that the
rows are the registry, so that a new op cannot ship untested. PyTorch parts
run where torch imports.
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad as native
from oracle import check_tensor_op, check_value_op, close, torch
from op_cases import CASES, NO_K, ROWS, kind, params
from tapegrad import reference as ref
from tapegrad.reference import elementwise, elementwise_nn, tensor_ops

REGISTRY = native._core.op_table()
ENTRY = {e["name"]: e for e in REGISTRY}

TENSOR_CASES = [c for c in CASES if c.row.tensor]
VALUE_CASES = [c for c in CASES if c.row.value]
NUMBER_CASES = [c for c in TENSOR_CASES if kind(c.row.op) in ("binary", "compare")]

# Native against reference where the row is not exact, and recorded against
# fused where it is not: within this many eps of the dtype, relative to the
# largest magnitude (transcendental functions and sums differ by an ulp or two).
FEW_ULPS = 8


# ----------------------------------------------------------------------------
# The rows are the registry


def test_rows_cover_the_registry_exactly():
    registry = [e["name"] for e in REGISTRY]
    rows = [row.op for row in ROWS]
    assert not (missing := [n for n in registry if n not in rows]), f"ops without a row in op_cases.py: {missing}"
    assert not (extra := [n for n in rows if n not in registry]), f"rows for ops the registry lacks: {extra}"
    assert not (twice := sorted({n for n in rows if rows.count(n) > 1})), f"ops with two rows: {twice}"
    assert rows == registry, "the rows are not in the registry's order"


def test_rows_run_where_the_registry_says():
    wrong = [(row.op, row.on) for row in ROWS if row.op in ENTRY
             and row.on != "V" * ENTRY[row.op]["value"] + "T" * ENTRY[row.op]["tensor"]]
    assert not wrong, f"rows whose Value/Tensor column differs from the registry's: {wrong}"
    assert all(row.grad == (kind(row.op) not in ("compare", "arg")) for row in ROWS if row.op in ENTRY), \
        "only comparisons and argmax/argmin have no gradient"


def test_reference_ops_are_the_registry_in_order():
    assert REGISTRY[0]["name"] == "" and REGISTRY[0]["kind"] == "leaf"
    rows = REGISTRY[1:]  # the reference has no row for the leaf
    assert [op.name for op in tensor_ops.OPS] == [e["name"] for e in rows]
    for op in tensor_ops.OPS:
        assert (op.saves, op.python) == (ENTRY[op.name]["saves"], ENTRY[op.name]["python"]), op.name
    math_ops = [e for e in rows if e["kind"] in ("unary", "binary", "compare")]
    elementwise_ops = (*elementwise.ELEMENTWISE, *elementwise.COMPARE, *elementwise_nn.TENSOR_ELEMENTWISE)
    assert [op.name for op in elementwise_ops] == [e["name"] for e in math_ops]
    for op in elementwise_ops:
        assert (op.arity, op.python) == (ENTRY[op.name]["arity"], ENTRY[op.name]["python"]), op.name


def test_registry_python_names_exist(tg):
    for e in REGISTRY:
        if e["python"] and e["value"]:
            assert hasattr(tg.Value, e["python"]), (e["name"], e["python"])
        if e["python"] and e["tensor"] and e["kind"] == "nn":  # the layers are tg.nn.functional's
            assert hasattr(tg.nn.functional, e["python"]), (e["name"], e["python"])
        elif e["python"] and e["tensor"]:
            assert hasattr(tg.Tensor, e["python"]) or hasattr(tg, e["python"]), (e["name"], e["python"])


# ----------------------------------------------------------------------------
# Helpers


def tensors(tg, arrays, requires_grad=True):
    return [tg.tensor(a, requires_grad=requires_grad, dtype=a.dtype) for a in arrays]


def seed_like(shape, dtype, seed=1) -> np.ndarray:
    """Nonzero multiples of 1/4 in [-2, 2]: an upstream gradient or weights, exact in any dtype."""
    rng = np.random.default_rng(seed)
    return (rng.integers(1, 9, shape) * rng.choice([-1.0, 1.0], shape) / 4).astype(dtype)


def graph_nodes(roots) -> list:
    """Every node reachable from ``roots`` (iteratively: no recursion on graphs)."""
    seen, stack, nodes = set(), list(roots), []
    while stack:
        n = stack.pop()
        if id(n) not in seen:
            seen.add(id(n))
            nodes.append(n)
            stack.extend(n.parents)
    return nodes


def same_bits(a, b) -> bool:
    """Identical arrays or floats: the same dtype, shape and bits (any NaN matches any NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(nan | (a.view(f"u{a.itemsize}") == b.view(f"u{b.itemsize}"))))


def assert_agree(got, want, exact: bool, what: str):
    """Bit for bit if ``exact``, else within FEW_ULPS eps of the largest magnitude."""
    got, want = np.asarray(got), np.asarray(want)
    assert (got.dtype, got.shape) == (want.dtype, want.shape), \
        f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if exact or got.size == 0:
        assert same_bits(got, want), f"{what}: not the same bits\n{got!r}\n{want!r}"
        return
    tol = FEW_ULPS * np.finfo(got.dtype).eps * max(float(np.max(np.abs(want))), np.finfo(got.dtype).tiny)
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    assert err <= tol, f"{what}: off by {err:.3g} > {tol:.3g}\n{got!r}\n{want!r}"


def backward_fails(tg, out, xs):
    """A result without a gradient: backward is a RuntimeError, recorded or not."""
    assert not out.requires_grad and out.is_leaf
    for create in (False, True):
        with pytest.raises(RuntimeError, match="does not require grad"):
            tg.grad(out, xs, gradient=tg.tensor(np.ones(out.shape, out.dtype)), create_graph=create)


# ----------------------------------------------------------------------------
# The op, forward, gradients


@pytest.mark.parametrize("case", params(TENSOR_CASES))
def test_tensor_makes_its_op(tg, case):
    xs = tensors(tg, case.arrays())
    out = case(*xs)
    arity, made = ENTRY[case.row.op]["arity"], case.row.made
    if made == "nowhere":  # comparisons record nothing: a leaf
        assert out.op == "" and out.parents == () and not out.requires_grad
        return
    if made == "forward":
        nodes = [out]
    elif made == "parent":
        nodes = [p for p in out.parents if p.op == case.op_string]
    else:  # made by the recorded backward pass (of out squared: with a constant seed, the
        # gradient of a linear op is a constant, and constants record nothing)
        grads = tg.grad(out * out, xs, gradient=tg.tensor(seed_like(out.shape, out.dtype)), create_graph=True)
        nodes = [n for n in graph_nodes(grads) if n.op == case.op_string]
    assert nodes and all(n.op == case.op_string for n in nodes), f"no {case.op_string!r} node ({made})"
    assert arity < 0 or all(len(n.parents) == arity for n in nodes)
    assert out.dtype == np.result_type(*[x.dtype for x in xs])
    if made == "forward" and arity:  # the inputs are the parents (where's first is its condition)
        assert len(out.parents) >= len(xs) and all(p is x for p, x in zip(out.parents[-len(xs):], xs))
        assert not out.is_leaf and out.requires_grad


@pytest.mark.parametrize("case", params(VALUE_CASES))
def test_value_makes_its_op(tg, case):
    xs = [tg.Value(x) for x in case.points()[0]]
    out = case(*xs)
    arity = ENTRY[case.row.op]["arity"]
    assert out.op == case.op_string and len(out.parents) == (len(xs) if arity < 0 else arity)
    assert all(p is x for p, x in zip(out.parents, xs)) and len(out._local_grads()) == len(out.parents)


@pytest.mark.parametrize("case", params([c for c in CASES if kind(c.row.op) in ("unary", "binary", "compare")
                                         and ENTRY[c.row.op]["python"]]))  # erf has no method
def test_the_registry_python_name_makes_the_op(tg, case):
    # x.abs() and abs(x), x.__neg__() and -x...: the same node, the same bits
    method = ENTRY[case.row.op]["python"]
    extra = () if case.k is NO_K or isinstance(case.k, dict) else (case.k,)
    named = case.k if isinstance(case.k, dict) else {}  # x.clamp(min=..., max=...)
    makers = ([lambda: tensors(tg, case.arrays())] if case.row.tensor else []) + \
        ([lambda: [tg.Value(x) for x in case.points()[0]]] if case.row.value else [])
    for make in makers:
        xs = make()
        a, b = case(*xs), getattr(xs[0], method)(*xs[1:], *extra, **named)
        assert type(a) is type(b) and a.op == b.op and same_bits(np.asarray(a.data), np.asarray(b.data))


@pytest.mark.parametrize("case", params(TENSOR_CASES))
def test_tensor_forward_and_gradients(tg, case):
    # forward against NumPy and PyTorch, gradients against finite differences and PyTorch (float64)
    arrays = case.arrays()
    if not case.row.grad:
        backward_fails(tg, case(*tensors(tg, arrays)), tensors(tg, arrays))
    check_tensor_op(tg, case, *arrays, torch_fn=case.torch, numpy_fn=case.numpy, grad=case.row.grad,
                    atol=1e-12, rtol=1e-12, out_dtype=case.row.out or np.float64)


@pytest.mark.parametrize("case", params(VALUE_CASES))
def test_value_forward_and_gradients(tg, case):
    for point in case.points():
        out = check_value_op(tg, case, *point, torch_fn=case.torch)
        want = float(case.numpy(*map(np.float64, point)))
        assert close(out.data, want, 1e-14, 1e-300), f"{point}: {out.data!r} vs NumPy {want!r}"


@pytest.mark.parametrize("case", params(TENSOR_CASES))
def test_float32_stays_float32(tg, case):
    # numbers (NumPy's float64 scalars too) take the tensor's dtype (Note [Dtypes])
    arrays = case.arrays(np.float32)
    calls = [(case, arrays)]
    if kind(case.row.op) in ("binary", "compare"):
        left, right = (spec.domain.number for spec in case.row.inputs)
        calls += [(lambda x: case(left, x), arrays[1:]), (lambda x: case(x, right), arrays[:1]),
                  (lambda x: case(x, np.float64(right)), arrays[:1])]
    for call, inputs in calls:
        xs = tensors(tg, inputs, case.row.grad)
        out = call(*xs)
        assert out.dtype == (case.row.out or np.float32)
        if case.row.grad:
            for create in (False, True):
                u = tg.tensor(seed_like(out.shape, np.float32))
                grads = tg.grad(out, xs, gradient=u, retain_graph=True, create_graph=create)
                out.backward(gradient=u, retain_graph=True, create_graph=create)
                assert [g.dtype for g in grads] == [x.grad.dtype for x in xs] == [np.float32] * len(xs)


def mixed_params():
    """(backend, case, dtypes): each row with two or more inputs, one of them float32."""
    out = []
    for backend in ("native", "reference"):
        for case in TENSOR_CASES:
            for dtypes in ((np.float32, np.float64), (np.float64, np.float32)):
                # astype's row is mixed already; a Function's forward is its own code (the
                # function row's sin of a float32 operand is float32)
                if len(case.row.inputs) < 2 or case.row.op in ("astype", "function"):
                    continue
                key = (backend, case.row.op, " ".join(np.dtype(d).name for d in dtypes))
                out.append(pytest.param(backend, case, dtypes, id=f"{backend}-{case.id}-{key[2]}"))
    return out


@pytest.mark.parametrize("backend, case, dtypes", mixed_params())
def test_float32_with_float64_is_float64(backend, case, dtypes):
    # Note [Dtypes]: the float32 operand is promoted, exactly; so the result is the
    # float64 op's on the same numbers, and each gradient comes back in its input's dtype
    tg = native if backend == "native" else ref
    # the first input in dtypes[0], every other one in dtypes[1] (weight and bias alike)
    arrays = [a.astype(dtypes[min(i, 1)]) for i, a in enumerate(case.arrays())]
    wide = [a.astype(np.float64) for a in arrays]
    xs, ws = tensors(tg, arrays, case.row.grad), tensors(tg, wide, case.row.grad)
    out, want = case(*xs), case(*ws)
    assert out.dtype == np.float64
    assert_agree(out.numpy(), want.numpy(), case.row.exact, "forward")
    if case.row.grad:
        u = tg.tensor(seed_like(out.shape, np.float64))
        for i, (g, h, a) in enumerate(zip(tg.grad(out, xs, gradient=u), tg.grad(want, ws, gradient=u), arrays)):
            assert_agree(g.numpy(), h.numpy().astype(a.dtype), case.row.exact, f"gradient {i}")


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("case", params(NUMBER_CASES))
def test_a_number_on_either_side(tg, case, side):
    # A number becomes a constant leaf among the parents (Note [Op strings]);
    # a ** c with a number c is the op **c.
    arrays = case.arrays()
    i = 0 if side == "left" else 1
    c = case.row.inputs[i].domain.number
    bind = (lambda f: lambda x: f(c, x)) if side == "left" else (lambda f: lambda x: f(x, c))
    op = "**" + format(c, "g") if case.row.op == "**" and side == "right" else case.op_string
    out = check_tensor_op(tg, bind(case), arrays[1 - i], torch_fn=bind(case.torch), grad=case.row.grad,
                          numpy_fn=bind(case.numpy), atol=1e-12, rtol=1e-12)
    if case.row.made == "forward":
        assert out.op == op
        if len(out.parents) == 2:
            const = out.parents[i]
            assert const.op == "" and not const.requires_grad and np.all(const.numpy() == c)
    if case.row.value:
        for point in case.points():
            out = check_value_op(tg, bind(case), point[1 - i])
            assert out.op == op
            if len(out.parents) == 2:
                assert (out.parents[i].op, out.parents[i].data) == ("", c)


# ----------------------------------------------------------------------------
# Native against reference: bit for bit where the row is exact (and always
# for Values), else within FEW_ULPS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", params(TENSOR_CASES))
def test_tensor_native_matches_reference(case, dtype):
    def run(tg):
        xs = tensors(tg, case.arrays(dtype), case.row.grad)
        out = case(*xs)
        if not case.row.grad:
            return [out.numpy()]
        u = tg.tensor(seed_like(out.shape, out.dtype))
        return [out.numpy()] + [g.numpy() for g in tg.grad(out, xs, gradient=u)]

    for k, (n, r) in enumerate(zip(run(native), run(ref))):
        assert_agree(n, r, case.row.exact, "forward" if k == 0 else f"gradient {k - 1}")


@pytest.mark.parametrize("case", params(VALUE_CASES))
def test_value_native_matches_reference_bit_for_bit(case):
    def run(tg, point):
        xs = [tg.Value(x) for x in point]
        out = case(*xs)
        out.backward()
        recorded = tg.grad(out, xs, create_graph=True)
        return [out.data, *out._local_grads(), *(x.grad for x in xs), *(g.data for g in recorded)]

    for point in case.points():
        n, r = run(native, point), run(ref, point)
        assert all(same_bits(a, b) for a, b in zip(n, r)), f"{point}: native {n} vs reference {r}"


# ----------------------------------------------------------------------------
# The recorded backward gives the fused one's gradients.
# Bit for bit where the row is exact: the recorded pass applies the same
# correctly rounded operations to the same saved values (its nodes run the
# kernels the fused pass calls), and movement only moves values. Else to
# FEW_ULPS eps (~1e-15 relative in float64): the recorded pass may recompute
# what the fused one saved (cross_entropy's softmax, from the logits) and
# sum in another order (expand's sum_to, matmul's batch sums), and libm's
# transcendental functions are only promised to an ulp or so.


@pytest.mark.parametrize("case", params(TENSOR_CASES))
def test_tensor_recorded_backward_matches_fused(tg, case):
    arrays = case.arrays()
    xs = tensors(tg, arrays)
    out = case(*xs)
    if not case.row.grad:
        backward_fails(tg, out, xs)
        return
    u = seed_like(out.shape, out.dtype)
    fused = tg.grad(out, xs, gradient=tg.tensor(u), retain_graph=True)
    recorded = tg.grad(out, xs, gradient=tg.tensor(u), create_graph=True)
    out.backward(gradient=tg.tensor(u), create_graph=True)
    for i, (f, r, x) in enumerate(zip(fused, recorded, xs)):
        assert_agree(r.numpy(), f.numpy(), case.row.exact, f"tg.grad input {i}")
        assert_agree(x.grad.numpy(), f.numpy(), case.row.exact, f"backward() input {i}")


@pytest.mark.parametrize("case", params(VALUE_CASES))
def test_value_recorded_backward_matches_fused(tg, case):
    for point in case.points():
        xs = [tg.Value(x) for x in point]
        out = case(*xs)
        fused, recorded = tg.grad(out, xs), tg.grad(out, xs, create_graph=True)
        assert all(isinstance(g, tg.Value) for g in recorded)
        for i, (f, r) in enumerate(zip(fused, recorded)):
            assert_agree(r.data, f, case.row.exact, f"{point} input {i}")


# ----------------------------------------------------------------------------
# Second derivatives (issue 15): record the backward, reduce the gradient to
# a weighted sum S, differentiate S again; compare with central differences
# of S computed from the fused first gradient (float64), and with PyTorch's
# double backward. The op's output is squared first: the upstream gradient
# is a constant (test_func.py has the xfail test), so for a linear op (reshape,
# getitem, sum, +) the plain second derivative would be zero whatever the
# op's backward-of-backward did; squared, every op's runs.

# The step and tolerance of the finite differences: float32 data (astype's
# operand) rounds the first gradient to float32, so its steps must be larger.
FD_EPS = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}
FD_TOL = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}  # rtol and atol (x scale)


def lowest(arrays) -> np.dtype:
    return min((a.dtype for a in arrays), key=lambda d: d.itemsize)


def central_differences(f, arrays) -> list:
    """d f / d arrays[i][idx] for every element; each input is perturbed in its
    own dtype (and the difference divided by the step actually taken)."""
    grads, eps = [], FD_EPS[lowest(arrays)]
    for i, a in enumerate(arrays):
        g = np.zeros(a.shape)
        for idx in np.ndindex(a.shape):
            h = eps * max(1.0, abs(float(a[idx])))
            plus, minus = a.copy(), a.copy()
            plus[idx] += h
            minus[idx] -= h
            f_plus = f([plus if j == i else b for j, b in enumerate(arrays)])
            f_minus = f([minus if j == i else b for j, b in enumerate(arrays)])
            g[idx] = (f_plus - f_minus) / (float(plus[idx]) - float(minus[idx]))
        grads.append(g)
    return grads


def assert_close(got, want, tol, what):
    scale = max(1.0, float(np.max(np.abs(want)))) if np.size(want) else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


TENSOR_GRAD_CASES = [c for c in TENSOR_CASES if c.row.grad]
VALUE_GRAD_CASES = [c for c in VALUE_CASES if c.row.grad]


@pytest.mark.parametrize("case", params(TENSOR_GRAD_CASES))
def test_tensor_second_derivative(tg, case):
    arrays = case.arrays()
    weights = [seed_like(a.shape, np.float64, seed=2 + i) for i, a in enumerate(arrays)]

    def first(arrays, create_graph):
        xs = tensors(tg, arrays)
        y = case(*xs)
        y = y * y
        grads = tg.grad(y, xs, gradient=tg.tensor(seed_like(y.shape, y.dtype)), create_graph=create_graph)
        return xs, grads

    xs, grads = first(arrays, True)
    s = sum((tg.tensor(w) * g).sum() for w, g in zip(weights, grads))
    second = [g.numpy() for g in tg.grad(s, xs)] if s.requires_grad else [np.zeros(a.shape) for a in arrays]

    def s_fused(arrays):
        return sum(float((w * g.numpy()).sum()) for w, g in zip(weights, first(arrays, False)[1]))

    for i, (h, n, a) in enumerate(zip(second, central_differences(s_fused, arrays), arrays)):
        assert h.dtype == a.dtype
        assert_close(h, n, FD_TOL[lowest(arrays)], f"input {i}: recorded second derivative vs finite differences")
    if torch is not None:
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        ty = case.torch(*ts)
        ty = ty * ty
        seed = torch.tensor(seed_like(tuple(ty.shape), np.float64)).to(ty.dtype)
        tgrads = torch.autograd.grad(ty, ts, seed, create_graph=True, allow_unused=True)
        s = sum((torch.tensor(w) * g).sum() for w, g in zip(weights, tgrads) if g is not None)
        want = torch.autograd.grad(s, ts, allow_unused=True) if torch.is_tensor(s) and s.requires_grad \
            else [None] * len(ts)
        for i, (h, t, a) in enumerate(zip(second, want, arrays)):
            t = np.zeros(a.shape) if t is None else t.numpy()
            assert_close(h, t, 1e-10 if a.dtype == np.float64 else 1e-6, f"input {i}: vs torch double backward")


@pytest.mark.parametrize("case", params(VALUE_GRAD_CASES))
def test_value_second_derivative(tg, case):
    weights = [1.25, -0.75][: len(case.row.inputs)]

    def first(point, create_graph):
        xs = [tg.Value(x) for x in point]
        y = case(*xs)
        return xs, tg.grad(y * y, xs, create_graph=create_graph)

    for point in case.points():
        xs, grads = first(point, True)
        assert all(isinstance(g, tg.Value) for g in grads)
        s = grads[0] * weights[0]
        for w, g in zip(weights[1:], grads[1:]):
            s = s + g * w
        second = tg.grad(s, xs)

        def s_fused(arrays):
            return sum(w * g for w, g in zip(weights, first([float(a) for a in arrays], False)[1]))

        numeric = central_differences(s_fused, [np.array(x) for x in point])
        for i, (h, n) in enumerate(zip(second, numeric)):
            assert close(h, float(n), 1e-6, 1e-6), f"{point} input {i}: {h!r} vs finite differences {float(n)!r}"
        if torch is not None:
            ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point]
            ty = case.torch(*ts)
            tgrads = torch.autograd.grad(ty * ty, ts, create_graph=True, allow_unused=True)
            s = sum(w * g for w, g in zip(weights, tgrads) if g is not None)
            want = torch.autograd.grad(s, ts, allow_unused=True) if torch.is_tensor(s) and s.requires_grad \
                else [None] * len(ts)
            for i, (h, t) in enumerate(zip(second, want)):
                t = 0.0 if t is None else t.item()
                assert close(h, t, 1e-12, 1e-12), f"{point} input {i}: {h!r} vs torch double backward {t!r}"
