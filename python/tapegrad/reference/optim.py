"""tg.optim for the reference backend: the shared, duck-typed ``tapegrad.optim``, re-exported."""
from ..optim import *  # noqa: F403
from ..optim import __all__  # noqa: F401
