"""tg.nn's containers (ModuleList, ModuleDict) and Parameter, shared by both backends.

A container names its modules by position ("0", "1", ...) or key, so the
parameters of ``self.blocks = ModuleList([...])`` are ``blocks.0.fc.weight``
and so on, as in PyTorch, and a state dict moves between the libraries.
"""
from __future__ import annotations

from . import _params
from ._nn_impl import Module

__all__ = ["ModuleList", "ModuleDict", "Parameter"]


def _module(m, cls: str):
    if not isinstance(m, Module):
        raise TypeError(f"{cls} takes Modules, got {type(m).__name__}")
    return m


class ModuleList(Module):
    """A list of modules, named "0", "1", ... (no forward of its own)."""

    def __init__(self, modules=None):
        self._items = [_module(m, "ModuleList") for m in (modules or ())]

    def named_children(self):
        for i, m in enumerate(self._items):
            yield str(i), m

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(self._items[i])
        return self._items[i]

    def __setitem__(self, i, module) -> None:
        self._items[i] = _module(module, "ModuleList")

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def append(self, module) -> "ModuleList":
        self._items.append(_module(module, "ModuleList"))
        return self

    def extend(self, modules) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module) -> None:
        self._items.insert(index, _module(module, "ModuleList"))

    def __repr__(self) -> str:
        # PyTorch's: a run of equal reprs is one line, "(first-last): n x repr"
        runs = []
        for i, m in enumerate(self._items):
            r = repr(m)
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        if not runs:
            return "ModuleList()"
        lines = [(f"({a}): " if a == b else f"({a}-{b}): {b - a + 1} x ") + r.replace("\n", "\n  ")
                 for a, b, r in runs]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """Modules by str key, in insertion order (no forward of its own)."""

    def __init__(self, modules=None):
        self._items = {}
        for key, m in dict(modules or {}).items():
            self[key] = m

    def named_children(self):
        yield from self._items.items()

    def __getitem__(self, key: str):
        return self._items[key]

    def __setitem__(self, key: str, module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: a key must be a non-empty str without '.', got {key!r}")
        self._items[key] = _module(module, "ModuleDict")

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __contains__(self, key) -> bool:
        return key in self._items

    def keys(self):
        return self._items.keys()

    def values(self):
        return self._items.values()

    def items(self):
        return self._items.items()


class _ParameterType(type):
    def __instancecheck__(cls, x) -> bool:
        return _params.is_tensor(x) and bool(x.requires_grad)


class Parameter(metaclass=_ParameterType):
    """``Parameter(t)``: a Tensor that requires grad, sharing ``t``'s storage (a leaf).

    It returns a plain Tensor of ``t``'s backend (there is no Parameter
    subclass); ``isinstance(x, tg.nn.Parameter)`` is true for any Tensor
    that requires grad. Modules find parameters by ``requires_grad`` anyway.
    """

    def __new__(cls, data, requires_grad: bool = True):
        if not _params.is_tensor(data):
            raise TypeError(f"Parameter: expected a Tensor, got {type(data).__name__}")
        return data.detach().requires_grad_(requires_grad)
