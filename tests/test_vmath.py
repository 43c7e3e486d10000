"""The vector math kernels (Note [Vector math] in cpp/core/vmath.h; the bounds
are Note [Numerics] in docs/DESIGN.md).

- float32: every float32 in each function's useful range, against the C
  library's float64 result rounded to float32 (the heavy loop is C++,
  _core._vmath_check_f32). A plain test run checks every 257th float; with
  TAPEGRAD_VMATH_EXHAUSTIVE=1 (run by hand after changing a kernel) every
  one, ~11 billion.
- float64: inputs drawn over each function's range and around its switch
  points, against the C library in long double: 300 thousand per range in a
  plain run, 4 million with TAPEGRAD_VMATH_EXHAUSTIVE=1.
- Special values (NaN, infinities, signed zeros, subnormals, the overflow and
  underflow thresholds) in the same class as the C library's.
- Every instruction-set version the CPU runs gives the same bits, at every
  length (the vector body and its remainder), and the Tensor ops give what
  the kernels give, contiguous or strided.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import _core

EXHAUSTIVE = os.environ.get("TAPEGRAD_VMATH_EXHAUSTIVE", "") not in ("", "0")
FUNCTIONS = ["exp", "log", "tanh", "sigmoid", "erf"]
# The bound of Note [Numerics], in ulps of the correctly rounded result.
BOUND = {"float32": 1, "float64": 2}

# float32: (lo, hi, odd): the range where the result is neither constant nor
# overflowed, with a margin; odd functions are checked against the C library
# for x >= 0 and for f(-x) == -f(x) below.
F32_RANGES = {
    "exp": (-110.0, 90.0, False),
    "log": (0.0, math.inf, False),
    "tanh": (-9.1, 9.1, True),
    "sigmoid": (-110.0, 18.0, False),
    "erf": (-4.5, 4.5, True),
}
# float64: the whole useful range, and around the points where the
# formulas switch (Note [Vector math]).
F64_RANGES = {
    "exp": [(-760.0, 720.0), (-1.0, 1.0), (-746.0, -700.0)],
    "log": [(0.0, 1.7e308), (0.5, 2.0)],
    "tanh": [(-25.0, 25.0), (-1.0, 1.0)],
    "sigmoid": [(-760.0, 40.0), (-6.0, 6.0)],
    "erf": [(-7.0, 7.0), (-1.5, 1.5)],
}


def show(report) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in report.items())


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_float32_every_input_within_the_bound(fn):
    lo, hi, odd = F32_RANGES[fn]
    r = _core._vmath_check_f32(fn, lo, hi, odd_half=odd, stride=1 if EXHAUSTIVE else 257, threads=2)
    assert r["count"] > (2_000_000_000 if EXHAUSTIVE else 8_000_000), show(r)
    assert r["wrong_class"] == 0, show(r)
    assert r["shortcut_wrong"] == 0, show(r)
    assert r["max_ulp"] <= BOUND["float32"], show(r)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_float64_sampled_inputs_within_the_bound(fn):
    for i, (lo, hi) in enumerate(F64_RANGES[fn]):
        r = _core._vmath_check_f64(fn, lo, hi, 4_000_000 if EXHAUSTIVE else 300_000, seed=i, threads=2)
        assert r["reference_bits"] >= 64, "long double must be wider than double to serve as the reference"
        assert r["wrong_class"] == 0, show(r)
        assert r["max_ulp"] <= BOUND["float64"], show(r)


def test_the_checks_can_fail():
    """Checked against another function's reference, the kernels fail both checks."""
    r = _core._vmath_check_f64("tanh", 0.5, 1.0, 1000, threads=1, against="erf")
    assert r["max_ulp"] > 1e10 and r["wrong_class"] == 0 and r["count"] == 1000, show(r)
    r = _core._vmath_check_f32("exp", 1.0, 1.0001, stride=1, threads=1, against="sigmoid")
    assert r["max_ulp"] > 1e6 and r["count"] == 840, show(r)
    r = _core._vmath_check_f32("exp", -1.0, 0.0, stride=1000, threads=1, against="log")
    assert r["wrong_class"] > 0 and r["wrong_class_x"] == -1.0, show(r)
    r = _core._vmath_check_f32("tanh", -1.0, 1.0, odd_half=True, stride=1000, threads=1, against="tanh")
    assert r["max_ulp"] <= 1 and r["wrong_class"] == 0, show(r)
    r = _core._vmath_check_f32("erf", -1.0, 1.0, odd_half=True, stride=1000, threads=1, against="tanh")
    assert r["max_ulp"] > 1e6, show(r)
    with pytest.raises(ValueError, match="unknown vmath function 'cosh'"):
        _core._vmath_check_f32("cosh", 0.0, 1.0)


# ----- special values against the C library --------------------------------------------

def c_library(fn: str, x: float) -> float:
    """The C library's double result (Python's math module calls it)."""
    if math.isnan(x):
        return x
    try:
        if fn == "exp":
            return math.exp(x)
        if fn == "log":
            return -math.inf if x == 0 else math.nan if x < 0 else math.log(x)
        if fn == "tanh":
            return math.tanh(x)
        if fn == "erf":
            return math.erf(x)
        if x >= 0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)
    except OverflowError:
        return math.inf


def specials(dtype) -> np.ndarray:
    info = np.finfo(dtype)
    tiny_sub = np.nextafter(dtype(0), dtype(1))
    big = [info.max, info.tiny, info.tiny * dtype(0.5), tiny_sub, tiny_sub * dtype(3), dtype(1), dtype(2),
           dtype(0.5), dtype(1e-30), dtype(0.625), dtype(1.0), dtype(1.25), dtype(6.0), dtype(10.0)]
    # the thresholds of e^x: overflow, the last normal and the last subnormal results
    edges = [88.72283935546875, 88.7228, -87.33654, -103.97208, -103.27893] if dtype == np.float32 else \
        [709.782712893384, 709.7827128933841, -708.3964185322641, -745.1332191019411, -744.4400719213812]
    values = [0.0, math.inf, math.nan] + [float(v) for v in big] + edges
    for e in edges:
        values += [float(np.nextafter(dtype(e), dtype(math.inf))), float(np.nextafter(dtype(e), dtype(-math.inf)))]
    with np.errstate(over="ignore"):
        x = np.array(values, dtype=dtype)
    return np.concatenate([x, -x])


def ulps(a, b, dtype) -> int:
    ints = np.int32 if dtype == np.float32 else np.int64
    ia, ib = (int(np.array([v], dtype=dtype).view(ints)[0]) for v in (a, b))
    key = lambda i, bits=(32 if dtype == np.float32 else 64): -1 - (i & ((1 << (bits - 1)) - 1)) if i < 0 else i
    return abs(key(ia) - key(ib))


def same_class(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b) or a == 0 or b == 0:
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return True


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_native_special_values_as_the_c_library(fn, dtype):
    x = specials(dtype)
    got = _core._vmath(fn, x)
    assert got.dtype == dtype and got.shape == x.shape
    for xi, yi in zip(x.tolist(), got.tolist()):
        want = c_library(fn, xi)
        if dtype == np.float32:
            with np.errstate(over="ignore"):
                want = float(np.float32(want))
        assert same_class(yi, want), f"{fn}({xi!r}) = {yi!r}, the C library gives {want!r}"
        if math.isfinite(want) and want != 0:
            assert ulps(yi, want, dtype) <= BOUND[np.dtype(dtype).name], f"{fn}({xi!r}) = {yi!r}, not {want!r}"


# ----- dispatch: every instruction set gives the same bits ---------------------------------

def inputs(dtype, n=1000, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.standard_normal(n) * 3, rng.standard_normal(n) * 300, np.exp(rng.standard_normal(n) * 20),
                        specials(dtype)])
    with np.errstate(over="ignore"):
        return x.astype(dtype)


@pytest.fixture
def restore_isa():
    was = _core._vmath_isa()
    yield
    assert _core._vmath_set_isa(was)


def test_native_instruction_sets(restore_isa):
    isas = _core._vmath_isas()
    assert isas[-1] == "baseline" and _core._vmath_isa() == isas[0]
    assert set(isas) <= {"avx512f", "avx2", "baseline"}
    assert not _core._vmath_set_isa("sse9") and _core._vmath_isa() == isas[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_native_every_instruction_set_gives_the_same_bits(fn, dtype, restore_isa):
    x = inputs(dtype)
    results = {}
    for isa in _core._vmath_isas():
        assert _core._vmath_set_isa(isa) and _core._vmath_isa() == isa
        # lengths around the vector widths: the vector body, its remainder, and both
        results[isa] = [_core._vmath(fn, x)] + [_core._vmath(fn, x[:n]) for n in (0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33)]
    base = results["baseline"]
    for isa, got in results.items():
        for a, b in zip(got, base):
            assert a.tobytes() == b.tobytes(), f"{fn} {isa} differs from baseline"
    one_by_one = np.concatenate([_core._vmath(fn, x[i:i + 1]) for i in range(len(x))])
    assert one_by_one.tobytes() == base[0].tobytes()


# ----- the Tensor ops run on the kernels ----------------------------------------------------

TENSOR_OPS = {"exp": lambda t: t.exp(), "log": lambda t: t.log(), "tanh": lambda t: t.tanh(),
              "sigmoid": lambda t: t.sigmoid()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("fn", sorted(TENSOR_OPS))
def test_native_tensor_ops_are_the_kernels_contiguous_or_strided(fn, dtype):
    x = inputs(dtype, n=800)[:2400].reshape(40, 60)
    want = _core._vmath(fn, x.ravel()).reshape(x.shape)
    op = TENSOR_OPS[fn]
    t = tg.tensor(x, dtype=dtype)
    assert op(t).numpy().tobytes() == want.tobytes()
    assert np.ascontiguousarray(op(t.T).numpy()).tobytes() == np.ascontiguousarray(want.T).tobytes()
    assert op(t[::3, 1::2]).numpy().tobytes() == np.ascontiguousarray(want[::3, 1::2]).tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_native_softmax_family_uses_the_kernels(dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((6, 37)) * 5).astype(dtype)
    x[1, 4] = np.inf
    x[2, :] = -np.inf
    x[3, 7] = np.nan
    x[4, :5] = -np.inf
    t = tg.tensor(x, dtype=dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(np.isneginf(x).all(axis=1, keepdims=True), 0, np.nanmax(np.where(np.isnan(x), -np.inf, x), axis=1,
                                                                             keepdims=True)).astype(dtype)
        e = _core._vmath("exp", (x - m).astype(dtype).ravel()).reshape(x.shape)
        want_sm = e / e.astype(np.float64).sum(axis=1, keepdims=True)
        lse = np.log(e.astype(np.float64).sum(axis=1, keepdims=True))
        want_lsm = (x - m) - lse.astype(dtype)
    eps = float(np.finfo(dtype).eps)
    np.testing.assert_allclose(t.softmax(1).numpy(), want_sm, rtol=16 * eps, atol=0)
    # a row's sums differ in the order of their terms: log sum is off by some eps absolute
    np.testing.assert_allclose(t.log_softmax(1).numpy(), want_lsm, rtol=16 * eps, atol=4 * eps)
    assert np.isnan(t.softmax(1).numpy()[[1, 2, 3]]).all()
    assert np.isnan(t.log_softmax(-1).numpy()[[1, 2, 3]]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu"])
@pytest.mark.parametrize("strided", [False, True], ids=["contiguous", "strided"])
def test_vector_activations_agree_with_the_scalar_rules(name, dtype, strided):
    # Note [Vector activations]: the native forward and fused backward run in
    # vmath passes (a strided operand and sum's broadcast gradient copied
    # first); the reference evaluates the rules' formulas element by element.
    from tapegrad import reference

    rng = np.random.default_rng(7)
    x = (rng.standard_normal(5000) * 4).astype(dtype)
    x[:6] = [0.0, -0.0, 30.0, -30.0, 1e-30, -1e-30]
    apply = {"gelu": lambda t: t.gelu(), "gelu_tanh": lambda t: t.gelu(approximate="tanh"),
             "silu": lambda t: t.silu()}[name]

    def run(backend):
        leaf = backend.tensor(np.stack([x, x], axis=1) if strided else x, requires_grad=True)
        y = apply(leaf[:, 0] if strided else leaf)
        (y * y).sum().backward()  # g = 2y, then a plain sum's broadcast ones
        grad = leaf.grad.numpy()
        return y.numpy(), grad[:, 0] if strided else grad

    (y_vec, g_vec), (y_sca, g_sca) = run(tg), run(reference)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(y_vec, y_sca, rtol=16 * eps, atol=16 * eps)
    np.testing.assert_allclose(g_vec, g_sca, rtol=64 * eps, atol=64 * eps)
    assert np.signbit(y_vec[:2]).tolist() == np.signbit(y_sca[:2]).tolist()
