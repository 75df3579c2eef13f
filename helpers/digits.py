"""Per-digit results behind the scoreboard: one computation that notebooks 08, 09 and 11 read.

Every figure on the board is a count over a fixed sample of test digits. This module keeps
the per-digit outcomes themselves (was digit i read correctly? still robust at this
budget? how many pixels did the attack need? what does the certificate guarantee?), one
JSON file per model and task under ``results/digits/``, so that

* two models are compared on the same digits (paired tests, notebook 11);
* a long scoreboard run is resumable: a task whose file exists with the same settings
  (the scoreboard's include the sha256 of the model's checkpoint) is not run again
  (``make scoreboard`` after a stop carries on where it stopped);
* notebooks 08 and 09 quote exactly the numbers the board was built from.

Nothing happens on import.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from . import data

__all__ = ["sample_indices", "sample", "results_dir", "digits_dir", "path", "save", "load", "done"]


def sample_indices(n: int, seed: int = 0) -> torch.Tensor:
    """The board's digits: the first ``n`` of one fixed shuffle (``seed``) of the 10,000
    standard test digits. A larger sample starts with the same digits. Notebook 11."""
    total = 10_000
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= total:
        raise ValueError(f"the sample size must be an int from 0 to {total} (the test set), got {n!r}")
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n]


def sample(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, y, indices)`` of ``sample_indices(n, seed)``. Notebook 11."""
    x, y = data.load_dataset("mnist", "test", source="bundled", verbose=False)
    idx = sample_indices(n, seed)
    return x[idx], y[idx], idx


def results_dir() -> Path:
    """Where the committed scoreboard lives: the repository's ``results/`` in a checkout,
    ``helpers/results`` in an installed wheel (Colab). Notebook 11."""
    here = Path(__file__).resolve().parent
    installed = here / "results"
    return installed if (installed / "scoreboard.csv").is_file() else here.parent / "results"


def digits_dir(folder: Path | None = None) -> Path:
    """``results/digits`` of the checkout (or of the installed wheel), or ``folder``."""
    return Path(folder) if folder is not None else results_dir() / "digits"


def path(model: str, task: str, folder: Path | None = None) -> Path:
    """The file of one model's task, e.g. ``results/digits/cnn/autoattack_linf_0.1.json``."""
    return digits_dir(folder) / model / f"{task}.json"


def _plain(value):
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _unplain(value):
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    if isinstance(value, dict):
        return {k: _unplain(v) for k, v in value.items()}
    return value


def save(model: str, task: str, settings: dict, values: dict, *, seconds: float | None = None,
         folder: Path | None = None) -> Path:
    """Write one task's per-digit ``values`` (lists or tensors, one entry per digit) with the
    ``settings`` that produced them; written to a temporary file first, then renamed, so a
    stop never leaves half a file."""
    file = path(model, task, folder)
    file.parent.mkdir(parents=True, exist_ok=True)
    record = {"model": model, "task": task, "settings": _plain(settings), "seconds": seconds,
              "written": time.strftime("%Y-%m-%d %H:%M:%S"), "values": _plain(values)}
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=None, separators=(",", ":")) + "\n")
    tmp.replace(file)
    return file


def load(model: str, task: str, folder: Path | None = None) -> dict:
    """One task's record: ``settings``, ``seconds`` and ``values`` (lists; ``inf`` restored)."""
    file = path(model, task, folder)
    if not file.is_file():
        raise FileNotFoundError(f"no per-digit results for {model}/{task} ({file}): run `make scoreboard`")
    record = json.loads(file.read_text())
    record["values"] = _unplain(record["values"])
    return record


def done(model: str, task: str, settings: dict, folder: Path | None = None) -> bool:
    """Whether ``model``'s ``task`` is on disk with exactly these ``settings`` (resume)."""
    try:
        return load(model, task, folder)["settings"] == _unplain(_plain(settings))
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return False
