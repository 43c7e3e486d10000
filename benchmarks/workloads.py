"""The benchmark workloads: the one definition used by ``python -m tapegrad bench``
and by ``benchmarks/test_bench.py`` (pytest-benchmark).

Each workload declares the backends it runs on, its sizes (full, ``--quick`` and
a tiny set for tests), a ``setup(backend, size)`` that builds the inputs, a
``step(state)`` that does the timed work, and a ``check(backend, size)`` that
returns the loss and gradients so the runner can verify that every backend
computes the same numbers before it reports any time.

A step either returns ``None`` (the runner times the whole call) or a dict
``{phase: seconds}`` when it times several phases itself (W2 and W3 report the
forward and the backward pass separately).

Backends are imported lazily; a backend whose module or required names are
missing raises :class:`Skip` with the reason, which the runner reports.
"""
from __future__ import annotations

import gc
import importlib
import importlib.util
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

__all__ = [
    "Skip", "Check", "Workload", "WORKLOADS", "BACKEND_LABELS",
    "load_backend", "get_workload", "moons", "count_nodes",
]


class Skip(Exception):
    """A backend or workload cannot run here; the message says why."""


@dataclass
class Check:
    """What a backend computed: a loss (or None) and a list of arrays (gradients or results)."""

    loss: Optional[float]
    arrays: list
    nodes: Optional[int] = None  # graph size, when the backend exposes .parents


@dataclass
class Workload:
    name: str
    title: str
    backends: tuple
    sizes: tuple
    quick_sizes: tuple
    tiny_sizes: tuple
    setup: Callable[[str, Any], Any]
    step: Callable[[Any], Optional[dict]]
    check: Optional[Callable[[str, Any], Check]] = None
    oracle: Optional[Callable[[Any], Check]] = None  # exact answer, when one is known
    oracle_name: str = "exact answer"  # what the oracle is, for the agreement lines
    phases: tuple = ("step",)
    unit: str = "s"  # "s": lower time is better; "B/node": memory, measured by `measure`
    measure: Optional[Callable[[str, Any], float]] = None
    check_each_size: bool = False  # check agreement at every size, not only the smallest
    rtol: float = 1e-6
    atol: float = 1e-9
    size_label: Callable[[Any], str] = str
    nodes: Callable[[Any], Optional[int]] = lambda size: None
    notes: str = ""  # extra detail, carried into the JSON results
    # Every backend is timed with Python's cyclic garbage collector on, as users
    # run it; these are timed once more with it off, as extra "(gc off)" rows.
    gc_off_too: tuple = ()


# ---------------------------------------------------------------------------
# Backends

BACKEND_LABELS = {
    "native": "tapegrad",
    "reference": "tapegrad.reference",
    "micrograd": "micrograd",
    "torch": "PyTorch",
    "native-1t": "tapegrad (1 thread)",
    "reference-1t": "tapegrad.reference (1 thread)",
    "torch-1t": "PyTorch (1 thread)",
    "native-2t": "tapegrad (2 threads)",
    "reference-2t": "tapegrad.reference (2 threads)",
    "torch-2t": "PyTorch (2 threads)",
    "numpy": "NumPy",
    "floats": "Python floats (no graph)",
}

_MODULES = {
    "native": "tapegrad",
    "reference": "tapegrad.reference",
    "micrograd": "micrograd.engine",
    "torch": "torch",
    "numpy": "numpy",
    "floats": "builtins",
}

# Thread counts as each module started (restored for the plain backend names).
_DEFAULT_THREADS = {}


def split_backend(name: str):
    """("torch", 2) for "torch-2t"; ("native", None) for "native"."""
    base, sep, suffix = name.rpartition("-")
    if sep and suffix.endswith("t") and suffix[:-1].isdigit():
        return base, int(suffix[:-1])
    return name, None


def load_backend(name: str):
    """The module behind a backend name, or :class:`Skip` saying why it is unavailable.

    A name ending in ``-<n>t`` (``native-1t``, ``torch-2t``) also sets the
    module's thread count (``set_num_threads``: BLAS for tapegrad's backends,
    intra-op threads for PyTorch); the plain name restores the module's own
    default, so that the runs in one process do not leak settings.
    """
    base, threads = split_backend(name)
    try:
        modname = _MODULES[base]
    except KeyError:
        raise Skip(f"unknown backend {name!r}") from None
    try:
        mod = importlib.import_module(modname)
    except ImportError as exc:
        raise Skip(f"{modname} is not importable ({exc})") from None
    if base == "native" and getattr(mod, "_core", None) is None:
        raise Skip("the compiled extension tapegrad._core is not built")
    if base in ("native", "reference", "torch"):
        if not hasattr(mod, "set_num_threads"):
            if threads is not None:
                raise Skip(f"{modname} has no set_num_threads yet")
            return mod
        _DEFAULT_THREADS.setdefault(base, mod.get_num_threads())
        mod.set_num_threads(threads if threads is not None else _DEFAULT_THREADS[base])
    elif threads is not None:
        raise Skip(f"{modname} has no thread setting")
    return mod


def _require(mod, *names):
    """Fetch dotted attribute paths from ``mod``; a missing one is a Skip naming it."""
    found = []
    for dotted in names:
        obj = mod
        for part in dotted.split("."):
            try:
                obj = getattr(obj, part)
            except (AttributeError, ImportError):
                raise Skip(f"{mod.__name__} has no {dotted} yet") from None
        found.append(obj)
    return found[0] if len(found) == 1 else found


def count_nodes(root) -> Optional[int]:
    """Number of nodes reachable from ``root`` through ``.parents`` (iterative), if exposed."""
    if not hasattr(root, "parents"):
        return None
    seen = {id(root)}
    stack = [root]
    while stack:
        for p in stack.pop().parents:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return len(seen)


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------------------
# Data

def moons(n: int, noise: float = 0.1, seed: int = 0):
    """Two interleaving half circles, the points the demo and the tests train on
    (``tapegrad.datasets.make_moons``): X of shape (n, 2) float64, y in {-1, +1}."""
    from tapegrad.datasets import make_moons

    X, y = make_moons(n, noise=noise, seed=seed)
    return np.asarray(X, dtype=np.float64), np.where(np.asarray(y) > 0, 1.0, -1.0)


# ---------------------------------------------------------------------------
# W1: micrograd's demo, a scalar MLP(2, [16, 16, 1]) training step

W1_LAYERS = (2, 16, 16, 1)
W1_LR = 0.05
W1_ALPHA = 1e-4


def _w1_init(seed: int = 1):
    """Initial weights, in micrograd's parameter order (layer, neuron, w..., b)."""
    rng = np.random.default_rng(seed)
    flat = []
    for nin, nout in zip(W1_LAYERS[:-1], W1_LAYERS[1:]):
        for _ in range(nout):
            flat.extend(rng.uniform(-1.0, 1.0, nin).tolist())
            flat.append(0.0)
    return flat


class _ScalarMLP:
    """micrograd's MLP structure over any scalar type ``V`` (used for PyTorch 0-d
    tensors, and for tapegrad backends that have no ``nn.MLP`` yet)."""

    def __init__(self, make_param, sizes=W1_LAYERS):
        self.layers = []
        for i, (nin, nout) in enumerate(zip(sizes[:-1], sizes[1:])):
            nonlin = i != len(sizes) - 2
            self.layers.append(([([make_param() for _ in range(nin)], make_param())
                                 for _ in range(nout)], nonlin))

    def __call__(self, x):
        for neurons, nonlin in self.layers:
            out = []
            for w, b in neurons:
                act = sum((wi * xi for wi, xi in zip(w, x)), b)
                out.append(act.relu() if nonlin else act)
            x = out
        return x[0] if len(x) == 1 else x

    def parameters(self):
        return [p for neurons, _ in self.layers for w, b in neurons for p in (*w, b)]


class _W1State:
    pass


def _w1_setup(backend: str, size):
    st = _W1State()
    X, y = moons(size)
    st.X = X.tolist()
    st.y = y.tolist()
    init = _w1_init()
    if backend in ("native", "reference"):
        tg = load_backend(backend)
        Value = _require(tg, "Value")
        MLP = getattr(getattr(tg, "nn", None), "MLP", None)
        try:  # the library's own micrograd-style MLP; the weights are overwritten below
            model = MLP(2, list(W1_LAYERS[1:]), seed=0)
        except Exception:  # no tg.nn yet, or it needs parts of the backend not built yet
            model = _ScalarMLP(lambda: Value(0.0))
        st.make_input = Value
        st.kind = "value"
    elif backend == "micrograd":
        load_backend(backend)
        from micrograd.engine import Value
        from micrograd.nn import MLP

        model = MLP(2, list(W1_LAYERS[1:]))
        st.make_input = Value
        st.kind = "value"
    elif backend == "torch":
        torch = load_backend(backend)

        def param():
            return torch.zeros((), dtype=torch.float64, requires_grad=True)

        model = _ScalarMLP(param)
        st.make_input = lambda v: torch.tensor(v, dtype=torch.float64)
        st.kind = "torch"
        st.torch = torch
    else:
        raise Skip(f"W1 has no {backend} variant")
    params = model.parameters()
    if len(params) != len(init):
        raise Skip(f"{backend} MLP has {len(params)} parameters, expected {len(init)}")
    if st.kind == "torch":
        with st.torch.no_grad():
            for p, v in zip(params, init):
                p.fill_(v)
    else:
        for p, v in zip(params, init):
            p.data = v
    st.model, st.params = model, params
    return st


def _w1_loss(st):
    inputs = [[st.make_input(v) for v in row] for row in st.X]
    scores = [st.model(x) for x in inputs]
    losses = [(1 + -yi * si).relu() for yi, si in zip(st.y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = W1_ALPHA * sum(p * p for p in st.params)
    return data_loss + reg_loss


def _w1_zero_grad(st):
    if st.kind == "torch":
        for p in st.params:
            p.grad = None
    else:
        for p in st.params:
            p.grad = 0.0


def _w1_step(st):
    loss = _w1_loss(st)
    _w1_zero_grad(st)
    loss.backward()
    if st.kind == "torch":
        with st.torch.no_grad():
            for p in st.params:
                p -= W1_LR * p.grad
    else:
        for p in st.params:
            p.data -= W1_LR * p.grad
    return None


def _w1_check(backend, size):
    st = _w1_setup(backend, size)
    loss = _w1_loss(st)
    _w1_zero_grad(st)
    loss.backward()
    grads = np.array([float(p.grad) for p in st.params])
    return Check(float(loss.data) if st.kind == "value" else float(loss.item()), [grads],
                 count_nodes(loss))


# ---------------------------------------------------------------------------
# W2: deep chain y = tanh(y * 0.999 + 0.001), forward and backward timed apart

def _value_type(backend):
    if backend in ("native", "reference"):
        return _require(load_backend(backend), "Value")
    if backend == "micrograd":
        load_backend(backend)
        from micrograd.engine import Value

        return Value
    raise Skip(f"no scalar Value type for {backend}")


def _w2_build(Value, n):
    x = Value(0.5)
    y = x
    for _ in range(n):
        y = (y * 0.999 + 0.001).tanh()
    return x, y


def _w2_setup(backend, size):
    Value = _value_type(backend)
    if not hasattr(Value, "tanh"):
        raise Skip(f"{backend}'s Value has no tanh()")
    return (Value, size)


def _forward_backward_times(build, Value, n):
    """Times building the graph (forward) and its backward() separately; the
    graph is dropped before returning, outside both timings."""
    (inputs, out), t_fwd = _timed(build, Value, n)
    _, t_bwd = _timed(out.backward)
    del inputs, out
    return {"forward": t_fwd, "backward": t_bwd}


def _w2_step(state):
    return _forward_backward_times(_w2_build, *state)


def _w2_check(backend, size):
    x, y = _w2_build(_w2_setup(backend, size)[0], size)
    y.backward()
    return Check(float(y.data), [np.array([x.grad])], count_nodes(y))


# ---------------------------------------------------------------------------
# W3: fan-out, s = sum(x[i] * x[(i * 7919) % n]) over n leaves

def _w3_inputs(n):
    return np.random.default_rng(3).uniform(-1.0, 1.0, n), (np.arange(n) * 7919) % n


def _w3_build(Value, n):
    data, perm = _w3_inputs(n)
    xs = [Value(float(v)) for v in data]
    s = sum(xs[i] * xs[j] for i, j in enumerate(perm.tolist()))
    return xs, s


def _w3_setup(backend, size):
    return (_value_type(backend), size)


def _w3_step(state):
    return _forward_backward_times(_w3_build, *state)


def _w3_check(backend, size):
    xs, s = _w3_build(_value_type(backend), size)
    s.backward()
    return Check(float(s.data), [np.array([x.grad for x in xs])], count_nodes(s))


def _w3_oracle(n):
    """Closed form: ds/dx[k] = x[p(k)] + sum of x[i] over the i with p(i) = k."""
    x, perm = _w3_inputs(n)
    g = x[perm].copy()
    np.add.at(g, perm, x)
    return Check(float(np.dot(x, x[perm])), [g])


# ---------------------------------------------------------------------------
# W2-floats, W3-floats: the same forward code on plain Python floats
#
# What a forward pass costs before any autodiff library runs: the Python of
# the workload itself (the loop, the list reads, NumPy's scalars and
# float(), the sum), with a float in place of each Value and no graph. No
# Value type can build the graph for less, so these rows are the floor
# under W2's and W3's forward times. Their node counts are those of the
# graphs the Value rows build, so that "per node" means the same in both.

def _w2_build_floats(n):
    # float has no .tanh(): math.tanh in its place, the rest as _w2_build
    y = 0.5
    for _ in range(n):
        y = math.tanh(y * 0.999 + 0.001)
    return y


def _w2_floats_step(n):
    _, t = _timed(_w2_build_floats, n)
    return {"forward": t}


def _w2_floats_check(backend, n):
    return Check(_w2_build_floats(n), [])


def _w2_floats_oracle(n):
    return Check(_w2_check("reference", n).loss, [])


def _w3_floats_step(n):
    (xs, s), t = _timed(_w3_build, float, n)
    del xs, s
    return {"forward": t}


def _w3_floats_check(backend, n):
    return Check(_w3_build(float, n)[1], [])


def _w3_floats_oracle(n):
    return Check(_w3_oracle(n).loss, [])


def _floats_setup(backend, size):
    load_backend(backend)
    return size


# ---------------------------------------------------------------------------
# W4: tensor MLP training step, float32, 784-256-10, ReLU, softmax cross-entropy

def _w4_arrays(size):
    batch, nin, hidden, nout = size
    rng = np.random.default_rng(4)
    return {
        "x": rng.standard_normal((batch, nin)).astype(np.float32),
        "labels": rng.integers(0, nout, batch),
        "W1": (rng.standard_normal((nin, hidden)) / np.sqrt(nin)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "W2": (rng.standard_normal((hidden, nout)) / np.sqrt(hidden)).astype(np.float32),
        "b2": np.zeros(nout, np.float32),
    }


W4_LR = 0.01


class _W4State:
    pass


def _w4_setup(backend, size):
    a = _w4_arrays(size)
    st = _W4State()
    st.backend = backend
    names = ("W1", "b1", "W2", "b2")
    if backend.startswith("torch"):
        torch = load_backend(backend)
        st.torch = torch
        st.x = torch.from_numpy(a["x"])
        st.labels = torch.from_numpy(a["labels"])
        st.params = [torch.tensor(a[k], requires_grad=True) for k in names]
        return st
    tg = load_backend(backend)
    tensor = _require(tg, "tensor")
    st.tg = tg
    st.x = tensor(a["x"])
    st.labels = a["labels"]
    st.params = [tensor(a[k], requires_grad=True) for k in names]
    functional = getattr(getattr(tg, "nn", None), "functional", None)
    st.cross_entropy = getattr(functional, "cross_entropy", None)
    if st.cross_entropy is None:
        onehot = np.zeros((size[0], size[3]), np.float32)
        onehot[np.arange(size[0]), a["labels"]] = 1.0
        st.onehot = tensor(onehot)
    optim = getattr(tg, "optim", None)
    st.opt = optim.SGD(st.params, lr=W4_LR) if hasattr(optim, "SGD") else None
    return st


def _w4_loss(st):
    W1, b1, W2, b2 = st.params
    logits = (st.x @ W1 + b1).relu() @ W2 + b2
    if st.backend.startswith("torch"):
        return st.torch.nn.functional.cross_entropy(logits, st.labels)
    if st.cross_entropy is not None:
        return st.cross_entropy(logits, st.labels)
    return -(logits.log_softmax(1) * st.onehot).sum() * (1.0 / logits.shape[0])


def _w4_zero_grad(st):
    if st.backend.startswith("torch"):
        for p in st.params:
            p.grad = None
    elif st.opt is not None:
        st.opt.zero_grad()
    else:
        for p in st.params:
            p.zero_grad()


def _w4_step(st):
    loss = _w4_loss(st)
    _w4_zero_grad(st)
    loss.backward()
    if st.backend.startswith("torch"):
        with st.torch.no_grad():
            for p in st.params:
                p -= W4_LR * p.grad
    elif st.opt is not None:
        st.opt.step()
    else:
        tensor = st.tg.tensor
        st.params = [tensor(p.numpy() - W4_LR * p.grad.numpy(), requires_grad=True)
                     for p in st.params]
    return None


def _w4_check(backend, size):
    st = _w4_setup(backend, size)
    loss = _w4_loss(st)
    loss.backward()
    grads = [np.array(p.grad.detach().numpy() if backend.startswith("torch") else p.grad.numpy(),
                      dtype=np.float64) for p in st.params]
    return Check(float(loss.item()), grads, count_nodes(loss))


# ---------------------------------------------------------------------------
# W5: small-op overhead, 2000 elementwise ops on 8x8 float32

def _w5_arrays():
    rng = np.random.default_rng(5)
    return (rng.uniform(-1, 1, (8, 8)).astype(np.float32),
            rng.uniform(0.9, 1.1, (8, 8)).astype(np.float32),
            rng.uniform(-0.01, 0.01, (8, 8)).astype(np.float32))


class _W5State:
    pass


def _w5_setup(backend, size):
    x, c, d = _w5_arrays()
    st = _W5State()
    st.n = size
    st.torch = backend.startswith("torch")
    if st.torch:
        torch = load_backend(backend)
        st.x = torch.tensor(x, requires_grad=True)
        st.c, st.d = torch.from_numpy(c), torch.from_numpy(d)
    else:
        tensor = _require(load_backend(backend), "tensor")
        st.x = tensor(x, requires_grad=True)
        st.c, st.d = tensor(c), tensor(d)
    return st


def _w5_forward(st):
    y = st.x
    for _ in range(st.n // 3):  # three elementwise ops per round
        y = (y * st.c + st.d).tanh()
    return y.sum()


def _w5_step(st):
    s = _w5_forward(st)
    s.backward()
    if st.torch:
        st.x.grad = None
    else:
        st.x.zero_grad()
    return None


def _w5_check(backend, size):
    st = _w5_setup(backend, size)
    s = _w5_forward(st)
    s.backward()
    g = st.x.grad.numpy() if not st.torch else st.x.grad.detach().numpy()
    return Check(float(s.item()), [np.array(g, dtype=np.float64)], count_nodes(s))


# ---------------------------------------------------------------------------
# matmul 512x512, float32 and float64, against numpy.matmul

def _mm_arrays(size):
    n, dtype = size
    rng = np.random.default_rng(6)
    return (rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype))


def _mm_setup(backend, size):
    A, B = _mm_arrays(size)
    if backend == "numpy":
        return (np.matmul, A, B)
    tensor = _require(load_backend(backend), "tensor")
    return (lambda a, b: a @ b, tensor(A), tensor(B))


def _mm_step(state):
    f, a, b = state
    f(a, b)
    return None


def _mm_check(backend, size):
    f, a, b = _mm_setup(backend, size)
    return Check(None, [np.asarray(np.asarray(f(a, b)), dtype=np.float64)])


def _mm_oracle(size):
    A, B = _mm_arrays(size)
    return Check(None, [A.astype(np.float64) @ B.astype(np.float64)])


# ---------------------------------------------------------------------------
# NumPy and tapegrad matmuls back to back: do their BLAS thread pools fight?

BLAS_PHASES = ("numpy alone", "tapegrad alone", "numpy after tapegrad", "tapegrad after numpy")


def _blas_mix_setup(backend, size):
    A, B = _mm_arrays(size)
    tensor = _require(load_backend(backend), "tensor")
    return (A, B, tensor(A), tensor(B))


def _blas_mix_step(state):
    """Each library's last product of three in a row, then each one's right after the other's."""
    A, B, a, b = state
    numpy_mm, tapegrad_mm = (lambda: A @ B), (lambda: a @ b)
    times = {}
    for phase, before, timed in (("numpy alone", numpy_mm, numpy_mm), ("tapegrad alone", tapegrad_mm, tapegrad_mm),
                                 ("numpy after tapegrad", tapegrad_mm, numpy_mm),
                                 ("tapegrad after numpy", numpy_mm, tapegrad_mm)):
        before()
        before()
        t0 = time.perf_counter()
        timed()
        times[phase] = time.perf_counter() - t0
    return times


def _blas_mix_check(backend, size):
    A, B, a, b = _blas_mix_setup(backend, size)
    return Check(None, [np.asarray((a @ b).numpy(), dtype=np.float64), (A @ B).astype(np.float64)])


def _blas_mix_oracle(size):
    A, B = _mm_arrays(size)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    return Check(None, [exact, exact])


# ---------------------------------------------------------------------------
# memory: bytes per node, each backend in a fresh interpreter

def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: peak RSS is the best we have
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def memory_child(backend: str, n: int) -> float:
    """Bytes per node of a chain of ``n`` binary-op nodes ``y = y * a`` (one node per op).

    Runs in the child interpreter started by :func:`_mem_measure`.
    """
    if backend == "torch":
        torch = load_backend(backend)
        a = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    else:
        Value = _value_type(backend)
        a = Value(1.0)
    y = a * a  # warm up allocators and caches before the baseline
    for _ in range(1000):
        y = y * a
    del y
    gc.collect()
    gc.disable()
    before = _rss_bytes()
    y = a * a
    for _ in range(n - 1):
        y = y * a
    after = _rss_bytes()
    return (after - before) / n


def _mem_setup(backend, size):
    if backend == "torch":
        load_backend(backend)
    else:
        _value_type(backend)  # Skip here, in the parent, with the reason
    return (backend, size)


def _mem_measure(backend, size) -> float:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('tg_bench_workloads', {__file__!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules[spec.name] = m\n"
        "spec.loader.exec_module(m)\n"
        f"print(repr(m.memory_child({backend!r}, {int(size)})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory child for {backend} failed: {tail}")
    return float(proc.stdout.strip().splitlines()[-1])


def _mem_step(state):
    return None


# ---------------------------------------------------------------------------

def _pow10(n):
    e = int(round(np.log10(n)))
    return f"10^{e}" if 10 ** e == n else str(n)


WORKLOADS = [
    Workload(
        name="W1", title="scalar MLP training step (micrograd demo, 100 moons)",
        backends=("native", "reference", "micrograd", "torch"),
        sizes=(100,), quick_sizes=(100,), tiny_sizes=(8,),
        setup=_w1_setup, step=_w1_step, check=_w1_check,
        size_label=lambda n: f"{n} pts", rtol=1e-9, atol=1e-12,
        notes="MLP(2,[16,16,1]), SVM max-margin loss + 1e-4 L2, forward+zero_grad+backward+SGD",
        # Python's collector walks the live graph of Python objects again and
        # again as a step allocates: most of micrograd's step (each node's
        # _backward closure holds the node, a cycle), half of the reference's
        gc_off_too=("native", "reference", "micrograd", "torch"),
    ),
    Workload(
        name="W2", title="deep chain y = tanh(y*0.999 + 0.001)",
        backends=("native", "reference", "micrograd"),
        sizes=(10**4, 10**5, 10**6), quick_sizes=(10**4,), tiny_sizes=(200,),
        setup=_w2_setup, step=_w2_step, check=_w2_check, phases=("forward", "backward"),
        size_label=_pow10, nodes=lambda n: 5 * n + 1, rtol=1e-9, atol=1e-12,
    ),
    Workload(
        name="W3", title="fan-out s = sum(x[i]*x[(i*7919)%n])",
        backends=("native", "reference", "micrograd"),
        sizes=(10**5,), quick_sizes=(10**4,), tiny_sizes=(300,),
        setup=_w3_setup, step=_w3_step, check=_w3_check, oracle=_w3_oracle,
        phases=("forward", "backward"), size_label=_pow10, nodes=lambda n: 3 * n + 1,
        rtol=1e-9, atol=1e-9,
    ),
    Workload(
        name="W2-floats", title="W2's forward on Python floats (math.tanh), no graph: the floor under W2",
        backends=("floats",),
        sizes=(10**4, 10**5, 10**6), quick_sizes=(10**4,), tiny_sizes=(200,),
        setup=_floats_setup, step=_w2_floats_step, check=_w2_floats_check,
        oracle=_w2_floats_oracle, oracle_name="tapegrad.reference's W2 value",
        phases=("forward",), size_label=_pow10,
        nodes=lambda n: 5 * n + 1, rtol=1e-9, atol=1e-12,
        notes="nodes: those of W2's graph at the same size",
    ),
    Workload(
        name="W3-floats", title="W3's forward on Python floats, no graph: the floor under W3",
        backends=("floats",),
        sizes=(10**5,), quick_sizes=(10**4,), tiny_sizes=(300,),
        setup=_floats_setup, step=_w3_floats_step, check=_w3_floats_check,
        oracle=_w3_floats_oracle, phases=("forward",), size_label=_pow10,
        nodes=lambda n: 3 * n + 1, rtol=1e-9, atol=1e-9,
        notes="nodes: those of W3's graph at the same size",
    ),
    Workload(
        name="W4", title="tensor MLP step, float32, batch 128, 784-256-10",
        backends=("native-1t", "reference-1t", "torch-1t", "native-2t", "reference-2t", "torch-2t"),
        sizes=((128, 784, 256, 10),), quick_sizes=((128, 784, 256, 10),),
        tiny_sizes=((16, 32, 16, 4),),
        setup=_w4_setup, step=_w4_step, check=_w4_check,
        size_label=lambda s: f"{s[0]}x{s[1]}-{s[2]}-{s[3]}", nodes=lambda s: 10,
        rtol=1e-3, atol=1e-5,
    ),
    Workload(
        name="W5", title="small-op overhead: elementwise chain on 8x8 float32",
        backends=("native", "reference", "torch"),
        sizes=(2000,), quick_sizes=(2000,), tiny_sizes=(60,),
        setup=_w5_setup, step=_w5_step, check=_w5_check,
        size_label=lambda n: f"{n} ops", nodes=lambda n: n + 1, rtol=1e-3, atol=1e-5,
    ),
    Workload(
        name="matmul", title="matmul, square, vs numpy.matmul",
        backends=("native", "reference", "numpy"),
        sizes=((512, np.float32), (512, np.float64)),
        quick_sizes=((512, np.float32), (512, np.float64)),
        tiny_sizes=((32, np.float32),),
        setup=_mm_setup, step=_mm_step, check=_mm_check, oracle=_mm_oracle, check_each_size=True,
        size_label=lambda s: f"{s[0]}x{s[0]} {np.dtype(s[1]).name}", nodes=lambda s: 1,
        rtol=1e-4, atol=1e-3,
    ),
    Workload(
        name="blas-mix", title="NumPy and tapegrad matmuls back to back, 512x512 float32 (Note [One BLAS pool])",
        backends=("native",),
        sizes=((512, np.float32),), quick_sizes=((512, np.float32),), tiny_sizes=((32, np.float32),),
        setup=_blas_mix_setup, step=_blas_mix_step, check=_blas_mix_check, oracle=_blas_mix_oracle,
        phases=BLAS_PHASES, size_label=lambda s: f"{s[0]}x{s[0]} {np.dtype(s[1]).name}", nodes=lambda s: 1,
        rtol=1e-4, atol=1e-3,
        notes="each phase times one product; 'after' means right after the other library's, with no pause",
    ),
    Workload(
        name="memory", title="memory: bytes per node (RSS growth / nodes, fresh process)",
        backends=("native", "reference", "micrograd", "torch"),
        sizes=(10**6,), quick_sizes=(10**5,), tiny_sizes=(2000,),
        setup=_mem_setup, step=_mem_step, unit="B/node", measure=_mem_measure,
        size_label=lambda n: f"{n} nodes", nodes=lambda n: n,
    ),
]


def _more_workloads() -> list:
    """The rows defined in the sibling files ``workloads_*.py`` (each has ``workloads(base)``)."""
    here = os.path.dirname(os.path.abspath(__file__))
    base = sys.modules[__name__]
    rows = []
    for fname in sorted(os.listdir(here)):
        if fname.startswith("workloads_") and fname.endswith(".py"):
            spec = importlib.util.spec_from_file_location(f"{__name__}_{fname[:-3]}", os.path.join(here, fname))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            rows += mod.workloads(base)
    return rows


WORKLOADS += _more_workloads()


def get_workload(name: str) -> Workload:
    for w in WORKLOADS:
        if w.name.lower() == name.lower():
            return w
    raise KeyError(f"unknown workload {name!r}; known: {', '.join(w.name for w in WORKLOADS)}")
