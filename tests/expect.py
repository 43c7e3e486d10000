"""Helpers for error tests that compare the exception's exact type and its whole message."""
from __future__ import annotations

import contextlib

import pytest

__all__ = ["raises", "me", "python_says"]


@contextlib.contextmanager
def raises(exc: type, message: str):
    """Exactly ``exc`` (not a subclass) with exactly ``message``."""
    with pytest.raises(exc) as info:
        yield info
    assert info.type is exc, f"{info.type.__name__}: {info.value}"
    assert str(info.value) == message


def me(tg) -> str:
    """How a backend's messages name it: "tapegrad (native)" or "tapegrad.reference"."""
    return "tapegrad (native)" if tg.__name__ == "tapegrad" else "tapegrad.reference"


def python_says(fn, name: str) -> str:
    """The TypeError Python gives for ``fn(obj)`` when ``obj`` is of a class called ``name``
    that declines every operator (and NumPy's ufuncs): what a Value or Tensor that declines
    an operand must say too."""
    bare = type(name, (), {"__array_ufunc__": None})()
    try:
        fn(bare)
    except TypeError as exc:
        return str(exc)
    raise AssertionError(f"{fn} raised no TypeError")
