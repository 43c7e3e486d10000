"""The command line: ``tapegrad bench``, ``tapegrad demo``, ``tapegrad explain``.

Each subcommand lives in its own module and is imported only when used, so
``tapegrad explain`` does not pay for NumPy-heavy benchmark code.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tapegrad",
        description="tapegrad: reverse-mode autodiff with a C++ tape engine and a "
                    "pure-Python reference backend.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser(
        "bench", help="check that all backends agree, then compare their speed",
        description="Runs the benchmark workloads (benchmarks/workloads.py) on tapegrad and "
                    "tapegrad.reference, and on micrograd and PyTorch when importable. Every "
                    "backend's loss and gradients are first checked against the reference (or "
                    "an exact answer); a backend that disagrees gets no time and no speedup. "
                    "Steps run with Python's garbage collector on, as programs do (W1 also "
                    "with it off); rows timed while the machine was busy are marked !.")
    b.add_argument("--quick", action="store_true",
                   help="smaller sizes and 3 repeats (under a minute on 2 cores)")
    b.add_argument("--workloads", action="append", metavar="W1,W2,...",
                   help="only these workloads (W1 W2 W3 W2-floats W3-floats W4 W5 matmul blas-mix "
                        "memory W1c W1c-first W5c W5c-first W2c W3c hvp W6 W7)")
    b.add_argument("--backends", action="append", metavar="NAME,...",
                   help="only these backends (native reference micrograd torch numpy floats "
                        "native-compiled reference-compiled casadi jax-jit; "
                        "native, reference and torch also as NAME-1t, NAME-2t, ...: that many "
                        "threads)")
    b.add_argument("--repeat", type=int, default=None,
                   help="timed repeats per measurement (default 5, or 3 with --quick)")
    b.add_argument("--json", metavar="PATH", help="also write the full results as JSON")
    b.add_argument("--plot", metavar="PATH",
                   help="also plot speedup vs graph size, log-log (needs matplotlib)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    # hidden: tiny sizes and size selection keep the CLI tests fast; a deliberately
    # wrong backend exercises the agreement check
    b.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    b.add_argument("--sizes", action="append", help=argparse.SUPPRESS)
    b.add_argument("--inject-wrong", metavar="BACKEND", help=argparse.SUPPRESS)

    d = sub.add_parser(
        "demo", help="train small models on every backend, side by side",
        description="Without a model: trains micrograd's moons MLP on Values, then a small Tensor "
                    "MLP, with each backend, printing loss, accuracy and time per step side by "
                    "side. With one, from micrograd to GPT: makemore (a character MLP on the "
                    "words of Python's docstrings), cnn (scikit-learn's 8x8 digits) or gpt (a tiny "
                    "GPT on the docstrings' characters), trained on one backend.")
    d.add_argument("model", nargs="?", choices=("makemore", "cnn", "gpt"),
                   help="one of the three models (default: the side-by-side moons demo)")
    d.add_argument("--steps", type=int, default=None,
                   help="training steps (default 20 for the moons demo, the model's own otherwise)")
    d.add_argument("--backend", choices=("native", "reference"), default="native",
                   help="the backend a model trains on (default native)")
    d.add_argument("--seed", type=int, default=0, help="seed of the data order and the weights (default 0)")
    d.add_argument("--samples", type=int, default=100, help="two-moons points (default 100)")
    d.add_argument("--backends", default="native,reference",
                   help="comma-separated: native, reference (default both)")
    d.add_argument("--every", type=int, default=None, help="print every N steps")

    e = sub.add_parser(
        "explain", help="print the backward pass of an expression step by step",
        description="Without an expression: the two worked examples. With one, e.g. "
                    "tapegrad explain \"(a+b)*c\" a=4 b=2 c=-5: that expression, parsed "
                    "safely (numbers, bound names, + - * / **, unary -, and the functions "
                    "relu tanh sigmoid exp log sqrt sin cos abs; nothing else is evaluated).")
    e.add_argument("expression", nargs="?", help="an arithmetic expression")
    e.add_argument("bindings", nargs="*", metavar="NAME=VALUE", help="values of its variables")
    e.add_argument("--backend", choices=("native", "reference"), default="native",
                   help="which backend builds the graph (default native)")
    e.add_argument("--draw", metavar="PATH", help="also draw the graph (svg/png) with tg.viz")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "bench":
        from . import bench

        return bench.main(args)
    if args.command == "demo":
        from . import demo

        return demo.main(args)
    from . import explain

    return explain.main(args)
