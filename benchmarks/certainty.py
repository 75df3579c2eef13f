"""Benchmark for helpers.certainty: what a certificate costs, measured side by side.

    python benchmarks/certainty.py

For the Lipschitz CNN and the baseline CNN on 1,000 bundled test digits:
(a) the one-off cost of the proven upper bound (a Gram matrix per layer),
(b) certifying all 1,000 images once the bound is known (``certified_radius`` with
    ``bound=`` given), against one plain forward pass of the same batch: the ratio should
    be about 1, since a certificate is a forward pass and a subtraction;
(c) one input gradient of the Lipschitz CNN on 250 digits with MaxMin's one-pass backward
    against autograd's for ``torch.maximum`` and ``torch.minimum`` (the same numbers).
Timings are medians of paired, interleaved repeats (a pair sees the same machine load).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from helpers import certainty  # noqa: E402
from helpers.data import load_dataset  # noqa: E402
from helpers.models import load_pretrained  # noqa: E402

REPEATS = 7


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(2)
    x, _ = load_dataset("mnist", "test", source="bundled", verbose=False)
    x = x[:1000].contiguous()
    print(f"helpers.certainty benchmark: 1,000 test digits, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} at start")
    for name in ("lipschitz_cnn", "cnn"):
        model = load_pretrained(name)
        bound_time = timed(lambda: certainty.lipschitz_upper_bound(model))
        bound = certainty.lipschitz_upper_bound(model)
        with torch.no_grad():
            model(x)  # warm-up
        pairs = []
        for _ in range(REPEATS):
            with torch.no_grad():
                forward = timed(lambda: model(x))
            cert = timed(lambda: certainty.certified_radius(model, x, bound))
            pairs.append((cert / forward, cert, forward))
        ratio, cert, forward = sorted(pairs)[len(pairs) // 2]
        print(f"  {name:<14} (a) upper bound {bound:.4g}, computed once in {bound_time:.2f} s")
        print(f"  {name:<14} (b) certify 1,000 images: {cert * 1000:.1f} ms; one forward pass of the same batch: "
              f"{forward * 1000:.1f} ms; ratio {ratio:.2f} (median of {REPEATS} pairs; all pairs "
              f"{min(p[0] for p in pairs):.2f}..{max(p[0] for p in pairs):.2f})")
    maxmin_gradient()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def _reference_maxmin(self, x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.cat([torch.maximum(a, b), torch.minimum(a, b)], dim=1)  # autograd's eight-op backward


def maxmin_gradient(batch: int = 250) -> None:
    """(c) One input gradient of the Lipschitz CNN (what every attack step costs) with
    MaxMin's one-pass backward against autograd's for torch.maximum and torch.minimum."""
    model = load_pretrained("lipschitz_cnn").eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x, y = load_dataset("mnist", "test", source="bundled", verbose=False)
    x, y = x[:batch].contiguous(), y[:batch]

    def gradient() -> torch.Tensor:
        xx = x.clone().requires_grad_(True)
        torch.nn.functional.cross_entropy(model(xx), y).backward()
        return xx.grad

    one_pass = certainty.MaxMin.forward
    pairs = []
    for _ in range(REPEATS):
        certainty.MaxMin.forward = _reference_maxmin
        reference = timed(gradient)
        certainty.MaxMin.forward = one_pass
        ours = timed(gradient)
        pairs.append((ours / reference, ours, reference))
    certainty.MaxMin.forward = one_pass
    ratio, ours, reference = sorted(pairs)[len(pairs) // 2]
    print(f"  lipschitz_cnn  (c) input gradient of {batch} digits: MaxMin one pass {ours * 1000:.1f} ms, "
          f"autograd's max/min {reference * 1000:.1f} ms; ratio {ratio:.2f} (median of {REPEATS} pairs)")


if __name__ == "__main__":
    main()
