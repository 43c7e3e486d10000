"""tg.func on both backends: closed forms, PyTorch float64, finite differences,
composition to third order, the nesting rules of Note [Function transforms],
errors, and a WGAN-GP gradient penalty.

The PyTorch comparisons skip without torch; everything else runs anyway.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import tapegrad
from tapegrad import reference

try:
    import torch
    import torch.func
except ImportError:  # pragma: no cover - the CI image has torch
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


@pytest.fixture(autouse=True)
def _torch_one_thread():
    """PyTorch on one thread: its thread pool on a shared machine made the oracles
    here 40 times slower (seconds for a 12 x 12 x 12 third derivative)."""
    if torch is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def arr(x) -> np.ndarray:
    """A result as a float64 array: a Value's data, a Tensor's values."""
    return np.asarray(x.data if hasattr(x, "_local_grads") else x.numpy(), dtype=np.float64)


def rand(*shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ----- closed forms on Values ---------------------------------------------------


@pytest.mark.parametrize("x", [0.7, -1.3, 0.0, 2.5])
def test_sin_of_square_to_the_third_derivative(tg, x):
    """d^k/dx^k sin(x^2) for k = 1, 2, 3 through one, two and three levels of grad."""
    grad = tg.func.grad
    f = lambda a: (a * a).sin()  # noqa: E731
    c, s = math.cos(x * x), math.sin(x * x)
    expected = [2 * x * c, 2 * c - 4 * x * x * s, -12 * x * s - 8 * x**3 * c]
    got = [grad(f)(x), grad(grad(f))(x), grad(grad(grad(f)))(x)]
    for k, (g, e) in enumerate(zip(got, expected), 1):
        assert isinstance(g, tg.Value)
        assert g.data == pytest.approx(e, rel=1e-12, abs=1e-12), f"derivative {k}"


def test_polynomial_derivatives_to_the_fifth(tg):
    p = lambda a: 3 * a**4 - 2 * a**3 + a * a - 7 * a + 5  # noqa: E731
    x = 1.5
    expected = [
        12 * x**3 - 6 * x**2 + 2 * x - 7,
        36 * x**2 - 12 * x + 2,
        72 * x - 12,
        72.0,
        0.0,
    ]
    d = p
    for k, e in enumerate(expected, 1):
        d = tg.func.grad(d)
        assert d(x).data == pytest.approx(e, rel=1e-13), f"derivative {k}"


def test_mixed_partials_of_two_values(tg):
    grad = tg.func.grad
    f = lambda a, b: a**3 * b**2 + (a * b).exp()  # noqa: E731
    a, b = 0.4, -0.9
    e = math.exp(a * b)
    d_ab = 6 * a * a * b + e * (1 + a * b)
    d_aba = 12 * a * b + e * (2 * b + a * b * b)
    d_bb = 2 * a**3 + a * a * e
    assert grad(grad(f, 0), 1)(a, b).data == pytest.approx(d_ab, rel=1e-13)
    assert grad(grad(f, 1), 0)(a, b).data == pytest.approx(d_ab, rel=1e-13)
    assert grad(grad(grad(f, 0), 1), 0)(a, b).data == pytest.approx(d_aba, rel=1e-13)
    assert grad(grad(f, 1), 1)(tg.Value(a), b).data == pytest.approx(d_bb, rel=1e-13)
    H = tg.func.hessian(f, argnums=(0, 1))(a, b)
    assert [h.data for row in H for h in row] == pytest.approx(
        [6 * a * b * b + b * b * e, d_ab, d_ab, d_bb], rel=1e-13)


def test_value_transforms_return_values(tg):
    f = lambda a: a.tanh() * a  # noqa: E731
    x = 0.3
    d1 = 1 - math.tanh(x) ** 2
    fp = math.tanh(x) + x * d1
    fpp = 2 * d1 - 2 * x * math.tanh(x) * d1
    value, g = tg.func.value_and_grad(f)(x)
    assert (value.data, g.data) == pytest.approx((x * math.tanh(x), fp))
    assert tg.func.jacobian(f)(x).data == pytest.approx(fp)
    assert tg.func.hessian(f)(x).data == pytest.approx(fpp)
    out, jv = tg.func.jvp(f, (x,), (2.0,))
    assert isinstance(jv, tg.Value) and jv.data == pytest.approx(2 * fp)
    out, (hv,) = tg.func.hvp(f, (x,), (3.0,))
    assert hv.data == pytest.approx(3 * fpp)
    out, vjp_fn = tg.func.vjp(f, x)
    (g,) = vjp_fn(-2.0)
    assert g.data == pytest.approx(-2 * fp)


# ----- Tensor functions against PyTorch ---------------------------------------------

A = rand(3, 4, seed=1)
B = rand(4, seed=2)
LABELS = np.array([1, 0, 3])


def _functions(lib, T):
    """name -> f(x) for x of shape (12,), written with names both libraries have;
    ``lib`` is a tapegrad backend or torch, ``T`` makes a float64 constant."""
    is_torch = lib is torch
    cat = torch.cat if is_torch else lib.concatenate
    amax = (lambda t, d: t.amax(d)) if is_torch else (lambda t, d: t.max(d))
    ce = torch.nn.functional.cross_entropy if is_torch else lib.cross_entropy
    labels = torch.tensor(LABELS) if is_torch else LABELS
    mask = T(A.reshape(-1) > 0) > 0 if is_torch else T(A.reshape(-1) > 0)
    return {
        "matmul_tanh": lambda x: ((x.reshape(3, 4) @ T(B)).tanh() ** 2).sum(),
        "reductions": lambda x: (x.reshape(3, 4).sum(1) ** 3).sum() + (x.reshape(3, 4).mean(0).sin()).sum(),
        "max": lambda x: (amax(x.reshape(3, 4), 1) ** 2).sum(),
        "softmax": lambda x: (x.reshape(3, 4).softmax(1) * T(A)).sum(),
        "log_softmax": lambda x: (x.reshape(3, 4).log_softmax(1) * T(A)).sum(),
        "cross_entropy": lambda x: ce(x.reshape(3, 4) * x.reshape(3, 4), labels),
        "exp_log_sqrt": lambda x: ((x.exp() + 1).log() * (x * x + 0.5).sqrt()).sum(),
        "sigmoid_relu_abs": lambda x: (x.sigmoid() * x.relu() ** 3 + x.abs() ** 2.5).sum(),
        "pow_div": lambda x: ((x.abs() + 1) ** (x * 0.5) + 1 / (x * x + 1)).sum(),
        "indexing": lambda x: (x[2:7] ** 3).sum() + (x[[0, 0, 5]] ** 2 * x[[1, 2, 3]]).sum(),
        "transpose_broadcast": lambda x: ((x.reshape(3, 4).T @ T(A)) ** 2).sum()
        + ((x.reshape(3, 4) * x.reshape(3, 4)[0:1]).cos()).sum(),
        "where_cat": lambda x: (lib.where(mask, x * x, x**3) * cat([x[6:], x[:6]])).sum(),
    }


def _torch_functions():
    return _functions(torch, lambda a: torch.tensor(np.asarray(a, dtype=np.float64)))


def _tg_functions(tg):
    return _functions(tg, lambda a: tg.tensor(np.asarray(a, dtype=np.float64)))


FUNCTIONS = list(_functions(reference, lambda a: None))


@needs_torch
@pytest.mark.parametrize("name", FUNCTIONS)
def test_hessian_against_torch(tg, name):
    f, tf = _tg_functions(tg)[name], _torch_functions()[name]
    for seed in range(3):
        x = rand(12, seed=seed)
        H = tg.func.hessian(f)(x)
        assert H.shape == (12, 12) and H.dtype == np.float64 and not H.requires_grad
        expected = torch.autograd.functional.hessian(tf, torch.tensor(x)).numpy()
        np.testing.assert_allclose(H.numpy(), expected, rtol=1e-10, atol=1e-10)


@needs_torch
@pytest.mark.parametrize("name", ["matmul_tanh", "softmax", "indexing", "where_cat"])
def test_third_derivative_against_torch(tg, name):
    f, tf = _tg_functions(tg)[name], _torch_functions()[name]
    x = rand(12, seed=5) * 0.5
    D3 = tg.func.jacobian(tg.func.hessian(f))(x)
    assert D3.shape == (12, 12, 12)
    expected = torch.autograd.functional.jacobian(
        lambda t: torch.autograd.functional.hessian(tf, t, create_graph=True), torch.tensor(x)).numpy()
    np.testing.assert_allclose(D3.numpy(), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_jacobian_of_grad_is_hessian(tg, name):
    f = _tg_functions(tg)[name]
    x = rand(12, seed=3)
    H = tg.func.hessian(f)(x).numpy()
    np.testing.assert_array_equal(tg.func.jacobian(tg.func.grad(f))(x).numpy(), H)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-12)  # a Hessian is symmetric


@pytest.mark.parametrize("name", FUNCTIONS)
def test_hvp_against_finite_differences_of_gradients(tg, name):
    f = _tg_functions(tg)[name]
    x, v = rand(12, seed=4), rand(12, seed=6)
    out, (hv,) = tg.func.hvp(f, (x,), (v,))
    assert out.item() == pytest.approx(f(tg.tensor(x)).item(), rel=1e-14)
    g = tg.func.grad(f)
    eps = 1e-6
    fd = (g(x + eps * v).numpy() - g(x - eps * v).numpy()) / (2 * eps)
    np.testing.assert_allclose(hv.numpy(), fd, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hv.numpy(), tg.func.hessian(f)(x).numpy() @ v, rtol=1e-10, atol=1e-10)


def _vector_functions(lib, T):
    """x of shape (4,), y of shape (3,) -> an output of shape (3, 2)."""
    W = T(rand(4, 2, seed=7))
    return lambda x, y: (x @ W).tanh().reshape(1, 2) * y.reshape(3, 1).exp() + (x[:3] * y).reshape(3, 1) ** 2


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0), -1])
def test_jvp_and_jacobian_against_finite_differences(tg, argnums):
    f = _vector_functions(tg, lambda a: tg.tensor(np.asarray(a)))
    x, y = rand(4, seed=8), rand(3, seed=9)
    tx, ty = rand(4, seed=10), rand(3, seed=11)
    out, jv = tg.func.jvp(f, (x, y), (tx, ty))
    eps = 1e-6
    fd = (arr(f(tg.tensor(x + eps * tx), tg.tensor(y + eps * ty)))
          - arr(f(tg.tensor(x - eps * tx), tg.tensor(y - eps * ty)))) / (2 * eps)
    assert jv.shape == (3, 2) and not jv.requires_grad
    np.testing.assert_allclose(jv.numpy(), fd, rtol=1e-7, atol=1e-8)
    # J t from the Jacobians of the arguments argnums: the jvp along those arguments alone
    J = tg.func.jacobian(f, argnums=argnums)(tg.tensor(x), tg.tensor(y))
    Js = J if isinstance(argnums, tuple) else (J,)
    positions = [p % 2 for p in (argnums if isinstance(argnums, tuple) else (argnums,))]
    tangents = (tx, ty)
    for j, p in zip(Js, positions):
        assert j.shape == (3, 2) + tangents[p].shape
    got = sum(np.tensordot(j.numpy(), tangents[p], axes=1) for j, p in zip(Js, positions))
    along = tuple(t if i in positions else np.zeros_like(t) for i, t in enumerate(tangents))
    np.testing.assert_allclose(got, tg.func.jvp(f, (x, y), along)[1].numpy(), rtol=1e-12, atol=1e-12)


# torch.func imports torch.jit.script on first use, which this torch version deprecates.
torch_func_warning = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


@needs_torch
@torch_func_warning
def test_jvp_and_vjp_against_torch_func(tg):
    f = _vector_functions(tg, lambda a: tg.tensor(np.asarray(a)))
    tf = _vector_functions(torch, lambda a: torch.tensor(np.asarray(a)))
    x, y = rand(4, seed=12), rand(3, seed=13)
    tx, ty, ct = rand(4, seed=14), rand(3, seed=15), rand(3, 2, seed=16)
    T = torch.tensor
    out, jv = tg.func.jvp(f, (x, y), (tx, ty))
    t_out, t_jv = torch.func.jvp(tf, (T(x), T(y)), (T(tx), T(ty)))
    np.testing.assert_allclose(out.numpy(), t_out.numpy(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(jv.numpy(), t_jv.numpy(), rtol=1e-12, atol=1e-13)
    out, vjp_fn = tg.func.vjp(f, x, y)
    t_out, t_vjp_fn = torch.func.vjp(tf, T(x), T(y))
    got, expected = vjp_fn(ct), t_vjp_fn(T(ct))
    assert isinstance(got, tuple) and len(got) == 2
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-12, atol=1e-13)
    # vjp_fn may be called again, with another cotangent (a Tensor this time)
    for g, e in zip(vjp_fn(tg.tensor(2 * ct)), t_vjp_fn(T(2 * ct))):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-12, atol=1e-13)


@needs_torch
@torch_func_warning
def test_hessian_with_argnums_tuple_against_torch(tg):
    f = lambda x, y: ((x @ y).tanh() * x.sum()).sum()  # noqa: E731
    x, y = rand(2, 3, seed=17), rand(3, 2, seed=18)
    H = tg.func.hessian(f, argnums=(0, 1))(x, y)
    tH = torch.func.hessian(f, argnums=(0, 1))(torch.tensor(x), torch.tensor(y))
    for i in range(2):
        for j in range(2):
            assert H[i][j].shape == (x, y)[i].shape + (x, y)[j].shape
            np.testing.assert_allclose(H[i][j].numpy(), tH[i][j].numpy(), rtol=1e-11, atol=1e-12)
    J = tg.func.jacobian(lambda x, y: (x @ y).sin(), argnums=(0, 1))(x, y)
    tJ = torch.func.jacrev(lambda x, y: (x @ y).sin(), argnums=(0, 1))(torch.tensor(x), torch.tensor(y))
    for j, e in zip(J, tJ):
        np.testing.assert_allclose(j.numpy(), e.numpy(), rtol=1e-12, atol=1e-13)


# ----- argnums, has_aux, argument kinds -------------------------------------------------


def test_argnums_tuples_and_negative_argnums(tg):
    f = lambda a, b, c: a * b * b + c.exp() * a  # noqa: E731
    a, b, c = tg.Value(1.5), tg.Value(-0.5), tg.Value(0.25)
    a, b, c = a.data, b.data, c.data
    da, db, dc = b * b + math.exp(c), 2 * a * b, math.exp(c) * a
    a, b, c = tg.Value(a), tg.Value(b), tg.Value(c)
    assert tg.func.grad(f)(a, b, c).data == pytest.approx(da)
    assert [g.data for g in tg.func.grad(f, argnums=(2, 0))(a, b, c)] == pytest.approx([dc, da])
    assert tg.func.grad(f, argnums=-2)(a, b, c).data == pytest.approx(db)
    (g,) = tg.func.grad(f, argnums=(1,))(a, b, c)
    assert g.data == pytest.approx(db)
    value, (ga, gb, gc) = tg.func.value_and_grad(f, argnums=(0, 1, 2))(a, b, c)
    assert [value.data, ga.data, gb.data, gc.data] == pytest.approx([f(a, b, c).data, da, db, dc])


def test_has_aux(tg):
    def f(x, scale):
        y = (x * x).sum() * scale
        return y, {"y": y, "note": "kept", "parts": [x * 2, 3]}

    x = np.array([1.0, -2.0])
    g, aux = tg.func.grad(f, has_aux=True)(x, 3.0)
    np.testing.assert_allclose(g.numpy(), 6 * x)
    assert aux["note"] == "kept" and aux["parts"][1] == 3
    assert aux["y"].item() == 15.0 and not aux["y"].requires_grad  # plain data in: nothing to differentiate
    np.testing.assert_allclose(aux["parts"][0].numpy(), 2 * x)
    (value, aux), g = tg.func.value_and_grad(f, has_aux=True)(x, scale=2.0)
    assert value.item() == 10.0 and aux["y"].item() == 10.0
    np.testing.assert_allclose(g.numpy(), 4 * x)
    g, aux = tg.func.grad(lambda a: (a * a, a + 1), has_aux=True)(2.0)
    assert (g.data, aux.data) == (4.0, 3.0)


def test_argument_kinds_shapes_and_dtypes(tg):
    f = lambda x: (x * x).sum()  # noqa: E731
    for x in (np.array([1.0, 2.0]), np.array([1.0, 2.0], dtype=np.float32),
              tg.tensor(np.array([[1.0], [2.0]])), tg.tensor([1.0, 2.0], requires_grad=True), np.array(3.0)):
        g = tg.func.grad(f)(x)
        assert isinstance(g, tg.Tensor) and g.shape == x.shape and g.dtype == x.dtype
        np.testing.assert_allclose(g.numpy(), 2 * np.asarray(x))
    for x in (2.0, 2, np.float64(2.0), tg.Value(2.0)):
        g = tg.func.grad(lambda a: a * a)(x)
        assert isinstance(g, tg.Value) and g.data == 4.0
    # a one-element Tensor output counts as a scalar, a 0-d one too
    assert tg.func.grad(lambda x: x.reshape(1, 1) * 2)(np.array([3.0])).tolist() == [2.0]
    # keyword arguments go to f, undifferentiated; the transformed function keeps f's name
    def scaled(x, *, k):
        return (x * k).sum()
    g = tg.func.grad(scaled)
    assert g.__name__ == "scaled"
    np.testing.assert_allclose(g(np.ones(3), k=4.0).numpy(), [4.0, 4.0, 4.0])


def test_output_independent_of_an_argument_gives_zeros(tg):
    g = tg.func.grad(lambda x, y: (y * 2).sum(), argnums=(0, 1))(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(g[0].numpy(), np.zeros(2))
    np.testing.assert_array_equal(g[1].numpy(), [2.0, 2.0, 2.0])
    const = tg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(tg.func.grad(lambda x: const.sum())(np.ones(2)).numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(tg.func.hessian(lambda x: x.sum())(np.ones(2)).numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(tg.func.jacobian(lambda x: const * 1)(np.ones(3)).numpy(), np.zeros((2, 3)))
    assert tg.func.grad(tg.func.grad(lambda a: a * 3))(1.0).data == 0.0


def test_jacobian_of_several_outputs_and_shapes(tg):
    f = lambda x: (x.sin(), (x * x).sum(), x.reshape(2, 3).T)  # noqa: E731
    x = rand(6, seed=19)
    J_sin, J_sum, J_T = tg.func.jacobian(f)(x)
    np.testing.assert_allclose(J_sin.numpy(), np.diag(np.cos(x)), rtol=1e-15)
    assert J_sum.shape == (6,)
    np.testing.assert_allclose(J_sum.numpy(), 2 * x)
    assert J_T.shape == (3, 2, 6)
    np.testing.assert_array_equal(J_T.numpy().reshape(6, 6), np.eye(6).reshape(2, 3, 6).transpose(1, 0, 2).reshape(6, 6))
    assert tg.func.jacobian(lambda x: x[:0])(x).shape == (0, 6)


# ----- composition and the nesting rules (Note [Function transforms]) ----------------


def test_grad_of_a_function_that_calls_grad(tg):
    f = lambda a: (a * a).sin()  # noqa: E731
    inner_tg = lambda a: tg.grad(f(a), a, create_graph=True)  # noqa: E731
    inner_func = tg.func.grad(f)
    x = 0.7
    d2 = 2 * math.cos(x * x) - 4 * x * x * math.sin(x * x)
    assert tg.func.grad(inner_tg)(x).data == pytest.approx(d2, rel=1e-13)
    assert tg.func.grad(lambda a: inner_func(a) * a)(x).data == pytest.approx(
        d2 * x + 2 * x * math.cos(x * x), rel=1e-13)
    t = np.array([0.3, -0.2])
    h = tg.func.grad(lambda v: (tg.grad((v * v).sin().sum(), v, create_graph=True) ** 2).sum())(t)
    np.testing.assert_allclose(h.numpy(), tg.func.grad(lambda v: (tg.func.grad(lambda w: (w * w).sin().sum())(v) ** 2).sum())(t).numpy(),
                               rtol=1e-14)


def test_perturbation_confusion_and_repeated_arguments(tg):
    """Each call differentiates only its own argument: a closure's use of the same
    node is a constant to it, and one node at two positions gets two derivatives."""
    x = tg.Value(1.5)
    y = x * x
    assert tg.func.grad(lambda z: z * y)(x).data == 2.25  # y, not y + z * 2x
    ga, gb = tg.func.grad(lambda a, b: a * b * b, argnums=(0, 1))(x, x)
    assert (ga.data, gb.data) == (2.25, 4.5)
    # JAX's example: d/dx [x * d/dy (x + y)] = 1
    assert tg.func.grad(lambda u: u * tg.func.grad(lambda v: u + v)(u))(1.0).data == 1.0
    t = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    s = (t * t).sum()
    np.testing.assert_array_equal(tg.func.grad(lambda z: (z * s).sum())(t).numpy(), [5.0, 5.0])


def test_results_stay_connected_to_outer_nodes(tg):
    """A gradient taken at a node that requires grad, or of a function closing over a
    parameter, can be differentiated again with tg.grad."""
    w = tg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    x = np.array([0.3, 0.4])
    gx = tg.func.grad(lambda x: (x * w).sin().sum())(x)
    assert gx.requires_grad
    # d/dw sum(w cos(x w)) = cos(x w) - w x sin(x w)
    np.testing.assert_allclose(tg.grad(gx.sum(), w).numpy(), np.cos(x * [1, -2]) - [1, -2] * x * np.sin(x * [1, -2]),
                               rtol=1e-14)
    p = tg.tensor(np.array([0.5, 0.25]), requires_grad=True)
    g = tg.func.grad(lambda q: (q**3).sum())(p)
    np.testing.assert_allclose(tg.grad(g.sum(), p).numpy(), 6 * p.numpy())
    a = tg.Value(0.5)
    d = tg.func.grad(lambda b: b**4)(a)
    assert tg.grad(d, a) == pytest.approx(12 * 0.25)


def test_plain_data_gives_plain_results(tg):
    x = tg.tensor(np.array([1.0, 2.0]))
    g = tg.func.grad(lambda v: (v * v).sum())(x)
    assert not g.requires_grad and g.is_leaf and not x.requires_grad and x.grad is None
    value, vjp_fn = tg.func.vjp(lambda v: v.exp(), x)
    assert not value.requires_grad and not vjp_fn(np.ones(2))[0].requires_grad
    out, jv = tg.func.jvp(lambda v: v.exp(), (x,), (np.ones(2),))
    assert not out.requires_grad and not jv.requires_grad
    H = tg.func.hessian(lambda v: (v**3).sum())(x)
    assert not H.requires_grad


def test_no_grad_outside_computes_and_records_nothing(tg):
    t = tg.tensor(np.array([0.3, 0.4]), requires_grad=True)
    u = t * 3
    with tg.no_grad():
        g = tg.func.grad(lambda z: (z * z).sum())(u)
        d = tg.func.grad(tg.func.grad(lambda a: a**3))(tg.Value(2.0))
        out, hv = tg.func.hvp(lambda z: (z**3).sum(), (u,), (np.ones(2),))
    assert not g.requires_grad and not hv[0].requires_grad and not out.requires_grad
    np.testing.assert_allclose(g.numpy(), [1.8, 2.4])
    np.testing.assert_allclose(hv[0].numpy(), 6 * u.numpy())
    assert d.data == 12.0 and d.parents == ()
    u.sum().backward()  # the caller's graph was neither freed nor changed
    np.testing.assert_array_equal(t.grad.numpy(), [3.0, 3.0])


def test_grad_fields_and_arguments_are_untouched(tg):
    p = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    p.grad = tg.tensor(np.array([7.0, 7.0]))
    plain = tg.tensor(np.array([0.5, 0.5]))
    tg.func.hessian(lambda q, r: ((q * r).sin() * p).sum(), argnums=(0, 1))(p, plain)
    tg.func.jvp(lambda q: q * p, (p,), (np.ones(2),))
    np.testing.assert_array_equal(p.grad.numpy(), [7.0, 7.0])
    assert not plain.requires_grad and plain.grad is None and plain.is_leaf
    v = tg.Value(2.0)
    v.grad = 5.0
    tg.func.grad(tg.func.grad(lambda a: a**3 * v))(v)
    assert v.grad == 5.0 and v.op == ""


def test_vjp_with_a_cotangent_that_requires_grad(tg):
    """vjp_fn is linear in its cotangent, and differentiable in it."""
    c = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    out, vjp_fn = tg.func.vjp(lambda x: x * x, np.array([3.0, 4.0]))
    (g,) = vjp_fn(c)
    np.testing.assert_array_equal(g.numpy(), [6.0, 16.0])
    np.testing.assert_array_equal(tg.grad(g.sum(), c).numpy(), [6.0, 8.0])
    cv = tg.Value(2.0)
    out, vjp_fn = tg.func.vjp(lambda a: a**3, 1.5)
    (g,) = vjp_fn(cv)
    assert g.data == pytest.approx(2 * 3 * 2.25) and tg.grad(g, cv) == pytest.approx(3 * 2.25)


def test_jvp_and_hvp_tangents_may_require_grad(tg):
    v = tg.tensor(np.array([1.0, -1.0]), requires_grad=True)
    x = np.array([0.5, 2.0])
    out, (hv,) = tg.func.hvp(lambda z: (z**3).sum(), (x,), (v,))
    np.testing.assert_allclose(hv.numpy(), 6 * x * v.numpy())
    np.testing.assert_allclose(tg.grad(hv.sum(), v).numpy(), 6 * x)
    out, jv = tg.func.jvp(lambda z: z.sin(), (x,), (v,))
    np.testing.assert_allclose(tg.grad(jv.sum(), v).numpy(), np.cos(x))


# ----- gradcheck of gradients themselves -------------------------------------------------


def test_gradcheck_of_gradients(tg):
    f = lambda x: ((x * x).sin() * x.tanh()).sum() + (x.reshape(2, 2) @ x.reshape(2, 2)).exp().sum()  # noqa: E731
    x = tg.tensor(rand(4, seed=20) * 0.5, requires_grad=True)
    assert tg.gradcheck(lambda x: tg.grad(f(x), x, create_graph=True), [x])
    assert tg.gradcheck(lambda x: tg.func.grad(f)(x), [x])
    assert tg.gradcheck(lambda x: tg.func.hvp(f, (x,), (np.ones(4),))[1][0], [x])
    assert tg.gradcheck(lambda x: tg.func.hessian(f)(x), [x])
    a = tg.Value(0.7)
    assert tg.gradcheck(lambda a: tg.grad((a * a).sin(), a, create_graph=True), [a])
    assert tg.gradcheck(lambda a: tg.func.grad(tg.func.grad(lambda b: (b * b).sin()))(a), [a])


# ----- a WGAN-GP gradient penalty against PyTorch ------------------------------------------


def _critic(nn, seed):
    return nn.Sequential(nn.Linear(3, 8, dtype=np.float64, seed=seed), nn.Tanh(),
                         nn.Linear(8, 8, dtype=np.float64, seed=seed + 1), nn.Sigmoid(),
                         nn.Linear(8, 1, dtype=np.float64, seed=seed + 2))


def _penalty(tg, D, x, use_func):
    if use_func:
        g = tg.func.grad(lambda x: D(x).sum())(x)
    else:
        x = tg.tensor(x, requires_grad=True)
        g = tg.grad(D(x).sum(), x, create_graph=True)
    return ((((g**2).sum(dim=1)) ** 0.5 - 1) ** 2).mean()


@needs_torch
@pytest.mark.parametrize("use_func", [False, True], ids=["tg.grad", "tg.func.grad"])
def test_gradient_penalty_against_torch(tg, use_func):
    D = _critic(tg.nn, seed=3)
    x = rand(5, 3, seed=21)
    penalty = _penalty(tg, D, x, use_func)
    penalty.backward()

    TD = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Sigmoid(),
                             torch.nn.Linear(8, 1)).double()
    with torch.no_grad():
        for tp, p in zip(TD.parameters(), D.parameters()):
            tp.copy_(torch.tensor(p.numpy()))
    tx = torch.tensor(x, requires_grad=True)
    (tgrad,) = torch.autograd.grad(TD(tx).sum(), tx, create_graph=True)
    t_penalty = ((tgrad.norm(2, dim=1) - 1) ** 2).mean()
    t_penalty.backward()

    assert penalty.item() == pytest.approx(t_penalty.item(), rel=1e-13)
    for (name, p), tp in zip(D.named_parameters(), TD.parameters()):
        if tp.grad is None:  # the last bias: d D / d x does not depend on it
            assert p.grad is None or not p.grad.numpy().any(), name
            continue
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-11, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("use_func", [False, True], ids=["tg.grad", "tg.func.grad"])
def test_gradient_penalty_gradcheck(tg, use_func):
    """The same penalty, as a function of the critic's first weight, against central differences."""
    D = _critic(tg.nn, seed=4)
    x = rand(4, 3, seed=22)
    w = D.modules()[1].weight

    def penalty_of(w_copy):
        D.modules()[1].weight = w_copy
        try:
            return _penalty(tg, D, x, use_func)
        finally:
            D.modules()[1].weight = w

    assert tg.gradcheck(penalty_of, [w])


# ----- the backends agree ------------------------------------------------------------------


def test_backends_agree():
    results = {}
    for tg in (tapegrad, reference):
        f = _tg_functions(tg)["matmul_tanh"]
        g = _tg_functions(tg)["log_softmax"]
        x, v = rand(12, seed=23), rand(12, seed=24)
        results[tg.__name__] = [
            tg.func.hessian(f)(x).numpy(),
            tg.func.jacobian(tg.func.grad(g))(x).numpy(),
            tg.func.hvp(g, (x,), (v,))[1][0].numpy(),
            tg.func.jvp(lambda x: x.reshape(3, 4).softmax(1), (x,), (v,))[1].numpy(),
            tg.func.vjp(lambda x: x.reshape(3, 4).exp(), x)[1](A)[0].numpy(),
            np.array(tg.func.grad(tg.func.grad(tg.func.grad(lambda a: (a * a).sin() * a.exp())))(0.3).data),
        ]
    for i, (n, r) in enumerate(zip(*results.values())):
        np.testing.assert_allclose(n, r, rtol=1e-12, atol=1e-13, err_msg=f"result {i}")


# ----- errors: same type and words on both backends ------------------------------------------

ERRORS = [
    # (what, call, type, words)
    ("non-scalar output", lambda tg: tg.func.grad(lambda x: x * 2)(np.ones(3)), RuntimeError,
     "tg.func.grad: f must return a scalar (a Value, or a 0-d or one-element Tensor), got a Tensor of shape (3,)"),
    ("non-scalar hessian", lambda tg: tg.func.hessian(lambda x: x * 2)(np.ones(3)), RuntimeError,
     "tg.func.hessian: f must return a scalar"),
    ("non-scalar hvp", lambda tg: tg.func.hvp(lambda x: x * 2, (np.ones(3),), (np.ones(3),)), RuntimeError,
     "tg.func.hvp: f must return a scalar"),
    ("number output", lambda tg: tg.func.value_and_grad(lambda x: 3.0)(1.0), TypeError,
     "tg.func.value_and_grad: f must return a scalar (a Value, or a 0-d or one-element Tensor) of"),
    ("list output", lambda tg: tg.func.vjp(lambda x: [x], 1.0), TypeError,
     "tg.func.vjp: f must return a Value or a Tensor of"),
    ("float argnums", lambda tg: tg.func.grad(lambda x: x, argnums=0.0), TypeError,
     "tg.func.grad: argnums must be an int or a tuple of ints, got 0.0"),
    ("bool argnums", lambda tg: tg.func.jacobian(lambda x: x, argnums=True), TypeError,
     "argnums must be an int or a tuple of ints"),
    ("empty argnums", lambda tg: tg.func.grad(lambda x: x, argnums=()), ValueError,
     "tg.func.grad: argnums must name at least one argument"),
    ("repeated argnums", lambda tg: tg.func.grad(lambda x, y: x, argnums=(1, 1)), ValueError,
     "argnums must not repeat an argument, got (1, 1)"),
    ("argnums out of range", lambda tg: tg.func.grad(lambda x: x, argnums=1)(1.0), ValueError,
     "tg.func.grad: argnums 1 is out of range for a call with 1 positional argument"),
    ("argnums naming one argument twice", lambda tg: tg.func.grad(lambda x, y: x, argnums=(0, -2))(1.0, 2.0),
     ValueError, "name the same argument twice"),
    ("has_aux without a pair", lambda tg: tg.func.grad(lambda x: x * x, has_aux=True)(1.0), TypeError,
     "tg.func.grad: with has_aux=True, f must return a pair (output, aux)"),
    ("string argument", lambda tg: tg.func.grad(lambda x: x)("1.0"), TypeError,
     "tg.func.grad: argument 0 must be a Value or a Tensor of"),
    ("other backend's Tensor", lambda tg: tg.func.grad(lambda x: x.sum())(
        (reference if tg is tapegrad else tapegrad).tensor([1.0])), TypeError, "argument 0 must be a Value or a Tensor of"),
    ("not callable", lambda tg: tg.func.hessian(3), TypeError, "tg.func.hessian: f must be callable, not int"),
    ("primals not a tuple", lambda tg: tg.func.jvp(lambda x: x, np.ones(2), (np.ones(2),)), TypeError,
     "tg.func.jvp: primals must be a tuple of arguments, e.g. (x,), got ndarray"),
    ("tangent count", lambda tg: tg.func.hvp(lambda x: x, (1.0,), (1.0, 2.0)), ValueError,
     "tg.func.hvp: got 1 primals but 2 tangents"),
    ("tangent shape", lambda tg: tg.func.jvp(lambda x: x, (np.ones(2),), (np.ones(3),)), ValueError,
     "tg.func.jvp: the tangent has shape (3,) but it goes with shape (2,)"),
    ("tangent of a Value", lambda tg: tg.func.jvp(lambda x: x, (1.0,), (np.ones(3),)), TypeError,
     "tg.func.jvp: the tangent of a Value must be a number or a Value"),
    ("cotangent shape", lambda tg: tg.func.vjp(lambda x: x * 2, np.ones(2))[1](np.ones((2, 1))), ValueError,
     "tg.func.vjp: the cotangent has shape (2, 1) but it goes with shape (2,)"),
]


def _normalized(message: str) -> str:
    return re.sub(r"tapegrad \(native\)|tapegrad\.reference", "<backend>", message)


@pytest.mark.parametrize("what, call, exc, words", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(what, call, exc, words):
    messages = []
    for tg in (tapegrad, reference):
        with pytest.raises(exc) as info:
            call(tg)
        assert words in str(info.value)
        messages.append(_normalized(str(info.value)))
    assert messages[0] == messages[1]


# ----- the engine -----------------------------------------------------------------------------


def test_grad_is_differentiable_in_its_gradient_argument(tg):
    # a recorded pass starts from the gradient= node itself, as PyTorch's grad_outputs
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    u = tg.tensor(np.array([0.0, 0.0]), requires_grad=True)
    g = tg.grad(x * x, x, gradient=u, create_graph=True)  # 2 x u
    np.testing.assert_array_equal(tg.grad(g.sum(), u).numpy(), [2.0, 4.0])
    a, w = tg.Value(3.0), tg.Value(0.5)
    ga = tg.grad(a * a, a, gradient=w, create_graph=True)  # 2 a w
    assert ga.data == 3.0 and tg.grad(ga, w) == 6.0 and tg.grad(a * a, a, gradient=w) == 3.0
