"""The README's Python examples run as written, on both backends."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    if not README.is_file():
        return []
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.skipif(not README.is_file(), reason="README.md is not beside the tests")
@pytest.mark.parametrize("index", range(len(python_blocks()) or 1))
def test_readme_example_runs(tg, index, tmp_path, monkeypatch):
    blocks = python_blocks()
    assert blocks, "README.md has no python examples"
    source = blocks[index]
    if "tg.viz.draw" in source and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")
    monkeypatch.chdir(tmp_path)  # draw() writes graph.svg into the working folder
    # Run against the backend under test: the examples say `import tapegrad as tg`.
    source = source.replace("import tapegrad as tg", "")
    exec(compile(source, f"README.md[{index}]", "exec"), {"tg": tg, "__name__": "readme"})
