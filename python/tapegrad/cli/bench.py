"""``tapegrad bench``: check that every backend agrees, then time the workloads.

The workloads themselves live in ``benchmarks/workloads.py`` (one definition,
shared with the pytest-benchmark runs); this module finds that file, runs it,
and formats the results (terminal table, Markdown, JSON, plot).
"""
from __future__ import annotations

import datetime
import gc
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from . import progress as _progress

# Backends shown in this order; the speedup of each is reference time / its time.
# --quick: a measurement stops repeating once its samples add up to this many seconds.
QUICK_BUDGET = 1.0
# A timed sample runs enough steps to last about this long (see _measure_times).
SAMPLE_SECONDS = 0.02
# Each measurement starts after this pause: BLAS and OpenMP thread pools keep
# spinning for a while after their last call (OpenBLAS's for about 0.1 s), and
# on a 2-core machine a pool left spinning by the previous backend (NumPy's,
# PyTorch's) steals a core from the next one's own threads.
SETTLE_SECONDS = 0.25
# A row is marked unreliable when the machine was busy while it was measured:
# the 1-minute load average above the core count, or the process getting less
# than this much CPU time per second of wall time (other processes had the cores).
MIN_CPU_PER_WALL = 0.8
UNRELIABLE_MARK = "!"

BACKEND_ORDER = ("native", "reference", "micrograd", "torch", "native-1t", "reference-1t", "torch-1t",
                 "native-2t", "reference-2t", "torch-2t", "numpy")


def _split(backend):
    """("torch", 2) for "torch-2t", ("torch", None) for "torch" (the names of workloads.py)."""
    return load_workloads().split_backend(backend)


def _is_reference(backend):
    return _split(backend)[0] == "reference"


# ---------------------------------------------------------------------------
# Finding the workloads

def _candidate_dirs():
    env = os.environ.get("TAPEGRAD_BENCHMARKS")
    if env:
        yield Path(env)
    # editable installs and source checkouts: python/tapegrad/cli -> repository root
    yield Path(__file__).resolve().parents[3] / "benchmarks"
    # wheels ship the same file (CMakeLists.txt installs benchmarks/workloads.py here)
    yield Path(__file__).resolve().parents[1] / "_benchmarks"
    yield Path.cwd() / "benchmarks"


def load_workloads():
    """Import ``benchmarks/workloads.py`` from the source tree, or explain where it is looked for."""
    mod = sys.modules.get("tg_bench_workloads")
    if mod is not None:
        return mod
    tried = []
    for d in _candidate_dirs():
        path = d / "workloads.py"
        tried.append(str(path))
        if path.is_file():
            spec = importlib.util.spec_from_file_location("tg_bench_workloads", path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = mod
            spec.loader.exec_module(mod)
            return mod
    raise SystemExit(
        "tapegrad bench: the workload definitions (benchmarks/workloads.py) were not found; "
        "reinstall tapegrad, or set TAPEGRAD_BENCHMARKS to the folder that holds it. "
        "Looked in: " + ", ".join(tried)
    )


# ---------------------------------------------------------------------------
# Agreement

def _scaled_error(got, want, rtol, atol) -> float:
    """max |got - want| / (atol + rtol |want|): at most 1 means the arrays agree (np.allclose)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf
    both_nan = np.isnan(got) & np.isnan(want)
    same_inf = np.isinf(got) & (got == want)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(got - want) / (atol + rtol * np.abs(want))
    err = np.where(both_nan | same_inf, 0.0, err)
    err = np.where(np.isnan(err), math.inf, err)
    return float(err.max()) if err.size else 0.0


def compare(check, oracle, rtol, atol) -> float:
    errs = [0.0]
    if check.loss is not None and oracle.loss is not None:
        errs.append(_scaled_error(check.loss, oracle.loss, rtol, atol))
    if len(check.arrays) != len(oracle.arrays):
        return math.inf
    errs += [_scaled_error(a, b, rtol, atol) for a, b in zip(check.arrays, oracle.arrays)]
    return max(errs)


def _corrupt(check):
    """The test hook (--inject-wrong): a backend that is off by 1% everywhere."""
    check.loss = None if check.loss is None else check.loss * 1.01 + 1e-3
    check.arrays = [np.asarray(a, dtype=np.float64) * 1.01 + 1e-3 for a in check.arrays]
    return check


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


# ---------------------------------------------------------------------------
# Running

def _sizes(w, mode, sizes_override):
    if sizes_override is not None:
        picked = [s for s in w.sizes + w.quick_sizes + w.tiny_sizes
                  if w.size_label(s) in sizes_override or str(s) in sizes_override]
        out = []
        for s in picked:
            if s not in out:
                out.append(s)
        return tuple(out)
    return {"full": w.sizes, "quick": w.quick_sizes, "tiny": w.tiny_sizes}[mode]


def _measure_times(w, backend, size, repeat, budget=None, gc_enabled=True):
    """Take ``repeat`` timed samples; returns ({phase: [seconds per step, ...]}, CPU/wall).

    A sample runs as many steps as fill about SAMPLE_SECONDS (at least one),
    sized from the first step, as timeit's autorange does. With a ``budget``
    (seconds, --quick), stop early once the samples taken so far add up to
    more than it: a slow backend then gets fewer repeats, never none.

    Python's cyclic garbage collector stays on, as in the programs that use
    these libraries: what it costs a backend whose objects form cycles is
    part of that backend's time. With ``gc_enabled=False`` it
    is off and each sample starts after a collection, as timeit does (the
    "(gc off)" rows). CPU/wall is the process's CPU time over the wall time
    of the samples kept: below MIN_CPU_PER_WALL, other processes had the cores.
    """
    state = w.setup(backend, size)
    time.sleep(SETTLE_SECONDS)
    times = {ph: [] for ph in w.phases}
    inner = None  # steps per sample, once the first step has been timed
    spent = cpu = 0.0
    gc_was = gc.isenabled()
    if gc_enabled:
        gc.enable()
    else:
        gc.disable()
    try:
        while len(times[w.phases[0]]) < repeat:
            if budget is not None and spent > budget:
                break
            n = inner or 1
            total = dict.fromkeys(w.phases, 0.0)
            if not gc_enabled:
                gc.collect()
            c0 = time.process_time()
            t0 = time.perf_counter()
            for _ in range(n):
                t = time.perf_counter()
                phases = w.step(state)
                if phases is None:
                    phases = {w.phases[0]: time.perf_counter() - t}
                for ph in w.phases:
                    total[ph] += phases[ph]
            elapsed = time.perf_counter() - t0
            used = time.process_time() - c0
            if inner is None:
                inner = max(1, min(1000, int(SAMPLE_SECONDS / max(elapsed, 1e-9))))
                if elapsed < 0.25:
                    continue  # a cheap first step is a warm-up; a slow one is kept as a sample
            spent += elapsed
            cpu += used
            for ph in w.phases:
                times[ph].append(total[ph] / n)
    finally:
        if gc_was:
            gc.enable()
        else:
            gc.disable()
    del state
    gc.collect()
    return times, (cpu / spent if spent > 0 else None)


def _load_average():
    """The 1-minute load average, or None where the platform has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def unreliable_reasons(load, cores, cpu_per_wall):
    """Why a measurement taken under these conditions may be inflated or scattered ([] if none)."""
    reasons = []
    if load is not None and cores and load > cores:
        reasons.append(f"1-minute load average {load:g} above the {cores} cores")
    if cpu_per_wall is not None and cpu_per_wall < MIN_CPU_PER_WALL:
        reasons.append(f"CPU time / wall time {cpu_per_wall:.2f} below {MIN_CPU_PER_WALL:g}")
    return reasons


def _gc_variants(w, backend):
    """(True,) for a backend timed as users run it; (True, False) if also timed with the GC off."""
    return (True, False) if backend in w.gc_off_too else (True,)


def run(workload_names=None, mode="quick", repeat=None, backends=None, sizes=None,
        inject_wrong=None, show_progress=True):
    """Check agreement and time every selected workload; returns the report (a dict)."""
    W = load_workloads()
    selected = W.WORKLOADS if not workload_names else [W.get_workload(n) for n in workload_names]
    if repeat is None:
        repeat = {"full": 5, "quick": 3, "tiny": 1}[mode]

    plan = []
    for w in selected:
        # "native" also selects native-1t, native-2t...
        bks = [b for b in w.backends
               if backends is None or b in backends or _split(b)[0] in backends]
        plan.append((w, bks, _sizes(w, mode, sizes)))
    total = sum(sum(len(_gc_variants(w, b)) for b in bks) * len(sz)
                + len(bks) * ((len(sz) if w.check_each_size else 1) if w.check else 0)
                for w, bks, sz in plan)

    report = {
        "schema": 1,
        "tapegrad_version": _version(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "command": "python -m tapegrad " + " ".join(sys.argv[1:]) if sys.argv[1:] else "",
        "mode": mode,
        "repeat": repeat,
        "unreliable_when": {"load_average_1min_above": os.cpu_count(),
                            "cpu_per_wall_below": MIN_CPU_PER_WALL},
        "checks": [],
        "results": [],
        "skipped": [],
    }
    bar = _progress.make(total, enabled=show_progress)
    try:
        for w, bks, size_list in plan:
            _run_workload(W, w, bks, size_list, repeat, mode, inject_wrong, bar, report)
    finally:
        bar.close()
    return report


def _check_size(W, w, bks, size, inject_wrong, bar, report, usable):
    """Run every backend's check at ``size``; record agreement; mark the ones not to time."""
    checks = {}
    failed = {}
    for b in bks:
        bar.advance(f"{w.name} check {w.size_label(size)} {W.BACKEND_LABELS.get(b, b)}")
        try:
            checks[b] = w.check(b, size)
            if inject_wrong == b:
                checks[b] = _corrupt(checks[b])
        except W.Skip as exc:
            failed[b] = f"skipped: {exc}"
        except Exception as exc:  # a backend that crashes on the workload is reported, not fatal
            failed[b] = f"failed: {_reason(exc)}"
    if w.oracle is not None:
        oracle, against = w.oracle(size), w.oracle_name
    elif any(_is_reference(b) for b in checks):
        oracle, against = checks[next(b for b in checks if _is_reference(b))], "tapegrad.reference"
    elif checks:
        first = next(iter(checks))
        oracle = checks[first]
        against = f"{W.BACKEND_LABELS.get(first, first)} (the reference could not run)"
    else:
        oracle, against = None, None
    for b in bks:
        entry = {"workload": w.name, "size": w.size_label(size), "backend": b,
                 "against": against, "rtol": w.rtol, "atol": w.atol,
                 "loss": None, "max_scaled_error": None, "nodes": None}
        if b in failed:
            usable[b] = failed[b]
            entry["status"], entry["reason"] = failed[b].split(": ", 1)
        else:
            c = checks[b]
            err = compare(c, oracle, w.rtol, w.atol)
            entry.update(loss=c.loss, nodes=c.nodes, arrays=len(c.arrays),
                         max_scaled_error=None if math.isinf(err) else err)
            if err <= 1.0:
                entry["status"] = "agrees"
                usable.setdefault(b, None)
            else:
                entry["status"] = "disagrees"
                usable[b] = (f"disagrees with {against} at {w.size_label(size)} (worst error "
                             f"{err:.3g} x tolerance rtol={w.rtol:g}, atol={w.atol:g}); "
                             "no time reported")
        report["checks"].append(entry)


def _run_workload(W, w, bks, size_list, repeat, mode, inject_wrong, bar, report):
    usable = {}  # backend -> None if fine to time, else the reason it is not
    if w.check is not None and size_list:
        if w.check_each_size:
            check_sizes = size_list
        else:  # one check, at the smallest graph: the code paths are the same at every size
            check_sizes = [min(size_list, key=lambda s: (w.nodes(s) or 0))]
        for size in check_sizes:
            _check_size(W, w, [b for b in bks if usable.get(b) is None], size, inject_wrong,
                        bar, report, usable)
    for b in bks:
        if usable.get(b) is not None:
            report["skipped"].append({"workload": w.name, "backend": b, "reason": usable[b]})

    ref_medians = {}
    rows = []
    cores = os.cpu_count()
    for size in size_list:
        for b, gc_enabled in [(b, on) for on in (True, False) for b in bks
                              if on in _gc_variants(w, b)]:
            bar.advance(f"{w.name} {w.size_label(size)} {W.BACKEND_LABELS.get(b, b)}"
                        + ("" if gc_enabled else " (gc off)"))
            if usable.get(b) is not None:
                continue
            load = _load_average()
            try:
                if w.measure is not None:  # in a child process: its CPU time is not ours
                    w.setup(b, size)
                    n = 1 if mode != "full" else min(repeat, 3)
                    samples = {w.phases[0]: [w.measure(b, size) for _ in range(n)]}
                    cpu_per_wall = None
                else:
                    samples, cpu_per_wall = _measure_times(
                        w, b, size, repeat, budget=QUICK_BUDGET if mode == "quick" else None,
                        gc_enabled=gc_enabled)
            except W.Skip as exc:
                report["skipped"].append({"workload": w.name, "backend": b,
                                          "size": w.size_label(size), "reason": f"skipped: {exc}"})
                continue
            except Exception as exc:
                report["skipped"].append({"workload": w.name, "backend": b,
                                          "size": w.size_label(size),
                                          "reason": f"failed: {_reason(exc)}"})
                continue
            loads = [x for x in (load, _load_average()) if x is not None]
            load = max(loads) if loads else None
            reasons = unreliable_reasons(load, cores, cpu_per_wall)
            for ph, xs in samples.items():
                med = statistics.median(xs)
                nodes = w.nodes(size)
                if nodes is None:  # fall back on the graph the check counted, if any
                    nodes = next((c["nodes"] for c in report["checks"]
                                  if c["workload"] == w.name and c["size"] == w.size_label(size)
                                  and c["nodes"]), None)
                row = {"workload": w.name, "title": w.title, "notes": w.notes,
                       "size": w.size_label(size),
                       "nodes": nodes, "phase": ph, "backend": b, "unit": w.unit,
                       "median": med, "min": min(xs), "max": max(xs), "samples": xs,
                       "speedup_vs_reference": None, "gc_enabled": gc_enabled,
                       "cpu_per_wall": cpu_per_wall, "load_average_1min": load,
                       "unreliable": bool(reasons), "unreliable_reasons": reasons}
                rows.append(row)
                # "vs reference" pairs thread counts (native-1t with reference-1t) and GC settings
                if _is_reference(b):
                    ref_medians[(row["size"], ph, _split(b)[1], gc_enabled)] = med
    size_idx = {w.size_label(s): i for i, s in enumerate(size_list)}
    order = {b: i for i, b in enumerate(BACKEND_ORDER)}
    rows.sort(key=lambda r: (size_idx[r["size"]], w.phases.index(r["phase"]),
                             not r["gc_enabled"], order.get(r["backend"], 99)))
    for row in rows:
        threads, gc_enabled = _split(row["backend"])[1], row["gc_enabled"]
        ref = ref_medians.get((row["size"], row["phase"], threads, gc_enabled),
                              ref_medians.get((row["size"], row["phase"], None, gc_enabled)))
        if ref is not None and row["median"] > 0:
            row["speedup_vs_reference"] = ref / row["median"]
    report["results"].extend(rows)


def _version():
    try:
        import tapegrad

        return tapegrad.__version__
    except Exception:  # pragma: no cover
        return "unknown"


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    # a busy machine inflates and scatters every number: record how busy it was
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(terse=True), "load_average_1min": _load_average(),
            "tapegrad_blas": _native_blas()}


def _native_blas():
    """tapegrad._blas.blas_info's "tapegrad" entry ("none": matmul is the loop kernel), or None."""
    try:
        import tapegrad
        from tapegrad import _blas
    except ImportError:
        return None
    core = getattr(tapegrad, "_core", None)
    return None if core is None else _blas.blas_info(core)["tapegrad"]


def main(args) -> int:
    if args.tiny:
        mode = "tiny"
    elif args.quick:
        mode = "quick"
    else:
        mode = "full"
    names = None
    if args.workloads:
        names = [n for part in args.workloads for n in part.split(",") if n]
    backends = None
    if args.backends:
        backends = {b for part in args.backends for b in part.split(",") if b}
    sizes = None
    if args.sizes:
        sizes = {s for part in args.sizes for s in part.split(",") if s}
    try:
        report = run(names, mode=mode, repeat=args.repeat, backends=backends, sizes=sizes,
                     inject_wrong=args.inject_wrong, show_progress=not args.no_progress)
    except KeyError as exc:
        print(f"tapegrad bench: {exc.args[0]}", file=sys.stderr)
        return 2
    from .bench_report import plot, print_report

    print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=_json_default)
        print(f"wrote {args.json}")
    if args.plot:
        problem = plot(report, args.plot)
        if problem:
            print(f"tapegrad bench: {problem}", file=sys.stderr)
            return 1
        print(f"wrote {args.plot}")
    return 0


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return str(obj)
