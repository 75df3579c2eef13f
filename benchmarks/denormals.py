"""How much subnormal floats slow down training each bundled model, side by side in one run.

    python benchmarks/denormals.py            # every bundled model's recipe family, 2 x 10 steps each
    python benchmarks/denormals.py --quick    # two models, to check that the script works

A float32 below about 1.2e-38 is *subnormal*; x86 CPUs compute with them many times more
slowly than with ordinary floats. A gradient that passes through a readout of many small
weights (the linear readout over 15,680 node logits of ``two_n_linear``) can end up full of
them. ``torch.set_flush_denormal(True)`` rounds them to zero instead.

For each model: the seconds of 10 training steps (batch 64, the bundled weights, cross-
entropy through the model's own output; the vote nets through each output's own loss, as
their recipes train them), with and without flushing, twice each, one torch thread. The
ratio is the speed-up flushing would give a recipe. Flushing changes the arithmetic (a
subnormal becomes 0), so a recipe that adopts it trains different weights: its board rows
and notebooks must be measured again.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from helpers import data, models, routing, votes  # noqa: E402

MODELS = ("two_n_linear", "two_n", "layered_linear", "layered", "lipschitz_cnn", "cnn", "l0_vote")


def step_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 10, batch: int = 64) -> float:
    """Seconds for ``steps`` forward-and-backward passes on consecutive batches."""
    if isinstance(model, votes.GroupVote):
        outputs = votes.VoterLogits(model)  # every voter, node-major, as train_vote trains them
    elif isinstance(model, routing.RoutingNet) and model.readout == "vote":
        outputs = routing.NodeLogits(model)
    else:
        outputs = None
    start = time.perf_counter()
    for i in range(steps):
        xb, yb = x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]
        model.zero_grad()
        if outputs is not None:
            loss = routing.node_loss(outputs(xb), yb)
        else:
            loss = F.cross_entropy(model(xb), yb)
        loss.backward()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two models only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, y = data.load_dataset("mnist", "train", source="bundled", verbose=False)
    names = MODELS[:2] if args.quick else MODELS
    print(f"{'model':>16} {'plain s':>8} {'flushed s':>9} {'ratio':>6}  (10 steps of 64, best of 2)")
    try:
        for name in names:
            model = models.load_pretrained(name).train()
            best = {}
            for flush in (False, True):
                torch.set_flush_denormal(flush)
                best[flush] = min(step_seconds(model, x, y) for _ in range(2))
            print(f"{name:>16} {best[False]:8.3f} {best[True]:9.3f} {best[False] / best[True]:6.2f}", flush=True)
    finally:
        torch.set_flush_denormal(False)


if __name__ == "__main__":
    main()
