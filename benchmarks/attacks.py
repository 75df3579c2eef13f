"""Benchmarks for helpers.attacks, measured side by side in one run.

    python benchmarks/attacks.py            # the full run (about 3-5 minutes on 2 cores)
    python benchmarks/attacks.py --quick    # smaller sizes, to check that the script works

(a) PGD overhead: wall time of PGD with k = 20 steps on 1,000 images, divided by
    k x the time of one forward + backward pass of the same batch (target <= 1.1).
(b) Widget latency for one slider move of notebook 02's attack widget on one image: the
    PGD call alone (20 steps; target: median <= 50 ms), and the whole redraw,
    widgets.attack_figure drawn on an Agg canvas (target: median <= 300 ms).
(c) Peak memory of each L0 method on 1,000 images: each runs in a fresh subprocess and
    reports resource.getrusage(RUSAGE_SELF).ru_maxrss, the peak resident set size of the
    whole process (Python, torch, model and data included; target < 2 GB).

Timings are ratios or medians of repeated runs; each figure is printed with what it
was measured against. The machine's load average is printed too: other processes
running at the same time slow everything down.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from helpers import attacks, widgets  # noqa: E402
from helpers.data import load_dataset  # noqa: E402
from helpers.models import load_pretrained  # noqa: E402

THREADS = 2
GB = 1024**3


def setup() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = load_pretrained("cnn")
    x, y = load_dataset("mnist", "test", source="bundled", verbose=False)
    return model, x, y


def forward_backward(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """One forward + backward pass to the input: the unit of work of one PGD step."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        loss = attacks.margin(model(x), y).sum()
        torch.autograd.grad(loss, x)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ----------------------------------------------------------------------------
# (a) PGD overhead
# ----------------------------------------------------------------------------


def bench_pgd_overhead(model, x, y, n: int, k: int, repeats: int) -> None:
    xb, yb = x[:n].contiguous(), y[:n].contiguous()
    forward_backward(model, xb, yb)  # warm-up
    print(f"(a) PGD overhead: {n} images, k = {k} steps, 1 restart, random start, margin loss; {repeats} repeats, "
          f"each timing k forward+backward passes and then PGD back to back (a pair sees the same machine load)")
    for norm, eps in (("linf", 0.3), ("l2", 2.0)):
        pairs = []
        for _ in range(repeats):
            unit = timed(lambda: [forward_backward(model, xb, yb) for _ in range(k)]) / k
            whole = timed(lambda: attacks.pgd(model, xb, yb, eps, norm=norm, steps=k, seed=0))
            pairs.append((whole / (k * unit), whole, unit))
        ratio, run, fb = sorted(pairs)[len(pairs) // 2]  # the median pair
        spread = f"{min(p[0] for p in pairs):.3f}..{max(p[0] for p in pairs):.3f}"
        verdict = "meets" if ratio <= 1.1 else "MISSES"
        print(f"    PGD-{norm} eps {eps}: median pair: PGD {run:.2f} s, one forward+backward of the same batch "
              f"{fb * 1000:.0f} ms, ratio {run:.2f} / ({k} x {fb:.3f}) = {ratio:.3f} ({verdict} target <= 1.1); "
              f"all pairs {spread}")


# ----------------------------------------------------------------------------
# (b) widget latency
# ----------------------------------------------------------------------------


def bench_widget(model, x, y, moves: int, steps: int) -> None:
    """Time what notebook 02's widget does on one slider move: ``widgets.attack_figure``
    (PGD on one digit, then the 4-panel figure) drawn on an Agg canvas, against the PGD
    call inside it alone."""
    image, label = x[:1], int(y[0])
    budgets = np.linspace(0.02, 0.3, moves)
    goal = torch.tensor([label])
    warm = widgets.attack_figure(model, image, label, "linf", 0.1, steps=steps)  # warm-up
    plt.close(warm)
    compute, both = [], []
    for eps in budgets:  # interleaved: each slider position timed both ways, back to back
        compute.append(timed(lambda: attacks.pgd(model, image, goal, float(eps), norm="linf", steps=steps)))

        def move():
            fig = widgets.attack_figure(model, image, label, "linf", float(eps), steps=steps)
            fig.canvas.draw()
            plt.close(fig)
        both.append(timed(move))
    med_c, med_b = statistics.median(compute) * 1000, statistics.median(both) * 1000
    print(f"(b) widget latency: notebook 02's attack widget, one image, PGD-Linf {steps} steps, {moves} slider moves "
          f"(eps 0.02..0.30), {torch.get_num_threads()} threads")
    print(f"    compute alone (attacks.pgd): median {med_c:.1f} ms, max {max(compute) * 1000:.1f} ms "
          f"({'meets' if med_c <= 50 else 'MISSES'} target median <= 50 ms)")
    print(f"    compute + redraw (widgets.attack_figure drawn on the Agg canvas): median {med_b:.1f} ms, "
          f"max {max(both) * 1000:.1f} ms ({'meets' if med_b <= 300 else 'MISSES'} target median <= 300 ms)")


# ----------------------------------------------------------------------------
# (c) peak memory of the L0 methods, one subprocess each
# ----------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def l0_child(method: str, n: int) -> None:
    """Run in a fresh process: one L0 method on n images; print JSON with memory and time."""
    model, x, y = setup()
    x, y = x[:n], y[:n]
    with torch.no_grad():
        scores = model(x)
    target = scores.scatter(1, y[:, None], float("-inf")).argmax(dim=1)  # runner-up class
    before = peak_rss_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    adv = attacks.l0_attack(model, x, target, targeted=True, method=method, max_pixels=20)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    fooled = attacks.is_adversarial(model, adv, target, targeted=True)
    print(json.dumps({"method": method, "n": n, "before": before, "peak": peak_rss_bytes(), "seconds": seconds,
                      "cpu": cpu, "success": float(fooled.float().mean()),
                      "max_changed": int(attacks.changed_pixels(x, adv).max())}))


def bench_l0_memory(n: int) -> None:
    print(f"(c) peak memory of each L0 method: l0_attack(targeted to the runner-up class, max_pixels=20, default "
          f"settings) on {n} images in one call, one fresh subprocess per method, peak RSS of the whole process "
          f"from resource.getrusage(RUSAGE_SELF).ru_maxrss")
    for method in attacks.L0_METHODS:
        out = subprocess.run([sys.executable, __file__, "--l0-child", method, "--n", str(n), "--threads", str(THREADS)],
                             capture_output=True, text=True, check=True)
        info = json.loads(out.stdout.strip().splitlines()[-1])
        peak, before = info["peak"] / GB, info["before"] / GB
        print(f"    {method:>13}: peak RSS {peak:.2f} GB (peak before the attack: {before:.2f} GB; "
              f"{'meets' if peak < 2 else 'MISSES'} target < 2 GB); {info['seconds']:.0f} s wall, "
              f"{info['cpu']:.0f} s CPU; success {info['success']:.3f}, most pixels changed {info['max_changed']}")


def main() -> None:
    global THREADS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, to check the script")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the course's 2 cores)")
    parser.add_argument("--only", choices=("a", "b", "c"), action="append", help="run only these parts")
    parser.add_argument("--l0-child", choices=attacks.L0_METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    THREADS = args.threads
    if args.l0_child:
        l0_child(args.l0_child, args.n)
        return
    parts = set(args.only or "abc")
    begin = time.perf_counter()
    model, x, y = setup()
    n = 100 if args.quick else 1000
    print(f"helpers.attacks benchmarks: baseline CNN, bundled MNIST test split; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    if "a" in parts:
        bench_pgd_overhead(model, x, y, n=n, k=20, repeats=2 if args.quick else 5)
    if "b" in parts:
        bench_widget(model, x, y, moves=5 if args.quick else 20, steps=20)
    if "c" in parts:
        bench_l0_memory(n=n)
    print(f"load average {os.getloadavg()[0]:.1f} at the end; whole benchmark {time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
