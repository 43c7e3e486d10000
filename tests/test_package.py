"""The installed package: its layout, version and native extension."""
from __future__ import annotations

import os

import tapegrad


def test_native_extension_is_importable():
    from tapegrad import _core

    assert _core.__version__ == tapegrad.__version__


def test_reference_is_pure_python():
    from tapegrad import reference

    assert reference.__file__.endswith(".py")


def test_type_information_is_shipped():
    here = os.path.dirname(tapegrad.__file__)
    assert os.path.exists(os.path.join(here, "py.typed"))
    assert os.path.exists(os.path.join(here, "_core.pyi"))
