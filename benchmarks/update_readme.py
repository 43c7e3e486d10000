"""Regenerate the benchmark table in README.md from a real run.

    python benchmarks/update_readme.py            # python -m tapegrad bench --quick
    python benchmarks/update_readme.py --full     # python -m tapegrad bench (5 repeats, all sizes)

Runs the bench in a child process (so the README records exactly the command a
reader can type), reads its JSON, and rewrites the block between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` with the table, the date,
the machine (CPU model and cores) and the command. Nothing in the table is
typed by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def render(report, command) -> str:
    from tapegrad.cli.bench_report import markdown

    m = report["machine"]
    if m.get("tapegrad_blas") == "none":  # its matmul rows would not be tapegrad's as users get it
        from tapegrad.cli.bench_report import NO_BLAS_WARNING

        raise SystemExit("update_readme: not writing the README. " + NO_BLAS_WARNING)
    when = report["date"].replace("T", " ")
    load = m.get("load_average_1min")
    busy = ""
    if load is not None:
        busy = f" The 1-minute load average was {load} when the run started"
        if load > m["cores"]:
            busy += " (other jobs shared the cores: times are inflated and scattered)"
        busy += "."
    lines = [
        START,
        f"Measured {when} on {m['cpu']} ({m['cores']} cores), Python {m['python']}, "
        f"tapegrad {report['tapegrad_version']}, with",
        "",
        f"    {command}",
        "",
        f"Median of up to {report['repeat']} samples per cell, min–max beside it; a sample "
        "times as many steps as fill about 20 ms (at least one) and reports the time per step, "
        "and each measurement starts after a 0.25 s pause so that thread pools left spinning by "
        "the previous backend (OpenBLAS's, PyTorch's) are idle. Python's cyclic garbage "
        "collector is on, as in programs; the \"(gc off)\" rows time the same step with it off, "
        "as timeit does. "
        "\"vs reference\" is the reference's median over the backend's, at the same thread "
        "count where one is given and the same collector setting (for memory: bytes per node, lower is better). Every backend's loss and gradients were checked against the reference "
        "(or an exact answer) before any time was taken." + busy,
        "",
        markdown(report),
        END,
    ]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        return head + block + tail
    return text.rstrip("\n") + "\n\n## Benchmarks\n\n" + block + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="the full bench instead of --quick")
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    p.add_argument("--workloads", help="only these workloads (comma-separated)")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests
    args = p.parse_args(argv)

    bench_args = ["bench"] + ([] if args.full else ["--quick"])
    if args.workloads:
        bench_args += ["--workloads", args.workloads]
    if args.tiny:
        bench_args += ["--tiny"]
    command = "python -m tapegrad " + " ".join(bench_args)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        env = dict(os.environ, TAPEGRAD_BENCHMARKS=str(ROOT / "benchmarks"))
        proc = subprocess.run([sys.executable, "-m", "tapegrad", *bench_args, "--json", out],
                              cwd=ROOT, env=env)
        if proc.returncode != 0:
            print(f"update_readme: the bench failed (exit {proc.returncode}); README unchanged",
                  file=sys.stderr)
            return proc.returncode
        with open(out) as f:
            report = json.load(f)
    readme = Path(args.readme)
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# tapegrad\n"
    readme.write_text(replace_block(text, render(report, command)), encoding="utf-8")
    print(f"update_readme: rewrote the benchmark block of {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
