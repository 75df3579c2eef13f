"""Benchmark for helpers.env.keep_freed_memory: what the scoreboard's tasks gain by keeping
freed memory for reuse, measured side by side.

    python benchmarks/freed_memory.py

For each bundled model the board attacks (one torch thread, 250 test digits): one input
gradient of the cross-entropy (what every step of PGD, APGD and FAB costs) and one forward
pass without gradients (what every query of the square attack costs), each in a fresh
process with glibc's default malloc and in one that called ``keep_freed_memory`` first,
the two run alternately (a pair sees the same machine load). Each process also returns
its gradient and logits, and the script checks that both ways give the same numbers
bit for bit. Prints the ratio kept/default, median over the pairs.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODELS = ("cnn", "lipschitz_cnn", "two_n", "layered", "l0_vote")
PAIRS = 5
BATCH = 250
REPEATS = 6


def child(name: str, keep: bool) -> dict:
    """In a fresh process: the best of ``REPEATS`` timings of a gradient and of a forward pass."""
    import hashlib

    import torch

    from helpers.data import load_dataset
    from helpers.env import keep_freed_memory
    from helpers.models import load_pretrained

    torch.set_num_threads(1)
    applied = keep_freed_memory() if keep else False
    model = load_pretrained(name).eval().requires_grad_(False)
    x, y = load_dataset("mnist", "test", source="bundled", verbose=False)
    x, y = x[:BATCH].contiguous(), y[:BATCH]

    def gradient() -> torch.Tensor:
        xx = x.clone().requires_grad_(True)
        torch.nn.functional.cross_entropy(model(xx), y).backward()
        return xx.grad

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return model(x)

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    digest = hashlib.sha256(gradient().numpy().tobytes() + forward().numpy().tobytes()).hexdigest()
    return {"applied": applied, "gradient": best(gradient), "forward": best(forward), "digest": digest}


def main() -> None:
    print(f"keep_freed_memory benchmark: {BATCH} test digits, one thread, {PAIRS} pairs of fresh processes, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    for name in MODELS:
        runs = {True: [], False: []}
        for _ in range(PAIRS):
            for keep in (False, True):
                out = subprocess.run([sys.executable, __file__, "--child", name, str(int(keep))], check=True,
                                     capture_output=True, text=True).stdout
                runs[keep].append(json.loads(out.strip().splitlines()[-1]))
        same = len({r["digest"] for r in runs[True] + runs[False]}) == 1
        line = [f"  {name:<14}"]
        for part in ("gradient", "forward"):
            ratios = [k[part] / d[part] for k, d in zip(runs[True], runs[False])]
            line.append(f"{part} {statistics.median(r[part] for r in runs[False]) * 1000:6.1f} -> "
                        f"{statistics.median(r[part] for r in runs[True]) * 1000:6.1f} ms, ratio "
                        f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
        applied = all(r["applied"] for r in runs[True])
        print("; ".join(line) + f"; applied {applied}; same numbers bit for bit: {same}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], bool(int(sys.argv[3])))))
    else:
        main()
