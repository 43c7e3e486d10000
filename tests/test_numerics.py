"""The numerics policy of docs/DESIGN.md, Note [Numerics], on both backends.

- Value results (forward and every local gradient) are bitwise the same on
  native and reference, special values included.
- Tensor + - * /, neg, abs, relu, comparisons, where, indexing and movement:
  bitwise the same, forward and backward, in float32 and float64.
- Transcendental Tensor functions: within ULP_BOUND ulps of each other, and the
  same class of result (NaN, inf of one sign, signed zero) everywhere.
- The sign of zero: relu(-0.0) is +0.0, abs(-0.0) is +0.0 and its gradient 0,
  on Values and Tensors alike.
"""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest

import tapegrad as native
from tapegrad import reference as ref

ULP_BOUND = 4
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-310, -1e-310, 5e-324, 1e300, -1e300, math.inf, -math.inf,
           math.nan, 0.7, -0.3, 2.0, 1e-8, 700.0, -745.0]


def bits(x: float) -> bytes:
    return struct.pack("<d", x) if not math.isnan(x) else b"nan"


def same_array_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    nan = np.isnan(a)
    return bool(np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan].view(np.uint8), b[~nan].view(np.uint8))
                if a.size else True)


# ----- Values: bitwise --------------------------------------------------------

VALUE_UNARY = ["neg", "abs", "relu", "tanh", "sigmoid", "exp", "log", "sqrt", "sin", "cos", "**2", "**0.5", "**3",
               "**-1", "**0"]
VALUE_BINARY = ["+", "-", "*", "/", "**"]


def value_unary(tg, name, x):
    a = tg.Value(x)
    if name == "neg":
        return a, -a
    if name.startswith("**"):
        return a, a ** float(name[2:])
    return a, getattr(a, name)()


@pytest.mark.parametrize("name", VALUE_UNARY)
def test_value_unary_ops_agree_bit_for_bit(name):
    for x in SPECIAL:
        results = []
        for tg in (native, ref):
            a, y = value_unary(tg, name, x)
            y.backward()
            results.append((y.data, y._local_grads()[0], a.grad))
        for u, v in zip(*results):
            assert bits(u) == bits(v), f"{name} at {x!r}: native {results[0]} vs reference {results[1]}"


@pytest.mark.parametrize("name", VALUE_BINARY)
def test_value_binary_ops_agree_bit_for_bit(name):
    fn = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
          "**": lambda a, b: a ** b}[name]
    for x in SPECIAL[::2]:
        for y in SPECIAL[1::2]:
            results = []
            for tg in (native, ref):
                a, b = tg.Value(x), tg.Value(y)
                out = fn(a, b)
                out.backward()
                results.append((out.data, *out._local_grads(), a.grad, b.grad))
            for u, v in zip(*results):
                assert bits(u) == bits(v), f"{x!r} {name} {y!r}: native {results[0]} vs reference {results[1]}"


# ----- Tensors: bitwise for the exact ops -----------------------------------------------

def special_array(dtype, size=64, seed=0):
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):
        specials = np.array(SPECIAL, dtype=np.float64).astype(dtype)
    return np.concatenate([specials, rng.standard_normal(size).astype(dtype)])


EXACT_UNARY = {"neg": lambda x: -x, "abs": lambda x: x.abs(), "relu": lambda x: x.relu(),
               "**2": lambda x: x ** 2, "getitem": lambda x: x[::-2], "reshape": lambda x: x.reshape(-1, 1),
               "T": lambda x: x.reshape(5, -1).T}
EXACT_BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
                "where": lambda a, b: (a > b) * a + (a <= b) * b}
COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
           "!=": np.not_equal}


def run_tensor(tg, fn, arrays, dtype, upstream):
    xs = [tg.tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    with np.errstate(all="ignore"):
        y = fn(*xs)
        y.backward(gradient=tg.tensor(upstream, dtype=dtype))
    return [np.asarray(y.numpy())] + [np.asarray(x.grad.numpy()) for x in xs]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(EXACT_UNARY))
def test_exact_tensor_unary_ops_agree_bit_for_bit(name, dtype):
    fn = EXACT_UNARY[name]
    x = special_array(dtype)[:70]
    shape = np.asarray(fn(ref.tensor(x, dtype=dtype)).numpy()).shape
    upstream = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    for a, b in zip(run_tensor(native, fn, [x], dtype, upstream), run_tensor(ref, fn, [x], dtype, upstream)):
        assert same_array_bits(a, b), f"{name} {dtype.__name__}: native {a} vs reference {b}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(EXACT_BINARY))
def test_exact_tensor_binary_ops_agree_bit_for_bit(name, dtype):
    fn = EXACT_BINARY[name]
    x, y = special_array(dtype, seed=2), special_array(dtype, seed=3)[::-1].copy()
    upstream = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
    for a, b in zip(run_tensor(native, fn, [x, y], dtype, upstream), run_tensor(ref, fn, [x, y], dtype, upstream)):
        assert same_array_bits(a, b), f"{name} {dtype.__name__}: native {a} vs reference {b}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(COMPARE))
def test_comparisons_agree_bit_for_bit(name, dtype):
    x, y = special_array(dtype, seed=5), special_array(dtype, seed=6)[::-1].copy()
    fn = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
          "==": lambda a, b: a == b, "!=": lambda a, b: a != b}[name]
    got = [np.asarray(fn(tg.tensor(x, dtype=dtype), tg.tensor(y, dtype=dtype)).numpy()) for tg in (native, ref)]
    assert same_array_bits(got[0], got[1])
    assert np.array_equal(got[0], COMPARE[name](x, y).astype(dtype))


# ----- Tensors: transcendental functions within ULP_BOUND -------------------------------

TRANSCENDENTAL = {"tanh": lambda x: x.tanh(), "sigmoid": lambda x: x.sigmoid(), "exp": lambda x: x.exp(),
                  "log": lambda x: x.log(), "sqrt": lambda x: x.sqrt(), "sin": lambda x: x.sin(),
                  "cos": lambda x: x.cos(), "**0.3": lambda x: x ** 0.3, "**": lambda x: x ** (x * 0.5)}


def ulps_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The distance in units in the last place, for finite values of one dtype."""
    ints = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}[a.dtype]
    ia, ib = a.view(ints).astype(np.int64), b.view(ints).astype(np.int64)
    # order the bit patterns of negatives so that the integer distance is the ulp distance
    big = np.int64(np.iinfo(ints).min)
    ia = np.where(ia < 0, big - ia, ia)
    ib = np.where(ib < 0, big - ib, ib)
    return np.abs(ia - ib)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(TRANSCENDENTAL))
def test_transcendental_tensor_ops_agree_within_the_ulp_bound(name, dtype):
    fn = TRANSCENDENTAL[name]
    rng = np.random.default_rng(7)
    x = np.concatenate([special_array(dtype), (rng.standard_normal(4000) * 4).astype(dtype),
                        np.abs(rng.standard_normal(1000)).astype(dtype) * 1e-3])
    with np.errstate(all="ignore"):
        a, b = (np.asarray(fn(tg.tensor(x, dtype=dtype)).numpy()) for tg in (native, ref))
    # the same class of result everywhere: NaN, infinities, signed zeros
    assert np.array_equal(np.isnan(a), np.isnan(b)), name
    finite = np.isfinite(a) & np.isfinite(b)
    assert np.array_equal(a[~finite & ~np.isnan(a)], b[~finite & ~np.isnan(b)]), name
    zero = finite & (a == 0)
    assert np.array_equal(np.signbit(a[zero]), np.signbit(b[zero])), name
    far = ulps_apart(a[finite], b[finite])
    assert far.max(initial=0) <= ULP_BOUND, f"{name} {dtype.__name__}: {far.max()} ulps at x={x[finite][far.argmax()]!r}"


# ----- the sign of zero, and the forms of ** ------------------------------------------------

@pytest.mark.parametrize("backend", [native, ref], ids=["native", "reference"])
def test_the_sign_of_zero_is_the_same_for_values_and_tensors(backend):
    tg = backend
    for dtype in (np.float32, np.float64):
        x = tg.tensor([-0.0, 0.0], requires_grad=True, dtype=dtype)
        assert np.signbit(x.relu().numpy()).tolist() == [False, False]
        assert np.signbit(x.abs().numpy()).tolist() == [False, False]
        x.abs().sum().backward()
        assert x.grad.numpy().tolist() == [0.0, 0.0] and not np.signbit(x.grad.numpy()).any()
    v = tg.Value(-0.0)
    assert bits(v.relu().data) == bits(0.0) and bits(abs(v).data) == bits(0.0)
    assert bits(abs(v)._local_grads()[0]) == bits(0.0)


@pytest.mark.parametrize("backend", [native, ref], ids=["native", "reference"])
def test_square_and_square_root_forms(backend):
    tg = backend
    for x in (-math.inf, -0.0, 3.0, 1e200, math.nan):
        t = tg.tensor([x], dtype=np.float64)
        v = tg.Value(x)
        with np.errstate(all="ignore"):
            assert bits(float((t ** 2).numpy()[0])) == bits(float(np.float64(x) * np.float64(x))) == bits((v ** 2).data)
            assert bits(float((t ** 0.5).numpy()[0])) == bits(float(np.sqrt(np.float64(x)))) == bits((v ** 0.5).data)
