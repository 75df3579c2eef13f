"""Execute the course's notebooks top to bottom, each in a fresh kernel.

    python tools/run_notebooks.py --inplace [NB ...]   # `make notebooks`: save fresh outputs
    python tools/run_notebooks.py --jobs 2 [NB ...]    # `make course`: run, leave files alone

Prints each notebook's wall time, their sum and the wall time of the whole run. With
``--jobs J`` it runs J notebooks side by side, each kernel with torch limited to
``--threads`` threads (default: the CPU count divided by J), so they do not fight over
cores. Exits non-zero if a cell fails.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
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
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run side by side")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per kernel (SMUDGE_THREADS)")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    threads = args.threads or (max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else 0)
    if threads:
        os.environ["SMUDGE_THREADS"] = str(threads)  # read by helpers.env.setup in every kernel
    start, total = time.perf_counter(), 0.0
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {path: pool.submit(run, path, args.inplace, args.timeout) for path in paths}
        for path in paths:
            seconds = futures[path].result()
            total += seconds
            print(f"{path.name:<40} {seconds:7.1f} s", flush=True)
    print(f"{'sum of the notebooks':<40} {total:7.1f} s")
    print(f"{'wall time':<40} {time.perf_counter() - start:7.1f} s ({args.jobs} at a time"
          f"{f', {threads} torch thread(s) each' if threads else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
