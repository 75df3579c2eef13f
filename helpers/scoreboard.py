"""The course's scoreboard: every bundled model against every attack, in one table.

    python -m helpers.scoreboard            # the committed results/scoreboard.{csv,md}
    python -m helpers.scoreboard --quick    # a small sample, printed, nothing written

For each model: clean accuracy on all 10,000 standard MNIST test digits; robust accuracy under
Linf, L2 and L0 attacks (each the minimum over the attacks that apply, as METHODOLOGY.md
says; settings in ``helpers.robustness.SETTINGS``); the median pixels needed; K from below
(the steepest logit-margin slope seen) and above (layer norms, where defined); certified
L2 and L0 accuracy where a certificate exists; parameters, multiply-adds, training time.
Notebook 09 reads and draws it.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from . import caper, certainty, data, models, robustness, routing
from .checks import check_choice
from .env import resolve_device
from .train import predict

__all__ = ["MODELS", "LINF", "L2", "L0", "Settings", "DEFAULT", "QUICK", "evaluate", "caper_replay", "caper_rates",
           "scoreboard", "header", "read", "compare", "write", "merge", "main"]

MODELS = ("cnn", "cnn_noise", "cnn_augmented", "lipschitz_cnn", "two_n", "two_n_linear", "layered", "layered_linear")
"""The models on the board: every bundled 10-class model."""
TEST_DIGITS = 10_000
"""Clean accuracy is measured on all of the standard MNIST test digits."""
LINF = (0.1, 0.2, 0.3)
L2 = (0.5, 1.0, 1.58, 2.0)
L0 = (1, 2, 5, 10, 20)


def results_dir() -> Path:
    """Where the committed scoreboard lives: the repository's ``results/`` in a checkout,
    ``helpers/results`` in an installed wheel (Colab). Notebook 09."""
    here = Path(__file__).resolve().parent
    installed = here / "results"
    return installed if (installed / "scoreboard.csv").is_file() else here.parent / "results"


@dataclass(frozen=True)
class Settings:
    """Sample sizes: ``dense`` test digits for the Linf and L2 attacks and certificates,
    ``sparse`` for the L0 attacks (slower), each searched up to ``max_pixels`` pixels.
    The digits are the first of one fixed shuffle of the test split (``seed``)."""

    dense: int = 100
    sparse: int = 40
    max_pixels: int = 40
    caper: int = 30
    seed: int = 0


DEFAULT = Settings()
QUICK = Settings(dense=40, sparse=10, max_pixels=25, caper=10)


def sample(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` digits of a fixed shuffle of the bundled test split."""
    x, y = data.load_dataset("mnist", "test", source="bundled")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[order], y[order]


def _is_vote(model: nn.Module) -> bool:
    return isinstance(model, routing.RoutingNet) and model.readout == "vote"


def _upper_bound(model: nn.Module) -> float:
    try:
        return certainty.lipschitz_upper_bound(model)
    except (TypeError, ValueError):  # routed layers: no bound from layer norms (notebooks 07, 08)
        return math.nan


def evaluate(name: str, settings: Settings = DEFAULT, *, progress: Callable[[str], None] | None = None,
             device: str = "cpu") -> dict:
    """One row of the scoreboard: every figure for the bundled model ``name``. Notebook 09.

    ``progress`` is called with the name of each of its five phases as it finishes.
    ``device="cuda"`` runs the attacks on a GPU (``models.OnDevice``); the certificates
    and the figures read from the weights are computed on the CPU either way."""
    check_choice(name, "name", MODELS)
    dev = resolve_device(device)
    step = progress or (lambda _: None)
    model = models.load_pretrained(name)
    attacked = model if dev.type == "cpu" else models.OnDevice(model, dev)
    x_all, y_all = data.load_dataset("mnist", "test", source="bundled")
    x, y = sample(settings.dense, settings.seed)
    row: dict = {"model": name, "clean": (predict(model, x_all).argmax(1) == y_all).float().mean().item()}
    row.update({f"linf_{e}": v for e, v in zip(LINF, robustness.robust_curve(attacked, x, y, "linf", LINF,
                                                                             seed=settings.seed))})
    step("Linf")
    row.update({f"l2_{e}": v for e, v in zip(L2, robustness.robust_curve(attacked, x, y, "l2", L2,
                                                                         seed=settings.seed))})
    step("L2")
    xs, ys = x[: settings.sparse], y[: settings.sparse]
    pixels = robustness.pixels_needed(attacked, xs, ys, max_pixels=settings.max_pixels, seed=settings.seed)
    row.update({f"l0_{k}": (pixels > k).float().mean().item() for k in L0})
    row["median_pixels"] = pixels.median().item()  # the lower median; inf: not fooled within max_pixels
    step("L0")
    bound = _upper_bound(model)
    row["k_below"] = certainty.slopes(model, x)["margin"].max().item() / math.sqrt(2)
    row["k_above"] = bound
    right = predict(model, x).argmax(1) == y
    if math.isfinite(bound):
        radius = certainty.certified_radius(model, x, bound)
        row.update({f"cert_l2_{r}": (right & (radius >= r)).float().mean().item() for r in L2})
    if _is_vote(model):
        k = routing.certified_pixels(model, x)
        row.update({f"cert_l0_{p}": (right & (k >= p)).float().mean().item() for p in L0})
        row["median_certified_pixels"] = torch.where(right, k, torch.zeros_like(k)).median().item()
        # the certificate checked against both L0 attacks, digit by digit: no attack may need k pixels or fewer
        ks = k[: settings.sparse]
        row["certificate_beaten"] = int(((pixels > 0) & (pixels <= ks)).sum())
    row["parameters"] = models.count_parameters(model)
    row["macs"] = int(routing.measured_macs(model))
    row["train_seconds"] = models.training_info(name).get("train_seconds", math.nan)
    step("K, certificates, cost")
    replay = caper_replay(attacked, settings.caper)
    row["caper_smudges"], row["caper_glasses"] = replay["smudges"], replay["glasses"]
    step("caper")
    return row


def caper_replay(model: nn.Module, pictures: int = DEFAULT.caper) -> dict[str, float]:
    """The caper replayed against ``model`` as the board runs it: the first ``pictures``
    thief and CEO pictures of the bundled test split, the glasses found on the first 200
    CEO training pictures (``caper.replay``). Notebooks 07, 08 and 09."""
    x_test, y_test = data.load_dataset("mnist", "test", source="bundled", verbose=False)
    x_train, y_train = data.load_dataset("mnist", "train", source="bundled", verbose=False)
    thieves, ceos = caper.cast(x_test, y_test)
    _, ceos_train = caper.cast(x_train, y_train)
    return caper.replay(model, thieves[:pictures], ceos_train[:200], ceos[:pictures])


def caper_rates(named: dict[str, nn.Module], *, replay: bool = False) -> dict[str, dict[str, float]]:
    """The caper's two rates, ``"smudges"`` and ``"glasses"``, for each named bundled model:
    replayed now (``replay=True``, ``caper_replay`` with the board's default sample; about
    half a minute a model) or read from the committed board, which ran the same replay.
    Notebooks 07 and 08."""
    if replay:
        return {name: caper_replay(model) for name, model in named.items()}
    settings, board = read()
    rows = {row["model"]: row for row in board}
    missing = [name for name in named if name not in rows]
    if missing:
        raise ValueError(f"not on the committed board: {', '.join(missing)}; replay them with replay=True")
    if settings.get("caper") != DEFAULT.caper:
        raise ValueError(f"the committed board replayed the caper on {settings.get('caper')} pictures, "
                         f"not {DEFAULT.caper}; replay with replay=True")
    return {name: {"smudges": rows[name]["caper_smudges"], "glasses": rows[name]["caper_glasses"]} for name in named}


COLUMNS = (["model", "clean"] + [f"linf_{e}" for e in LINF] + [f"l2_{e}" for e in L2] + [f"l0_{k}" for k in L0]
           + ["median_pixels", "k_below", "k_above"] + [f"cert_l2_{r}" for r in L2] + [f"cert_l0_{k}" for k in L0]
           + ["median_certified_pixels", "certificate_beaten", "caper_smudges", "caper_glasses", "parameters", "macs",
              "train_seconds"])


def _evaluate_alone(name: str, settings: Settings, threads: int, device: str = "cpu") -> dict:
    """``evaluate`` in a worker process with its own share of the cores."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    row = evaluate(name, settings, device=device)
    row["eval_seconds"] = round(time.perf_counter() - start, 1)
    return row


def scoreboard(names: Sequence[str] = MODELS, settings: Settings = DEFAULT, *, jobs: int = 1,
               device: str = "cpu") -> list[dict]:
    """Every row, with a progress bar. ``jobs > 1`` evaluates that many models side by side,
    in fresh processes with the cores shared out (one torch thread each on 2 cores).
    Notebook 09 (which reads the committed copy)."""
    from tqdm.auto import tqdm

    names = [check_choice(name, "names", MODELS) for name in names]
    if jobs > 1:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        context = multiprocessing.get_context("spawn")  # no fork after torch has started its threads
        with ProcessPoolExecutor(jobs, mp_context=context) as pool, \
                tqdm(total=len(names), desc="scoreboard", unit="model") as bar:
            futures = [pool.submit(_evaluate_alone, name, settings, threads, device) for name in names]
            for future in as_completed(futures):
                bar.set_postfix_str(f"{future.result()['model']} done")
                bar.update(1)
        return [future.result() for future in futures]
    rows = []
    with tqdm(total=5 * len(names), desc="scoreboard", unit="step") as bar:
        for name in names:
            def progress(phase: str, name: str = name) -> None:
                bar.set_postfix_str(f"{name}: {phase} done")
                bar.update(1)
            start = time.perf_counter()
            row = evaluate(name, settings, progress=progress, device=device)
            row["eval_seconds"] = round(time.perf_counter() - start, 1)
            rows.append(row)
    return rows


def header(settings: Settings | dict) -> list[str]:
    """The board's settings in words: sample sizes and every attack's steps and budgets. Notebook 09."""
    if isinstance(settings, dict):
        settings = Settings(**settings)
    return [
        f"Clean accuracy: all {TEST_DIGITS:,} standard MNIST test digits. Linf, L2 and certified figures: {settings.dense} test digits; "
        f"L0: the first {settings.sparse} of them, searched up to {settings.max_pixels} pixels "
        f"(one fixed shuffle, seed {settings.seed}).",
        f"Linf: {robustness.SETTINGS['linf']}.",
        f"L2: {robustness.SETTINGS['l2']}.",
        f"L0: {robustness.SETTINGS['l0']}.",
        "Robust accuracy counts a digit only if it is read correctly and no attack fooled the model at that "
        "budget or a smaller one (a smaller budget's adversarial input lies in every larger ball).",
        "K below: the steepest logit-margin slope / sqrt(2) over the dense sample; K above: product of layer "
        "norms (none for routed layers). Certified L2: Lipschitz margin certificate with K above; certified L0: "
        "the vote certificate (vote readouts only). Multiply-adds per image, counted by torch's FlopCounterMode.",
        f"Caper: the thief's smudges (targeted PGD-L2, budget 2.5, 20 steps, 3 runs) on {settings.caper} test "
        f"images of a {caper.THIEF}, success = read as a {caper.CEO}; the CEO's glasses (a universal change "
        f"confined to rows 8-12, 100 steps on 200 training images of an {caper.CEO}) on {settings.caper} "
        f"test images, success = read as a {caper.THIEF}.",
    ]


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.6g}"
    return str(value)


def write(rows: list[dict], settings: Settings, folder: Path | None = None) -> tuple[Path, Path]:
    """``scoreboard.csv`` (settings as ``#`` lines, then one row per model) and
    ``scoreboard.md`` (the same, a column per model, percentages)."""
    folder = Path(folder) if folder is not None else results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    columns = COLUMNS + ["eval_seconds"]
    csv_path, md_path = folder / "scoreboard.csv", folder / "scoreboard.md"
    with csv_path.open("w", newline="") as f:
        f.write(f"# settings: {json.dumps(asdict(settings))}\n")
        for line in header(settings):
            f.write(f"# {line}\n")
        writer = csv.DictWriter(f, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(row.get(k)) for k in columns} for row in rows)
    lines = ["# Scoreboard", "", "Written by `python -m helpers.scoreboard`; notebook 09 draws it.", ""]
    lines += [f"- {line}" for line in header(settings)] + [""]
    lines += ["| | " + " | ".join(row["model"] for row in rows) + " |", "|---" * (len(rows) + 1) + "|"]
    for key in columns[1:]:
        cells = []
        for row in rows:
            v = row.get(key)
            percent = key in ("clean",) or key.startswith(("linf_", "l2_", "l0_", "cert_", "caper_"))
            cells.append("" if v is None or (isinstance(v, float) and math.isnan(v)) else
                         f"{v:.1%}" if percent else _cell(v))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path


def read(path: Path | None = None) -> tuple[dict, list[dict]]:
    """The committed scoreboard: ``(settings, rows)``, numbers as floats (NaN where empty). Notebook 09."""
    text = Path(path or results_dir() / "scoreboard.csv").read_text().splitlines()
    settings = json.loads(text[0].split(":", 1)[1])
    rows = []
    for raw in csv.DictReader(line for line in text if not line.startswith("#")):
        rows.append({k: (v if k == "model" else float(v) if v else math.nan) for k, v in raw.items()})
    return settings, rows


def compare(rows: list[dict], reference: list[dict], settings: Settings | dict) -> list[str]:
    """Where ``rows`` and ``reference`` differ by more than sampling noise: for every accuracy
    column, more than three binomial standard errors (of the column's sample size) plus one
    digit; for the median pixels, more than a quarter. Empty when they agree. Notebook 09."""
    settings = Settings(**settings) if isinstance(settings, dict) else settings
    problems = []
    ref = {row["model"]: row for row in reference}
    for row in rows:
        other = ref.get(row["model"])
        if other is None:
            problems.append(f"{row['model']}: not on the reference board")
            continue
        for key in COLUMNS[1:]:
            a, b = row.get(key, math.nan), other.get(key, math.nan)
            if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
                continue
            if key == "clean" or key.startswith(("linf_", "l2_", "l0_", "cert_", "caper_")):
                n = {"clean": TEST_DIGITS, "l0": settings.sparse, "caper": settings.caper}.get(key.split("_")[0], settings.dense)
                p = (a + b) / 2
                if abs(a - b) > 3 * math.sqrt(max(p * (1 - p), 1 / n) / n) + 1 / n:
                    problems.append(f"{row['model']} {key}: {a:.3f} against {b:.3f} (n = {n})")
            elif key == "median_pixels" and not (math.isinf(a) and math.isinf(b)) and abs(a - b) > 0.25 * max(a, b):
                problems.append(f"{row['model']} {key}: {a} against {b}")
    return problems


def merge(rows: list[dict], settings: Settings, folder: Path | None = None) -> list[dict]:
    """``rows`` in place of the same models' rows of the board in ``folder``; the board's other
    rows kept; every row in the order of ``MODELS``. Refuses a board made with other settings."""
    path = Path(folder) / "scoreboard.csv" if folder is not None else None
    if path is not None and not path.exists():
        return rows
    old_settings, old_rows = read(path)
    if old_settings != asdict(settings):
        raise ValueError(f"the board was made with {old_settings}, not {asdict(settings)}: rebuild it whole")
    fresh = {row["model"]: row for row in rows}
    kept = {row["model"]: row for row in old_rows if row["model"] not in fresh and row["model"] in MODELS}
    merged = {**kept, **fresh}
    return [merged[name] for name in MODELS if name in merged]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a small sample ({QUICK}); prints, writes nothing")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="models evaluated side by side (default: 2, one torch thread each)")
    parser.add_argument("--compare", action="store_true",
                        help="also compare with the committed board and list differences beyond sampling noise")
    parser.add_argument("--out", type=Path, default=None, help="folder for scoreboard.csv and .md (default: results/)")
    parser.add_argument("--device", default="cpu", help="where the attacks run: 'cpu' (default) or 'cuda' (a GPU)")
    parser.add_argument("--update", action="store_true",
                        help="replace only the rows of --models in the committed board, keep the others "
                             "(the settings must be the same); so a board can be rebuilt a few models at a time")
    args = parser.parse_args(argv)
    resolve_device(args.device)  # a clear error before anything runs
    from .env import setup

    setup(seed=0)
    settings = QUICK if args.quick else DEFAULT
    committed_settings, committed = read() if args.compare else ({}, [])  # before anything is rewritten
    start = time.perf_counter()
    rows = scoreboard(args.models, settings, jobs=args.jobs, device=args.device)
    if args.quick:
        for row in rows:
            print({k: _cell(v) for k, v in row.items()})
    else:
        if args.update:
            rows = merge(rows, settings, args.out)
        for path in write(rows, settings, args.out):
            print(f"wrote {path}")
    print(f"scoreboard: {len(rows)} models in {time.perf_counter() - start:.0f} s")
    if args.compare:
        if committed_settings != asdict(settings):
            print(f"note: the committed board used {committed_settings}, this run {asdict(settings)}")
        problems = compare(rows, committed, settings)
        print("\n".join(problems) if problems else "agrees with the committed board within sampling noise")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
