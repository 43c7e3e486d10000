"""``tapegrad bench``'s report: the terminal table, Markdown, and the plot.

``bench.run`` measures; this module only formats what it returns.
"""
from __future__ import annotations

import sys

from .bench import BACKEND_ORDER, MIN_CPU_PER_WALL, UNRELIABLE_MARK, _is_reference, _split


def fmt_value(x, unit):
    if x is None:
        return "-"
    if unit == "B/node":
        return f"{x:.0f} B"
    for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if x >= scale:
            return f"{x / scale:.3g} {suffix}"
    return f"{x * 1e9:.3g} ns"


def table_rows(report):
    """(workload, size, backend, median, min–max, vs reference) strings, in display order."""
    order = {b: i for i, b in enumerate(BACKEND_ORDER)}
    out = []
    from itertools import groupby

    key = lambda r: (r["workload"], r["size"], r["phase"])  # noqa: E731
    for (wname, size, phase), grp in groupby(report["results"], key=key):
        grp = sorted(grp, key=lambda r: (not r.get("gc_enabled", True), order.get(r["backend"], 99)))
        label = wname if phase == "step" else f"{wname} {phase}"
        for r in grp:
            sp = r["speedup_vs_reference"]
            if _is_reference(r["backend"]):
                vs = "1"
            elif sp is None:
                vs = "-"
            elif r["unit"] == "s":
                vs = f"{sp:.3g}x"
            else:  # memory: smaller is better, say which way
                vs = f"{sp:.3g}x less" if sp >= 1 else f"{1 / sp:.3g}x more"
            median = fmt_value(r["median"], r["unit"])
            if r.get("unreliable"):
                median = f"{median} {UNRELIABLE_MARK}"
            backend = backend_label(r["backend"])
            if r.get("gc_enabled") is False:
                backend += " (gc off)"
            out.append((label, size, backend, median,
                        f"{fmt_value(r['min'], r['unit'])} – {fmt_value(r['max'], r['unit'])}", vs))
    return out


def legend_lines(report):
    """What the table's marks mean, for the marks it shows."""
    lines = []
    if any(r.get("gc_enabled") is False for r in report["results"]):
        lines.append("(gc off): Python's cyclic garbage collector off during the step, as timeit "
                     "runs it; the other rows have it on, as programs do")
    if any(r.get("unreliable") for r in report["results"]):
        lines.append(f"{UNRELIABLE_MARK} unreliable: the machine was busy during this measurement "
                     f"(1-minute load average above its {report['machine']['cores']} cores, or "
                     f"less than {MIN_CPU_PER_WALL:g} s of CPU time per second of wall time); "
                     "its times are inflated and scattered: rerun on an idle machine")
    return lines


def unreliable_lines(report):
    return [f"{r['workload']}{'' if r['phase'] == 'step' else ' ' + r['phase']} ({r['size']}) "
            f"{backend_label(r['backend'])}{' (gc off)' if r.get('gc_enabled') is False else ''}: "
            + "; ".join(r["unreliable_reasons"])
            for r in report["results"] if r.get("unreliable")]


HEADERS = ("Workload", "Size", "Backend", "Median", "Min – max", "vs reference")


def backend_label(b):
    labels = {"native": "tapegrad", "reference": "reference", "micrograd": "micrograd",
              "torch": "torch", "numpy": "numpy", "floats": "Python floats"}
    base, n = _split(b)
    if n is None:
        return labels.get(b, b)
    return f"{labels.get(base, base)} {n} thread{'s' if n != 1 else ''}"


def check_lines(report):
    lines = []
    for c in report["checks"]:
        if c["status"] == "agrees":
            continue
        if c["status"] == "disagrees":
            err = c["max_scaled_error"]
            err = "inf" if err is None else f"{err:.3g}"
            lines.append(f"{c['workload']} {backend_label(c['backend'])}: DISAGREES with "
                         f"{c['against']} (worst error {err} x tolerance); no time reported")
    agreed = {}
    for c in report["checks"]:
        if c["status"] == "agrees":
            what = "loss" if c.get("arrays") == 0 else "loss and every gradient"
            agreed.setdefault((c["workload"], c["size"], c["against"], what, c["rtol"], c["atol"]),
                              []).append(backend_label(c["backend"]))
    lines = [f"{wname} ({size}): {', '.join(names)} agree with {against} "
             f"({what} within rtol={rtol:g}, atol={atol:g})"
             for (wname, size, against, what, rtol, atol), names in agreed.items()] + lines
    return lines


def skipped_lines(report):
    return [f"{s['workload']} {backend_label(s['backend'])}"
            + (f" ({s['size']})" if s.get("size") else "") + f": {s['reason']}"
            for s in report["skipped"]]


def print_report(report, file=None):
    file = file or sys.stdout
    rows = table_rows(report)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None
    if Console is not None:
        console = Console(file=file, width=max(110, Console(file=file).width))
        table = Table(title="tapegrad bench: time per step (median of up to "
                            f"{report['repeat']}), lower is better")
        for h in HEADERS:
            table.add_column(h, justify="right" if h in ("Median", "Min – max", "vs reference")
                             else "left", no_wrap=True)
        last = None
        for r in rows:
            if last is not None and r[0] != last:
                table.add_section()
            last = r[0]
            table.add_row(*r)
        console.print(table)
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(HEADERS)]
        line = "  ".join(h.ljust(w_) for h, w_ in zip(HEADERS, widths))
        print(line, file=file)
        print("-" * len(line), file=file)
        for r in rows:
            print("  ".join(c.ljust(w_) if i < 3 else c.rjust(w_)
                            for i, (c, w_) in enumerate(zip(r, widths))), file=file)
    for line in legend_lines(report):
        print(line, file=file)
    print(file=file)
    print("Agreement (checked before timing):", file=file)
    for line in check_lines(report) or ["(no workload with a check was run)"]:
        print("  " + line, file=file)
    if report["skipped"]:
        print("Skipped:", file=file)
        for line in skipped_lines(report):
            print("  " + line, file=file)
    if any(r.get("unreliable") for r in report["results"]):
        print(f"Unreliable ({UNRELIABLE_MARK}):", file=file)
        for line in unreliable_lines(report):
            print("  " + line, file=file)
    m = report["machine"]
    load = m.get("load_average_1min")
    print(f"\n{m['cpu']}, {m['cores']} cores, Python {m['python']}, tapegrad "
          f"{report['tapegrad_version']}, {report['date']}"
          + (f", load average {load} at the start" if load is not None else ""), file=file)
    if m.get("tapegrad_blas") == "none":
        print(NO_BLAS_WARNING, file=file)


NO_BLAS_WARNING = ("This tapegrad was built without OpenBLAS (scipy-openblas32 was not importable "
                   "when it was compiled): its matmul is the built-in loop kernel, several times "
                   "slower. `pip install .` builds in an isolated environment that has it; a "
                   "--no-build-isolation build needs `pip install scipy-openblas32` first.")


def markdown(report) -> str:
    rows = table_rows(report)
    out = ["| " + " | ".join(HEADERS) + " |",
           "|" + "|".join(["---"] * 3 + ["---:"] * 3) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    out.append("")
    out += ["- " + line for line in legend_lines(report)]
    out += ["- " + line for line in check_lines(report)]
    if report["skipped"]:
        out += ["- " + line for line in skipped_lines(report)]
    return "\n".join(out)


def plot(report, path):
    """Speedup vs graph size, log-log, one line per workload phase and backend."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("--plot needs matplotlib, which is not installed "
                "(python -m pip install matplotlib); the table above is complete without it")
    series = {}
    for r in report["results"]:
        if r["unit"] != "s" or _is_reference(r["backend"]) or not r["speedup_vs_reference"]:
            continue
        if not r["nodes"]:
            continue
        label = f"{r['workload']}{'' if r['phase'] == 'step' else ' ' + r['phase']}, " \
                f"{backend_label(r['backend'])}{' (gc off)' if r.get('gc_enabled') is False else ''}"
        series.setdefault(label, []).append((r["nodes"], r["speedup_vs_reference"]))
    fig, ax = plt.subplots(figsize=(7, 5))
    for label, pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("graph size (nodes)")
    ax.set_ylabel("speedup vs tapegrad.reference")
    ax.set_title("tapegrad bench")
    if series:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None
