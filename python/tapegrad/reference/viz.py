"""tg.viz for the reference backend: the shared, duck-typed ``tapegrad.viz``, re-exported."""
from ..viz import *  # noqa: F403
from ..viz import __all__  # noqa: F401
