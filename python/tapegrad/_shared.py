"""Backend-agnostic pieces that both backends export: no ``_core``, no backend state.

``tapegrad`` and ``tapegrad.reference`` each bind these to themselves, so the
code exists once.
"""
from __future__ import annotations

import numpy as np

__all__ = ["grad", "RandomState", "arange_args", "num_threads_arg"]


def grad(output, inputs, gradient=None, retain_graph=False):
    """d output / d input for each input, without touching any ``.grad``.

    ``inputs`` may be one node or a sequence of nodes; the result has the same
    form. An input that ``output`` does not depend on gets a zero gradient.
    """
    single = not isinstance(inputs, (list, tuple))
    nodes = [inputs] if single else list(inputs)
    grads = output._gradients(nodes, gradient=gradient, retain_graph=retain_graph)
    return grads[0] if single else tuple(grads)


class RandomState:
    """A backend's random stream (Note [Random numbers]): NumPy's ``default_rng``,
    so that the same seed gives the same numbers on both backends."""

    def __init__(self) -> None:
        self._generator = np.random.default_rng()

    def generator(self) -> np.random.Generator:
        """The generator that unseeded random draws use (reseeded by ``manual_seed``)."""
        return self._generator

    def manual_seed(self, seed: int) -> None:
        """Reseed the generator: later draws repeat on both backends."""
        self._generator = np.random.default_rng(seed)

    def rng(self, seed=None) -> np.random.Generator:
        """The generator for one draw: a fresh one for an explicit ``seed``, else the stream."""
        return self._generator if seed is None else np.random.default_rng(seed)


def arange_args(start, stop=None, step=1):
    """``(start, stop, step, n)`` of ``arange(n)`` or ``arange(start, stop, step)``,
    checked as NumPy would; ``n`` is the number of elements."""
    if stop is None:
        start, stop = 0, start
    for v in (start, stop, step):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise TypeError(f"arange() takes numbers, got {type(v).__name__}")
    if step == 0:
        raise ValueError("arange() step must not be zero")
    return start, stop, step, max(int(np.ceil((stop - start) / step)), 0)


def num_threads_arg(n) -> int:
    """``n`` for ``set_num_threads(n)``: an int of at least 1."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads() takes an int, not {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads() needs at least 1 thread, got {n}")
    return int(n)
