"""Regenerate what is written from the op table (cpp/core/op_table.h, read as _core.op_table()).

    python docs/make_op_docs.py          # rewrite the generated parts
    python docs/make_op_docs.py --check  # exit 1 if any is out of date (tests/test_generated.py)

The generated parts sit between marker lines:
  - docs/DESIGN.md, Note [Op strings]: the table of every op;
  - python/tapegrad/_core.pyi: the stubs of the unary methods of Value and Tensor.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
MADE_BY = {  # how an op comes about where it has no method of its own, or more than its method
    "": "a leaf or constant", "**k": "`a ** k`, k a number", "**": "`a ** b`, `2 ** a`", "neg": "`-a`",
    "expand": "`x.expand(...)`, broadcasting in a binary op",
    "astype": "`x.float()`, `x.double()`, a recorded backward across dtypes",
    "getitem_backward": "getitem's recorded backward", "getitem": "`x[key]`, `x.split(...)`, `x.chunk(...)`",
    "function": "`MyFunction.apply(...)` (tg.autograd.Function)",
    "gelu_tanh": "`x.gelu(approximate='tanh')`", "erf": "gelu's recorded backward",
    "softplus": "`x.softplus(beta, threshold)`", "leaky_relu": "`x.leaky_relu(negative_slope)`",
    "clamp": "`x.clamp(min, max)`", "maximum": "`tg.maximum(a, b)`, `x.maximum(b)`",
    "minimum": "`tg.minimum(a, b)`, `x.minimum(b)`", "reshape": "`x.reshape(...)`, `x.view(...)`, `x.flatten()`, "
    "`x.unsqueeze(d)`, `x.squeeze()`", "where": "`tg.where(...)`, `x.masked_fill(...)`, `tg.tril(...)`, `tg.triu(...)`",
    "max": "`x.max(...)`, `x.amax(...)`", "min": "`x.min(...)`, `x.amin(...)`", "clone": "`x.clone()`",
}


def _made_by(row: dict) -> str:
    if row["name"] in MADE_BY:
        return MADE_BY[row["name"]]
    py = row["python"]
    if py.startswith("__"):
        return f"`a {row['name']} b`"
    if row["kind"] in ("join",) or py in ("cross_entropy", "mse_loss"):
        return f"`tg.{py}(...)`"
    if row["kind"] == "nn":
        return f"`F.{py}(...)` (tg.nn.functional)"
    return f"`x.{py}()`" if row["kind"] == "unary" else f"`x.{py}(...)`"


def op_strings_table(rows: list) -> str:
    lines = ["| op string | kind | on | made by | saves | what it computes; local gradient |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        on = "/".join(k for k, flag in (("Value", r["value"]), ("Tensor", r["tensor"])) if flag)
        name = f"`{r['name']}`" if r["name"] else '`""`'
        doc = r["doc"].replace("|", "\\|")
        lines.append(f"| {name} | {r['kind']} | {on} | {_made_by(r)} | {r['saves']} | {doc} |")
    return "\n".join(lines)


def unary_stubs(rows: list, owner: str, cls) -> str:
    """The methods of the unary rows, with their parameters as the class declares them (gelu's
    approximate, clamp's bounds), one per name (gelu makes two ops)."""
    import inspect

    flag = "value" if owner == "Value" else "tensor"
    ops: dict = {}
    for r in rows:
        if r[flag] and r["kind"] == "unary" and r["python"] and not r["python"].startswith("_"):
            ops.setdefault(r["python"], []).append(r["name"])
    lines = []
    for py, names in ops.items():
        params = str(inspect.signature(getattr(cls, py))).replace("(self, /)", "(self)")
        lines.append(f"    def {py}{params} -> {owner}: ...  # {', '.join(names)}")
    return "\n".join(lines)


def replace_between(text: str, start: str, end: str, body: str, where: str) -> str:
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"{where}: markers {start!r} ... {end!r} not found")
    return text[: i + len(start)] + "\n" + body + "\n" + text[j:]


def generated(rows: list, core) -> dict:
    out = {}
    design = ROOT / "docs" / "DESIGN.md"
    out[design] = replace_between(design.read_text(), "<!-- op-table:start -->", "<!-- op-table:end -->",
                                  op_strings_table(rows), str(design))
    stubs = ROOT / "python" / "tapegrad" / "_core.pyi"
    text = stubs.read_text()
    for owner in ("Value", "Tensor"):
        text = replace_between(text, f"    # op-table:{owner}:start", f"    # op-table:{owner}:end",
                               unary_stubs(rows, owner, getattr(core, owner)), str(stubs))
    out[stubs] = text
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = p.parse_args(argv)
    from tapegrad import _core

    stale = []
    for path, text in generated(_core.op_table(), _core).items():
        if path.read_text() != text:
            stale.append(path)
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print("out of date (run python docs/make_op_docs.py): " + ", ".join(str(p) for p in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
