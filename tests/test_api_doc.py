"""The public API, as a user meets it: public namespaces hold only public names.

Both backends: ``tapegrad`` and ``tapegrad.reference``.
"""
from __future__ import annotations

import importlib
import pickle
import pkgutil

import pytest

import tapegrad

# The public namespaces of a backend, relative to it ("" is the backend itself).
NAMESPACES = ("", "nn", "nn.functional", "optim", "viz")

# Submodules that a namespace may show beyond its __all__, as docs/API.md
# documents them ("Modules"). They appear in dir() once something imported them.
DOCUMENTED_SUBMODULES = {
    ("native", ""): {"reference", "cli", "datasets", "worked_examples"},
}


def _import_every_module() -> None:
    """Import every module of the package, so that each submodule that could
    bind its name in a namespace has done so."""
    for info in pkgutil.walk_packages(tapegrad.__path__, "tapegrad."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def _namespace(tg, path: str):
    obj = tg
    for part in filter(None, path.split(".")):
        obj = getattr(obj, part)
    return obj


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


def test_backends_have_the_same_public_namespaces():
    from tapegrad import reference

    for path in NAMESPACES:
        assert sorted(_namespace(tapegrad, path).__all__) == sorted(_namespace(reference, path).__all__), path


def test_import_forms_still_work():
    import tapegrad.nn.functional as F
    from tapegrad import reference
    from tapegrad.reference.value import Value
    import tapegrad.reference.nn.functional as RF

    assert F is tapegrad.nn.functional and RF is reference.nn.functional is F
    assert Value is reference.Value
    assert importlib.import_module("tapegrad.reference.creation").tensor is reference.tensor
    # pickle finds the classes through sys.modules, not through package attributes
    v = pickle.loads(pickle.dumps(reference.Value(2.0, label="v")))
    t = pickle.loads(pickle.dumps(reference.tensor([1.0, 2.0], requires_grad=True)))
    assert (v.data, v.label, t.tolist(), t.requires_grad) == (2.0, "v", [1.0, 2.0], True)
