"""Benchmark for helpers.routing: how the essay's networks scale with N, measured.

    python benchmarks/routing.py [--quick]

(a) Forward + backward (gradients of every weight) per sample, for the 2N-output net and
    the layered routing net of depth 2, 3 and 4, at N = 196, 784, 3136 and 12544 inputs
    (MNIST digits resized to 14, 28, 56 and 112 pixels a side), with the course's node size
    (16 hidden units). A least-squares line through log(time) against log(N) gives the
    exponent; the essay predicts 5/3 for the 2N-output net, 4/3 at depth 2, falling
    towards 1 with depth. Multiply-adds are counted too, and fitted the same way. (Timed
    with a fixed batch of 64; a batch that shrinks as N grows, 4096 images at N = 196, was
    tried and made the small sizes slower per image, not faster.)
(b) The routed layer's FLOP rate as a fraction of a dense ``nn.Linear`` doing the same
    number of FLOPs (forward + backward), timed in pairs in the same run.
Timings are medians of interleaved repeats; the machine is shared, so ratios matter more
than milliseconds.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from helpers import routing  # noqa: E402

SIZES = (14, 28, 56, 112)
BATCH = 64
HIDDEN = 16


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def step(net: nn.Module, x: torch.Tensor) -> None:
    """One forward + backward; gradients are dropped so memory does not pile up."""
    net.zero_grad(set_to_none=True)
    net(x).logsumexp(dim=1).sum().backward()


def fit_exponent(ns: list[int], values: list[float]) -> float:
    lx = [math.log(n) for n in ns]
    ly = [math.log(v) for v in values]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def build(kind: str, size: int) -> routing.RoutingNet:
    if kind == "2N outputs":
        return routing.TwoNOutputNet(image_size=size, hidden=HIDDEN)
    return routing.LayeredRoutingNet(int(kind[-1]), image_size=size, hidden=HIDDEN)


def scaling(repeats: int, sizes: tuple[int, ...]) -> None:
    print(f"(a) forward + backward per sample, batch {BATCH}, {HIDDEN} hidden units per node, "
          f"median of {repeats} repeats")
    x = torch.rand(BATCH, 1, 28, 28)
    results = {}
    for kind in ("2N outputs", "depth 2", "depth 3", "depth 4"):
        times, macs = [], []
        for size in sizes:
            net = build(kind, size)
            step(net, x)  # warm-up
            t = statistics.median(timed(lambda: step(net, x)) for _ in range(repeats)) / BATCH
            times.append(t)
            macs.append(routing.cost(net)["macs"])
            fan = [layer.fan_in for layer in net.layers]
            print(f"  {kind:<10} N = {size * size:>6}: fan-in {str(fan):<14} {macs[-1] / 1e6:8.2f} M multiply-adds, "
                  f"{t * 1e3:8.3f} ms per sample")
            del net
        ns = [s * s for s in sizes]
        results[kind] = (fit_exponent(ns, times), fit_exponent(ns, macs))
    target = {"2N outputs": "5/3 = 1.67", "depth 2": "4/3 = 1.33", "depth 3": "-> 1", "depth 4": "-> 1"}
    for kind, (t_exp, m_exp) in results.items():
        print(f"  exponent, {kind:<10}: time N^{t_exp:.2f}, multiply-adds N^{m_exp:.2f} (essay: {target[kind]})")


def flop_rate(repeats: int) -> None:
    print(f"(b) FLOP rate of the routed layer against a dense nn.Linear of equal FLOPs "
          f"(forward + backward, batch {BATCH * 4}, median of {repeats} pairs)")
    for kind, size in (("2N outputs", 28), ("depth 2", 28), ("2N outputs", 56)):
        layer = build(kind, size).layers[0]
        z = torch.rand(size * size, 1, BATCH * 4)
        macs = layer.macs()
        din = 1024
        dense = nn.Linear(din, max(1, macs // din), bias=False)
        xd = torch.rand(BATCH * 4, din)

        def routed():
            layer.zero_grad(set_to_none=True)
            layer(z).sum().backward()

        def linear():
            dense.zero_grad(set_to_none=True)
            dense(xd).sum().backward()

        routed(), linear()
        pairs = []
        for _ in range(repeats):
            a, b = timed(routed), timed(linear)
            pairs.append((b / a, a, b))
        ratio, a, b = sorted(pairs)[len(pairs) // 2]
        flops = 3 * 2 * macs * BATCH * 4
        print(f"  {kind:<10} N = {size * size:>5}, first layer ({layer.nodes} nodes, fan-in {layer.fan_in}): "
              f"{flops / a / 1e9:6.1f} GFLOP/s vs dense {flops * (din * (macs // din)) / macs / b / 1e9:6.1f}: "
              f"{ratio:.0%} of dense (pairs {min(p[0] for p in pairs):.0%}..{max(p[0] for p in pairs):.0%})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three sizes and fewer repeats (a smoke test)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    print(f"helpers.routing benchmark: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    repeats = 3 if args.quick else 5
    scaling(repeats, SIZES[:3] if args.quick else SIZES)
    flop_rate(repeats)


if __name__ == "__main__":
    main()
