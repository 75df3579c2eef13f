"""Execute the course's notebooks top to bottom, each in a fresh kernel.

    python tools/run_notebooks.py --inplace [NB ...]   # `make notebooks`: save fresh outputs
    python tools/run_notebooks.py [NB ...]             # `make course`: run, leave files alone

Prints each notebook's wall time and the total. Exits non-zero if a cell fails.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path, inplace: bool, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if inplace:
        for cell in nb.cells:  # keep the files small and stable: no per-run timing metadata
            cell.metadata.pop("execution", None)
        nbformat.write(nb, path)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--inplace", action="store_true", help="save the executed notebooks")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    total = 0.0
    for path in paths:
        seconds = run(path, args.inplace, args.timeout)
        total += seconds
        print(f"{path.name:<40} {seconds:7.1f} s", flush=True)
    print(f"{'total':<40} {total:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
