"""The course's scoreboard: every bundled model against every attack, in one table.

    python -m helpers.scoreboard            # the committed results/scoreboard.{csv,md}
    python -m helpers.scoreboard --quick    # a small sample, printed, nothing written

For each model: clean accuracy on all 10,000 standard MNIST test digits; robust accuracy under
Linf and L2 attacks, digit by digit the minimum over the course's own attacks
(``helpers.robustness``) and AutoAttack in its standard version (``helpers.autoattack``), and
for the vote readouts an adaptive attack on a softened vote; the pixels the L0 attacks need,
untargeted and targeted; K from below (the steepest logit-margin slope seen) and above
(layer norms, where defined); certified L2 and L0 accuracy where a certificate exists, each
certificate checked digit by digit against the attacks; parameters, multiply-adds, training
time. Every accuracy has a 95% Wilson interval (columns ``_lo``, ``_hi``), every median a
bootstrap interval (``helpers.stats``). The per-digit outcomes are kept under
``results/digits/`` (``helpers.digits``): notebook 11's paired tests read them, and a stopped
run resumes where it stopped. Notebook 11 reads and draws the board.
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

from . import attacks, autoattack, caper, certainty, data, digits, models, robustness, routing, stats, votes
from .checks import check_choice
from .env import keep_freed_memory, resolve_device
from .train import predict

__all__ = ["MODELS", "VOTE_MODELS", "LINF", "L2", "CERT_L2", "L0", "Settings", "DEFAULT", "QUICK", "results_dir",
           "longest_first", "autoattack_task", "course_task", "adaptive_task", "l0_task", "l0_check_task", "l0_check_counts", "l2_check_task", "l2_check_counts", "certificate_task", "task_config", "stale_tasks", "summary_task", "tasks",
           "robust_digits", "pixels_digits", "row_of", "caper_replay", "caper_rates", "scoreboard", "header", "read",
           "compare", "write", "merge", "main"]

MODELS = ("cnn", "cnn_noise", "cnn_augmented", "lipschitz_cnn", "two_n", "two_n_linear", "layered", "layered_linear",
          "l0_vote")
"""The models on the board: every bundled 10-class model."""
TEST_DIGITS = 10_000
"""Clean accuracy is measured on all of the standard MNIST test digits."""
LINF = (0.1,)
"""Linf budgets attacked (each by the course's attacks and by AutoAttack)."""
L2 = (1.58,)
"""L2 budgets attacked likewise; 1.58 is the radius of the Lipschitz-network literature on MNIST."""
CERT_L2 = (0.5, 1.0, 1.58, 2.0)
"""Radii of the certified L2 accuracy (certificates are cheap; attacks check them at ``L2``)."""
L0 = (1, 2, 5, 10, 20)


results_dir = digits.results_dir
"""Where the committed scoreboard lives (``digits.results_dir``). Notebook 11."""


@dataclass(frozen=True)
class Settings:
    """Sample sizes: ``dense`` test digits for the Linf and L2 attacks and certificates,
    ``sparse`` for the L0 attacks (slower), each searched up to ``max_pixels`` pixels.
    The digits are the first of one fixed shuffle of the test split (``seed``). The course's
    own square attacks run ``square_iterations`` queries on the board: the Square Attack
    paper's 5,000 (``robustness.SQUARE_ITERATIONS``), as AutoAttack's own Square attack does
    beside them; ``autoattack=False`` leaves AutoAttack out (``--quick``). A checked
    certificate (``l0_check_task``, ``l2_check_task``) is attacked on ``checked`` distinct
    certified digits: those of the board's own samples, then the next certified digits of
    the same shuffle."""

    dense: int = 500
    sparse: int = 200
    max_pixels: int = 40
    caper: int = 200
    seed: int = 0
    square_iterations: int = robustness.SQUARE_ITERATIONS
    autoattack: bool = True
    checked: int = 500

    def __post_init__(self) -> None:
        for name in ("dense", "sparse", "max_pixels", "caper", "square_iterations", "checked"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if self.dense > TEST_DIGITS or self.sparse > self.dense:
            raise ValueError(f"the samples must fit the test set: sparse <= dense <= {TEST_DIGITS}, "
                             f"got dense={self.dense}, sparse={self.sparse}")


DEFAULT = Settings()
QUICK = Settings(dense=20, sparse=10, max_pixels=25, caper=10, square_iterations=300, autoattack=False, checked=30)
"""``--quick``: checks that every task runs, in minutes; without AutoAttack (its figures there are NaN)."""


def sample(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` digits of a fixed shuffle of the bundled test split (``digits.sample``)."""
    x, y, _ = digits.sample(n, seed)
    return x, y


def _is_vote(model: nn.Module) -> bool:
    return (isinstance(model, routing.RoutingNet) and model.readout == "vote") or isinstance(model, votes.GroupVote)


def _certified_pixels(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The vote certificate of notebook 08 (routing nets) or of notebook 10 (``GroupVote``)."""
    return (votes.certified_pixels(model, x) if isinstance(model, votes.GroupVote)
            else routing.certified_pixels(model, x))


def _surrogate(model: nn.Module) -> nn.Module:
    return votes.SoftSurrogate(model) if isinstance(model, votes.GroupVote) else routing.SoftenedVote(model)


def _upper_bound(model: nn.Module) -> float:
    try:
        return certainty.lipschitz_upper_bound(model)
    except (TypeError, ValueError):  # routed layers: no bound from layer norms (notebooks 08, 09)
        return math.nan


def caper_replay(model: nn.Module, pictures: int = DEFAULT.caper) -> dict[str, float]:
    """The caper replayed against ``model`` as the board runs it: the first ``pictures``
    thief and CEO pictures of the bundled test split, the glasses found on the first
    ``pictures`` CEO training pictures (``caper.replay``). Notebooks 08, 09 and 11."""
    x_test, y_test = data.load_dataset("mnist", "test", source="bundled", verbose=False)
    x_train, y_train = data.load_dataset("mnist", "train", source="bundled", verbose=False)
    thieves, ceos = caper.cast(x_test, y_test)
    _, ceos_train = caper.cast(x_train, y_train)
    return caper.replay(model, thieves[:pictures], ceos_train[:pictures], ceos[:pictures])


def caper_rates(named: dict[str, nn.Module], *, replay: bool = False) -> dict[str, dict[str, float]]:
    """The caper's two rates, ``"smudges"`` and ``"glasses"``, for each named bundled model:
    replayed now (``replay=True``, ``caper_replay`` with the board's default sample; about
    half a minute a model) or read from the committed board, which ran the same replay.
    Notebooks 08 and 09."""
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


def _load(name: str, device: str, *, frozen: bool = True) -> tuple[nn.Module, nn.Module]:
    """``name``'s bundled model in eval mode, and the same model on ``device`` for the attacks.
    ``frozen``: its parameters do not require gradients, so an attack's backward pass computes
    only the gradient with respect to the input: the same values, bitwise; two_n's input
    gradient costs about 0.67x (``benchmarks/frozen.py``), its AutoAttack tasks on the board
    0.93-0.96x. Notebook 11."""
    model = models.load_pretrained(name).eval().requires_grad_(not frozen)
    dev = resolve_device(device)
    return model, (model if dev.type == "cpu" else models.OnDevice(model, dev))


def task_config(function: Callable, args: tuple, settings: Settings) -> dict:
    """The settings a task's per-digit file is stored with (``digits.save``) and resumed by:
    what it ran (sample, budgets, the attacks in words) and on which weights (the sha256 of
    the model's checkpoint, ``models.checkpoint_sha256``: after a retrain every file of the
    model is stale). ``function`` is one of the task functions, ``args`` its arguments as
    ``tasks`` lists them. Notebook 11."""
    return {**_task_settings(function, args, settings), "checkpoint": models.checkpoint_sha256(args[0])}


def _task_settings(function: Callable, args: tuple, settings: Settings) -> dict:
    if function in (autoattack_task, course_task, adaptive_task):
        norm, eps = args[1], args[2]
        if function is autoattack_task:
            attack = autoattack.settings()
        elif function is course_task:
            attack = robustness.settings(norm, square_iterations=settings.square_iterations)
        else:
            attack = f"PGD on the softened vote ({robustness.PGD}), judged on the vote"
        return {"n": settings.dense, "seed": settings.seed, "norm": norm, "eps": eps, "attack": attack}
    if function is l0_task:
        return {"n": settings.sparse, "seed": settings.seed, "max_pixels": settings.max_pixels,
                "attack": robustness.settings("l0"), "target": "(y + 1) % 10" if args[1] else None}
    if function is l0_check_task:
        return {"certified": settings.checked, "from": settings.sparse, "seed": settings.seed,
                "attack": robustness.settings("l0")}
    if function is l2_check_task:
        return {"certified": settings.checked, "from": settings.dense, "seed": settings.seed,
                "budgets": list(L2), "attack": robustness.settings("l2", square_iterations=settings.square_iterations),
                "autoattack": autoattack.settings() if settings.autoattack else None}
    if function is certificate_task:
        return {"n": settings.dense, "seed": settings.seed}
    if function is summary_task:
        return {"caper": settings.caper}
    raise ValueError(f"not a scoreboard task: {function!r}")


def stale_tasks(name: str, settings: Settings = DEFAULT, folder: Path | None = None) -> list[str]:
    """The tasks of ``name`` whose per-digit file is on disk but was made with other settings
    than ``settings`` or from other weights than the bundled checkpoint (a board assembled
    from them would misstate its own header, or score a model that is no longer there).
    Notebook 11."""
    stale = []
    for f, a in tasks(name, settings):  # digits.done reads each file once; no record is loaded twice
        task = _task_name(f, a)
        if digits.path(name, task, folder).is_file() and not digits.done(name, task, task_config(f, a, settings), folder):
            stale.append(task)
    return stale


def _resumed(function: Callable, args: tuple, settings: Settings, folder: Path | None) -> tuple[str, dict, dict | None]:
    """A task's file name and settings, and its record if it is already on disk with them (resume)."""
    task, config = _task_name(function, args), task_config(function, args, settings)
    return task, config, (digits.load(args[0], task, folder) if digits.done(args[0], task, config, folder) else None)


def _attack_correct(name: str, task: str, config: dict, model: nn.Module,
                    run: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], norm: str, eps: float, who: str,
                    settings: Settings, folder: Path | None) -> dict:
    """Run one attack (``run(x, y)`` -> adversarial images) on the dense-sample digits ``model``
    reads correctly, re-check every output against ``model`` itself, and save the per-digit
    ``correct``/``robust`` flags as ``name``'s ``task``."""
    start = time.perf_counter()
    x, y, idx = digits.sample(settings.dense, settings.seed)
    correct = predict(model, x).argmax(1) == y
    robust = correct.clone()
    rows = correct.nonzero()[:, 0]
    if len(rows):
        robust[rows] = attacks.recheck(model, x[rows], run(x[rows], y[rows]), y[rows], norm=norm, budget=eps,
                                       name=who)
    values = {"index": idx, "correct": correct.int(), "robust": robust.int()}
    digits.save(name, task, config, values, seconds=round(time.perf_counter() - start, 1), folder=folder)
    return digits.load(name, task, folder)


def autoattack_task(name: str, norm: str, eps: float, settings: Settings = DEFAULT, *, device: str = "cpu",
                    folder: Path | None = None) -> dict:
    """AutoAttack (standard version) on every digit of the board's dense sample that ``name``
    reads correctly, at ``eps`` in ``norm``; each output re-checked (``attacks.recheck``).
    Per digit: ``correct``, ``robust`` (0/1), ``index`` (test-set positions). Notebook 11."""
    task, config, done = _resumed(autoattack_task, (name, norm, eps), settings, folder)
    if done is not None:
        return done
    model, attacked = _load(name, device)
    run = lambda x, y: autoattack.autoattack(attacked, x, y, norm, eps, seed=settings.seed)  # noqa: E731
    return _attack_correct(name, task, config, model, run, norm, eps, "AutoAttack", settings, folder)


def course_task(name: str, norm: str, eps: float, settings: Settings = DEFAULT, *, device: str = "cpu",
                folder: Path | None = None) -> dict:
    """The course's own attacks (``robustness.robust_flags``: PGD, then the square attack on
    what PGD left) on the dense sample. Per digit: ``correct``, ``pgd``, ``robust``. Notebook 11."""
    task, config, done = _resumed(course_task, (name, norm, eps), settings, folder)
    if done is not None:
        return done
    start = time.perf_counter()
    model, attacked = _load(name, device)
    x, y, idx = digits.sample(settings.dense, settings.seed)
    flags = robustness.robust_flags(attacked, x, y, norm, eps, seed=settings.seed,
                                    square_iterations=settings.square_iterations)
    values = {"index": idx, **{k: v.int() for k, v in flags.items()}}
    digits.save(name, task, config, values, seconds=round(time.perf_counter() - start, 1), folder=folder)
    return digits.load(name, task, folder)


def adaptive_task(name: str, norm: str, eps: float, settings: Settings = DEFAULT, *, device: str = "cpu",
                  folder: Path | None = None) -> dict:
    """The adaptive attack on a vote readout: PGD (``robustness.PGD``) on the softened vote
    (``routing.SoftenedVote``, the mean of the outputs' log-probabilities, whose gradient
    does not vanish where the outputs agree), success judged on the real vote
    (``attacks.recheck`` with the vote net itself). Per digit: ``correct``, ``robust``. Notebook 11."""
    task, config, done = _resumed(adaptive_task, (name, norm, eps), settings, folder)
    if done is not None:
        return done
    model, _ = _load(name, device)
    surrogate = _surrogate(model)
    run = lambda x, y: attacks.pgd(surrogate, x, y, eps, norm=norm, seed=settings.seed, **robustness.PGD)  # noqa: E731
    return _attack_correct(name, task, config, model, run, norm, eps, "the adaptive attack", settings, folder)


def l0_task(name: str, targeted: bool, settings: Settings = DEFAULT, *, device: str = "cpu",
            folder: Path | None = None) -> dict:
    """Pixels needed (``robustness.pixels_needed``) on the sparse sample, untargeted or
    targeted at class (y + 1) mod 10 (Shamir et al.'s claim is about targeted examples).
    Per digit: ``pixels`` (inf: not found within ``max_pixels``). Notebook 11."""
    task, config, done = _resumed(l0_task, (name, targeted), settings, folder)
    if done is not None:
        return done
    start = time.perf_counter()
    model, attacked = _load(name, device)
    x, y, idx = digits.sample(settings.sparse, settings.seed)
    aim = (y + 1) % 10 if targeted else y
    pixels = robustness.pixels_needed(attacked, x, aim, max_pixels=settings.max_pixels, targeted=targeted,
                                      seed=settings.seed)
    if targeted:  # a digit already misread counts as 0 untargeted; targeted, only if already the target
        pixels = torch.where(predict(model, x).argmax(1) == y, pixels, torch.zeros_like(pixels))
    digits.save(name, task, config, {"index": idx, "label": y, "pixels": pixels},
                seconds=round(time.perf_counter() - start, 1), folder=folder)
    return digits.load(name, task, folder)


def _scan_certified(start: int, need: Sequence[int], certify: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    model: nn.Module, seed: int) -> tuple[torch.Tensor, ...]:
    """The digits of the board's shuffle from position ``start`` on, as far as the one where,
    for every column ``b`` of ``certify(x, correct)`` (bool ``[B, len(need)]``: read correctly
    and certified at budget ``b``), ``need[b]`` certified digits have been seen (or to the end
    of the test set). Returns ``(x, y, index, correct, certified)`` of those digits."""
    x_all, y_all, idx_all = digits.sample(TEST_DIGITS, seed)
    need_t = torch.tensor(list(need), dtype=torch.long)
    parts, seen, end = [], torch.zeros(len(need_t), dtype=torch.long), start
    while end < TEST_DIGITS and bool((seen < need_t).any()):
        x, y = x_all[end:end + _SCAN], y_all[end:end + _SCAN]
        correct = predict(model, x).argmax(1) == y
        certified = certify(x, correct).reshape(len(x), len(need_t))
        parts.append((correct, certified))
        seen += certified.sum(0)
        end += len(x)
    if not parts:
        empty = torch.zeros(0, len(need_t), dtype=torch.bool)
        return x_all[start:start], y_all[start:start], idx_all[start:start], empty[:, 0], empty
    correct, certified = torch.cat([c for c, _ in parts]), torch.cat([k for _, k in parts])
    reached = (certified.long().cumsum(0) >= need_t).all(1).nonzero()  # the first position with enough of each
    stop = int(reached[0]) + 1 if len(reached) else len(correct)
    return (x_all[start:start + stop], y_all[start:start + stop], idx_all[start:start + stop], correct[:stop],
            certified[:stop])


_SCAN = 500
"""Digits certified at a time while a check looks for its certified digits (``_scan_certified``)."""


def l0_check_task(name: str, settings: Settings = DEFAULT, *, device: str = "cpu",
                  folder: Path | None = None) -> dict:
    """The certificate of a fixed-wiring vote (``votes.certified_pixels``) against both L0
    attacks (``robustness.pixels_needed``, up to the largest certificate among them) on
    certified digits beyond the board's L0 sample (whose certified digits the ``l0`` task
    already attacks, up to ``max_pixels``): from position ``sparse`` of the board's shuffle on,
    as many certified digits as make ``settings.checked`` together. A certified digit the
    attacks fool with no more pixels than certified would be a broken proof. Per digit:
    ``correct``, ``certified`` (0 where misread), ``pixels`` (-1: not attacked, not
    certified); counted by ``l0_check_counts``. Notebooks 10 and 11."""
    task, config, done = _resumed(l0_check_task, (name,), settings, folder)
    if done is not None:
        return done
    start = time.perf_counter()
    model, attacked = _load(name, device)
    first, first_y, _ = digits.sample(settings.sparse, settings.seed)
    first_right = predict(model, first).argmax(1) == first_y
    already = int((first_right & (_certified_pixels(model, first) >= 1)).sum())
    found: list[torch.Tensor] = []  # the certified pixels of each scanned block

    def certify(x: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
        found.append(torch.where(correct, _certified_pixels(model, x), torch.zeros(len(x), dtype=torch.long)))
        return found[-1] >= 1

    x, y, idx, correct, on = _scan_certified(settings.sparse, [max(settings.checked - already, 0)], certify, model,
                                             settings.seed)
    certified = torch.cat(found)[: len(x)] if found else torch.zeros(0, dtype=torch.long)
    on = on[:, 0]
    pixels = torch.full((len(x),), -1.0)
    rows = on.nonzero()[:, 0]
    if len(rows):
        pixels[rows] = robustness.pixels_needed(attacked, x[rows], y[rows], max_pixels=int(certified.max()),
                                                seed=settings.seed)
    digits.save(name, task, config, {"index": idx, "correct": correct.int(), "certified": certified,
                                     "pixels": pixels}, seconds=round(time.perf_counter() - start, 1), folder=folder)
    return digits.load(name, task, folder)


def l0_check_counts(values: dict) -> tuple[int, int]:
    """``(beaten, checked)`` of an ``l0_check_task`` record's values: certified digits an L0
    attack fooled with no more pixels than certified, and certified digits attacked. Notebooks 10 and 11."""
    k = torch.tensor(values["certified"])
    p = torch.tensor([float(v) for v in values["pixels"]])
    on = k >= 1
    if (p[on] < 0).any():
        raise ValueError("a digit certified at L0 was not attacked")
    return int((on & (p > 0) & (p <= k)).sum()), int(on.sum())


def _board_bound(name: str, model: nn.Module, settings: Settings, folder: Path | None) -> float:
    """The proven Lipschitz bound of ``name``: as its certificate task stored it, where that
    task is on disk with these settings (the same weights: a minute of exact Gram matrices
    saved), else computed now (``certainty.lipschitz_upper_bound``)."""
    _, _, done = _resumed(certificate_task, (name,), settings, folder)
    return float(done["values"]["k_above"]) if done is not None else _upper_bound(model)


def l2_check_task(name: str, settings: Settings = DEFAULT, *, device: str = "cpu",
                  folder: Path | None = None) -> dict:
    """The L2 certificate (``certainty.certified_radius`` with the proven bound) attacked at
    each of the board's L2 budgets beyond the board's dense sample (whose certified digits the
    board's own attack tasks already attack): from position ``dense`` of the board's shuffle
    on, as many digits read correctly and certified at that budget as make
    ``settings.checked`` together, by the course's attacks (``robustness.robust_flags``) and
    AutoAttack (where ``settings`` runs it), each output re-checked. A certified digit fooled
    there would be a broken proof.
    Per digit: ``correct``, ``radius``; per budget ``certified_<eps>`` and ``robust_<eps>``
    (1 robust, 0 fooled, -1 not attacked: not certified there). Notebooks 06 and 11."""
    task, config, done = _resumed(l2_check_task, (name,), settings, folder)
    if done is not None:
        return done
    start = time.perf_counter()
    model, attacked = _load(name, device)
    bound = _board_bound(name, model, settings, folder)
    first, first_y, _ = digits.sample(settings.dense, settings.seed)
    first_radius = torch.where(predict(model, first).argmax(1) == first_y, certainty.certified_radius(model, first, bound),
                               torch.zeros(len(first)))
    need = [max(settings.checked - int((first_radius >= eps).sum()), 0) for eps in L2]
    radii: list[torch.Tensor] = []

    def certify(x: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
        radii.append(certainty.certified_radius(model, x, bound))
        return torch.stack([correct & (radii[-1] >= eps) for eps in L2], 1)

    x, y, idx, correct, _ = _scan_certified(settings.dense, need, certify, model, settings.seed)
    radius = torch.cat(radii)[: len(x)] if radii else torch.zeros(0)
    values: dict = {"index": idx, "correct": correct.int(), "radius": radius}
    for eps in L2:
        certified = correct & (radius >= eps)
        robust = torch.full((len(x),), -1, dtype=torch.long)
        rows = certified.nonzero()[:, 0]
        if len(rows):
            flags = robustness.robust_flags(attacked, x[rows], y[rows], "l2", eps, seed=settings.seed,
                                            square_iterations=settings.square_iterations)["robust"]
            if settings.autoattack:
                adv = autoattack.autoattack(attacked, x[rows], y[rows], "l2", eps, seed=settings.seed)
                flags &= attacks.recheck(model, x[rows], adv, y[rows], norm="l2", budget=eps, name="AutoAttack")
            robust[rows] = flags.long()
        values[f"certified_{eps}"], values[f"robust_{eps}"] = certified.int(), robust
    digits.save(name, task, config, values, seconds=round(time.perf_counter() - start, 1), folder=folder)
    return digits.load(name, task, folder)


def l2_check_counts(values: dict) -> tuple[int, int]:
    """``(beaten, checked)`` of an ``l2_check_task`` record's values: certified digits that an
    attack fooled at a budget they are certified at, and certified digits attacked. Notebook 11."""
    beaten = checked = 0
    for eps in L2:
        on = torch.tensor(values[f"certified_{eps}"]).bool()
        robust = torch.tensor(values[f"robust_{eps}"])
        if (robust[on] < 0).any():
            raise ValueError(f"a digit certified at L2 {eps} was not attacked")
        beaten += int((on & (robust == 0)).sum())
        checked += int(on.sum())
    return beaten, checked


def certificate_task(name: str, settings: Settings = DEFAULT, *, folder: Path | None = None) -> dict:
    """Certificates on the dense sample: the certified L2 radius (Lipschitz bound; NaN where
    the layers have none) and, for a vote readout, the certified pixels (inf never; -1 where
    there is no vote). Per digit: ``correct``, ``radius``, ``pixels``; and ``k_below``. Notebook 11."""
    task, config, done = _resumed(certificate_task, (name,), settings, folder)
    if done is not None:
        return done
    start = time.perf_counter()
    model, _ = _load(name, "cpu")
    x, y, idx = digits.sample(settings.dense, settings.seed)
    correct = predict(model, x).argmax(1) == y
    bound = _upper_bound(model)
    radius = certainty.certified_radius(model, x, bound) if math.isfinite(bound) else torch.full((len(x),), math.nan)
    pixels = _certified_pixels(model, x).float() if _is_vote(model) else torch.full((len(x),), -1.0)
    values = {"index": idx, "correct": correct.int(), "radius": radius, "pixels": pixels}
    extra = {"k_below": certainty.slopes(model, x)["margin"].max().item() / math.sqrt(2), "k_above": bound}
    digits.save(name, task, config, {**values, **extra}, seconds=round(time.perf_counter() - start, 1),
                folder=folder)
    return digits.load(name, task, folder)


def summary_task(name: str, settings: Settings = DEFAULT, *, device: str = "cpu", folder: Path | None = None) -> dict:
    """What is not per digit of the sample: clean accuracy on all 10,000 test digits (per
    digit, for paired tests), parameters, multiply-adds, training time, the caper. Notebook 11."""
    task, config, done = _resumed(summary_task, (name,), settings, folder)
    if done is not None:
        return done
    start = time.perf_counter()
    model, attacked = _load(name, device, frozen=False)  # count_parameters counts trainable parameters
    x_all, y_all = data.load_dataset("mnist", "test", source="bundled", verbose=False)
    correct = predict(model, x_all).argmax(1) == y_all
    replay = caper_replay(attacked, settings.caper)
    values = {"correct": correct.int(), "parameters": models.count_parameters(model),
              "macs": int(routing.measured_macs(model)),
              "train_seconds": models.training_info(name).get("train_seconds", math.nan),
              "caper_smudges": replay["smudges"], "caper_glasses": replay["glasses"]}
    digits.save(name, task, config, values, seconds=round(time.perf_counter() - start, 1), folder=folder)
    return digits.load(name, task, folder)


def tasks(name: str, settings: Settings = DEFAULT) -> list[tuple]:
    """Every task of one model's row, as ``(function, args)``, costliest first."""
    out: list[tuple] = []
    for norm, budgets in (("linf", LINF), ("l2", L2)):
        for eps in budgets:
            out += [(autoattack_task, (name, norm, eps))] if settings.autoattack else []
            out += [(course_task, (name, norm, eps))]
    out += [(l0_task, (name, False)), (l0_task, (name, True))]
    if name in VOTE_MODELS:
        out += [(adaptive_task, (name, norm, eps)) for norm, budgets in (("linf", LINF), ("l2", L2))
                for eps in budgets]
    out += [(certificate_task, (name,)), (summary_task, (name,))]
    if name in CHECKED_VOTES:
        out += [(l0_check_task, (name,))]
    if name in CHECKED_LIPSCHITZ:
        out += [(l2_check_task, (name,))]
    return out


VOTE_MODELS = ("two_n", "layered", "l0_vote")
"""The bundled vote readouts: the adaptive attack and the vote certificate apply to them."""
CHECKED_VOTES = ("l0_vote",)
"""Votes whose certificate is also attacked at its own k beyond the L0 sample (``l0_check_task``)."""
CHECKED_LIPSCHITZ = ("lipschitz_cnn",)
"""Lipschitz models whose L2 certificate is also attacked beyond the dense sample (``l2_check_task``)."""


def _fraction(flags: Sequence[int | bool], prefix: str, row: dict) -> None:
    k, n = int(sum(bool(v) for v in flags)), len(flags)
    row[prefix] = k / n if n else math.nan
    row[f"{prefix}_lo"], row[f"{prefix}_hi"] = stats.wilson(k, n)


def _median(values: Sequence[float], prefix: str, row: dict, seed: int) -> None:
    t = torch.tensor([float(v) for v in values])
    row[prefix] = t.sort().values[(len(t) - 1) // 2].item()  # the lower median; inf: not found
    row[f"{prefix}_lo"], row[f"{prefix}_hi"] = stats.bootstrap_median(t, seed=seed)


def robust_digits(name: str, norm: str, eps: float, folder: Path | None = None) -> torch.Tensor:
    """Per digit of the dense sample: read correctly and fooled by none of the board's attacks
    at ``eps`` (course, AutoAttack where it ran, the adaptive attack for a vote readout). The one
    computation behind the board's robust accuracies and notebooks 08-11's paired tests."""
    robust = None
    for task in ("course", "autoattack", "adaptive"):
        try:
            flags = torch.tensor(digits.load(name, f"{task}_{norm}_{eps}", folder)["values"]["robust"]).bool()
        except FileNotFoundError:
            if task == "course":
                raise
            continue
        robust = flags if robust is None else robust & flags
    return robust


def pixels_digits(name: str, *, targeted: bool = False, folder: Path | None = None) -> torch.Tensor:
    """Per digit of the sparse sample: the fewest pixels the L0 attacks needed (inf: none found
    within ``max_pixels``; 0: already misread). Notebooks 08-11."""
    task = "l0_targeted" if targeted else "l0"
    return torch.tensor([float(p) for p in digits.load(name, task, folder)["values"]["pixels"]])


def row_of(name: str, settings: Settings = DEFAULT, folder: Path | None = None) -> dict:
    """One row of the board, computed from the per-digit files alone. Notebook 11."""
    row: dict = {"model": name, "autoattack": 1 if settings.autoattack else 0}
    summary = digits.load(name, "summary", folder)["values"]
    _fraction(summary["correct"], "clean", row)
    fooled_at: dict[tuple[str, float], torch.Tensor] = {}
    for norm, budgets in (("linf", LINF), ("l2", L2)):
        for eps in budgets:
            course = torch.tensor(digits.load(name, f"course_{norm}_{eps}", folder)["values"]["robust"]).bool()
            aa = None
            if settings.autoattack:
                try:
                    aa = torch.tensor(digits.load(name, f"autoattack_{norm}_{eps}", folder)["values"]["robust"]).bool()
                except FileNotFoundError:  # not run yet: the row says so (column "autoattack")
                    row["autoattack"] = 0
            robust = course if aa is None else course & aa
            if name in VOTE_MODELS:
                adaptive = torch.tensor(digits.load(name, f"adaptive_{norm}_{eps}", folder)["values"]["robust"]).bool()
                row[f"{norm}_{eps}_adaptive_extra"] = int((robust & ~adaptive).sum())
                robust = robust & adaptive
            _fraction(robust.tolist(), f"{norm}_{eps}", row)
            _fraction(course.tolist(), f"{norm}_{eps}_course", row)
            if aa is not None:
                _fraction(aa.tolist(), f"{norm}_{eps}_autoattack", row)
            fooled_at[(norm, eps)] = ~robust
    pixels = digits.load(name, "l0", folder)["values"]["pixels"]
    for k in L0:
        _fraction([p > k for p in pixels], f"l0_{k}", row)
    _median(pixels, "median_pixels", row, settings.seed)
    _median(digits.load(name, "l0_targeted", folder)["values"]["pixels"], "median_pixels_targeted", row,
            settings.seed)
    cert = digits.load(name, "certificates", folder)["values"]
    row["k_below"], row["k_above"] = cert["k_below"], cert["k_above"]
    right = torch.tensor(cert["correct"]).bool()
    radius = torch.tensor([float(r) for r in cert["radius"]])
    beaten, checked = 0, 0
    if not torch.isnan(radius).all():
        for r in CERT_L2:
            _fraction((right & (radius >= r)).tolist(), f"cert_l2_{r}", row)
        for (norm, eps), fooled in fooled_at.items():
            if norm == "l2":  # a digit certified at eps that some attack fooled at eps: a broken proof
                certified = right & (radius >= eps)
                beaten += int((certified & fooled).sum())
                checked += int(certified.sum())
    if name in VOTE_MODELS:
        k = torch.tensor(cert["pixels"])
        for p in L0:
            _fraction((right & (k >= p)).tolist(), f"cert_l0_{p}", row)
        _median(torch.where(right, k, torch.zeros_like(k)).tolist(), "median_certified_pixels", row, settings.seed)
        ks, px = k[: settings.sparse], torch.tensor([float(p) for p in pixels])
        certified = right[: settings.sparse] & (ks >= 1)
        beaten += int((certified & (px > 0) & (px <= ks)).sum())
        checked += int(certified.sum())
        if name in CHECKED_VOTES:
            b, c = l0_check_counts(digits.load(name, "l0_check", folder)["values"])
            beaten, checked = beaten + b, checked + c
    if name in CHECKED_LIPSCHITZ:
        b, c = l2_check_counts(digits.load(name, "l2_check", folder)["values"])
        beaten, checked = beaten + b, checked + c
    row["certificate_beaten"], row["certificates_checked"] = beaten, checked
    for key in ("caper_smudges", "caper_glasses", "parameters", "macs", "train_seconds"):
        row[key] = summary[key]
    row["eval_seconds"] = round(sum(digits.load(name, _task_name(f, a), folder)["seconds"] or 0
                                    for f, a in tasks(name, settings)
                                    if digits.path(name, _task_name(f, a), folder).is_file()), 1)
    return row


def _task_name(function: Callable, args: tuple) -> str:
    if function in (autoattack_task, course_task, adaptive_task):
        return f"{function.__name__.removesuffix('_task')}_{args[1]}_{args[2]}"
    if function is l0_task:
        return "l0_targeted" if args[1] else "l0"
    if function is l0_check_task:
        return "l0_check"
    if function is l2_check_task:
        return "l2_check"
    return function.__name__.removesuffix("_task").replace("certificate", "certificates")


def _run_task(function: Callable, args: tuple, settings: Settings, threads: int, device: str,
              folder: Path | None) -> str:
    """One task in a worker process with its own share of the cores (and freed memory kept
    for reuse: ``env.keep_freed_memory``)."""
    torch.set_num_threads(threads)
    keep_freed_memory()
    kwargs = {"folder": folder} if function is certificate_task else {"folder": folder, "device": device}
    function(*args, settings, **kwargs)
    return f"{args[0]}: {_task_name(function, args)}"


def _expected_seconds(function: Callable, args: tuple) -> float:
    """How long a task took when the committed board ran it (its recorded ``seconds``);
    infinity where the committed board has no record, so an unknown task starts early."""
    try:
        seconds = digits.load(args[0], _task_name(function, args))["seconds"]
    except (FileNotFoundError, ValueError, KeyError):
        return math.inf
    return math.inf if seconds is None else float(seconds)


def longest_first(todo: Sequence[tuple]) -> list[tuple]:
    """Tasks ``(function, args)`` ordered by the seconds the committed board recorded for each,
    longest first (unknown ones first of all), ties kept in order: with several workers no
    long task then starts last while the others idle. Notebook 11."""
    return sorted(todo, key=lambda task: -_expected_seconds(*task))


def scoreboard(names: Sequence[str] = MODELS, settings: Settings = DEFAULT, *, jobs: int = 1,
               device: str = "cpu", folder: Path | None = None) -> list[dict]:
    """Every row, with a progress bar over the tasks (``tasks``). ``jobs > 1`` runs that many
    tasks side by side in fresh processes with the cores shared out (one torch thread each
    on 2 cores), longest first by the times the committed board recorded (``longest_first``).
    Tasks already on disk with the same settings and weights are skipped, so a stopped run
    carries on. Notebook 11 (which reads the committed copy)."""
    from tqdm.auto import tqdm

    names = [check_choice(name, "names", MODELS) for name in names]
    if settings.autoattack:
        autoattack.settings()  # a clear error now if AutoAttack is missing, not in a worker later
    todo = [(f, a) for name in names for f, a in tasks(name, settings)]
    if jobs > 1:
        todo = longest_first(todo)
    threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
    with tqdm(total=len(todo), desc="scoreboard", unit="task") as bar:
        if jobs > 1:
            context = multiprocessing.get_context("spawn")  # no fork after torch has started its threads
            with ProcessPoolExecutor(jobs, mp_context=context) as pool:
                futures = [pool.submit(_run_task, f, a, settings, threads, device, folder) for f, a in todo]
                for future in as_completed(futures):
                    bar.set_postfix_str(f"{future.result()} done")
                    bar.update(1)
        else:
            for f, a in todo:
                bar.set_postfix_str(f"{a[0]}: {_task_name(f, a)}")
                _run_task(f, a, settings, torch.get_num_threads(), device, folder)
                bar.update(1)
    return [row_of(name, settings, folder) for name in names]


def _columns() -> list[str]:
    out = ["model", "autoattack"]

    def with_interval(key: str) -> list[str]:
        return [key, f"{key}_lo", f"{key}_hi"]

    out += with_interval("clean")
    for norm, budgets in (("linf", LINF), ("l2", L2)):
        for eps in budgets:
            out += with_interval(f"{norm}_{eps}") + with_interval(f"{norm}_{eps}_course")
            out += with_interval(f"{norm}_{eps}_autoattack") + [f"{norm}_{eps}_adaptive_extra"]
    for k in L0:
        out += with_interval(f"l0_{k}")
    out += with_interval("median_pixels") + with_interval("median_pixels_targeted") + ["k_below", "k_above"]
    for r in CERT_L2:
        out += with_interval(f"cert_l2_{r}")
    for k in L0:
        out += with_interval(f"cert_l0_{k}")
    out += with_interval("median_certified_pixels")
    out += ["certificate_beaten", "certificates_checked", "caper_smudges", "caper_glasses", "parameters", "macs",
            "train_seconds"]
    return out


COLUMNS = _columns()


def header(settings: Settings | dict, rows: Sequence[dict] = ()) -> list[str]:
    """The board's settings in words: sample sizes and every attack's steps and budgets, and
    which models (``rows``) AutoAttack has not reached yet. Notebook 11."""
    if isinstance(settings, dict):
        settings = Settings(**settings)
    aa = autoattack.settings() if autoattack.available() else "AutoAttack (standard version)"
    pending = [row["model"] for row in rows if not row.get("autoattack", 1)]
    missing = ([f"AutoAttack has not been run yet on {', '.join(pending)}: their Linf and L2 figures are the "
                "course's own attacks alone, upper bounds on their robustness (column autoattack = 0)."]
               if pending else [])
    return missing + [
        f"Clean accuracy: all {TEST_DIGITS:,} standard MNIST test digits. Linf, L2 and certified figures: {settings.dense} test digits; "
        f"L0: the first {settings.sparse} of them, searched up to {settings.max_pixels} pixels "
        f"(one fixed shuffle, seed {settings.seed}). Every accuracy has its 95% Wilson interval (_lo, _hi), "
        f"every median a 95% percentile-bootstrap interval (2,000 resamples).",
        f"Linf (budgets {', '.join(map(str, LINF))}): the course's "
        f"{robustness.settings('linf', square_iterations=settings.square_iterations)}; and {aa}.",
        f"L2 (budgets {', '.join(map(str, L2))}): the course's "
        f"{robustness.settings('l2', square_iterations=settings.square_iterations)}; and {aa}.",
        f"Vote readouts ({', '.join(VOTE_MODELS)}) also face an adaptive attack: the same PGD on the softened vote "
        "(mean of the outputs' log-probabilities), success judged on the real vote; _adaptive_extra counts the "
        "digits only it fooled.",
        f"L0: {robustness.settings('l0')}; targeted: the same towards class (y + 1) mod 10.",
        "Robust accuracy counts a digit only if it is read correctly and no attack fooled it (the minimum, digit "
        "by digit, over every attack); _course and _autoattack give each side alone.",
        "K below: the steepest logit-margin slope / sqrt(2) over the dense sample; K above: product of layer "
        "norms (none for routed layers). Certified L2: Lipschitz margin certificate with K above; certified L0: "
        "the vote certificate (vote readouts only). certificate_beaten: certified digits that an attack fooled "
        "within the certified radius or pixel count (it must be 0), out of certificates_checked: the dense "
        f"sample (L0: its first {settings.sparse}), and for {', '.join(CHECKED_VOTES + CHECKED_LIPSCHITZ)} the next "
        f"certified digits of the same shuffle, {settings.checked} distinct certified digits in all (L0: attacked "
        "at each digit's k; L2: at the L2 budgets, by the course's attacks and AutoAttack). Multiply-adds "
        "per image, counted by torch's FlopCounterMode.",
        caper.settings(settings.caper, settings.caper),
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
        for line in header(settings, rows):
            f.write(f"# {line}\n")
        writer = csv.DictWriter(f, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(row.get(k)) for k in columns} for row in rows)
    lines = ["# Scoreboard", "", "Written by `python -m helpers.scoreboard`; notebook 11 draws it.", ""]
    lines += [f"- {line}" for line in header(settings, rows)] + [""]
    lines += ["| | " + " | ".join(row["model"] for row in rows) + " |", "|---" * (len(rows) + 1) + "|"]
    def shown(key: str, v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        percent = key in ("clean",) or (key.startswith(("linf_", "l2_", "l0_", "cert_", "caper_"))
                                         and not key.endswith("_extra"))
        return f"{v:.1%}" if percent else _cell(v)

    for key in columns[1:]:
        if key.endswith(("_lo", "_hi")):
            continue  # shown beside their figure
        cells = []
        for row in rows:
            cell = shown(key, row.get(key))
            if cell and f"{key}_lo" in row:
                cell += f" ({shown(key, row[f'{key}_lo'])}-{shown(key, row[f'{key}_hi'])})"
            cells.append(cell)
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path


def read(path: Path | None = None) -> tuple[dict, list[dict]]:
    """The committed scoreboard: ``(settings, rows)``, numbers as floats (NaN where empty). Notebook 11."""
    text = Path(path or results_dir() / "scoreboard.csv").read_text().splitlines()
    settings = json.loads(text[0].split(":", 1)[1])
    rows = []
    for raw in csv.DictReader(line for line in text if not line.startswith("#")):
        rows.append({k: (v if k == "model" else float(v) if v else math.nan) for k, v in raw.items()})
    return settings, rows


def compare(rows: list[dict], reference: list[dict], settings: Settings | dict) -> list[str]:
    """Where ``rows`` and ``reference`` differ by more than sampling noise: for every accuracy
    column, more than three binomial standard errors (of the column's sample size) plus one
    digit; for the median pixels, more than a quarter. Empty when they agree. Notebook 11."""
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
    parser.add_argument("--quick", action="store_true",
                        help=f"a small sample ({QUICK}); prints, writes nothing (its per-digit files go to a "
                             "temporary folder)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="tasks run side by side (default: 2, one torch thread each)")
    parser.add_argument("--compare", action="store_true",
                        help="also compare with the committed board and list differences beyond sampling noise")
    parser.add_argument("--out", type=Path, default=None, help="folder for scoreboard.csv and .md (default: results/)")
    parser.add_argument("--device", default="cpu", help="where the attacks run: 'cpu' (default) or 'cuda' (a GPU)")
    parser.add_argument("--assemble", action="store_true",
                        help="write the board from the per-digit files already on disk, running nothing "
                             "(a model AutoAttack has not reached yet is marked so)")
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
    if args.assemble:
        stale = {name: found for name in args.models if (found := stale_tasks(name, settings))}
        if stale:
            raise SystemExit(f"made with other settings than {asdict(settings)}, or from other weights than the "
                             f"bundled checkpoints: {stale}; run them again "
                             "(python -m helpers.scoreboard --models ...)")
        rows = [row_of(name, settings) for name in args.models]
    elif args.quick:
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            rows = scoreboard(args.models, settings, jobs=args.jobs, device=args.device, folder=Path(scratch))
    else:
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
