"""What docs/make_op_docs.py writes from the op table is up to date."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "make_op_docs.py"


@pytest.mark.skipif(not SCRIPT.is_file(), reason="docs/ is not beside the tests")
def test_generated_parts_match_the_op_table(capsys):
    spec = importlib.util.spec_from_file_location("make_op_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, capsys.readouterr().out
