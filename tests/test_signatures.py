"""Signatures a person can read: every public callable of both backends has the same one.

The test walks each backend's public surface, so a new public callable is
covered without touching this file: the callables among the ``__all__`` names
of ``tg`` and, recursively, of every module in an ``__all__`` (``tg.nn``,
``tg.nn.functional``, ``tg.optim``, ``tg.viz``, ...); the types ``tg.Value``
and ``tg.Tensor``; every public method of a Value and a
Tensor, and every dunder the reference's classes define themselves; and every
function of ``tapegrad._core``. ``inspect.signature`` must work for each one
(the native functions carry ``__text_signature__``, Note [Binding
technologies] in cpp/bindings/bindings.h), and the native signature must equal
the reference's: the same parameter names, kinds and defaults (annotations
aside). Methods are compared bound, without ``self``.
"""
from __future__ import annotations

import inspect
import pydoc
import types

import numpy as np
import pytest

import tapegrad
from tapegrad import _core, reference

def public_callables(tg) -> dict:
    """'tg.nn.Linear' -> the object, for every callable in the __all__ of tg and of the
    modules it names, recursively."""
    out, pending = {}, [("tg", tg)]
    while pending:
        path, mod = pending.pop()
        for name in mod.__all__:
            obj = getattr(mod, name)
            if isinstance(obj, types.ModuleType):
                pending.append((f"{path}.{name}", obj))
            elif isinstance(obj, type) and issubclass(obj, np.generic):
                continue  # tg.float32, tg.int64, ...: NumPy's own types, not tapegrad's callables
            elif callable(obj):
                out[f"{path}.{name}"] = obj
    return out


def instance(tg, cls: str):
    return tg.Value(1.5) if cls == "Value" else tg.tensor([[1.0, 2.0]], requires_grad=True)


def method_names(cls: str) -> list:
    """Public methods of the reference's class, and the dunders it defines itself."""
    ref = getattr(reference, cls)
    names = {n for n in dir(ref) if not n.startswith("_") and callable(getattr(ref, n))}
    names |= {n for n, v in vars(ref).items() if n.startswith("__") and n.endswith("__") and callable(v)}
    names -= {"__init_subclass__", "__subclasshook__", "__class_getitem__"}  # inherited protocol, not ours
    return sorted(names)


def parameters(sig: inspect.Signature) -> list:
    """What a signature promises a caller: each parameter's name, kind and default."""
    return [(p.name, p.kind.name, p.default) for p in sig.parameters.values()]


def signature(obj) -> inspect.Signature:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError) as exc:
        pytest.fail(f"inspect.signature({obj!r}) fails: {exc}")


SURFACE = sorted(public_callables(reference))


def test_both_backends_have_the_same_public_callables():
    assert sorted(public_callables(tapegrad)) == SURFACE
    for cls in ("Value", "Tensor"):
        native, ref = getattr(tapegrad, cls), getattr(reference, cls)
        public = {n for n in dir(ref) if not n.startswith("_")}
        assert {n for n in dir(native) if not n.startswith("_")} == public, cls
        missing = [n for n in method_names(cls) if not hasattr(native, n)]
        assert not missing, f"native {cls} lacks {missing}"


@pytest.mark.parametrize("name", SURFACE)
def test_public_callable(name):
    native, ref = public_callables(tapegrad)[name], public_callables(reference)[name]
    assert parameters(signature(native)) == parameters(signature(ref)), name


@pytest.mark.parametrize("cls", ["Value", "Tensor"])
def test_types(cls):
    native, ref = getattr(tapegrad, cls), getattr(reference, cls)
    assert parameters(signature(native)) == parameters(signature(ref))


@pytest.mark.parametrize("backend", [tapegrad, reference], ids=["native", "reference"])
def test_value_subclass_signatures(backend):
    """A subclass keeps Value's signature until it defines its own constructor (3.9 and 3.13 included)."""

    class Same(backend.Value):
        pass

    class Own(backend.Value):
        def __init__(self, x, scale=2.0):
            super().__init__(x * scale)

    class OwnInherited(Own):
        pass

    assert [p.name for p in signature(Same).parameters.values()] == ["data", "label"]
    assert parameters(signature(Own)) == parameters(signature(OwnInherited))
    assert [p.name for p in signature(Own).parameters.values()] == ["x", "scale"]
    assert Own(1.5).data == 3.0 and not hasattr(backend.Value(1.0), "__signature__")


@pytest.mark.parametrize("cls, name", [(c, n) for c in ("Value", "Tensor") for n in method_names(c)])
def test_methods(cls, name):
    native, ref = getattr(instance(tapegrad, cls), name), getattr(instance(reference, cls), name)
    assert parameters(signature(native)) == parameters(signature(ref)), f"{cls}.{name}"


@pytest.mark.parametrize("name", sorted(n for n, v in vars(_core).items() if callable(v) and not isinstance(v, type)))
def test_core_functions_have_text_signatures(name):
    fn = getattr(_core, name)
    assert fn.__text_signature__ is not None, name
    signature(fn)


def test_raw_value_type_has_text_signatures():
    """Value is a raw CPython type: each of its own methods carries a __text_signature__."""
    for name, attr in vars(_core.Value).items():
        if callable(attr) and not isinstance(attr, type) and hasattr(attr, "__text_signature__"):
            assert attr.__text_signature__ is not None or type(attr).__name__ == "wrapper_descriptor", name
    for name in method_names("Value"):
        if name.startswith("__") and type(vars(_core.Value).get(name)).__name__ == "wrapper_descriptor":
            continue  # a slot CPython documents itself (__neg__, __repr__, ...): compared above, bound
        assert getattr(_core.Value, name).__text_signature__ is not None, name


@pytest.mark.parametrize("tg", [tapegrad, reference], ids=["native", "reference"])
def test_help_shows_the_signature(tg):
    text = pydoc.render_doc(tg.Value.tanh, renderer=pydoc.plaintext)
    assert "tanh(self" in text, text
    assert "tanh(self" in pydoc.render_doc(tg.Tensor.tanh, renderer=pydoc.plaintext)
    assert "backward(self, gradient=None, retain_graph=None, create_graph=False)" in pydoc.render_doc(
        tg.Tensor.backward, renderer=pydoc.plaintext)
    assert "Value(data, label=" in pydoc.render_doc(tg.Value, renderer=pydoc.plaintext)


@pytest.mark.parametrize(
    "name, expected",
    [("tg.zeros", "(*shape, dtype=None, requires_grad=False)"),
     ("tg.randn", "(*shape, seed=None, dtype=None, requires_grad=False)"),
     ("tg.concatenate", "(tensors, dim=0, *, axis=None)")],
)
def test_some_signatures_read_as_written(name, expected):
    """A few spelled out, so that the comparison above is not between two equal mistakes."""
    for tg in (tapegrad, reference):
        sig = signature(public_callables(tg)[name]).replace(return_annotation=inspect.Signature.empty)
        plain = sig.replace(parameters=[p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()])
        assert str(plain) == expected


@pytest.mark.parametrize("tg", [tapegrad, reference], ids=["native", "reference"])
def test_some_methods_read_as_written(tg):
    x, v = instance(tg, "Tensor"), tg.Value(1.0)
    expected = {
        x.reshape: "(*shape)", x.permute: "(*dims)", x.transpose: "(dim0, dim1)", x.softmax: "(dim=-1)",
        x.backward: "(gradient=None, retain_graph=None, create_graph=False)",
        x.sum: "(dim=None, keepdim=False, *, axis=None, keepdims=None)", x.__add__: "(other, /)",
        x.__pow__: "(other, modulo=None, /)", v.__add__: "(other, /)", v.__pow__: "(other, modulo=None, /)",
        v.backward: "()", v.tanh: "()", x.relu: "()",
    }
    for method, text in expected.items():
        sig = signature(method)
        plain = sig.replace(parameters=[p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()],
                            return_annotation=inspect.Signature.empty)
        assert str(plain) == text, method


def test_keyword_arguments_bind_as_the_signatures_say():
    """The native text signatures are what binds the arguments (Note [Signatures]):
    each keyword a signature names is accepted by that name."""
    x = tapegrad.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    assert x.sum(axis=0, keepdims=True).shape == (1, 3)
    assert x.transpose(dim0=0, dim1=1).shape == (3, 2)
    assert x.softmax(dim=0).shape == (2, 3)
    assert tapegrad.tensor(data=[1.0], requires_grad=True, dtype="float64").dtype == np.float64
    assert tapegrad.concatenate(tensors=[x, x], dim=1).shape == (2, 6)
    assert tapegrad.where(cond=x, a=x, b=x).shape == (2, 3)
    assert tapegrad.Value(data=2.0, label="a").label == "a"
    y = (x * x).sum()
    y.backward(gradient=None, retain_graph=True, create_graph=False)
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy())
