"""tg.autograd for the reference backend: the shared ``tapegrad.autograd``, re-exported.

A Function works on whatever backend its arguments come from, so both
backends export the very same classes.
"""
from ..autograd import *  # noqa: F403
from ..autograd import __all__  # noqa: F401
