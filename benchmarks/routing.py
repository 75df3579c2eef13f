"""Benchmark for helpers.routing: how the essay's networks scale with N, measured.

    python benchmarks/routing.py [--quick]

(a) Forward + backward (gradients of every weight) per sample, for the 2N-output net and
    the layered routing net of depth 2, 3 and 4, at N = 196, 784, 3136 and 12544 inputs
    (MNIST digits resized to 14, 28, 56 and 112 pixels a side), with the bundled models'
    nodes (``models.TWO_N`` and ``models.LAYERED``: 32 hidden units, 8 values per middle
    node). A least-squares line through log(time) against log(N) gives the exponent; the
    essay predicts 5/3 for the 2N-output net, 4/3 at depth 2, falling towards 1 with depth.
    Multiply-adds are counted too, and fitted the same way; the exponent between each pair
    of neighbouring sizes is printed as well. The four sizes are timed round-robin (at
    least 5 rounds, and as many as fit in 15 seconds) with a fixed batch of 64. Each time is
    the fastest round, as Python's ``timeit`` advises (slower rounds are other processes'
    doing); the median and its fit are printed beside it. GFLOP/s counts forward + backward
    as 3 x 2 x multiply-adds. (A batch that shrinks as N grows, 4096 images at N = 196,
    was tried and made the small sizes slower per image, not faster; so were batches of
    128 and 256. With 16 hidden units the small sizes are dominated by fixed overheads and
    the timed exponent of the 2N-output net came out at 1.31-1.34 against a counted 1.59.)
(b) The routed layer's FLOP rate as a fraction of a dense ``nn.Linear`` doing the same
    number of FLOPs (forward + backward), timed in pairs in the same run.
(a) compares sizes timed round-robin and (b) takes the median of interleaved pairs: the
machine is shared, so ratios and slopes matter more than milliseconds.
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
from helpers.models import LAYERED, TWO_N  # noqa: E402

SIZES = (14, 28, 56, 112)
BATCH = 64


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
    """The bundled architecture at ``size`` pixels a side."""
    if kind == "2N outputs":
        return routing.TwoNOutputNet(**TWO_N, image_size=size)
    return routing.LayeredRoutingNet(**{**LAYERED, "depth": int(kind[-1])}, image_size=size)


def interleaved(nets: list[nn.Module], x: torch.Tensor, rounds: int, seconds: float) -> list[list[float]]:
    """Seconds of one step of each net, per round, timed round-robin so that the machine's
    slow and fast spells fall on every size alike. A net's turn is a burst of steps that
    lasts about 50 ms (one step for the large sizes); at least ``rounds`` rounds, more
    while under ``seconds``."""
    burst = []
    for net in nets:
        step(net, x)  # warm-up
        burst.append(max(1, round(0.05 / timed(lambda: step(net, x)))))
    times: list[list[float]] = [[] for _ in nets]
    start = time.perf_counter()
    while len(times[0]) < rounds or time.perf_counter() - start < seconds:
        for net, k, out in zip(nets, burst, times):
            out.append(timed(lambda: [step(net, x) for _ in range(k)]) / k)
    return times


def scaling(rounds: int, seconds: float, sizes: tuple[int, ...]) -> None:
    print(f"(a) forward + backward per sample, batch {BATCH}, nodes as bundled (2N outputs: {TWO_N}; "
          f"layered: {LAYERED}), sizes interleaved, at least {rounds} rounds and {seconds:g} s; "
          f"the fastest round (as timeit advises: slower rounds are other processes' doing), median beside it")
    x = torch.rand(BATCH, 1, 28, 28)
    results = {}
    for kind in ("2N outputs", "depth 2", "depth 3", "depth 4"):
        nets = [build(kind, size) for size in sizes]
        rounds_ = [[t / BATCH for t in per] for per in interleaved(nets, x, rounds, seconds)]
        times, medians = [min(r) for r in rounds_], [statistics.median(r) for r in rounds_]
        macs = [routing.cost(net)["macs"] for net in nets]
        for size, net, t, med, m in zip(sizes, nets, times, medians, macs):
            fan = [layer.fan_in for layer in net.layers]
            print(f"  {kind:<10} N = {size * size:>6}: fan-in {str(fan):<14} {m / 1e6:8.2f} M multiply-adds, "
                  f"{t * 1e3:8.3f} ms per sample (median {med * 1e3:8.3f}), {6 * m / t / 1e9:5.1f} GFLOP/s")
        del nets
        ns = [s * s for s in sizes]
        local = [fit_exponent(ns[i:i + 2], times[i:i + 2]) for i in range(len(ns) - 1)]
        results[kind] = (fit_exponent(ns, times), fit_exponent(ns, medians), fit_exponent(ns, macs), local)
    target = {"2N outputs": "5/3 = 1.67", "depth 2": "4/3 = 1.33", "depth 3": "-> 1", "depth 4": "-> 1"}
    for kind, (t_exp, med_exp, m_exp, local) in results.items():
        steps = ", ".join(f"{e:.2f}" for e in local)
        print(f"  exponent, {kind:<10}: time N^{t_exp:.2f} (medians: N^{med_exp:.2f}), multiply-adds N^{m_exp:.2f} "
              f"(essay: {target[kind]}); time between neighbouring sizes: {steps}")


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
    scaling(repeats, 2.0 if args.quick else 15.0, SIZES[:3] if args.quick else SIZES)
    flop_rate(repeats)


if __name__ == "__main__":
    main()
