"""inspect.signature(tapegrad.Value) on every supported Python.

The native Value is a C type whose docstring starts with ``Value(data, label='')``
and whose ``__init__`` is a method with a text signature. Python 3.11 reads
either. Python 3.9 strips the signature from a heap type's docstring and, seeing
``__new__`` in the type's dict, never looks at ``__init__``; Python 3.13 binds
the ``__init__`` method descriptor to the class and fails. Both then read a
``__signature__`` attribute first, so the type gets one. It answers for Value and
for subclasses that keep Value's constructor; a subclass with its own ``__init__``
or ``__new__`` gets the signature Python finds for it.
"""
import inspect


class _ConstructorSignature:
    """A class attribute: the signature of calling the type, or of a subclass that keeps its constructor."""

    def __init__(self, owner: type, signature: inspect.Signature) -> None:
        self._owner = owner
        self._signature = signature

    def __get__(self, obj, cls=None):
        if obj is None and cls is not None and not self._constructor_overridden(cls):
            return self._signature
        raise AttributeError("__signature__")

    def _constructor_overridden(self, cls: type) -> bool:
        for base in cls.__mro__:
            if base is self._owner:
                return False
            if "__init__" in base.__dict__ or "__new__" in base.__dict__:
                return True
        return True


def give_value_its_signature(value_type: type) -> None:
    """Set Value.__signature__ to (data, label=''), the reference's constructor signature."""
    p = inspect.Parameter
    signature = inspect.Signature([
        p("data", p.POSITIONAL_OR_KEYWORD),
        p("label", p.POSITIONAL_OR_KEYWORD, default=""),
    ])
    value_type.__signature__ = _ConstructorSignature(value_type, signature)
