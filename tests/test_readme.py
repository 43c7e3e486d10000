"""The README's Python examples run as written, on both backends.

Every ```python block runs on each backend; a block that calls ``tg.viz.draw``
runs twice, with Graphviz's ``dot`` (where it is installed) and without it (an
empty PATH, as on a machine without Graphviz), when ``draw`` must write the
``.dot`` text instead and warn, as the README says. What a block prints must
fit a 100-column terminal.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tapegrad import viz

README = Path(__file__).resolve().parents[1] / "README.md"
WIDTH = 100


def python_blocks() -> list[str]:
    if not README.is_file():
        return []
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def cases():
    out = []
    for index, source in enumerate(python_blocks()):
        if "tg.viz.draw" in source:
            out += [pytest.param(index, True, id=f"block{index}-with-dot"),
                    pytest.param(index, False, id=f"block{index}-without-dot")]
        else:
            out.append(pytest.param(index, None, id=f"block{index}"))
    return out or [pytest.param(0, None, id="no-readme")]


def drawn_files(source: str) -> list[str]:
    """The paths the block's ``tg.viz.draw(root, "path")`` calls ask for."""
    return re.findall(r'tg\.viz\.draw\([^,()]+,\s*"([^"]+)"', source)


@pytest.mark.skipif(not README.is_file(), reason="README.md is not beside the tests")
@pytest.mark.parametrize("index, dot", cases())
def test_readme_example_runs(tg, index, dot, tmp_path, monkeypatch, capsys):
    blocks = python_blocks()
    assert blocks, "README.md has no python examples"
    source = blocks[index]
    if dot and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")
    if dot is False:
        empty = tmp_path / "no-dot-here"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))  # the graphviz package and shutil.which look here
    monkeypatch.chdir(tmp_path)  # draw() writes graph.svg into the working folder
    # Run against the backend under test: the examples say `import tapegrad as tg`.
    code = compile(source.replace("import tapegrad as tg", ""), f"README.md[{index}]", "exec")
    if dot is False:
        with pytest.warns(viz.GraphvizNotFoundWarning, match="wrote the graph's DOT text"):
            exec(code, {"tg": tg, "__name__": "readme"})
    else:
        exec(code, {"tg": tg, "__name__": "readme"})
    for name in drawn_files(source) if dot is not None else ():
        asked, fallback = tmp_path / name, (tmp_path / name).with_suffix(".dot")
        if dot:
            assert asked.exists() and not fallback.exists()
        else:  # graph.svg asked for, graph.dot written, as the README says
            assert not asked.exists()
            assert fallback.read_text().startswith("digraph tapegrad {")
            assert f"writes the graph's DOT text to `{fallback.name}` instead of `{name}`" in \
                " ".join(README.read_text(encoding="utf-8").split())
    out = capsys.readouterr().out
    wide = [line for line in out.splitlines() if len(line) > WIDTH]
    assert not wide, f"README.md[{index}] prints lines wider than {WIDTH} columns:\n" + "\n".join(wide)


def test_the_tour_draws():
    assert any(drawn_files(b) for b in python_blocks()), "the README's tour no longer draws"


def explain_commands() -> list[str]:
    """The ``python -m tapegrad explain ...`` command lines the README shows."""
    if not README.is_file():
        return []
    return re.findall(r"`(python -m tapegrad explain [^`]+)`", README.read_text(encoding="utf-8"))


@pytest.mark.skipif(not explain_commands(), reason="the README shows no explain command")
@pytest.mark.parametrize("backend", ["native", "reference"])
def test_readme_explain_command_runs(backend):
    for command in explain_commands():
        args = shlex.split(command)[1:]  # as the shell would, run by this Python
        proc = subprocess.run([sys.executable, *args, "--backend", backend], capture_output=True,
                              text=True, timeout=120, cwd=README.parent)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert any(line.startswith("key: ") for line in lines)  # the README promises a key
        assert all(len(line) <= WIDTH for line in lines), command
