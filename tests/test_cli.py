"""The command line: ``python -m tapegrad explain | bench | demo``.

Most tests run the CLI in a subprocess, as a user would. The bench runs use the
hidden ``--tiny`` sizes so that each takes a second or two.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tapegrad.cli.exprparse import ExpressionError, evaluate, parse_bindings

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("native", "reference")


def run_cli(*args, check=True, timeout=120, **environ):
    env = dict(os.environ, TAPEGRAD_BENCHMARKS=str(ROOT / "benchmarks"), **environ)
    proc = subprocess.run([sys.executable, "-m", "tapegrad", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\n"
                             f"stderr:\n{proc.stderr}")
    return proc


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def backend(request):
    return request.param


# -- explain ----------------------------------------------------------------------------


def test_explain_worked_examples(backend):
    out = run_cli("explain", "--backend", backend).stdout
    # simple example: y = (x1 + x2) * x3 at (4, 2, -5)
    for line in ("y = -30", "dy/dx1 = -5", "dy/dx2 = -5", "dy/dx3 = 6"):
        assert line in out.splitlines(), line
    # five-node example at (-7, 2, 2, -1): the fan-out at u2 sums -20 and -40
    for line in ("y = 40", "dy/dx1 = -8", "dy/dx2 = -8", "dy/dx3 = 60", "dy/dx4 = -120"):
        assert line in out.splitlines(), line
    assert "-60" in out


def test_explain_expression(backend):
    out = run_cli("explain", '(a+b)*c', "a=4", "b=2", "c=-5", "--backend", backend).stdout
    lines = out.splitlines()
    for line in ("y = -30", "dy/da = -5", "dy/db = -5", "dy/dc = 6"):
        assert line in lines, line


def test_explain_functions_and_powers(backend):
    out = run_cli("explain", "tanh(x) ** 2 + 2 ** x - abs(-x) / sqrt(x)", "x=0.5",
                  "--backend", backend).stdout
    import math

    x = 0.5
    y = math.tanh(x) ** 2 + 2 ** x - x / math.sqrt(x)
    dy = (2 * math.tanh(x) * (1 - math.tanh(x) ** 2) + 2 ** x * math.log(2)
          - 0.5 / math.sqrt(x))
    got = dict(line.split(" = ") for line in out.splitlines()
               if line.startswith(("y = ", "dy/dx = ")))
    assert float(got["y"]) == pytest.approx(y, rel=1e-5)
    assert float(got["dy/dx"]) == pytest.approx(dy, rel=1e-5)


def test_explain_expression_has_a_key_to_its_names(backend):
    out = run_cli("explain", "tanh((a+b)*2) + a", "a=0.5", "b=-1", "--backend", backend).stdout
    lines = out.splitlines()
    assert lines[0] == "y = tanh((a+b)*2) + a at a=0.5, b=-1"
    start = lines.index("key: each computed node, how it was computed, and the part of the "
                        "expression it is")
    key = [line.split() for line in lines[start + 1:start + 6]]
    assert key == [
        ["u1", "=", "a", "+", "b"],                          # the same as the source: said once
        ["c1", "=", "2", "a", "constant"],
        ["u2", "=", "u1", "*", "c1", "(a+b)*2"],
        ["u3", "=", "tanh(u2)", "tanh((a+b)*2)"],
        ["y", "=", "u3", "+", "a", "tanh((a+b)*2)", "+", "a"],
    ]
    assert lines[start + 6].startswith("backward pass of y")
    # every name in the table is an input or in the key
    table = out.split("backward pass of y")[1].split("\n\n")[0].splitlines()
    named = {row.split()[1] for row in table if re.match(r" *\d+  ", row)}
    assert named == {"a", "b", "c1", "u1", "u2", "u3", "y"}


@pytest.mark.parametrize("bound, out_name, prefix", [
    (["x=1", "y=2"], "f", "u"),                 # an input called y
    (["y=2", "f=1", "x=1"], "out", "u"),
    (["u1=3", "y=2", "x=1"], "f", "v"),         # an input called like an intermediate node
])
def test_explain_input_names_do_not_collide(backend, bound, out_name, prefix):
    names = [b.split("=")[0] for b in bound]
    expr = " * ".join(names) + " + " + names[0]
    out = run_cli("explain", expr, *bound, "--backend", backend).stdout
    lines = out.splitlines()
    assert lines[0].startswith(f"{out_name} = {expr} at ")
    assert "#" not in out  # no "y#2": every name is taken once
    assert f"backward pass of {out_name}:" in out
    assert re.search(rf"\n  {prefix}1 += {names[0]} \* {names[1]}\n", out)
    values = dict(b.split("=") for b in bound)
    for name in names:  # d out / d input for each input, under the input's own name
        others = [float(values[n]) for n in names if n != name]
        want = float(np.prod(others)) + (1.0 if name == names[0] else 0.0)
        assert f"d{out_name}/d{name} = {want:g}" in lines, name


def test_output_names():
    from tapegrad.cli.explain import output_names

    assert output_names({"a": 1.0}) == ("y", "u", "c")
    assert output_names({"y": 1.0, "u2": 1.0, "c": 1.0}) == ("f", "v", "c")
    assert output_names({"c1": 1.0, "u": 1.0}) == ("y", "u", "k")
    crowded = {n: 1.0 for n in ("y", "f", "out", "result", "u1", "v1", "w1", "t1", "c1", "k1",
                                "const1")}
    out, inter, const = output_names(crowded)
    assert out not in crowded and f"{inter}1" not in crowded and f"{const}1" not in crowded


LONG_EXPR = ("sigmoid(alpha_parameter*beta_parameter + gamma_parameter*3.14159) * "
             "exp(-delta_parameter/epsilon_parameter) + log(abs(alpha_parameter - "
             "beta_parameter*gamma_parameter*delta_parameter*epsilon_parameter))")


@pytest.mark.parametrize("args", [
    (),  # the two worked examples (the second one's title is longer than 100 columns)
    (LONG_EXPR, "alpha_parameter=0.5", "beta_parameter=-1.25", "gamma_parameter=2",
     "delta_parameter=0.3", "epsilon_parameter=1.7"),
    ("tanh(x) ** 2 + 2 ** x - abs(-x) / sqrt(x) + x*x*x*x*x*x*x*x", "x=0.123456789"),
], ids=["worked-examples", "long-names", "fan-out"])
def test_explain_fits_100_columns(backend, args):
    out = run_cli("explain", *args, "--backend", backend).stdout
    wide = [line for line in out.splitlines() if len(line) > 100]
    assert not wide, "\n".join(wide)
    assert "backward pass of" in out


@pytest.mark.parametrize("expr, message", [
    ("__import__('os')", "call of __import__ is not allowed"),
    ("a.__class__", "attribute access is not allowed"),
    ("(lambda: a)()", "not allowed"),
    ("lambda: a", "lambda is not allowed"),
    ("a + d", "name 'd' is not bound"),
    ("a[0]", "indexing is not allowed"),
    ("'text'", "only real numbers"),
    ("a @ a", "operator MatMult is not allowed"),
    ("a if a else 1", "conditional expression is not allowed"),
    ("exp(a, 2)", "exactly one positional argument"),
    ("open('x')", "call of open is not allowed"),
    ("[x for x in ()]", "comprehension is not allowed"),
    ("a +", "cannot parse"),
    ("True * a", "only real numbers"),
])
def test_safe_parser_rejects(expr, message):
    import tapegrad.reference as ref

    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace("'", "'")):
        evaluate(expr, {"a": 1.0}, ref.Value)


def test_safe_parser_bindings():
    assert parse_bindings(["a=4", "b=-2.5"]) == {"a": 4.0, "b": -2.5}
    for bad, message in (("a", "NAME=VALUE"), ("1a=2", "not a valid variable name"),
                         ("a=x", "not a number"), ("tanh=1", "function name")):
        with pytest.raises(ExpressionError, match=message):
            parse_bindings([bad])


def test_safe_parser_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    proc = run_cli("explain", f"__import__('os').system('touch {marker}')", check=False)
    assert proc.returncode == 2
    assert "tapegrad explain: error:" in proc.stderr and "not allowed" in proc.stderr
    assert not marker.exists()


def test_explain_unbound_name_is_a_clear_error():
    proc = run_cli("explain", "x * y", "x=1", check=False)
    assert proc.returncode == 2
    assert "name 'y' is not bound" in proc.stderr and "y=1.0" in proc.stderr


def test_explain_draw(tmp_path, backend):
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' is not installed")
    path = tmp_path / "graph.svg"
    run_cli("explain", "a*b + a", "a=2", "b=3", "--backend", backend, "--draw", str(path))
    assert path.exists() and "<svg" in path.read_text()


def test_explain_draw_without_dot_writes_the_dot_text(tmp_path, backend):
    empty = tmp_path / "bin"
    empty.mkdir()
    path = tmp_path / "graph.svg"
    proc = run_cli("explain", "a*b + a", "a=2", "b=3", "--backend", backend, "--draw", str(path),
                   PATH=str(empty))  # no Graphviz dot on PATH
    assert not path.exists()
    assert (tmp_path / "graph.dot").read_text().startswith("digraph tapegrad {")
    assert f"wrote {tmp_path / 'graph.dot'}" in proc.stdout.splitlines()
    assert proc.stderr.startswith("tapegrad explain: Graphviz's 'dot' program is not installed")
    assert "Warning" not in proc.stderr  # one clear line, not a warnings traceback


# -- bench ------------------------------------------------------------------------------


def bench_json(tmp_path, *args):
    out = tmp_path / "bench.json"
    proc = run_cli("bench", "--tiny", "--no-progress", "--json", str(out), *args)
    return proc, json.loads(out.read_text())


def test_bench_json_schema(tmp_path):
    proc, report = bench_json(tmp_path, "--workloads", "W2,W3")
    assert report["schema"] == 1 and report["mode"] == "tiny"
    assert {"cpu", "cores", "python", "platform"} <= set(report["machine"])
    assert {"date", "command", "repeat", "checks", "results", "skipped"} <= set(report)
    assert report["unreliable_when"] == {"load_average_1min_above": os.cpu_count(),
                                         "cpu_per_wall_below": 0.8}
    assert {r["workload"] for r in report["results"]} <= {"W2", "W3"}
    ran = {r["backend"] for r in report["results"]}
    assert "reference" in ran
    for r in report["results"]:
        assert {"workload", "size", "phase", "backend", "unit", "median", "min", "max",
                "samples", "speedup_vs_reference", "nodes", "gc_enabled", "cpu_per_wall",
                "load_average_1min", "unreliable", "unreliable_reasons"} <= set(r)
        assert r["unreliable"] == bool(r["unreliable_reasons"])
        assert r["phase"] in ("forward", "backward") and r["unit"] == "s"
        assert r["min"] <= r["median"] <= r["max"]
        if r["backend"] == "reference":
            assert r["speedup_vs_reference"] == pytest.approx(1.0)
    for c in report["checks"]:
        assert c["status"] in ("agrees", "disagrees", "skipped", "failed")
    w3 = [c for c in report["checks"] if c["workload"] == "W3" and c["status"] == "agrees"]
    assert w3 and all(c["against"] == "exact answer" for c in w3)
    # micrograd 0.1.0 has no tanh: W2 says so instead of failing the run
    if any(c["backend"] == "micrograd" for c in report["checks"]):
        assert any(s["workload"] == "W2" and s["backend"] == "micrograd"
                   for s in report["skipped"])
    assert "Workload" in proc.stdout and "Agreement" in proc.stdout


def test_bench_our_backends_run_and_agree_on_every_workload(tmp_path):
    _, report = bench_json(tmp_path, "--workloads", "W1,W4,W5,matmul",
                           "--backends", "native,reference")
    for c in report["checks"]:
        assert c["status"] in ("agrees", "skipped"), c  # never "disagrees" nor "failed"
    # W4 runs each backend at 1 and 2 threads ("native-1t"...): compare base names
    ran = {(r["workload"], r["backend"].split("-")[0]) for r in report["results"]}
    assert {("W1", "reference"), ("W4", "reference"), ("W5", "reference"),
            ("matmul", "reference")} <= ran
    assert {("W1", "native"), ("W4", "native"), ("W5", "native"), ("matmul", "native")} <= ran


def test_bench_refuses_a_backend_that_disagrees(tmp_path):
    victim = "native"
    proc, report = bench_json(tmp_path, "--workloads", "W3", "--inject-wrong", victim)
    check = {c["backend"]: c for c in report["checks"]}
    assert check[victim]["status"] == "disagrees"
    assert check[victim]["max_scaled_error"] > 1
    assert not [r for r in report["results"] if r["backend"] == victim]
    assert "DISAGREES" in proc.stdout
    assert any(s["backend"] == victim and "no time reported" in s["reason"]
               for s in report["skipped"])
    others = [b for b, c in check.items() if b != victim and c["status"] == "agrees"]
    assert others, "the other backends still agree with the exact answer"


def test_bench_float_floors_time_the_forward_code_and_check_its_value(tmp_path):
    # W2-floats and W3-floats run W2's and W3's forward code on Python floats:
    # a forward time, no gradients, and a value checked like any backend's
    proc, report = bench_json(tmp_path, "--workloads", "W2-floats,W3-floats")
    assert {(r["workload"], r["phase"], r["backend"]) for r in report["results"]} == {
        ("W2-floats", "forward", "floats"), ("W3-floats", "forward", "floats")}
    assert all(r["nodes"] for r in report["results"])  # per node, as the Value rows
    checks = {c["workload"]: c for c in report["checks"]}
    assert checks["W3-floats"]["against"] == "exact answer"
    assert checks["W2-floats"]["against"] == "tapegrad.reference's W2 value"
    assert all(c["status"] == "agrees" and c["arrays"] == 0 for c in checks.values())
    assert "Python floats agree with exact answer (loss within" in proc.stdout
    proc, report = bench_json(tmp_path, "--workloads", "W3-floats", "--inject-wrong", "floats")
    assert [c["status"] for c in report["checks"]] == ["disagrees"] and not report["results"]


def test_bench_records_tapegrads_blas_and_warns_without_it(tmp_path):
    import io

    from tapegrad.cli.bench_report import NO_BLAS_WARNING, print_report

    proc, report = bench_json(tmp_path, "--workloads", "W2-floats")
    assert report["machine"]["tapegrad_blas"] == "shared"
    assert NO_BLAS_WARNING not in proc.stdout
    report["machine"]["tapegrad_blas"] = "none"
    out = io.StringIO()
    print_report(report, file=out)
    assert NO_BLAS_WARNING in out.getvalue()
    bench_dir = Path(__file__).resolve().parents[1] / "benchmarks"
    if (bench_dir / "update_readme.py").is_file():  # and no README block from such a build
        import importlib.util

        spec = importlib.util.spec_from_file_location("tg_update_readme", bench_dir / "update_readme.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        with pytest.raises(SystemExit, match="not writing the README"):
            mod.render(report, "python -m tapegrad bench")


def test_bench_times_micrograd_as_users_run_it_and_with_the_gc_off(tmp_path):
    import importlib.util

    proc, report = bench_json(tmp_path, "--workloads", "W1", "--backends", "reference,micrograd")
    backends = ["reference"] + (["micrograd"] if importlib.util.find_spec("micrograd") else [])
    rows = {(r["backend"], r["gc_enabled"]): r for r in report["results"]}
    assert set(rows) == {(b, gc) for b in backends for gc in (True, False)}
    # each GC setting is compared with the reference at the same setting
    assert rows["reference", False]["speedup_vs_reference"] == pytest.approx(1.0)
    for b in backends:
        assert f"{b} (gc off)" in proc.stdout
    assert "(gc off): Python's cyclic garbage collector off" in proc.stdout


def test_measure_times_leaves_the_gc_on_unless_told():
    import gc

    from tapegrad.cli.bench import _measure_times, load_workloads

    seen = []
    w = load_workloads().Workload(
        name="gc", title="", backends=("x",), sizes=(1,), quick_sizes=(1,), tiny_sizes=(1,),
        setup=lambda backend, size: None, step=lambda state: seen.append(gc.isenabled()))
    assert gc.isenabled()
    for on in (True, False):
        seen.clear()
        times, cpu_per_wall = _measure_times(w, "x", 1, repeat=2, gc_enabled=on)
        assert len(times["step"]) == 2 and cpu_per_wall > 0
        assert seen and set(seen) == {on}
        assert gc.isenabled()


def test_unreliable_reasons():
    from tapegrad.cli.bench import unreliable_reasons

    assert unreliable_reasons(1.5, 2, 0.97) == []
    assert unreliable_reasons(None, 2, None) == []
    assert unreliable_reasons(2.5, 2, 1.9) == ["1-minute load average 2.5 above the 2 cores"]
    assert unreliable_reasons(0.3, 2, 0.41) == ["CPU time / wall time 0.41 below 0.8"]
    assert len(unreliable_reasons(9.0, 2, 0.1)) == 2


@pytest.mark.parametrize("busy", ["load", "cpu"])
def test_bench_marks_rows_measured_on_a_busy_machine(monkeypatch, busy):
    import io

    from tapegrad.cli import bench, bench_report

    if busy == "load":
        monkeypatch.setattr(bench, "_load_average", lambda: 99.0)
    else:  # the process got no CPU time at all while the clock ran
        monkeypatch.setattr(bench.time, "process_time", lambda: 0.0)
    report = bench.run(["W2"], mode="tiny", backends={"reference"}, show_progress=False)
    assert report["results"] and all(r["unreliable"] for r in report["results"])
    reason = "load average 99" if busy == "load" else "CPU time / wall time 0.00"
    assert all(any(reason in why for why in r["unreliable_reasons"]) for r in report["results"])
    out = io.StringIO()
    bench_report.print_report(report, file=out)
    text = out.getvalue()
    assert " !" in text and "! unreliable: the machine was busy" in text
    assert "Unreliable (!):" in text and reason in text
    md = bench_report.markdown(report)
    assert "s ! |" in md
    assert "- ! unreliable: the machine was busy" in md
    json.dumps(report, default=bench._json_default)


def test_bench_unknown_workload():
    proc = run_cli("bench", "--tiny", "--workloads", "W9", check=False)
    assert proc.returncode == 2 and "unknown workload 'W9'" in proc.stderr


def test_bench_plot(tmp_path):
    pytest.importorskip("matplotlib")
    from tapegrad.cli.bench_report import plot

    rows = [{"workload": "W2", "phase": ph, "backend": b, "unit": "s", "nodes": n,
             "speedup_vs_reference": sp}
            for ph in ("forward", "backward") for b, sp in (("native", 20.0), ("reference", 1.0))
            for n in (10**4, 10**5)]
    path = tmp_path / "speedup.png"
    assert plot({"results": rows}, str(path)) is None
    assert path.exists() and path.stat().st_size > 0


def test_scaled_error_semantics():
    import numpy as np

    from tapegrad.cli.bench import _scaled_error

    assert _scaled_error([1.0, np.nan, np.inf], [1.0, np.nan, np.inf], 1e-6, 0) == 0
    assert _scaled_error([1.0], [np.nan], 1e-6, 0) == np.inf
    assert _scaled_error([1.0, 2.0], [1.0], 1e-6, 0) == np.inf  # shape mismatch
    assert _scaled_error([1.001], [1.0], 1e-3, 0) == pytest.approx(1.0)


# -- demo, entry point ------------------------------------------------------------------


def test_demo_tiny():
    out = run_cli("demo", "--steps", "2", "--samples", "12").stdout
    assert "moons demo on Values" in out and "Tensor MLP" in out
    assert "median time per step" in out


def test_bench_help_names_every_workload_and_backend():
    # the help text is written out (building the parser must not import the
    # benchmarks); this keeps it from going stale as rows are added
    from tapegrad.cli import build_parser
    from tapegrad.cli.bench import load_workloads

    W = load_workloads()

    bench = build_parser()._subparsers._group_actions[0].choices["bench"]
    helps = {a.dest: a.help for a in bench._actions}
    listed = set(re.search(r"\(([^;)]*)", helps["workloads"]).group(1).split())
    assert listed == {w.name for w in W.WORKLOADS}
    listed = set(re.search(r"\(([^;)]*)", helps["backends"]).group(1).split())
    assert listed == {W.split_backend(b)[0] for w in W.WORKLOADS for b in w.backends}


def test_no_command_prints_help():
    out = run_cli().stdout
    for cmd in ("bench", "demo", "explain"):
        assert cmd in out


def test_bench_compiled_rows_run_and_agree_with_eager(tmp_path):
    _, report = bench_json(tmp_path, "--workloads", "W1c,W1c-first,W5c,W2c,W3c",
                           "--backends", "native,native-compiled,reference-compiled")
    for c in report["checks"]:
        assert c["status"] in ("agrees", "skipped"), c  # a replay never disagrees with eager
    ran = {(r["workload"], r["backend"]) for r in report["results"]}
    assert {("W1c", "native-compiled"), ("W1c-first", "native-compiled"), ("W5c", "native-compiled"),
            ("W2c", "native-compiled"), ("W3c", "native-compiled"), ("W1c", "reference-compiled")} <= ran
