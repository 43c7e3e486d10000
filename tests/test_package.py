"""The installed package: its layout, version and native extension."""
from __future__ import annotations

import os
import re

import pytest

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


README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


@pytest.mark.skipif(not os.path.isfile(README), reason="README.md is not beside the tests")
def test_readme_install_commands_name_declared_extras():
    from importlib.metadata import metadata

    with open(README, encoding="utf-8") as f:
        text = f.read()
    used = {extra.strip() for group in re.findall(r'pip install (?:-\S+ )*"\.\[([^\]]*)\]"', text)
            for extra in group.split(",")}
    assert {"bench", "test"} <= used
    assert used <= set(metadata("tapegrad").get_all("Provides-Extra") or ())
    # the build is silent for about a minute: the README says so, and how to watch it
    assert 'pip install -v ".[' in text
