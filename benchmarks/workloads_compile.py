"""Compiled rows of the bench (issue 17, docs/DESIGN.md Note [Compile]): W1 and W5
with ``tg.compile``, next to eager tapegrad and the tools that trace once and
replay, CasADi (scalar: a ``casadi.SX`` graph, value and gradient as one
``Function``) and ``jax.jit`` (W5).

Two rows each:
- ``W1c`` / ``W5c``: a step in steady state (the tape, the SX Function, the
  jitted function are made in setup). W1c's step is split in two phases:
  ``value+grad`` (the compiled call and backward(); CasADi's Function call)
  and ``update`` (the SGD update of the 337 parameters and zero_grad, in
  Python; CasADi's in NumPy).
- ``W1c-first`` / ``W5c-first``: the first call, tracing included: a fresh
  compiled function (a fresh SX graph and Function, a fresh jit) called once,
  with its backward. The ``native`` backend of these rows is one eager step,
  the yardstick ("at most 3x an eager step").

Loaded by workloads.py (``workloads(base)`` returns its Workload rows). Run
this file directly for a quick table without the runner.
"""
from __future__ import annotations

import time

import numpy as np

LABELS = {
    "native-compiled": "tapegrad tg.compile",
    "reference-compiled": "tapegrad.reference tg.compile",
    "casadi": "CasADi (SX Function)",
    "jax-jit": "jax.jit",
}


class _State:
    pass


def _need(name):
    try:
        return __import__(name)
    except ImportError as exc:
        raise _skip(f"{name} is not importable ({exc})") from None


_skip = Exception  # replaced by base.Skip in workloads()


# ---- W1: micrograd's demo step ---------------------------------------------------------

def _w1_tapegrad(base, backend, size, compiled: bool):
    st = base._w1_setup(backend.replace("-compiled", ""), size)
    tg = base.load_backend(backend.replace("-compiled", ""))
    Value, model, params = tg.Value, st.model, st.params

    def loss(X, y):  # _w1_loss with the data as arguments: numbers, inputs of the tape
        scores = [model([Value(a) for a in row]) for row in X]
        losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        return data_loss + base.W1_ALPHA * sum(p * p for p in params)

    st.loss = tg.compile(loss) if compiled else loss
    st.compile, st.plain_loss = tg.compile, loss
    return st


def _w1_tg_step(st):
    t0 = time.perf_counter()
    loss = st.loss(st.X, st.y)
    loss.backward()
    t1 = time.perf_counter()
    for p in st.params:
        p.data -= 0.05 * p.grad
        p.grad = 0.0
    return {"value+grad": t1 - t0, "update": time.perf_counter() - t1}


def _w1_casadi_graph(casadi, base, st):
    """The W1 loss of symbolic parameters and inputs, and its Function (value, gradient)."""
    n = len(st.init)
    p = casadi.SX.sym("p", n)
    xs = casadi.SX.sym("x", len(st.X) * 2)
    ys = casadi.SX.sym("y", len(st.y))
    it = iter(range(n))
    layers = []
    for nin, nout in zip(base.W1_LAYERS[:-1], base.W1_LAYERS[1:]):
        layers.append([([p[next(it)] for _ in range(nin)], p[next(it)]) for _ in range(nout)])
    losses = []
    for i in range(len(st.X)):
        h = [xs[2 * i], xs[2 * i + 1]]
        for k, neurons in enumerate(layers):
            acts = [sum((w * x for w, x in zip(ws, h)), b) for ws, b in neurons]
            h = acts if k == len(layers) - 1 else [casadi.fmax(a, 0) for a in acts]
        losses.append(casadi.fmax(1 - ys[i] * h[0], 0))
    loss = sum(losses) * (1.0 / len(losses)) + base.W1_ALPHA * casadi.sumsqr(p)
    return casadi.Function("f", [p, xs, ys], [loss, casadi.gradient(loss, p)])


def _w1_casadi_setup(base, size):
    casadi = _need("casadi")
    st = _State()
    X, y = base.moons(size)
    st.X, st.y, st.init = X.tolist(), y.tolist(), base._w1_init()
    st.xv, st.yv = X.reshape(-1), y
    st.p = np.array(st.init)
    st.casadi, st.base = casadi, base
    st.f = _w1_casadi_graph(casadi, base, st)
    return st


def _w1_casadi_step(st):
    t0 = time.perf_counter()
    loss, g = st.f(st.p, st.xv, st.yv)
    g = np.asarray(g).reshape(-1)
    t1 = time.perf_counter()
    st.p -= 0.05 * g
    return {"value+grad": t1 - t0, "update": time.perf_counter() - t1}


def _w1_setup(base, backend, size):
    if backend == "casadi":
        return _w1_casadi_setup(base, size)
    return _w1_tapegrad(base, backend, size, compiled=backend.endswith("-compiled"))


def _w1_check(base, backend, size):
    st = _w1_setup(base, backend, size)
    if backend == "casadi":
        loss, g = st.f(st.p, st.xv, st.yv)
        return base.Check(float(loss), [np.asarray(g).reshape(-1)])
    for _ in range(2):  # the second call replays
        for p in st.params:
            p.grad = 0.0
        loss = st.loss(st.X, st.y)
        loss.backward()
    return base.Check(float(loss.data), [np.array([p.grad for p in st.params])])


def _w1_first_step(st):
    """The first call: tracing (a fresh compile, SX graph or eager step) and a backward."""
    if hasattr(st, "casadi"):
        f = _w1_casadi_graph(st.casadi, st.base, st)
        f(st.p, st.xv, st.yv)
        return None
    loss = (st.compile(st.plain_loss) if st.first_compiled else st.plain_loss)(st.X, st.y)
    loss.backward()
    for p in st.params:
        p.grad = 0.0
    return None


def _w1_first_setup(base, backend, size):
    st = _w1_setup(base, backend, size)
    st.first_compiled = backend.endswith("-compiled")
    return st


# ---- W5: 2000 small elementwise ops on 8x8 float32 ------------------------------------------

def _w5_setup(base, backend, size):
    if backend == "jax-jit":
        jax = _need("jax")
        jnp = jax.numpy
        x, c, d = base._w5_arrays()
        st = _State()
        st.x, st.c, st.d, st.n, st.jax = jnp.asarray(x), jnp.asarray(c), jnp.asarray(d), size, jax

        def make():
            def f(x, c, d):
                y = x
                for _ in range(size // 3):
                    y = jnp.tanh(y * c + d)
                return y.sum()

            return jax.jit(jax.value_and_grad(f))

        st.make = make
        st.f = make()
        st.f(st.x, st.c, st.d)[1].block_until_ready()
        return st
    tg = base.load_backend(backend.replace("-compiled", ""))
    st = base._w5_setup(backend.replace("-compiled", ""), size)
    st.plain = lambda x: base._w5_forward(_with_x(st, x))
    st.compile = tg.compile
    st.compiled = backend.endswith("-compiled")
    st.f = tg.compile(st.plain) if st.compiled else st.plain
    return st


def _with_x(st, x):
    view = _State()
    view.x, view.c, view.d, view.n = x, st.c, st.d, st.n
    return view


def _w5_step(st):
    if hasattr(st, "jax"):
        st.f(st.x, st.c, st.d)[1].block_until_ready()
        return None
    st.f(st.x).backward()
    st.x.zero_grad()
    return None


def _w5_first_step(st):
    if hasattr(st, "jax"):
        st.make()(st.x, st.c, st.d)[1].block_until_ready()
        return None
    f = st.compile(st.plain) if st.compiled else st.plain
    f(st.x).backward()
    st.x.zero_grad()
    return None


def _w5_check(base, backend, size):
    st = _w5_setup(base, backend, size)
    if backend == "jax-jit":
        s, g = st.f(st.x, st.c, st.d)
        return base.Check(float(s), [np.asarray(g, dtype=np.float64)])
    for _ in range(2):
        st.x.zero_grad()
        s = st.f(st.x)
        s.backward()
    return base.Check(float(s.item()), [np.asarray(st.x.grad.numpy(), dtype=np.float64)])


# ---- W2 and W3: scalar graphs of 10^4 and 10^5 nodes, forward and backward timed apart -------

def _chain(x, n):
    y = x
    for _ in range(n):
        y = (y * 0.999 + 0.001).tanh()
    return y


def _fanout(xs, perm):
    return sum(xs[i] * xs[j] for i, j in enumerate(perm))


def _scalar_setup(base, backend, size, which):
    st = _State()
    st.which, st.n = which, size
    data, perm = base._w3_inputs(size)
    st.perm = perm.tolist()
    if backend == "casadi":
        casadi = _need("casadi")
        if which == "W2":
            x = casadi.SX.sym("x")
            y = _chain(x, size)
            st.point = np.array([0.5])
        else:
            x = casadi.SX.sym("x", size)
            y = _fanout([x[i] for i in range(size)], st.perm)
            st.point = data
        st.f = casadi.Function("f", [x], [y, casadi.gradient(y, x)])
        return st
    tg = base.load_backend(backend.replace("-compiled", ""))
    st.inputs = [tg.Value(0.5)] if which == "W2" else [tg.Value(float(v)) for v in data]
    fn = (lambda xs: _chain(xs[0], size)) if which == "W2" else (lambda xs: _fanout(xs, st.perm))
    st.f = tg.compile(fn) if backend.endswith("-compiled") else fn
    return st


def _scalar_step(st):
    if not hasattr(st, "inputs"):
        t0 = time.perf_counter()
        st.f(st.point)
        return {"forward": 0.0, "backward": time.perf_counter() - t0}  # one call: value and gradient
    t0 = time.perf_counter()
    out = st.f(st.inputs)
    t1 = time.perf_counter()
    out.backward()
    t2 = time.perf_counter()
    for x in st.inputs:
        x.grad = 0.0
    return {"forward": t1 - t0, "backward": t2 - t1}


def _scalar_check(base, backend, size, which):
    st = _scalar_setup(base, backend, size, which)
    if not hasattr(st, "inputs"):
        y, g = st.f(st.point)
        return base.Check(float(y), [np.asarray(g).reshape(-1)])
    for _ in range(2):
        for x in st.inputs:
            x.grad = 0.0
        out = st.f(st.inputs)
        out.backward()
    return base.Check(float(out.data), [np.array([x.grad for x in st.inputs])])


def _scalar_rows(base):
    rows = []
    for which, title, nodes in (("W2", "deep chain y = tanh(y*0.999 + 0.001)", lambda n: 5 * n + 1),
                                ("W3", "fan-out s = sum(x[i]*x[(i*7919)%n]), x passed in", lambda n: 3 * n + 1)):
        rows.append(base.Workload(
            name=f"{which}c", title=f"{which} compiled: {title}",
            backends=("native", "native-compiled", "casadi"),
            sizes=(10**4, 10**5), quick_sizes=(10**4,), tiny_sizes=(200,),
            setup=lambda b, n, w=which: _scalar_setup(base, b, n, w), step=_scalar_step,
            check=lambda b, n, w=which: _scalar_check(base, b, n, w), phases=("forward", "backward"),
            size_label=base._pow10, nodes=nodes, rtol=1e-9, atol=1e-9,
            notes="CasADi: one Function call for value and gradient (reported as backward)",
        ))
    return rows


def workloads(base):
    """The Workload rows of this file, built on workloads.py's helpers (``base``)."""
    global _skip
    _skip = base.Skip
    base.BACKEND_LABELS.update(LABELS)
    common_w1 = dict(sizes=(100,), quick_sizes=(100,), tiny_sizes=(8,), size_label=lambda n: f"{n} pts",
                     rtol=1e-9, atol=1e-12)
    common_w5 = dict(sizes=(2000,), quick_sizes=(2000,), tiny_sizes=(60,), size_label=lambda n: f"{n} ops",
                     nodes=lambda n: n + 1, rtol=1e-3, atol=1e-5)
    return [
        base.Workload(
            name="W1c", title="W1 compiled: micrograd demo step, replayed (value+grad, then the SGD update)",
            backends=("native", "native-compiled", "reference-compiled", "casadi"),
            setup=lambda b, n: _w1_setup(base, b, n), step=_w1_tg_step_or_casadi,
            check=lambda b, n: _w1_check(base, b, n), phases=("value+grad", "update"), **common_w1,
            notes="X, y passed as arguments (numbers: inputs of the tape); CasADi: SX graph of p, x, y, "
                  "Function [loss, gradient(loss, p)], NumPy update",
        ),
        base.Workload(
            name="W1c-first", title="W1 first call: tracing + backward (native: one eager step)",
            backends=("native", "native-compiled", "casadi"),
            setup=lambda b, n: _w1_first_setup(base, b, n), step=_w1_first_step,
            check=lambda b, n: _w1_check(base, b, n), **common_w1,
        ),
        base.Workload(
            name="W5c", title="W5 compiled: 2000 elementwise ops on 8x8 float32, forward+backward",
            backends=("native", "native-compiled", "reference-compiled", "jax-jit"),
            setup=lambda b, n: _w5_setup(base, b, n), step=_w5_step,
            check=lambda b, n: _w5_check(base, b, n), **common_w5,
        ),
        base.Workload(
            name="W5c-first", title="W5 first call: tracing/compiling + forward+backward (native: one eager call)",
            backends=("native", "native-compiled", "jax-jit"),
            setup=lambda b, n: _w5_setup(base, b, n), step=_w5_first_step,
            check=lambda b, n: _w5_check(base, b, n), **common_w5,
        ),
    ] + _scalar_rows(base)


def _w1_tg_step_or_casadi(st):
    return _w1_casadi_step(st) if hasattr(st, "casadi") else _w1_tg_step(st)


if __name__ == "__main__":  # a quick table: best of a few runs per row
    import gc
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import workloads as base_mod

    for w in workloads(base_mod):
        for b in w.backends:
            try:
                st = w.setup(b, w.sizes[0])
            except Exception as exc:  # noqa: BLE001 - a report, not a test
                print(f"{w.name:10s} {b:20s} skipped: {exc}")
                continue
            first = "first" in w.name
            reps = 3 if first else 30
            best = float("inf")
            for _ in range(reps):
                t0 = time.perf_counter()
                ph = w.step(st)
                best = min(best, time.perf_counter() - t0)
            print(f"{w.name:10s} {b:20s} {best * 1e3:10.3f} ms", ph if ph else "")
            gc.collect()
