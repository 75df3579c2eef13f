"""The least time the scoreboard's Linf and L2 attack tasks can take on this machine, at its speed of the moment.

    python benchmarks/scoreboard_floor.py            # every model on the board (a minute or two)
    python benchmarks/scoreboard_floor.py --quick    # cnn only, to check that the script works

The board's costliest tasks are the Linf and L2 attacks on its 500 digits: AutoAttack's
standard version and the course's own PGD and square attacks. Each of their steps is at
least one forward pass (a query) or one forward-and-backward pass (a gradient) of the model
on a digit still standing. This script measures, side by side in one run at one torch
thread, the time of both per digit for every model, at the largest batch each attack uses
(AutoAttack 250 digits, the course's attacks the whole sample of 500), where a digit costs
least (run it on a quiet machine, or the floor is inflated: these shared machines vary by
half from run to run, so read it as an estimate of the least time); and multiplies by the fewest
steps each attack must take, counted from the committed per-digit files (``results/digits``):

- AutoAttack: APGD-CE (``n_iter`` gradients) on every digit read correctly; targeted APGD
  (``n_iter`` x ``n_target_classes`` gradients), FAB-T (at least one gradient per iteration and
  target) and Square (``n_queries`` queries) on at least the digits that end robust;
- the course: PGD's first run (``steps`` gradients) on every digit read correctly, its
  other runs on at least the digits PGD left, and the square attack (the board's queries)
  on at least the digits that end robust.

Everything else (the L0 attacks, the adaptive attack, certificates, the caper, every
AutoAttack step on a digit that falls midway, every forward pass an attack spends checking
itself) is left out, so the true time is longer. The floor of ``make scoreboard`` with two
jobs is the sum over models divided by two. Notebook 11 and the README name this script.
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

from helpers import autoattack, digits, models, robustness, scoreboard  # noqa: E402

AUTOATTACK_BATCH = 250
"""The batch of ``helpers.autoattack.autoattack``."""


def per_digit_seconds(model: torch.nn.Module, batch: int, repeats: int = 3) -> tuple[float, float]:
    """Seconds per digit of one forward pass and of one gradient with respect to the input
    (forward and backward, no weight gradients: what an attack needs) on ``batch`` digits."""
    x = digits.sample(batch, 0)[0]
    with torch.no_grad():
        model(x)  # warm up
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
        forward = (time.perf_counter() - start) / repeats / batch
    xg = x.clone().requires_grad_(True)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.autograd.grad(model(xg).logsumexp(1).sum(), [xg])
    gradient = (time.perf_counter() - start) / repeats / batch
    return forward, gradient


def steps(name: str, square_iterations: int) -> dict[str, tuple[int, int]]:
    """Per task, the fewest (gradients, queries) its attacks take, from the committed per-digit
    files; ``square_iterations``: the queries of the course's square attacks on the board."""
    import pyautoattack

    aa = pyautoattack.AutoAttack(torch.nn.Identity(), norm="Linf", eps=0.1, version="standard")
    out = {}
    for norm, budgets in (("linf", scoreboard.LINF), ("l2", scoreboard.L2)):
        for eps in budgets:
            a = digits.load(name, f"autoattack_{norm}_{eps}")["values"]
            c = digits.load(name, f"course_{norm}_{eps}")["values"]
            correct, robust = sum(a["correct"]), sum(a["robust"])
            out[f"autoattack_{norm}_{eps}"] = (
                correct * aa.apgd.n_iter
                + robust * (aa.apgd_targeted.n_iter * aa.apgd_targeted.n_target_classes
                            + aa.fab.n_iter * aa.fab.n_target_classes),
                robust * aa.square.n_queries)
            pgd = robustness.PGD["steps"]
            out[f"course_{norm}_{eps}"] = (sum(c["correct"]) * pgd + sum(c["pgd"]) * pgd * (robustness.PGD["restarts"] - 1),
                                           sum(c["robust"]) * square_iterations)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    autoattack.settings()  # a clear error if AutoAttack is missing
    names = ["cnn"] if args.quick else list(scoreboard.MODELS)
    total = 0.0
    settings, _ = scoreboard.read()
    print(f"{'model':<16}{'fwd ms/digit':>13}{'grad ms/digit':>14}  (AutoAttack's batch; the course's)  floor per task (s)")
    for name in names:
        model = models.load_pretrained(name).eval().requires_grad_(False)  # frozen, as the board loads it
        cost = {"autoattack": per_digit_seconds(model, AUTOATTACK_BATCH),
                "course": per_digit_seconds(model, settings["dense"])}
        floors = {task: g * cost[task.split("_")[0]][1] + q * cost[task.split("_")[0]][0]
                  for task, (g, q) in steps(name, settings["square_iterations"]).items()}
        recorded = {task: digits.load(name, task)["seconds"] for task in floors}
        total += sum(floors.values())
        cells = ", ".join(f"{task} {floors[task]:.0f} (recorded {recorded[task]:.0f})" for task in floors)
        (fa, ga), (fc, gc) = cost["autoattack"], cost["course"]
        print(f"{name:<16}{fa * 1e3:>6.3f}; {fc * 1e3:.3f}{ga * 1e3:>8.3f}; {gc * 1e3:.3f}  {cells}")
    print(f"sum of the floors: {total:.0f} s of one-thread time; with two jobs at least {total / 2 / 60:.0f} minutes")


if __name__ == "__main__":
    main()
