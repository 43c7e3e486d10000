"""tg.autograd.Function, tensor hooks, retain_grad and detect_anomaly, on both backends."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as native
from tapegrad import reference as ref


def cube(tg):
    class Cube(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    return Cube


class Scale(native.autograd.Function):
    """Two arguments, one a plain number: forward(ctx, x, k) = k x, backward gives x its share only."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        return x * k

    @staticmethod
    def backward(ctx, g):
        return g * ctx.k, None


# ----- Function ----------------------------------------------------------------


def test_function_on_tensors(tg):
    Cube = cube(tg)
    x = tg.tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)
    y = Cube.apply(x)
    assert y.op == "Cube" and y.parents[0] is x and y.numpy().tolist() == [1.0, -8.0]
    (y * tg.tensor([1.0, 2.0], dtype=np.float64)).sum().backward()
    assert x.grad.numpy().tolist() == [3.0, 24.0]


def test_function_on_values(tg):
    Cube = cube(tg)
    v = tg.Value(2.0)
    y = Cube.apply(v)
    assert y.op == "Cube" and y.data == 8.0 and y._local_grads() == (12.0,)
    (y * 5).backward()
    assert v.grad == 60.0
    assert tg.grad(Cube.apply(v) + v, v) == 13.0


def test_function_composes_with_create_graph(tg):
    Cube = cube(tg)
    x = tg.tensor([0.5, 1.5], requires_grad=True, dtype=np.float64)
    g = tg.grad(Cube.apply(x).sum(), x, create_graph=True)  # 3 x^2, recorded through backward's ops
    assert np.allclose(g.numpy(), 3 * np.array([0.5, 1.5]) ** 2)
    assert np.allclose(tg.grad(g.sum(), x).numpy(), 6 * np.array([0.5, 1.5]))
    v = tg.Value(0.7)
    g1 = tg.grad(Cube.apply(v), v, create_graph=True)
    g2 = tg.grad(g1, v, create_graph=True)
    assert math.isclose(g1.data, 3 * 0.49) and math.isclose(g2.data, 6 * 0.7) and tg.grad(g2, v) == 6.0


def test_function_arguments_and_needs_input_grad(tg):
    seen = []

    class Mixed(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen.append(ctx.needs_input_grad)
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            return g * 2, g * 3, None

    a = tg.tensor([1.0], requires_grad=True)
    b = tg.tensor([1.0])
    y = Mixed.apply(a, b, 4.0)
    assert seen == [(True, False, False)] and y.parents == (a,)
    y.sum().backward()
    assert a.grad.numpy().tolist() == [2.0] and b.grad is None


def test_function_without_grad_is_its_forward(tg):
    Cube = cube(tg)
    x = tg.tensor([2.0], requires_grad=True)
    with tg.no_grad():
        y = Cube.apply(x)
    assert y.is_leaf and y.op == ""
    z = Cube.apply(tg.tensor([2.0]))
    assert z.is_leaf and not z.requires_grad


def test_scale_is_shared_by_both_backends():
    for tg in (native, ref):  # one Function class serves both: it follows its arguments
        x = tg.tensor([1.0, 2.0], requires_grad=True)
        Scale.apply(x, 3.0).sum().backward()
        assert x.grad.numpy().tolist() == [3.0, 3.0]


@pytest.mark.parametrize("case, error, message", [
    ("count", RuntimeError, "Bad.backward returned 1 gradients, but forward took 2 arguments "
                            "(return None for an argument without one)"),
    ("shape", RuntimeError, "Bad.backward returned a gradient of shape (3,) for argument 0 of shape (2,)"),
    ("type", TypeError, "Bad.backward returned str for argument 0, a Tensor"),
])
def test_function_backward_errors(tg, case, error, message):
    class Bad(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, g):
            if case == "count":
                return g
            if case == "shape":
                return tg.ones(3), None
            return "oops", None

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(error) as info:
        Bad.apply(x, 2.0).sum().backward()
    assert str(info.value) == message


def test_function_forward_errors(tg):
    Cube = cube(tg)
    with pytest.raises(TypeError, match=r"^Cube.apply needs at least one Tensor or Value argument$"):
        Cube.apply(2.0)
    other = ref if tg is native else native
    with pytest.raises(TypeError, match=r"^Cube.apply: cannot combine"):
        Cube.apply(tg.tensor([1.0], requires_grad=True), other.tensor([1.0]))

    class Lists(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return [x]

    with pytest.raises(TypeError, match=r"^Lists.forward must return one .* Tensor, got list$"):
        Lists.apply(tg.tensor([1.0], requires_grad=True))


# ----- hooks and retain_grad -------------------------------------------------------------


def test_hooks_replace_and_observe_gradients(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h1 = x.register_hook(lambda g: seen.append(g.numpy().copy()))
    h2 = x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()
    assert seen[0].tolist() == [2.0, 4.0] and x.grad.numpy().tolist() == [20.0, 40.0]
    h2.remove()
    h2.remove()  # twice is harmless
    x.zero_grad()
    (x * x).sum().backward()
    assert x.grad.numpy().tolist() == [2.0, 4.0] and len(seen) == 2
    h1.remove()


def test_a_hook_on_an_intermediate_changes_what_flows_upstream(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    with y.register_hook(lambda g: g * 0):
        (y * y).sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 0.0]


def test_hook_errors(tg):
    with pytest.raises(RuntimeError, match="^cannot register a hook on a tensor that does not require grad$"):
        tg.tensor([1.0]).register_hook(lambda g: g)
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="^register_hook\\(\\) takes a callable, not int$"):
        x.register_hook(3)
    x.register_hook(lambda g: tg.ones(3))
    with pytest.raises(ValueError, match=r"^a tensor hook returned a gradient of shape \(3,\) for a tensor of shape \(2,\)$"):
        (x * x).sum().backward()


def test_retain_grad(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    z = y * 3
    y.retain_grad()
    assert y.retains_grad and not z.retains_grad
    z.sum().backward()
    assert y.grad.numpy().tolist() == [3.0, 3.0] and z.grad is None
    assert x.grad.numpy().tolist() == [6.0, 12.0]
    with pytest.raises(RuntimeError, match="^cannot retain_grad\\(\\) on a tensor that does not require grad$"):
        tg.tensor([1.0]).retain_grad()


# ----- detect_anomaly ---------------------------------------------------------------------


def test_detect_anomaly_names_the_op(tg):
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    y = x.sqrt()
    y.label = "root"
    with tg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError) as info:
            (y * 0).sum().backward()  # d sqrt at 0 is inf, times 0: nan, made by sqrt's backward
    assert str(info.value) == ("detect_anomaly: the backward of op 'sqrt' (root) produced nan values in the "
                               "gradient of its input 0")
    v = tg.Value(0.0)
    with tg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="^detect_anomaly: the backward of op 'sqrt' produced nan"):
            (v.sqrt() * 0 + v).backward()
    w = tg.Value(-1.0)  # log(-1) is nan in the forward pass: '*' hands that nan on, and is named
    with tg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="^detect_anomaly: the backward of op '\\*' produced nan values in "
                                               "the gradient of its input 1$"):
            (w.log() * 0).backward()
    # outside the block nothing is checked
    x.grad = None
    (x.sqrt() * 0).sum().backward()
    assert np.isnan(x.grad.numpy()[0])


def test_detect_anomaly_passes_clean_graphs(tg):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.autograd.detect_anomaly():
        (x.tanh() * x).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


# ----- second-order graphs, drawn and explained -----------------------------------------------


def test_second_order_graphs_mark_what_backward_recorded(tg):
    x = tg.Value(0.7, label="x")
    y = (x * x).sin()
    g = tg.grad(y, x, create_graph=True)
    made = [n for n in _walk(g) if n._from_backward]
    forward = [n for n in _walk(g) if not n._from_backward]
    assert g._from_backward and not x._from_backward and not y._from_backward
    assert {n.op for n in forward} >= {"*", ""} and all(n in _walk(y) or n is x for n in forward)
    dot = tg.viz.to_dot(g)
    assert dot.count("(backward)") == len(made) and dot.count("style=dashed") >= len(made)
    text = str(tg.explain(g))
    assert "cos (bw)" in text and "(bw): a node that a recorded backward pass made" in text
    t = tg.tensor([0.5, 1.0], requires_grad=True)
    gt = tg.grad((t * t).sum(), t, create_graph=True)
    assert gt._from_backward and not t._from_backward and "(backward)" in tg.viz.to_dot(gt)


def _walk(root):
    seen, stack, out = set(), [root], []
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        out.append(n)
        stack.extend(n.parents)
    return out
