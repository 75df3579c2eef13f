"""Robust accuracy as the course measures it: the minimum over independent attacks.

METHODOLOGY.md (the course's rules): attack the model's real output, take the minimum over at least two
attacks of which one uses no gradients, re-check every adversarial input (re-predict it,
check its norm and range: ``attacks.recheck``), and state the settings beside the number. Notebooks 08 and 09
teach ``robust_accuracy`` and ``pixels_needed``; notebook 11 builds its scoreboard on them.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from . import attacks
from .checks import check_choice, check_images, check_labels, check_nonnegative
from .train import predict

__all__ = ["PGD", "SQUARE_ITERATIONS", "L0", "SETTINGS", "settings", "robust_flags", "robust_accuracy",
           "robust_curve", "pixels_needed"]

PGD = {"steps": 40, "restarts": 3}
"""PGD as every robust accuracy of this module runs it (``attacks.pgd``'s defaults otherwise:
cross-entropy, a cosine step schedule from eps, random start, multi-targeted restarts)."""
SQUARE_ITERATIONS = 5000
"""Queries of the square attacks: the budget of the Square Attack paper (Andriushchenko et al. 2020)."""
L0 = {"candidates": 8, "iterations": 1000, "patience": 100}
"""The L0 attacks of ``pixels_needed`` (``attacks.min_pixels``; margin-guided, pruned)."""


def settings(norm: str, *, square_iterations: int = SQUARE_ITERATIONS) -> str:
    """The attacks behind a number of this module, in words, written from the settings the
    code runs with (so the words cannot drift from the code). Notebooks 08-11."""
    import inspect

    norm = check_choice(norm, "norm", ("linf", "l2", "l0"))
    if norm == "l0":
        d = inspect.signature(attacks.min_pixels).parameters
        return (f"greedy L0 (gradients of the {d['loss'].default} loss, {L0['candidates']} candidates tried exactly "
                f"per pixel) and L0 random search (gradient-free, {L0['iterations']} iterations, patience "
                f"{L0['patience']}), every success then pruned pixel by pixel")
    d = inspect.signature(attacks.pgd).parameters
    name = "Linf" if norm == "linf" else "L2"
    return (f"PGD-{name} ({PGD['steps']} steps, {d['schedule'].default} step schedule from eps, "
            f"{'cross-entropy' if d['loss'].default == 'ce' else 'margin'} loss, random start, {PGD['restarts']} runs, "
            f"multi-targeted) and the gradient-free {name} square attack ({square_iterations} queries)")


SETTINGS = {"linf": settings("linf"), "l2": settings("l2"), "l0": settings("l0")}
"""``settings(norm)`` at the defaults, for printing beside a number."""


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return predict(model, x).argmax(1) == y


def _checked(model: nn.Module, x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor, norm: str, eps: float,
             name: str) -> torch.Tensor:
    """The independent check of one attack's output (``attacks.recheck``): in [0,1], inside
    the budget, then re-predicted. Returns True where the model still reads the true class."""
    return attacks.recheck(model, x, adv, y, norm=norm, budget=eps, tolerance=1e-4, name=name)


def _attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, name: str,
            seed: int, square_iterations: int = SQUARE_ITERATIONS) -> torch.Tensor:
    if name == "pgd":
        adv = attacks.pgd(model, x, y, eps, norm=norm, seed=seed, **PGD)
    else:
        square = attacks.square_linf if norm == "linf" else attacks.square_l2
        adv = square(model, x, y, eps, iterations=square_iterations, seed=seed)
    return _checked(model, x, adv, y, norm, eps, name)


def robust_flags(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, *, seed: int = 0,
                 square_iterations: int = SQUARE_ITERATIONS) -> dict[str, torch.Tensor]:
    """Per image: ``"correct"`` (read correctly), ``"pgd"`` (correct and PGD did not fool it)
    and ``"robust"`` (the square attack, run on what PGD left, did not fool it either).
    Bool tensors ``[B]``; the scoreboard keeps them digit by digit. Notebook 11."""
    check_images(x)
    check_labels(y, len(x))
    norm = check_choice(norm, "norm", ("linf", "l2"))
    eps = check_nonnegative(eps, "eps")
    out = {"correct": _correct(model, x, y)}
    alive = out["correct"].clone()
    for name in ("pgd", "square"):
        idx = alive.nonzero()[:, 0]
        if len(idx) and eps > 0:
            alive[idx] = _attack(model, x[idx], y[idx], norm, eps, name, seed, square_iterations)
        out["pgd" if name == "pgd" else "robust"] = alive.clone()
    return out


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, *,
                    seed: int = 0, square_iterations: int = SQUARE_ITERATIONS) -> dict[str, float]:
    """Accuracy of ``model`` on ``x`` under attacks of ``norm`` (``"linf"`` or ``"l2"``) and
    budget ``eps``: PGD (gradients) and the square attack (none), each re-checked.

    Returns ``{"robust": ..., "pgd": ..., "square": ...}``: an image counts as robust only
    if neither attack's output fools the model. ``SETTINGS[norm]`` says how they ran.
    """
    check_images(x)
    check_labels(y, len(x))
    norm = check_choice(norm, "norm", ("linf", "l2"))
    eps = check_nonnegative(eps, "eps")
    ok = {name: _attack(model, x, y, norm, eps, name, seed, square_iterations) for name in ("pgd", "square")}
    both = ok["pgd"] & ok["square"]
    return {"robust": both.float().mean().item(), "pgd": ok["pgd"].float().mean().item(),
            "square": ok["square"].float().mean().item()}


def robust_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, budgets: Sequence[float], *,
                 seed: int = 0, square_iterations: int = SQUARE_ITERATIONS) -> list[float]:
    """Robust accuracy at each budget (ascending), the minimum over the same two attacks as
    :func:`robust_accuracy`. Notebook 11 and its scoreboard.

    An image already misread, or fooled at a smaller budget (that adversarial input lies
    inside every larger ball too), counts as fooled without being attacked again; the
    square attack only runs on the images PGD did not fool. So each number is exactly
    "fooled by neither attack at this budget or any smaller one", for less compute.
    """
    check_images(x)
    check_labels(y, len(x))
    norm = check_choice(norm, "norm", ("linf", "l2"))
    budgets = [check_nonnegative(b, "budgets") for b in budgets]
    if budgets != sorted(budgets):
        raise ValueError(f"budgets must be ascending, got {budgets}")
    alive = _correct(model, x, y)
    out = []
    for eps in budgets:
        for name in ("pgd", "square"):
            idx = alive.nonzero()[:, 0]
            if len(idx) and eps > 0:
                alive[idx] = _attack(model, x[idx], y[idx], norm, eps, name, seed, square_iterations)
        out.append(alive.float().mean().item())
    return out


def pixels_needed(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, max_pixels: int = 60,
                  targeted: bool = False, seed: int = 0) -> torch.Tensor:
    """Per image, the fewest pixels either L0 attack needed to change the class (``inf``
    if neither managed within ``max_pixels``; 0 if already wrong). Every result is
    re-predicted and its changed pixels re-counted here. Settings: ``SETTINGS["l0"]``.
    """
    pixels, adv = attacks.min_pixels(model, x, y, max_pixels=max_pixels, targeted=targeted, seed=seed,
                                     return_images=True, **L0)
    found = torch.isfinite(pixels) & (pixels > 0)
    if found.any():
        missed = attacks.recheck(model, x[found], adv[found], y[found], norm="l0", budget=pixels[found],
                                 targeted=targeted, name="pixels_needed: an L0 result")
        if missed.any():
            raise RuntimeError("an L0 result did not hold up when re-checked")
    return pixels
