"""The reference Tensor's conversions, bound onto the class: the values handed to
Python (``numpy``, ``__array__``, ``__dlpack__``, ``item``, ``tolist``, ``float``,
``int``, ``bool``). While tg.compile traces, each is a read the tape guards
(``Tensor._read``) or a tracked number (``item``: docs/DESIGN.md, Note
[Compile numbers]).
"""
from __future__ import annotations

import numpy as np

from . import _trace
from . import _compile_hooks as _hooks
from ._tensor_data import export_dlpack
from .tensor import Tensor

__all__: list = []



def numpy(self) -> np.ndarray:
    """The values as an ndarray, without a copy."""
    return self._read()

def __array__(self, dtype=None, copy=None):
    self._read()
    if dtype is not None and np.dtype(dtype) != self.dtype:
        if copy is False:
            raise ValueError(f"converting a {self.dtype} tensor to {np.dtype(dtype)} needs a copy")
        return self._data.astype(dtype)
    return self._data.copy() if copy else self._data

def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
    """A DLPack capsule sharing this tensor's memory (a copy with copy=True; read-only memory: see export_dlpack)."""
    given = {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
    self._read()
    return export_dlpack(self._data, {k: v for k, v in given.items() if v is not None})

def __dlpack_device__(self):
    return self._data.__dlpack_device__()

def item(self) -> float:
    if self.size != 1:
        raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
    if _trace._active[0] is not None:
        return _hooks.tensor_item(self)  # a tracked number
    return self._data.item()

def tolist(self):
    return self._read().tolist()

def __float__(self) -> float:
    return float(self.item())  # a tracked number's float(): its value guarded

def __int__(self) -> int:
    """int(x): the only element, truncated toward zero, as NumPy and PyTorch do."""
    return int(self.item())

def __bool__(self) -> bool:
    if self.size != 1:
        raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous "
                         "(only single-element tensors have one)")
    return bool(self.item()) if _trace._active[0] is not None else bool(self._data.item())


for _fn in (numpy, __array__, __dlpack__, __dlpack_device__, item, tolist, __float__, __int__, __bool__):
    _fn.__qualname__ = f"Tensor.{_fn.__name__}"
    setattr(Tensor, _fn.__name__, _fn)
del _fn
