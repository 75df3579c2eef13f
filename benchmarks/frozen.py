"""Benchmark: what an attack's gradient costs when the model's parameters require gradients
or not (the scoreboard's ``_load`` freezes them), measured side by side.

    python benchmarks/frozen.py            # (a) input gradients; (b) AutoAttack on 30 digits of two_n
    python benchmarks/frozen.py --no-aa    # (a) only

(a) One input gradient of the cross-entropy (what every PGD or APGD step costs) on 250
    bundled test digits, for the baseline CNN, the Lipschitz CNN and two_n, with trainable
    parameters against frozen ones: the same gradient (checked bitwise), and the ratio.
(b) AutoAttack (standard version, ``helpers.autoattack``) on the first 30 digits of the
    board's sample for two_n at Linf 0.1, both ways: the same adversarial images (checked
    bitwise), and the ratio of the two times.
Timings (a) are medians of paired, interleaved repeats (a pair sees the same machine load);
run it with one thread on a quiet machine (``SMUDGE_THREADS=1``, nothing else running).
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

from helpers import autoattack, digits  # noqa: E402
from helpers.models import load_pretrained  # noqa: E402

REPEATS = 11


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def gradient(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xx = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(xx), y), xx)
    return grad


def input_gradients(batch: int = 250) -> None:
    x, y, _ = digits.sample(batch, 0)
    for name in ("cnn", "lipschitz_cnn", "two_n"):
        trainable = load_pretrained(name).eval()
        frozen = load_pretrained(name).eval().requires_grad_(False)
        gradient(trainable, x, y), gradient(frozen, x, y)  # warm-up
        ratios, same = [], True
        for _ in range(REPEATS):
            t_train, g_train = timed(lambda: gradient(trainable, x, y))
            t_frozen, g_frozen = timed(lambda: gradient(frozen, x, y))
            ratios.append(t_frozen / t_train)
            same &= torch.equal(g_train, g_frozen)
        print(f"  (a) {name:<14} input gradient of {batch} digits: frozen / trainable "
              f"{statistics.median(ratios):.2f} (median of {REPEATS} pairs; {min(ratios):.2f}..{max(ratios):.2f}); "
              f"the same gradient bitwise: {same}")


def autoattack_two_n(n: int = 30) -> None:
    x, y, _ = digits.sample(n, 0)
    times, images = {}, {}
    for label, frozen in (("trainable", False), ("frozen", True)):
        model = load_pretrained("two_n").eval().requires_grad_(not frozen)
        times[label], images[label] = timed(lambda: autoattack.autoattack(model, x, y, "linf", 0.1, seed=0))
    print(f"  (b) two_n          AutoAttack Linf 0.1 on {n} digits: trainable {times['trainable']:.1f} s, frozen "
          f"{times['frozen']:.1f} s, ratio {times['frozen'] / times['trainable']:.2f}; the same images bitwise: "
          f"{torch.equal(images['trainable'], images['frozen'])}")


def main() -> None:
    torch.set_num_threads(int(os.environ.get("SMUDGE_THREADS", "1")))
    print(f"frozen parameters benchmark: torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"load average {os.getloadavg()[0]:.1f} at start")
    input_gradients()
    if "--no-aa" not in sys.argv[1:]:
        autoattack_two_n()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
