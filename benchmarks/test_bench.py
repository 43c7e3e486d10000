"""pytest-benchmark runs of the workloads in ``workloads.py`` (no second copy of them).

Not part of the test suite (testpaths is tests/); run explicitly:

    python -m pytest benchmarks/test_bench.py                  # the --quick sizes
    TAPEGRAD_BENCH_SIZES=full python -m pytest benchmarks/test_bench.py
    python -m pytest benchmarks/test_bench.py -k "W1 and native" --benchmark-compare

Each case first checks its backend against the reference (or the exact answer),
as ``tapegrad bench`` does, and is skipped with the reason when the backend or
a part of it is missing.
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import workloads as W  # noqa: E402

pytest.importorskip("pytest_benchmark", reason="needs pytest-benchmark")

MODE = os.environ.get("TAPEGRAD_BENCH_SIZES", "quick")


def _cases():
    for w in W.WORKLOADS:
        if w.measure is not None:  # memory is measured in child processes, not timed
            continue
        sizes = {"full": w.sizes, "quick": w.quick_sizes, "tiny": w.tiny_sizes}[MODE]
        for size in sizes:
            for b in w.backends:
                yield pytest.param(w, size, b, id=f"{w.name}-{w.size_label(size)}-{b}")


def _agrees(w, size, backend):
    try:
        got = w.check(backend, size)
        want = w.oracle(size) if w.oracle else w.check("reference", size)
    except W.Skip as exc:
        pytest.skip(str(exc))
    except Exception as exc:
        if W.split_backend(backend)[0] in ("native", "reference"):
            raise  # our own backends must run every workload
        # e.g. micrograd's recursive topological sort on a 10^4-deep graph
        pytest.skip(f"{backend} failed: {type(exc).__name__}: {exc}")
    import numpy as np

    if got.loss is not None and want.loss is not None:
        np.testing.assert_allclose(got.loss, want.loss, rtol=w.rtol, atol=w.atol)
    for a, b in zip(got.arrays, want.arrays):
        np.testing.assert_allclose(a, b, rtol=w.rtol, atol=w.atol)


@pytest.mark.parametrize("w, size, backend", list(_cases()))
def test_workload(benchmark, w, size, backend):
    if w.check is not None:
        _agrees(w, size, backend)
    try:
        state = w.setup(backend, size)
    except W.Skip as exc:
        pytest.skip(str(exc))
    benchmark.group = f"{w.name} {w.size_label(size)}"
    benchmark.pedantic(w.step, args=(state,), rounds=5 if MODE == "full" else 3,
                       warmup_rounds=1)
