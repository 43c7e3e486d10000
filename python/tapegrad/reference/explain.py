"""tg.explain for the reference backend: the shared, duck-typed ``tapegrad.explain``, re-exported."""
from __future__ import annotations

from ..explain import Explanation, explain

__all__ = ["explain", "Explanation"]
