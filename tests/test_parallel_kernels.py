"""Elementwise kernels split over threads (DESIGN Note [Parallel kernels]).

Large elementwise ops, their fused backward, softmax, copies and where run
on up to ``tg.get_num_threads()`` threads. Each element is computed by the
same code whichever thread's range it falls in, so every result must equal
the one-thread result bit for bit, on every layout (contiguous, transposed,
broadcast row, column and number, sliced), at sizes that do not divide
evenly, and the reference's values where Note [Numerics] says bitwise.
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad import reference

BIG = (301, 257)  # 77,357 elements: above the split threshold, not a multiple of 16 per row


def _operands(dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(BIG).astype(dtype)
    b = rng.standard_normal(BIG).astype(dtype)
    return {
        "contiguous": (a, b),
        "transposed": (a, np.ascontiguousarray(b.T).T),
        "row": (a, b[0]),
        "column": (a, b[:, :1]),
        "number": (a, np.asarray(b[0, 0])),
        "sliced": (rng.standard_normal((301, 514)).astype(dtype)[:, ::2], b),
        "flat": (a.reshape(-1), b.reshape(-1)),
    }


def _run(tg, fn, *arrays, threads):
    before = tg.get_num_threads()
    tg.set_num_threads(threads)
    try:
        ts = [tg.tensor(x, requires_grad=True) for x in arrays]
        out = fn(tg, *ts)
        out.backward(tg.ones_like(out) * 0.5)
        return [out.numpy().copy()] + [t.grad.numpy().copy() for t in ts]
    finally:
        tg.set_num_threads(before)


OPS = {
    "add": lambda tg, x, y: x + y,
    "mul": lambda tg, x, y: x * y,
    "div": lambda tg, x, y: x / (y * y + 1.0),
    "pow": lambda tg, x, y: abs(x) ** (y * 0.5),
    "maximum": lambda tg, x, y: tg.maximum(x, y),
    "where": lambda tg, x, y: tg.where(x > y, x, y * 2.0),
    "exp_tanh": lambda tg, x, y: (x * 0.1).exp() + y.tanh(),
    "gelu": lambda tg, x, y: tg.nn.functional.gelu(x) * y,
    "gelu_tanh": lambda tg, x, y: tg.nn.functional.gelu(x * y, approximate="tanh"),
    "silu": lambda tg, x, y: tg.nn.functional.silu(x + y),
    "layer_norm": lambda tg, x, y: tg.nn.functional.layer_norm(x, (x.shape[-1],)) * y,
    "sigmoid_log": lambda tg, x, y: x.sigmoid() * (y * y + 1.0).log(),
    "relu_sqrt": lambda tg, x, y: x.relu() + (y * y).sqrt(),
    "softmax": lambda tg, x, y: tg.nn.functional.softmax(x * y, dim=-1),
    "log_softmax": lambda tg, x, y: tg.nn.functional.log_softmax(x + y, dim=-1),
    "contiguous": lambda tg, x, y: (x * 1.0).transpose(0, -1).contiguous().transpose(0, -1) * 2.0 + y,
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", list(_operands(np.float32)))
@pytest.mark.parametrize("op", list(OPS))
def test_two_threads_give_the_one_thread_bits(op, layout, dtype):
    a, b = _operands(dtype)[layout]
    if op in ("softmax", "log_softmax", "contiguous", "layer_norm") and layout == "flat":
        a, b = a.reshape(BIG), b.reshape(BIG)
    one = _run(tapegrad, OPS[op], a, b, threads=1)
    two = _run(tapegrad, OPS[op], a, b, threads=2)
    for x, y in zip(one, two):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(np.atleast_1d(x).view(np.uint8), np.atleast_1d(y).view(np.uint8))


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
@pytest.mark.parametrize("op", ["add", "mul", "where", "relu_sqrt"])
def test_parallel_kernels_equal_the_reference(op, layout):
    # Ops whose every element is correctly rounded IEEE arithmetic, and no
    # broadcast operand (whose gradient is a sum, Note [Numerics]): the reference's bits.
    a, b = _operands(np.float64, seed=3)[layout]
    native = _run(tapegrad, OPS[op], a, b, threads=2)
    ref = _run(reference, OPS[op], a, b, threads=2)
    for x, y in zip(native, ref):
        np.testing.assert_array_equal(x, y)


def test_int64_conversion_error_from_a_split_copy():
    # A NaN converted to int64 in the second thread's range is the same ValueError.
    x = np.zeros(BIG)
    x[-1, -1] = np.nan
    t = tapegrad.tensor(x)
    before = tapegrad.get_num_threads()
    tapegrad.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="NaN"):
            t.long()
    finally:
        tapegrad.set_num_threads(before)


def test_large_kernels_split_and_small_ones_do_not():
    # The bit-for-bit tests above mean something only if the split happens.
    core = tapegrad._core
    before = tapegrad.get_num_threads()
    big = tapegrad.tensor(np.ones(BIG, np.float32))
    small = tapegrad.tensor(np.ones((8, 8), np.float32))
    try:
        tapegrad.set_num_threads(2)
        if tapegrad.get_num_threads() < 2:
            pytest.skip("a BLAS built for one thread: kernels stay on one too")
        n = core._parallel_runs()
        big.exp()
        assert core._parallel_runs() == n + 1
        small.exp()
        _ = small + small
        assert core._parallel_runs() == n + 1
        tapegrad.set_num_threads(1)
        _ = big + big
        assert core._parallel_runs() == n + 1
    finally:
        tapegrad.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_parameter_grads_at_one_and_two_threads(dtype):
    # dx splits over rows; dw and db sum over all rows, in order, on one thread.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((515, 97)).astype(dtype)
    w, b = rng.standard_normal(97).astype(dtype), rng.standard_normal(97).astype(dtype)

    def fn(tg, xt, wt, bt):
        return tg.nn.functional.layer_norm(xt, (97,), wt, bt) * xt

    one = _run(tapegrad, fn, x, w, b, threads=1)
    two = _run(tapegrad, fn, x, w, b, threads=2)
    for p, q in zip(one, two):
        np.testing.assert_array_equal(p.view(np.uint8), q.view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [
    ((16, 4, 32, 16), (16, 4, 16, 32)),   # attention's scores: 64 small products
    ((16, 4, 32, 32), (16, 4, 32, 16)),   # and their weighted values
    ((7, 5, 33, 17), (17, 31)),           # a broadcast right operand
    ((3, 1, 40, 40), (1, 9, 40, 40)),     # both broadcast, 64,000 multiply-adds each
])
def test_batched_small_products_at_one_and_two_threads(shapes, dtype):
    # The batch of small products is split over threads, each product whole on one.
    rng = np.random.default_rng(11)
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)

    def fn(tg, x, y):
        return (x @ y) * 1.5

    one = _run(tapegrad, fn, a, b, threads=1)
    two = _run(tapegrad, fn, a, b, threads=2)
    for p, q in zip(one, two):
        np.testing.assert_array_equal(p.view(np.uint8), q.view(np.uint8))
    np.testing.assert_allclose(one[0], (a.astype(np.float64) @ b) * 1.5, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-12)


# Products large enough to be cut into parts (Note [Matmul parts] in
# cpp/core/matmul.cpp): rows when M >= N, columns otherwise, operands read
# transposed, a batch, and linear's GEMM into the bias. OpenBLAS's own
# threaded GEMM gave other bits at 2 threads than at 1 on some CPUs; the parts
# do not depend on the thread count, so every product and gradient must not.
MATMULS = {
    "rows": ((512, 64), (64, 256), lambda tg, a, b: a @ b),
    "columns": ((100, 300), (300, 700), lambda tg, a, b: a @ b),
    "uneven": ((301, 257), (257, 333), lambda tg, a, b: a @ b),
    "a_transposed": ((64, 512), (64, 256), lambda tg, a, b: a.T @ b),
    "b_transposed": ((512, 64), (256, 64), lambda tg, a, b: a @ b.T),
    "batched": ((3, 200, 64), (64, 300), lambda tg, a, b: a @ b),
    "linear": ((16, 32, 64), (256, 64), lambda tg, x, w: tg.nn.functional.linear(x, w, w[:, 0] * 0.5)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(MATMULS))
def test_matmul_is_the_same_bits_at_one_and_two_threads(case, dtype):
    shape_a, shape_b, fn = MATMULS[case]
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal(shape_a).astype(dtype), rng.standard_normal(shape_b).astype(dtype)
    one = _run(tapegrad, fn, a, b, threads=1)
    two = _run(tapegrad, fn, a, b, threads=2)
    for p, q in zip(one, two):
        np.testing.assert_array_equal(p.view(np.uint8), q.view(np.uint8))
    np.testing.assert_allclose(one[0], fn(np, a, b) if case != "linear" else a @ b.T + b[:, 0] * 0.5,
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-4 if dtype == np.float32 else 1e-12)


def test_large_products_are_cut_into_parts_and_small_ones_are_not():
    # The test above means something only if the parts run on two threads.
    import os

    core = tapegrad._core
    if not core._blas_linked or (os.cpu_count() or 1) < 2:
        pytest.skip("parts need OpenBLAS and two cores")
    a = tapegrad.tensor(np.ones((512, 64), np.float32))
    b = tapegrad.tensor(np.ones((64, 256), np.float32))
    small = tapegrad.tensor(np.ones((16, 16), np.float32))
    before = tapegrad.get_num_threads()
    try:
        tapegrad.set_num_threads(2)
        n = core._parallel_runs()
        _ = a @ b
        assert core._parallel_runs() == n + 1
        _ = small @ small
        assert core._parallel_runs() == n + 1
        tapegrad.set_num_threads(1)
        _ = a @ b
        assert core._parallel_runs() == n + 1
    finally:
        tapegrad.set_num_threads(before)


def test_matmul_keeps_its_bits_when_threadpoolctl_raises_openblas_threads():
    # threadpoolctl reaches every OpenBLAS in the process, tapegrad's included;
    # a product resets tapegrad's to one thread (its parts are the threading)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(8)
    a = tapegrad.tensor(rng.standard_normal((512, 64)).astype(np.float32))
    b = tapegrad.tensor(rng.standard_normal((64, 256)).astype(np.float32))
    want = _run(tapegrad, lambda tg, x, y: x @ y, a.numpy(), b.numpy(), threads=1)[0]
    with threadpoolctl.threadpool_limits(2):
        got = _run(tapegrad, lambda tg, x, y: x @ y, a.numpy(), b.numpy(), threads=1)[0]
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    ours = [i for i in threadpoolctl.threadpool_info() if i["filepath"].endswith("libscipy_openblas.so")]
    assert all(i["num_threads"] == 1 for i in ours)
