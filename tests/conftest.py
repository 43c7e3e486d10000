"""Shared fixtures: every API test runs on both backends through ``tg``."""
from __future__ import annotations

import importlib
import os
import sys

import pytest

# Test helper modules (oracle.py, ...) live beside this file; the package itself
# is always imported from where it is installed, never from python/.
sys.path.insert(0, os.path.dirname(__file__))

# TAPEGRAD_DERANDOMIZE=1 (set by .ci/run) makes every hypothesis test draw the
# same examples on every run, so CI is reproducible; fuzzing (.ci/fuzz) and
# local runs keep exploring at random.
if os.environ.get("TAPEGRAD_DERANDOMIZE", "") not in ("", "0"):
    from hypothesis import settings

    settings.register_profile("derandomized", derandomize=True)
    settings.load_profile("derandomized")

BACKENDS = ("native", "reference")


def load_backend(name: str):
    return importlib.import_module("tapegrad" if name == "native" else "tapegrad.reference")


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def tg(request):
    """The backend under test: ``tapegrad`` (native) or ``tapegrad.reference``."""
    return load_backend(request.param)


def pytest_report_header(config):
    import tapegrad

    where = os.path.dirname(tapegrad.__file__)
    return [f"tapegrad {tapegrad.__version__} imported from {where}"]
