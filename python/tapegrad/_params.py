"""Backend-agnostic access to parameters: what a node is, reading and writing it.

tg.nn, tg.optim, tg.viz and tg.explain are written once for both backends and
see Values and Tensors only through the public API (docs/API.md): ``.data`` and
``.grad`` floats on a Value; ``.numpy()``, ``.grad`` (a Tensor or None),
``.shape``, ``.requires_grad`` on a Tensor.
"""
from __future__ import annotations

import numbers
import sys

import numpy as np

__all__ = ["is_tensor", "is_value", "is_number", "backend_of", "to_numpy", "grad_numpy", "own_view", "assign", "generator", "zero_grads"]


def is_tensor(x) -> bool:
    """A tapegrad Tensor of either backend (an ndarray has no ``.numpy``)."""
    return hasattr(x, "numpy") and hasattr(x, "shape") and hasattr(x, "requires_grad")


def is_value(x) -> bool:
    """A tapegrad scalar Value of either backend (Note [Op strings]: ``_local_grads``)."""
    return hasattr(x, "_local_grads") and hasattr(x, "data") and not is_tensor(x)


def is_number(x) -> bool:
    """A real number (bool, int, float, NumPy scalars): what a Value takes as a constant."""
    return isinstance(x, (numbers.Real, np.bool_))


def backend_of(x):
    """The backend module (``tapegrad`` or ``tapegrad.reference``) whose class made ``x``."""
    for modname in ("tapegrad.reference", "tapegrad"):
        mod = sys.modules.get(modname)
        if mod is None:
            continue
        for cls_name in ("Tensor", "Value"):
            try:
                cls = getattr(mod, cls_name, None)
            except ImportError:  # native backend without a built extension
                cls = None
            if isinstance(cls, type) and isinstance(x, cls):
                return mod
    raise TypeError(f"expected a tapegrad Value or Tensor, got {type(x).__name__}")


def to_numpy(p) -> np.ndarray:
    """A copy of a parameter's values: a 0-d float64 array for a Value."""
    if is_tensor(p):
        return np.array(p.numpy(), copy=True)
    return np.array(float(p.data), dtype=np.float64)


def grad_numpy(p):
    """A parameter's gradient as an ndarray (float for a Value), or None if it has none."""
    g = p.grad
    if g is None:
        return None
    if is_tensor(p):
        return np.asarray(g.numpy() if hasattr(g, "numpy") else g)
    return float(g)


def own_view(p):
    """A writeable ndarray over a Tensor parameter's own storage, or None.

    Writing into it updates the parameter in place, as every Python reference
    to it sees (both backends' ``.numpy()`` shares memory where it can).
    """
    view = p.numpy()
    if isinstance(view, np.ndarray) and view.flags.writeable and np.may_share_memory(view, p.numpy()):
        return view
    return None


def assign(p, values) -> None:
    """Overwrite a parameter's values in place (optimizer steps, load_state_dict).

    A Value takes a float in ``.data``. A Tensor is written through its
    ``.numpy()`` view when that view is writeable and is the tensor's own
    storage (both backends promise no copy where possible), so every Python
    reference to the parameter sees the update; otherwise through an
    assignable ``.data``.
    """
    if not is_tensor(p):
        p.data = float(values)
        return
    values = np.asarray(values)
    if values.shape != tuple(p.shape):
        raise ValueError(f"cannot assign values of shape {values.shape} to a parameter of shape {tuple(p.shape)}")
    view = own_view(p)
    if view is not None:
        view[...] = values
        return
    try:
        p.data = values.astype(p.dtype, copy=False)
    except AttributeError:
        raise RuntimeError(
            f"cannot update a {type(p).__module__}.{type(p).__name__} in place: its .numpy() "
            "is a read-only view or a copy, and it has no assignable .data"
        ) from None


def generator(backend, seed=None) -> np.random.Generator:
    """The generator for initialisation (docs/DESIGN.md, Note [Random numbers]).

    ``seed`` may be an int or an existing Generator (returned as is, so that a
    model hands one stream down to its layers). Without a seed, the backend's
    module-level generator that ``tg.manual_seed(n)`` reseeds is used.
    """
    if seed is not None:
        return np.random.default_rng(seed)
    # the module that defines randn holds the stream: reference.creation, native _tensor
    return sys.modules[backend.randn.__module__].generator()


def recorded_draw(backend):
    """Context for a draw from ``backend``'s stream that the caller records in the running
    trace of tg.compile itself (dropout's noise), as tg.randn does."""
    return sys.modules[backend.randn.__module__]._random.recorded_draw()


def zero_grads(params, set_to_none: bool = True) -> None:
    """zero_grad of Modules and optimizers: Values get 0.0; Tensors None, or zeros."""
    for p in params:
        if not is_tensor(p):
            p.grad = 0.0
        elif set_to_none or p.grad is None:
            p.zero_grad()
        else:
            assign(p.grad, np.zeros(tuple(p.shape), dtype=np.dtype(p.dtype)))
