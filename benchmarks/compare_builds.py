"""Before/after: two builds of tapegrad timed interleaved, sample by sample.

    python benchmarks/compare_builds.py OLD_PYTHON NEW_PYTHON [--samples 10] [--workloads W1,W2,...]

Each Python (a venv's interpreter with one build of tapegrad installed) runs a
worker process that keeps the workloads set up; the driver asks them in turn
for one sample of each workload (old, new, old, new, ...), so both builds see
the same machine load over the run. A sample is the median of a few timed
steps (as ``python -m tapegrad bench`` measures them, with the workloads of
benchmarks/workloads.py, which both workers load from this checkout). The
table gives each build's median and the ratio new/old: above 1 is slower.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# (workload, size, backend) rows: the native engine at the sizes the README quotes
ROWS = {
    "W1": [("W1", 100, "native")],
    "W2": [("W2", 10**4, "native"), ("W2", 10**5, "native")],
    "W3": [("W3", 10**5, "native")],
    "W4": [("W4", (128, 784, 256, 10), "native-1t"), ("W4", (128, 784, 256, 10), "native-2t")],
    "W5": [("W5", 2000, "native")],
    "matmul": [("matmul", (512, "float32"), "native"), ("matmul", (512, "float64"), "native")],
    "hvp": [("hvp", (64, 256, 256, 128), "native-1t"), ("hvp", (64, 256, 256, 128), "native-2t")],
    "W6": [("W6", 32, "native-1t"), ("W6", 32, "native-2t")],
    "W7": [("W7", 16, "native-1t"), ("W7", 16, "native-2t")],
}

WORKER = r"""
import importlib.util, json, sys, time, gc
spec = importlib.util.spec_from_file_location("workloads", sys.argv[1])
wl = importlib.util.module_from_spec(spec); sys.modules["workloads"] = wl; spec.loader.exec_module(wl)
states = {}
for line in sys.stdin:
    name, size, backend, reps = json.loads(line)
    size = tuple(size) if isinstance(size, list) else size
    key = (name, repr(size), backend)
    w = wl.get_workload(name)
    if key not in states:
        states[key] = w.setup(backend, size)
        w.step(states[key])  # warm-up
    # the states stay set up, but a backend's thread count ("native-1t") is the
    # process's: set it again for each sample, after the other rows' samples
    wl.load_backend(backend)
    times = {}
    for _ in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        phases = w.step(states[key])
        total = time.perf_counter() - t0
        for phase, t in (phases or {"step": total}).items():
            times.setdefault(phase, []).append(t)
    print(json.dumps({p: sorted(v)[len(v) // 2] for p, v in times.items()}), flush=True)
"""


def start(python: str) -> subprocess.Popen:
    return subprocess.Popen([python, "-c", WORKER, os.path.join(HERE, "workloads.py")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd="/")


def ask(worker: subprocess.Popen, row, reps: int) -> dict:
    worker.stdin.write(json.dumps([row[0], row[1], row[2], reps]) + "\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    if not line:
        raise RuntimeError(f"worker died on {row}")
    return json.loads(line)


def fmt(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--reps", type=int, default=5, help="timed steps per sample (its median is the sample)")
    p.add_argument("--workloads", default="W1,W2,W3,W4,W5,matmul")
    args = p.parse_args(argv)
    rows = [r for name in args.workloads.split(",") for r in ROWS[name]]
    workers = {"old": start(args.old), "new": start(args.new)}
    samples: dict = {}
    for _ in range(args.samples):
        for row in rows:
            for build in ("old", "new"):  # interleaved: the same load for both
                for phase, t in ask(workers[build], row, args.reps).items():
                    samples.setdefault((row, phase), {"old": [], "new": []})[build].append(t)
    for w in workers.values():
        w.stdin.close()
        w.wait()
    print(f"| Workload | Size | Backend | Phase | Old | New | New / old |\n|---|---|---|---|---:|---:|---:|")
    for ((name, size, backend), phase), s in samples.items():
        old, new = statistics.median(s["old"]), statistics.median(s["new"])
        print(f"| {name} | {size} | {backend} | {phase} | {fmt(old)} | {fmt(new)} | {new / old:.3f} |")
    print(f"\nmedians of {args.samples} interleaved samples, each the median of {args.reps} steps; "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
