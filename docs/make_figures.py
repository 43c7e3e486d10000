"""Regenerate the figures of the README: python docs/make_figures.py

docs/worked_example.svg    y = (x1 + x2) * x3 at (4, 2, -5), after backward()
docs/five_node_example.svg the five-node example at (-7, 2, 2, -1), after backward()

Needs Graphviz's `dot` (apt-get install graphviz) and, optionally, the graphviz
Python package (pip install tapegrad[viz]). Uses the reference backend, so no
compiled extension is needed; both backends draw the same picture.
"""
from __future__ import annotations

import os

from tapegrad import reference as tg
from tapegrad import worked_examples

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    for name, build in (("worked_example", worked_examples.simple),
                        ("five_node_example", worked_examples.five_node)):
        y, _ = build(tg)
        y.backward()
        path = os.path.join(HERE, f"{name}.svg")
        tg.viz.draw(y, path)
        print(f"wrote {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
