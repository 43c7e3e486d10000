"""tapegrad.reference: the whole tapegrad API in pure Python and NumPy.

It is the oracle the native backend is tested against, the baseline its speed
is measured against, and a readable account of backpropagation.
"""
from __future__ import annotations

__all__: list[str] = []
