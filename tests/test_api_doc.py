"""The public API, as a user meets it: docs/API.md documents every public name,
and only names that exist; public namespaces hold only public names.

Both backends: ``tapegrad`` and ``tapegrad.reference``. How names are read
from docs/API.md is stated at the end of that page ("About this page"):

- only code counts: inline code spans and fenced code blocks;
- a documented name is a dotted name in code that starts with ``tg.`` (the
  backend module) or with a shorthand ``Value.``, ``Tensor.``, ``Module.``,
  ``Optimizer.`` (``tg.Value.``, ``tg.Tensor.``, ``tg.nn.Module.``,
  ``tg.optim.Optimizer.``), and is not the tail of a longer dotted name
  (``torch.Tensor.add`` is not one); what follows the name is ignored;
- the names in the section "Not yet available" are planned: they must exist
  on neither backend and do not count as documented.
"""
from __future__ import annotations

import importlib
import os
import pickle
import pkgutil
import re

import numpy as np
import pytest

import tapegrad
from tapegrad import reference

BACKENDS = {"native": tapegrad, "reference": reference}

DOC_PATH = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "API.md")
PLANNED_HEADING = "## Not yet available"
SHORTHANDS = {"tg": "tg", "Value": "tg.Value", "Tensor": "tg.Tensor",
              "Module": "tg.nn.Module", "Optimizer": "tg.optim.Optimizer"}
_NAME = re.compile(r"(?<![\w.])(tg|Value|Tensor|Module|Optimizer)((?:\.[A-Za-z_]\w*)+)")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_SPAN = re.compile(r"`([^`]+)`")  # a span may wrap onto the next line, as in Markdown

# The public namespaces of a backend, relative to it ("" is the backend itself).
NAMESPACES = ("", "nn", "nn.functional", "nn.init", "nn.utils", "optim", "viz", "autograd", "func")
# Classes whose public attributes are public names.
CLASSES = ("tg.Value", "tg.Tensor", "tg.nn.Module", "tg.optim.Optimizer")

# Submodules that a namespace may show beyond its __all__, as docs/API.md
# documents them ("Backends and modules"). They appear in dir() once imported.
DOCUMENTED_SUBMODULES = {
    ("native", ""): {"reference", "cli", "datasets", "worked_examples"},
}


def _namespace(tg, path: str):
    obj = tg
    for part in filter(None, path.split(".")):
        obj = getattr(obj, part)
    return obj


def _import_every_module() -> None:
    """Import every module of the package, so that each submodule that could
    bind its name in a namespace has done so."""
    for info in pkgutil.walk_packages(tapegrad.__path__, "tapegrad."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def _public_attributes(cls) -> set:
    return {n for n in dir(cls) if not n.startswith("_")}


# ----- reading docs/API.md -------------------------------------------------


def read_doc() -> str:
    with open(DOC_PATH, encoding="utf-8") as f:
        return f.read()


def split_planned(text: str) -> tuple:
    """(the page without its "Not yet available" section, that section)."""
    start = text.find("\n" + PLANNED_HEADING + "\n")
    if start < 0:
        return text, ""
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end
    return text[:start] + text[end:], text[start:end]


def code_of(text: str) -> list:
    """The code of a Markdown text: fenced blocks, then inline spans outside them."""
    blocks = _FENCE.findall(text)
    return blocks + _SPAN.findall(_FENCE.sub("", text))


def names_in(text: str) -> set:
    """The documented names of a Markdown text, spelled from ``tg``: ``tg.nn.Module.eval``."""
    names = set()
    for code in code_of(text):
        for m in _NAME.finditer(code):
            names.add(SHORTHANDS[m.group(1)] + m.group(2))
    return names


def resolve(backend, name: str):
    """The object ``name`` (``tg.a.b``) denotes on ``backend``; AttributeError if none."""
    obj = backend
    for part in name.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def exists(backend, name: str) -> bool:
    try:
        resolve(backend, name)
    except AttributeError:
        return False
    return True


def public_names(backend) -> set:
    """Every public name of a backend, spelled from ``tg``."""
    names = set()
    for path in NAMESPACES:
        prefix = "tg." + path if path else "tg"
        names |= {f"{prefix}.{n}" for n in _namespace(backend, path).__all__}
    for cls in CLASSES:
        names |= {f"{cls}.{n}" for n in _public_attributes(resolve(backend, cls))}
    return names


def undocumented(text: str) -> list:
    """Public names (of either backend) that the page does not document."""
    documented = names_in(split_planned(text)[0])
    return sorted(set().union(*map(public_names, BACKENDS.values())) - documented)


def nonexistent(text: str) -> list:
    """(name, backend) for each documented name a backend lacks."""
    documented = names_in(split_planned(text)[0])
    return sorted((n, b) for n in documented for b, mod in BACKENDS.items() if not exists(mod, n))


def premature(text: str) -> list:
    """(name, backend) for each planned name that a backend already has."""
    planned = names_in(split_planned(text)[1])
    return sorted((n, b) for n in planned for b, mod in BACKENDS.items() if exists(mod, n))


def python_blocks(text: str) -> list:
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


# ----- the page and the code agree ----------------------------------------------


def test_every_public_name_is_documented():
    assert undocumented(read_doc()) == [], "add an entry for these names to docs/API.md"


def test_every_documented_name_exists_on_both_backends():
    assert nonexistent(read_doc()) == [], "docs/API.md documents names that do not exist"


def test_planned_names_do_not_exist_yet():
    assert premature(read_doc()) == [], "move these names out of 'Not yet available' in docs/API.md"


def test_the_page_is_well_formed_and_documents_its_modules():
    text = read_doc()
    assert PLANNED_HEADING in text
    # An unpaired backtick would pair every later one wrongly; it shows as a
    # "span" running across a paragraph break.
    spans = _SPAN.findall(_FENCE.sub("", text))
    assert [c for c in spans if re.search(r"\n[ \t]*\n", c)] == []
    for (backend, path), subs in DOCUMENTED_SUBMODULES.items():
        for sub in subs:
            assert f"`tapegrad.{sub}`" in text, sub


def test_the_checks_can_fail():
    """A name deleted from the page, a bogus name added, a planned name that exists:
    each is reported. (The checks above would pass vacuously if they could not.)"""
    text = read_doc()
    assert "tg.where" in names_in(text)
    without_where = re.sub(r"(?<![\w.])tg\.where\b", "where", text)
    assert undocumented(without_where) == ["tg.where"]
    assert "Tensor.softmax" in text
    without_softmax = re.sub(r"(?<![\w.])Tensor\.softmax\b", "softmax", text)
    assert undocumented(without_softmax) == ["tg.Tensor.softmax"]

    available, planned = split_planned(text)
    bogus = available + "\n- `tg.nn.NoSuchModule(3)` and `Tensor.no_such_method()`\n"
    assert nonexistent(bogus) == [
        ("tg.Tensor.no_such_method", "native"), ("tg.Tensor.no_such_method", "reference"),
        ("tg.nn.NoSuchModule", "native"), ("tg.nn.NoSuchModule", "reference"),
    ]
    arrived = text.replace(PLANNED_HEADING + "\n", PLANNED_HEADING + "\n\n- `tg.zeros`\n")
    assert premature(arrived) == [("tg.zeros", "native"), ("tg.zeros", "reference")]
    # names outside code, and tails of other dotted names, are not claims
    assert names_in("tg.nope and `torch.Tensor.nope`, `np.tg.nope`") == set()


def test_the_examples_run(tg, tmp_path, monkeypatch):
    """The page's Python examples, in order, on this backend."""
    monkeypatch.chdir(tmp_path)  # the saving example writes a file
    ns = {}
    for block in python_blocks(read_doc()):
        ns.update(tg=tg, np=np)  # the first block rebinds tg to show both imports
        exec(compile(block, "docs/API.md", "exec"), ns)


# ----- public namespaces hold only public names ------------------------------


@pytest.mark.parametrize("path", NAMESPACES, ids=lambda p: p or "tg")
def test_public_namespaces_hold_only_public_names(tg, path):
    _import_every_module()
    backend = "native" if tg is tapegrad else "reference"
    mod = _namespace(tg, path)
    allowed = set(mod.__all__) | DOCUMENTED_SUBMODULES.get((backend, path), set())
    extra = sorted(n for n in dir(mod) if not n.startswith("_") and n not in allowed)
    assert extra == [], f"{mod.__name__} ({'tg.' + path if path else 'tg'}) shows non-public names {extra}"
    missing = sorted(n for n in mod.__all__ if not hasattr(mod, n))
    assert missing == [], f"{mod.__name__}.__all__ names missing attributes {missing}"


def test_backends_have_the_same_public_names():
    for path in NAMESPACES:
        assert sorted(_namespace(tapegrad, path).__all__) == sorted(_namespace(reference, path).__all__), path
    for cls in CLASSES:
        native, ref = (_public_attributes(resolve(b, cls)) for b in (tapegrad, reference))
        assert sorted(native) == sorted(ref), cls


def test_import_forms_still_work():
    import tapegrad.nn.functional as F
    import tapegrad.reference.nn.functional as RF
    from tapegrad.reference.value import Value

    assert F is tapegrad.nn.functional and RF is reference.nn.functional is F
    assert Value is reference.Value
    assert importlib.import_module("tapegrad.reference.creation").tensor is reference.tensor
    # pickle finds the classes through sys.modules, not through package attributes
    v = pickle.loads(pickle.dumps(reference.Value(2.0, label="v")))
    t = pickle.loads(pickle.dumps(reference.tensor([1.0, 2.0], requires_grad=True)))
    assert (v.data, v.label, t.tolist(), t.requires_grad) == (2.0, "v", [1.0, 2.0], True)
