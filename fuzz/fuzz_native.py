#!/usr/bin/env python3
"""Coverage-guided fuzz target for the native bindings (atheris / libFuzzer).

Run for a fixed time (from the repository root, with tapegrad and atheris installed):

    python fuzz/fuzz_native.py -max_total_time=60

Any libFuzzer flag works (-runs=N, -jobs=N, a corpus directory as the first
argument, a crash file to reproduce). Each input is decoded into a small
program: Values or Tensors made from the fuzzer's bytes (hostile data
included: NaN, inf, strings, None, huge ints, odd shapes and dtypes), a few
random ops, then backward. The same program runs on the native backend and
on the reference. A finding (the target raises, libFuzzer saves the input) is

  * a crash of the interpreter (segfault, abort, sanitizer report);
  * a native exception outside the documented types of docs/API.md ("Errors");
  * the native backend raising where the reference does not, or the two
    raising different exception types;
  * different results where both succeed (Value data bit for bit, Value grads to
    a few ulps (fan-out sums may add in another order), Tensors within
    float tolerance).

Coverage: atheris instruments the loaded Python code (tapegrad's facade,
reference and gradcheck, this target, NumPy's Python layer) with
``instrument_all``. The C++ extension is built with
g++ here, so libFuzzer sees no edges inside it; it is exercised (and a crash
there is caught) but its coverage does not guide the search. Building _core
with clang and -fsanitize=fuzzer-no-link would add that.
"""
from __future__ import annotations

import math
import operator
import os
import struct
import sys

import atheris

import numpy as np

import tapegrad as native
from tapegrad import reference as ref

DOCUMENTED = (TypeError, ValueError, IndexError, MemoryError, RuntimeError, OverflowError)
VERBOSE = os.environ.get("FUZZ_VERBOSE", "") not in ("", "0")  # print each step (to replay a finding)


def _short(x):
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"{type(x).__name__}{tuple(x.shape)} {x.dtype} op={getattr(x, 'op', '')!r}"
    return repr(x)[:80]


class Finding(AssertionError):
    """A bug the fuzzer found (libFuzzer reports the uncaught exception and saves the input)."""


# FUZZ_KEEP_GOING=1: log each distinct divergence once (to stderr and
# fuzz-findings.txt) and go on, so one long run surveys many; crashes and
# undocumented exception types still stop the run.
KEEP_GOING = os.environ.get("FUZZ_KEEP_GOING", "") not in ("", "0")
STRICT_ERRORS = os.environ.get("FUZZ_STRICT_ERRORS", "") not in ("", "0")
_seen: set = set()


class Divergence(Finding):
    """Native and reference disagree (skipped, not fatal, under FUZZ_KEEP_GOING)."""


def report(exc: Divergence, data: bytes):
    """Log a divergence once per kind; its input goes to divergence-<hash> for replay."""
    import hashlib
    import re

    key = re.sub(r"[-+]?\d[\d.e+-]*|\[.*", "#", str(exc).splitlines()[0])[:120]
    if key not in _seen:
        _seen.add(key)
        name = "divergence-" + hashlib.sha1(data).hexdigest()[:16]
        with open(name, "wb") as f:
            f.write(data)
        line = f"DIVERGENCE ({name}): {str(exc).splitlines()[0][:400]}"
        print(line, file=sys.stderr)
        with open("fuzz-findings.txt", "a") as f:
            f.write(line + "\n")


# ----- outcomes -----------------------------------------------------------------


def attempt(fn, *args):
    """(result, None) or (None, exception) of fn(*args)."""
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - classified by the caller
        return None, exc


LAST_REF = [None]  # the reference half of the last step both() ran (a forward divergence reruns it)


def both(what, fn_native, fn_ref):
    """Run the same step on both backends; raise Finding on an undocumented or diverging outcome.

    Returns (native result, reference result), or None when both raised the same documented type.
    """
    n, n_exc = attempt(fn_native)
    r, r_exc = attempt(fn_ref)
    LAST_REF[0] = fn_ref
    if VERBOSE:
        print(f"  {what}: native {n_exc!r} / {_short(n)}, reference {r_exc!r} / {_short(r)}", file=sys.stderr)
    if n_exc is not None and not isinstance(n_exc, DOCUMENTED):
        raise Finding(f"{what}: native raised undocumented {type(n_exc).__name__}: {n_exc}") from n_exc
    if n_exc is None and r_exc is None:
        return n, r
    if n_exc is not None and r_exc is not None:
        # Both refused. Different documented types count only in strict mode (or
        # in the keep-going survey): an input with two defects (a negative AND a
        # non-int size) has no single right answer, and CI must not flap on it.
        differ = not isinstance(n_exc, type(r_exc)) and not isinstance(r_exc, type(n_exc))
        if differ and (STRICT_ERRORS or KEEP_GOING or not isinstance(r_exc, DOCUMENTED)):
            raise Divergence(f"{what}: native raised {type(n_exc).__name__} ({n_exc}), "
                          f"reference {type(r_exc).__name__} ({r_exc})")
        return None
    if n_exc is not None:
        raise Divergence(f"{what}: native raised {type(n_exc).__name__} ({n_exc}) where the reference "
                      f"returned {_short(r)}") from n_exc
    raise Divergence(f"{what}: reference raised {type(r_exc).__name__} ({r_exc}) where native returned {_short(n)}")


def same_bits(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def same_grad(a: float, b: float) -> bool:
    """Gradients agree to a few ulps: where a node fans out, the engines add the
    contributions of its paths in different orders (the native engine sweeps by
    dependency counting, the reference in depth-first order), and floating-point
    addition is not associative, so the last bit may differ."""
    return same_bits(a, b) or math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


def identical(n, r):
    """A native tensor and its reference twin hold the same values, bit for bit (NaNs alike)."""
    a, b = np.ascontiguousarray(n.numpy()), np.ascontiguousarray(r.numpy())
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def reference_copy(n, r):
    """A reference tensor holding native tensor n's values, with r's dtype and requires_grad."""
    return ref.tensor(np.array(n.numpy()), dtype=r.dtype, requires_grad=r.requires_grad)


def largest_finite(t):
    v = np.asarray(t.numpy())
    if v.dtype.kind != "f":
        return 0.0
    with np.errstate(all="ignore"):
        return float(np.max(np.abs(v[np.isfinite(v)]), initial=0.0))


def any_f32(ts):
    return any(np.dtype(t.dtype) == np.float32 for t in ts)


def close_arrays(what, a, b, low=False, floor=1.0):
    # low: float32 values took part (a float64 result may carry their 1-ulp libm differences);
    # floor: the least magnitude the tolerance is relative to
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        raise Divergence(f"{what}: native {a.dtype}{a.shape} vs reference {b.dtype}{b.shape}")
    if a.size == 0:
        return
    if a.dtype.kind == "i":  # int64: exact
        if not np.array_equal(a, b):
            raise Divergence(f"{what}: native {a} vs reference {b}")
        return
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        raise Divergence(f"{what}: NaN positions differ\nnative {a}\nreference {b}")
    fin = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(a[~fin & ~np.isnan(a)], b[~fin & ~np.isnan(b)]):
        raise Divergence(f"{what}: infinities differ\nnative {a}\nreference {b}")
    rtol = 1e-4 if a.dtype == np.float32 or low else 1e-9
    scale = float(np.max(np.abs(b[fin]), initial=floor))
    with np.errstate(all="ignore"):
        err = np.max(np.abs(a[fin].astype(np.float64) - b[fin]), initial=0.0)
    if err > rtol * scale:
        raise Divergence(f"{what}: max error {err} > {rtol} x {scale}\nnative {a}\nreference {b}")


# ----- data from the fuzzer's bytes ---------------------------------------------------

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, math.inf, -math.inf, math.nan, 5e-324, 1e-300, 1e300, 710.0, -745.0]
HOSTILE = ["x", None, 1 + 2j, [1.0], object(), 10**400, True, np.float32(1.5), np.int64(3), np.bool_(True),
           b"1", (), np.array([1.0, 2.0])]


def number(fdp: atheris.FuzzedDataProvider) -> float:
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 0:
        return fdp.PickValueInList(SPECIAL)
    if kind == 1:
        return fdp.ConsumeFloat()
    return fdp.ConsumeFloatInRange(-4.0, 4.0)


def scalar_arg(fdp):
    """A number, or now and then something that is not one."""
    if fdp.ConsumeIntInRange(0, 15) == 0:
        return fdp.PickValueInList(HOSTILE)
    return number(fdp)


# ----- Value programs ---------------------------------------------------------------------

# The ops come from the op table (_core.op_table()): a new op is fuzzed as soon
# as it has a row. Each is called by its registry name, through the operator
# module for the dunder ones (so a junk operand is a TypeError, not NotImplemented).
REGISTRY = native._core.op_table()


def names(surface, *kinds):
    return [e["name"] for e in REGISTRY if e[surface] and e["kind"] in kinds and e["python"] and e["name"] != "**k"]


PYTHON = {e["name"]: e["python"] for e in REGISTRY}
V_UNARY = names("value", "unary")
V_BINARY = names("value", "binary")


def call(name, x, *args):
    """The op ``name`` on x (and args), as the registry's method or operator."""
    py = PYTHON[name]
    if py.startswith("__"):
        return getattr(operator, py.strip("_"))(x, *args)
    return getattr(x, py)(*args)


def v_unary(name, a):
    return call(name, a)


def v_binary(name, a, b):
    return call(name, a, b)


def fuzz_values(fdp):
    n_nodes, r_nodes = [], []
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        x = scalar_arg(fdp)
        out = both(f"Value({x!r})", lambda: native.Value(x), lambda: ref.Value(x))
        if out is not None:
            n_nodes.append(out[0])
            r_nodes.append(out[1])
    if not n_nodes:
        return
    for _ in range(fdp.ConsumeIntInRange(1, 12)):
        kind = fdp.ConsumeIntInRange(0, 5)
        i = fdp.ConsumeIntInRange(0, len(n_nodes) - 1)
        j = fdp.ConsumeIntInRange(0, len(n_nodes) - 1)
        if kind <= 1:
            name = fdp.PickValueInList(V_UNARY)
            out = both(name, lambda: v_unary(name, n_nodes[i]), lambda: v_unary(name, r_nodes[i]))
        elif kind <= 3:
            name = fdp.PickValueInList(V_BINARY)
            out = both(name, lambda: v_binary(name, n_nodes[i], n_nodes[j]),
                       lambda: v_binary(name, r_nodes[i], r_nodes[j]))
        else:  # a plain number (or junk) on one side
            name = fdp.PickValueInList(V_BINARY)
            c = scalar_arg(fdp)
            if kind == 4:
                out = both(f"{name} {c!r}", lambda: v_binary(name, n_nodes[i], c), lambda: v_binary(name, r_nodes[i], c))
            else:
                out = both(f"{c!r} {name}", lambda: v_binary(name, c, n_nodes[i]), lambda: v_binary(name, c, r_nodes[i]))
        if out is not None:
            n_nodes.append(out[0])
            r_nodes.append(out[1])
    for k, (a, b) in enumerate(zip(n_nodes, r_nodes)):
        if not same_bits(a.data, b.data) or a.op != b.op:
            raise Divergence(f"Value node {k}: native {a.data!r} {a.op!r} vs reference {b.data!r} {b.op!r}")
    root = fdp.ConsumeIntInRange(0, len(n_nodes) - 1)
    n_nodes[root].backward()
    r_nodes[root].backward()
    if fdp.ConsumeBool():
        n_nodes[root].backward()
        r_nodes[root].backward()
    for k, (a, b) in enumerate(zip(n_nodes, r_nodes)):
        if not same_grad(a.grad, b.grad):
            raise Divergence(f"Value node {k} ({a.op!r}) grad: native {a.grad!r} vs reference {b.grad!r}")


# ----- Tensor programs ------------------------------------------------------------------

T_UNARY = names("tensor", "unary")
T_BINARY = names("tensor", "binary", "compare", "matmul")
T_REDUCE = names("tensor", "reduce", "softmax", "arg")
T_SHAPE = names("tensor", "movement", "index") + ["T", "flatten", "detach", "long", "float", "double"]  # spellings
T_JOIN = names("tensor", "join", "loss") + ["embedding", "one_hot", "nll_loss"]


def shape(fdp, max_dims=3):
    return tuple(fdp.ConsumeIntInRange(0, 3) for _ in range(fdp.ConsumeIntInRange(0, max_dims)))


def tensor_data(fdp):
    """An array (any layout), a nested list, a scalar, or junk, plus a dtype argument."""
    kind = fdp.ConsumeIntInRange(0, 20)
    dtype = fdp.PickValueInList([None, None, np.float32, np.float64, "float16", np.int32, "complex64", "nope",
                                 np.int64, "int64"])
    if kind == 0:
        return fdp.PickValueInList(HOSTILE + [[[1.0], [2.0, 3.0]], [["a"]], np.array([object()])]), dtype
    if kind == 1:
        return number(fdp), dtype
    shp = shape(fdp)
    size = int(np.prod(shp)) if shp else 1
    values = [number(fdp) if fdp.ConsumeIntInRange(0, 4) == 0 else fdp.ConsumeFloatInRange(-3.0, 3.0)
              for _ in range(size)]
    arr = np.array(values, dtype=np.float64).reshape(shp)
    layout = fdp.ConsumeIntInRange(0, 5)
    if layout == 0:
        arr = arr.astype(np.float32)
    elif layout == 1 and arr.ndim:
        arr = np.repeat(arr, 2, axis=-1)[..., ::2]  # strided view
    elif layout == 2:
        arr = arr.astype(arr.dtype.newbyteorder(">"))
    elif layout == 3 and arr.ndim >= 2:
        arr = arr.T
    elif layout == 4:
        return arr.tolist(), dtype
    return arr, dtype


t_unary, t_binary = v_unary, v_binary


def fuzz_tensors(fdp):
    n_ts, r_ts = [], []
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        data, dtype = tensor_data(fdp)
        rg = fdp.ConsumeBool()
        maker = fdp.ConsumeIntInRange(0, 6)
        if maker == 0:  # creation by shape, with hostile sizes
            shp = tuple(fdp.PickValueInList([0, 1, 2, 3, -1, 2**62, 2**40, 2.5, "2"])
                        for _ in range(fdp.ConsumeIntInRange(0, 3)))
            fn = fdp.PickValueInList(["zeros", "ones", "randn"])
            out = both(f"{fn}{shp}", lambda: getattr(native, fn)(*shp, requires_grad=rg),
                       lambda: getattr(ref, fn)(*shp, requires_grad=rg)) if fn != "randn" else \
                both(f"randn{shp}", lambda: native.randn(*shp, seed=1), lambda: ref.randn(*shp, seed=1))
        else:
            out = both(f"tensor({data!r}, dtype={dtype!r})",
                       lambda: native.tensor(data, requires_grad=rg, dtype=dtype),
                       lambda: ref.tensor(data, requires_grad=rg, dtype=dtype))
        # A zero-size tensor may still have a huge dim (zeros(2**40, 0)); ops on it
        # can loop over that dim for hours (NumPy's batched matmul does), so it
        # is checked at creation only.
        if out is not None and max(out[0].shape, default=0) <= 64:
            n_ts.append(out[0])
            r_ts.append(out[1])
    if not n_ts:
        return
    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        i = fdp.ConsumeIntInRange(0, len(n_ts) - 1)
        j = fdp.ConsumeIntInRange(0, len(n_ts) - 1)
        nx, rx, ny, ry = n_ts[i], r_ts[i], n_ts[j], r_ts[j]
        kind = fdp.ConsumeIntInRange(0, 5)
        if kind == 0:
            name = fdp.PickValueInList(T_UNARY)
            out = both(name, lambda: t_unary(name, nx), lambda: t_unary(name, rx))
        elif kind == 1:
            name = fdp.PickValueInList(T_BINARY)
            if fdp.ConsumeBool():
                c = scalar_arg(fdp)
                # a number on the left only of an operator: maximum, minimum are methods
                left = fdp.ConsumeBool() and PYTHON[name].startswith("__")
                out = both(f"{name} {c!r}", lambda: t_binary(name, c, nx) if left else t_binary(name, nx, c),
                           lambda: t_binary(name, c, rx) if left else t_binary(name, rx, c))
            else:
                out = both(name, lambda: t_binary(name, nx, ny), lambda: t_binary(name, rx, ry))
        elif kind == 2:
            name = fdp.PickValueInList(T_REDUCE)
            dim = fdp.PickValueInList([None, 0, 1, -1, 2, -3, 5, (0, 1), (0, 0)])
            keep = fdp.ConsumeBool()
            if name in ("softmax", "log_softmax"):
                d = -1 if dim is None or isinstance(dim, tuple) else dim
                out = both(f"{name}({d})", lambda: getattr(nx, name)(d), lambda: getattr(rx, name)(d))
            else:
                out = both(f"{name}({dim}, {keep})", lambda: getattr(nx, name)(dim, keep),
                           lambda: getattr(rx, name)(dim, keep))
        elif kind == 3:
            name = fdp.PickValueInList(T_SHAPE)
            if name == "reshape":
                shp = tuple(fdp.ConsumeIntInRange(-2, 6) for _ in range(fdp.ConsumeIntInRange(0, 3)))
                out = both(f"reshape{shp}", lambda: nx.reshape(*shp), lambda: rx.reshape(*shp))
            elif name == "transpose":
                a, b = fdp.ConsumeIntInRange(-4, 3), fdp.ConsumeIntInRange(-4, 3)
                out = both(f"transpose({a}, {b})", lambda: nx.transpose(a, b), lambda: rx.transpose(a, b))
            elif name == "permute":
                dims = tuple(fdp.ConsumeIntInRange(-3, 3) for _ in range(fdp.ConsumeIntInRange(0, 3)))
                out = both(f"permute{dims}", lambda: nx.permute(*dims), lambda: rx.permute(*dims))
            elif name == "getitem":
                key = index_key(fdp)
                nk, rk = (int64_tensors(key, native), int64_tensors(key, ref)) if fdp.ConsumeBool() else (key, key)
                out = both(f"getitem[{key!r}]", lambda: nx[nk], lambda: rx[rk])
            elif name == "gather":
                dim, ix = fdp.ConsumeIntInRange(-3, 3), int_array(fdp)
                out = both(f"gather({dim}, {ix.tolist()})", lambda: nx.gather(dim, native.tensor(ix, dtype=native.int64)),
                           lambda: rx.gather(dim, ref.tensor(ix, dtype=ref.int64)))
            elif name == "T":
                out = both("T", lambda: nx.T, lambda: rx.T)
            else:
                out = both(name, getattr(nx, name), getattr(rx, name))
        elif kind == 4:
            name = fdp.PickValueInList(T_JOIN)
            dim = fdp.ConsumeIntInRange(-3, 3)
            if name in ("concatenate", "stack"):
                out = both(f"{name}(dim={dim})", lambda: getattr(native, name)([nx, ny], dim=dim),
                           lambda: getattr(ref, name)([rx, ry], dim=dim))
            elif name == "where":
                out = both("where", lambda: native.where(nx > 0.0, nx, ny), lambda: ref.where(rx > 0.0, rx, ry))
            elif name == "mse_loss":
                out = both("mse_loss", lambda: native.mse_loss(nx, ny), lambda: ref.mse_loss(rx, ry))
            elif name in ("embedding", "one_hot", "nll_loss"):
                ix = int_array(fdp)
                first, second = (nx, ny) if fdp.ConsumeBool() else (ny, nx)  # the ids: an int64 tensor or data
                rfirst, rsecond = (rx, ry) if first is nx else (ry, rx)
                ids_n = native.tensor(ix, dtype=native.int64) if fdp.ConsumeBool() else first
                ids_r = ref.tensor(ix, dtype=ref.int64) if ids_n is not first else rfirst
                fn_n, fn_r = getattr(native.nn.functional, name), getattr(ref.nn.functional, name)
                if name == "embedding":
                    out = both(f"embedding({ix.tolist()})", lambda: fn_n(ids_n, second), lambda: fn_r(ids_r, rsecond))
                elif name == "one_hot":
                    c = fdp.ConsumeIntInRange(-2, 5)
                    out = both(f"one_hot({ix.tolist()}, {c})", lambda: fn_n(ids_n, c), lambda: fn_r(ids_r, c))
                else:
                    out = both(f"nll_loss({ix.tolist()})", lambda: fn_n(second, ids_n), lambda: fn_r(rsecond, ids_r))
            else:
                labels = np.array([fdp.ConsumeIntInRange(-1, 3) for _ in range(fdp.ConsumeIntInRange(0, 3))])
                out = both(f"cross_entropy({labels})", lambda: native.cross_entropy(nx, labels),
                           lambda: ref.cross_entropy(rx, labels))
        else:
            # conversions and small queries: results compared where they are values
            name = fdp.PickValueInList(["item", "tolist", "len", "float", "bool", "repr", "numpy", "pickle"])
            fns = {"item": lambda t: t.item(), "tolist": lambda t: t.tolist(), "len": len, "float": float,
                   "bool": bool, "repr": lambda t: type(repr(t)), "numpy": lambda t: t.numpy().shape,
                   "pickle": lambda t: pickle_round(t)}
            res = both(name, lambda: fns[name](nx), lambda: fns[name](rx))
            if res is not None and name in ("item", "float"):
                # elementwise kernels (C++ libm vs NumPy's SIMD loops) may differ by an ulp
                close_arrays(name, np.asarray(res[0], nx.dtype), np.asarray(res[1], nx.dtype), low=any_f32(n_ts))
            elif res is not None and name in ("item", "len", "float", "bool", "numpy") and \
                    not (res[0] == res[1] or (isinstance(res[0], float) and same_bits(res[0], res[1]))):
                raise Divergence(f"{name}: native {res[0]!r} vs reference {res[1]!r}")
            out = None
        if out is not None and hasattr(out[0], "numpy"):
            try:
                close_arrays("forward", out[0].numpy(), out[1].numpy(), low=any_f32(n_ts))
            except Divergence:
                # The two chains may have drifted apart by accepted rounding that an
                # ill-conditioned step magnifies (the log of a logsumexp of
                # log_softmax, about 1e-8): the step itself is then judged on the
                # same inputs, the reference run on copies of native's operands.
                if identical(nx, rx) and identical(ny, ry):
                    raise
                kept = rx, ry
                rx, ry = reference_copy(nx, rx), reference_copy(ny, ry)
                try:
                    again, exc = attempt(LAST_REF[0])
                finally:
                    rx, ry = kept
                if exc is not None or not hasattr(again, "numpy"):
                    raise
                close_arrays("forward (the reference on native's operands)", out[0].numpy(), again.numpy(),
                             low=any_f32(n_ts))
            n_ts.append(out[0])
            r_ts.append(out[1])
    # backward from one node, with or without a gradient, maybe twice
    k = fdp.ConsumeIntInRange(0, len(n_ts) - 1)
    nt, rt = n_ts[k], r_ts[k]
    grad_kind = fdp.ConsumeIntInRange(0, 3)
    if grad_kind == 0:
        g = None
    elif grad_kind == 1:
        g = np.ones(nt.shape, dtype=nt.dtype)
    else:
        g = np.ones(shape(fdp), dtype=np.float64)
    retain = fdp.ConsumeBool()
    both("backward", lambda: nt.backward(g, retain), lambda: rt.backward(g, retain))
    if fdp.ConsumeBool():
        both("backward again", lambda: nt.backward(g), lambda: rt.backward(g))
    # With float32 in the program, a gradient's rounding follows the magnitudes
    # its chain multiplies and cancels, not its own: the gradient of
    # log_softmax under a uniform upstream is exactly 0 and comes out as
    # -2^-8 after six 3x3 matmuls (values near 1.4e3). Its tolerance is then
    # relative to the program's largest finite value.
    low = any_f32(n_ts)
    floor = max([1.0] + [largest_finite(t) for t in n_ts]) if low else 1.0
    for idx, (a, b) in enumerate(zip(n_ts, r_ts)):
        if (a.grad is None) != (b.grad is None):
            raise Divergence(f"tensor {idx}: native grad {a.grad!r} vs reference {b.grad!r}")
        if a.grad is not None:
            close_arrays(f"tensor {idx} grad", a.grad.numpy(), b.grad.numpy(), low=low, floor=floor)


def pickle_round(t):
    import pickle

    u = pickle.loads(pickle.dumps(t))
    return (u.shape, u.dtype, u.requires_grad)


def int_array(fdp):
    """Small int64 ids (some out of range, some negative) of a small shape."""
    shp = shape(fdp)
    return np.array([fdp.ConsumeIntInRange(-2, 4) for _ in range(int(np.prod(shp)) if shp else 1)],
                    dtype=np.int64).reshape(shp)


def int64_tensors(key, tg):
    """A subscript with its integer arrays as int64 Tensors of backend ``tg``."""
    def one(k):
        return tg.tensor(k, dtype=tg.int64) if isinstance(k, np.ndarray) and k.dtype.kind == "i" else k
    return tuple(one(k) for k in key) if isinstance(key, tuple) else one(key)


def index_key(fdp):
    parts = []
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        kind = fdp.ConsumeIntInRange(0, 6)
        if kind == 0:
            parts.append(fdp.ConsumeIntInRange(-5, 5))
        elif kind == 1:
            a, b, s = fdp.ConsumeIntInRange(-4, 4), fdp.ConsumeIntInRange(-4, 4), fdp.PickValueInList([1, 2, -1, -2, None])
            parts.append(slice(a, b, s))
        elif kind == 2:
            parts.append(None)
        elif kind == 3:
            parts.append(Ellipsis)
        elif kind == 4:
            parts.append(np.array([fdp.ConsumeIntInRange(-4, 4) for _ in range(fdp.ConsumeIntInRange(0, 3))], dtype=np.intp))
        elif kind == 5:
            parts.append([fdp.ConsumeIntInRange(-4, 4) for _ in range(fdp.ConsumeIntInRange(1, 3))])
        else:
            parts.append(fdp.PickValueInList(["a", 1.5, np.float32(1.0)]))
    return parts[0] if len(parts) == 1 else tuple(parts)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    try:
        with np.errstate(all="ignore"):
            if fdp.ConsumeBool():
                fuzz_tensors(fdp)
            else:
                fuzz_values(fdp)
    except Divergence as exc:
        if not KEEP_GOING:
            raise
        report(exc, data)


def main():
    # instrument_all, not instrument_imports: an editable install loads tapegrad
    # through a custom loader that atheris's import hook does not cover. This
    # instruments every loaded Python function (tapegrad, this file, NumPy's
    # Python layer), which costs speed but gives real coverage feedback.
    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
