"""Tiny helpers for the scripts that write notebooks (tools/build_nb07.py, build_nb08.py).

A builder collects cells with ``md`` and ``code`` and writes them, unexecuted, with
``save``; ``tools/run_notebooks.py --inplace`` then executes them.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1]
REPO = "smudge-course/smudge"
# Colab badges and install cells name the release tag, so a notebook and its helpers come from one commit
RELEASE = "v" + re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
INSTALL = f'''import sys

if "google.colab" in sys.modules:  # on Colab: install the course's helpers (and its bundled data)
    %pip install -q "git+https://github.com/{REPO}@{RELEASE}"'''


class Notebook:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.cells: list = []

    def md(self, text: str) -> None:
        """A markdown cell; a text that starts with a blank line keeps it (the Exercises heading)."""
        self.cells.append(nbf.v4.new_markdown_cell(text.rstrip() if text.startswith("\n\n") else text.strip("\n")))

    def code(self, text: str, *, ignore_output: bool = False) -> None:
        """A code cell; ``ignore_output`` tags it for nbval (timings: they differ on every run)."""
        cell = nbf.v4.new_code_cell(text.strip("\n"))
        if ignore_output:
            cell.metadata["tags"] = ["nbval-ignore-output"]
        self.cells.append(cell)

    def badge(self) -> str:
        return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                f"(https://colab.research.google.com/github/{REPO}/blob/{RELEASE}/notebooks/{self.filename})")

    def save(self) -> None:
        nb = nbf.v4.new_notebook()
        nb.cells = self.cells
        nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
        nb.metadata["language_info"] = {"name": "python"}
        out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "notebooks" / self.filename  # an optional path
        nbf.write(nb, out)
        print(f"wrote {out} ({len(self.cells)} cells, {sum(c.cell_type == 'code' for c in self.cells)} code)",
              file=sys.stderr)
