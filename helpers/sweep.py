"""The wiring sweep: which grouping of the pixels makes a vote that certifies the most pixels.

Notebook 10 reads its committed table (``results/sweep.csv``); this module makes it.
Every point of ``GRID`` is trained by one recipe (``votes.train_vote``) on the 60,000
training digits and measured on all 10,000 test digits, for both readouts (soft and hard
vote) of the same voters: clean accuracy with its Wilson interval, the median certified
pixels (0 where the vote is wrong) with a bootstrap interval, certified accuracy at 1..20
pixels, the median pixels the course's L0 attacks needed on the first ``attack_digits`` of
the board's sample (``digits.sample``) with the certificate checked against every one of
those attacks, parameters, multiply-adds and training time.

``python -m helpers.sweep`` runs what is not yet in the table (each point's rows are
written as soon as it finishes, so a stopped run carries on) with a progress bar;
``--quick`` runs ``QUICK_GRID`` into a temporary file. Nothing happens on import.
"""
from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import digits, groupings, stats, votes
from .attacks import min_pixels
from .checks import check_choice, check_int
from .data import load_dataset

__all__ = ["Point", "GRID", "QUICK_GRID", "CERTIFIED_AT", "measure", "run_point", "run", "read", "frontier", "examples", "main"]

CERTIFIED_AT = tuple(range(1, 21))
"""The pixel counts at which certified accuracy is reported."""
EXAMPLES = 8
"""How many of the attacked digits keep their certificate and attack in ``examples.json`` (the widget)."""


@dataclass(frozen=True)
class Point:
    """One point of the sweep: the grouping and the voters' networks (``votes.train_vote``)."""

    grouping: str
    group_size: int | None = None
    repetitions: int = 1
    shared: bool = False
    hidden: tuple[int, ...] = (32,)
    noise: float = 0.0
    epochs: int = 4
    seed: int = 0
    placement: str = "random"

    def __post_init__(self) -> None:
        check_choice(self.grouping, "grouping", groupings.GROUPINGS)
        check_choice(self.placement, "placement", groupings.PLACEMENTS)
        check_int(self.repetitions, "repetitions")
        check_int(self.epochs, "epochs")

    @property
    def key(self) -> str:
        """The point's name in the table."""
        hidden = "x".join(map(str, self.hidden))
        grid = "-grid" if self.placement == "grid" else ""
        return (f"{self.grouping}{grid}-s{self.group_size or 'P'}-R{self.repetitions}-"
                f"{'shared' if self.shared else 'own'}-h{hidden}-n{self.noise:g}-e{self.epochs}-seed{self.seed}")

    def mask(self) -> torch.Tensor:
        return groupings.groups(self.grouping, self.group_size, self.repetitions, placement=self.placement,
                                seed=self.seed)


def _grid() -> list[Point]:
    g = [Point("strided", s) for s in (8, 14, 16, 28, 49, 98)]
    g += [Point("contiguous", s) for s in (16, 28)]
    g += [Point("random", s, r) for s in (16, 28, 49) for r in (1, 4, 16)]
    g += [Point("gaussian", s, 4) for s in (16, 28)]
    g += [Point("lines", None, r) for r in (1, 4, 10, 30)]
    g += [Point("strided", 16, shared=True, hidden=(256, 256)), Point("random", 28, 4, shared=True, hidden=(256, 256)),
          Point("lines", None, 30, shared=True, hidden=(256, 256))]
    g += [Point("strided", 16, noise=0.05), Point("lines", None, 30, noise=0.05), Point("lines", None, 30, hidden=(64,))]
    g += [Point("lines", None, 30, hidden=(64, 32)), Point("lines", None, 28, placement="grid")]
    return g


GRID: list[Point] = _grid()
QUICK_GRID: list[Point] = [Point("strided", 16, epochs=1), Point("random", 28, 4, epochs=1),
                           Point("lines", None, 5, epochs=1)]


@dataclass(frozen=True)
class Budget:
    """How each point is measured."""

    test_digits: int = 10_000
    attack_digits: int = 100
    max_pixels: int = 40
    seed: int = 0


def measure(model: votes.GroupVote, x: torch.Tensor, y: torch.Tensor, x_attack: torch.Tensor,
            y_attack: torch.Tensor, *, max_pixels: int = 40, seed: int = 0) -> dict:
    """One readout's figures (see the module docstring) for ``model`` as it is now. Notebook 10."""
    start = time.perf_counter()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 500]).argmax(1) for i in range(0, len(x), 500)])
    correct = pred == y
    cert = torch.where(correct, votes.certified_pixels(model, x), torch.zeros(len(x), dtype=torch.long))
    lo, hi = stats.wilson(int(correct.sum()), len(x))
    med_lo, med_hi = stats.bootstrap_median(cert.float(), seed=seed)
    row = {"clean": correct.float().mean().item(), "clean_lo": lo, "clean_hi": hi,
           "median_certified": cert.median().item(), "median_certified_lo": med_lo, "median_certified_hi": med_hi,
           "mean_certified": cert.float().mean().item()}
    row.update({f"certified_at_{k}": (cert >= k).float().mean().item() for k in CERTIFIED_AT})
    pixels, x_adv = min_pixels(model, x_attack, y_attack, max_pixels=max_pixels, seed=seed, return_images=True)
    with torch.no_grad():
        attack_cert = votes.certified_pixels(model, x_attack)
        right = model(x_attack).argmax(1) == y_attack
    attack_cert = torch.where(right, attack_cert, torch.zeros_like(attack_cert))
    a_lo, a_hi = stats.bootstrap_median(pixels, seed=seed)
    row.update({"attacked_digits": len(x_attack), "attacked_median": pixels.median().item(),
                "attacked_median_lo": a_lo, "attacked_median_hi": a_hi,
                "beaten": int((pixels <= attack_cert.float()).logical_and(right).sum()),
                "measure_seconds": round(time.perf_counter() - start, 1)})
    examples = []
    for i in range(min(EXAMPLES, len(x_attack))):
        changed = (x_adv[i] != x_attack[i]).flatten().nonzero().squeeze(1)
        with torch.no_grad():
            read_as = int(model(x_adv[i : i + 1]).argmax(1))
        examples.append({"certified": int(attack_cert[i]), "pixels": float(pixels[i]), "read_as": read_as,
                         "changed": changed.tolist(), "values": x_adv[i].flatten()[changed].tolist()})
    row["examples"] = examples
    return row


COLUMNS = (["key", "grouping", "group_size", "repetitions", "shared", "hidden", "noise", "epochs", "seed", "placement",
            "readout", "voters", "reach", "ceiling", "pixels_per_voter", "voter_accuracy",
            "clean", "clean_lo", "clean_hi", "median_certified", "median_certified_lo", "median_certified_hi",
            "mean_certified"] + [f"certified_at_{k}" for k in CERTIFIED_AT]
           + ["attacked_digits", "attacked_median", "attacked_median_lo", "attacked_median_hi", "beaten",
              "parameters", "macs", "train_seconds", "measure_seconds", "test_digits", "max_pixels"])


def run_point(point: Point, budget: Budget = Budget(), *, progress: bool = False) -> list[dict]:
    """Train ``point`` (``votes.train_vote``) and measure both readouts: two rows. Notebook 10."""
    x, y = load_dataset("mnist", "train", source="bundled", verbose=False)
    x_test, y_test = load_dataset("mnist", "test", source="bundled", verbose=False)
    x_test, y_test = x_test[: budget.test_digits], y_test[: budget.test_digits]
    x_att, y_att, _ = digits.sample(budget.attack_digits, budget.seed)
    model, info = votes.train_vote(point.mask(), x, y, shared=point.shared, hidden=point.hidden,
                                   epochs=point.epochs, noise=point.noise, seed=point.seed, progress=progress)
    mask = model.mask
    base = {"key": point.key, **{k: v for k, v in asdict(point).items()}, "hidden": "x".join(map(str, point.hidden)),
            "voters": model.n_voters, "reach": model.reach(), "ceiling": groupings.ceiling(mask),
            "pixels_per_voter": mask.sum(1).float().mean().item(),
            "voter_accuracy": votes.voter_accuracy(model, x_test[:2000], y_test[:2000]),
            "parameters": sum(p.numel() for p in model.parameters()),
            "macs": votes.multiply_adds(model), "train_seconds": info["train_seconds"],
            "test_digits": len(x_test), "max_pixels": budget.max_pixels}
    rows = []
    for readout in votes.READOUTS:
        model.readout = readout
        rows.append({**base, "readout": readout, **measure(model, x_test, y_test, x_att, y_att,
                                                           max_pixels=budget.max_pixels, seed=budget.seed)})
    return rows


def read(path: Path | None = None) -> list[dict]:
    """The rows of a sweep table (numbers as floats where they parse). Notebook 10."""
    path = Path(path) if path is not None else digits.results_dir() / "sweep.csv"
    if not path.exists():
        return []
    with path.open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for k, v in row.items():
            try:
                row[k] = float(v)
            except (TypeError, ValueError):
                pass
    return rows


def examples_path(path: Path) -> Path:
    """Where the per-point examples of the table at ``path`` live (beside it)."""
    return path.with_name(path.stem + "_examples.json")


def examples(path: Path | None = None) -> dict:
    """``{key|readout: [example, ...]}``: for the first ``EXAMPLES`` attacked digits of each
    point, the certified pixels and the cheapest attack found (its changed pixels and their
    new values, and the class it reads as). Notebook 10's widget draws them."""
    path = examples_path(Path(path) if path is not None else digits.results_dir() / "sweep.csv")
    return json.loads(path.read_text()) if path.exists() else {}


def _append(path: Path, rows: Sequence[dict]) -> None:
    shown = examples(path)
    for row in rows:
        shown[f"{row['key']}|{row['readout']}"] = row["examples"]
    examples_path(path).write_text(json.dumps(shown, separators=(",", ":")) + "\n")
    old: list[dict] = []
    if path.exists():
        with path.open() as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != COLUMNS:  # a table from before a column was added: rewrite it whole
                old = list(reader)
    if old or not path.exists():
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(old)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def run(grid: Sequence[Point] = GRID, path: Path | None = None, budget: Budget = Budget()) -> list[dict]:
    """Every point of ``grid`` not yet in the table at ``path``, appended as each finishes."""
    from tqdm.auto import tqdm

    path = Path(path) if path is not None else digits.results_dir() / "sweep.csv"
    done = {row["key"] for row in read(path)}
    todo = [p for p in grid if p.key not in done]
    for point in tqdm(todo, desc="sweep", unit="point"):
        _append(path, run_point(point, budget))
    return read(path)


def frontier(rows: Sequence[dict], x: str = "clean", y: str = "median_certified") -> list[dict]:
    """The rows no other row beats on both ``x`` and ``y`` (the Pareto frontier), by ``x``."""
    out = [r for r in rows if not any(o[x] >= r[x] and o[y] >= r[y] and (o[x] > r[x] or o[y] > r[y]) for o in rows)]
    return sorted(out, key=lambda r: r[x])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick grid, 1 epoch, 2,000 test digits, "
                        "20 attacked, into a temporary file")
    parser.add_argument("--out", type=Path, default=None, help="the table (default results/sweep.csv)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        path = Path(tempfile.mkdtemp()) / "sweep.csv"
        rows = run(QUICK_GRID, path, Budget(test_digits=2000, attack_digits=20, max_pixels=25))
    else:
        rows = run(GRID, args.out)
    for r in frontier(rows):
        print(f"{r['key']:45s} {r['readout']:4s} clean {100 * r['clean']:.2f}% median certified "
              f"{r['median_certified']:.0f} (attacked {r['attacked_median']:.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
