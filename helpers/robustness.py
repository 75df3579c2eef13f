"""Robust accuracy as the course measures it: the minimum over independent attacks.

METHODOLOGY.md (the course's rules): attack the model's real output, take the minimum over at least two
attacks of which one uses no gradients, re-check every adversarial input (re-predict it,
check its norm and range), and state the settings beside the number. Notebooks 07 and 08
teach ``robust_accuracy`` and ``pixels_needed``; notebook 09 builds its scoreboard on them.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from . import attacks
from .checks import check_choice, check_images, check_labels, check_nonnegative
from .train import predict

__all__ = ["SETTINGS", "robust_accuracy", "robust_curve", "pixels_needed"]

SETTINGS = {
    "linf": "PGD-Linf (20 steps of eps/4, random start, 3 runs) and the gradient-free Linf square attack (300 iterations)",
    "l2": "PGD-L2 (20 steps of eps/4, random start, 3 runs) and the gradient-free L2 square attack (300 iterations)",
    "l0": "greedy L0 (gradients, 8 candidates tried exactly per pixel) and L0 random search (gradient-free, "
          "1000 iterations, patience 100)",
}
"""The attacks behind every number of this module, in words, for printing beside it."""


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return predict(model, x).argmax(1) == y


def _checked(model: nn.Module, x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor, norm: str, eps: float,
             name: str) -> torch.Tensor:
    """The independent check of one attack's output: in [0,1], inside the budget, then
    re-predicted. Returns True where the model still reads the true class."""
    size = (adv - x).flatten(1).abs().amax(1) if norm == "linf" else (adv - x).flatten(1).norm(dim=1)
    if adv.min() < 0 or adv.max() > 1 or size.max() > eps + 1e-4:
        raise RuntimeError(f"{name} left [0,1] or its {norm} budget {eps}")
    return _correct(model, adv, y)


def _attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, name: str,
            seed: int) -> torch.Tensor:
    if name == "pgd":
        adv = attacks.pgd(model, x, y, eps, norm=norm, steps=20, step_size=eps / 4, restarts=3, seed=seed)
    else:
        adv = (attacks.square_linf if norm == "linf" else attacks.square_l2)(model, x, y, eps, iterations=300,
                                                                           seed=seed)
    return _checked(model, x, adv, y, norm, eps, name)


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, *,
                    seed: int = 0) -> dict[str, float]:
    """Accuracy of ``model`` on ``x`` under attacks of ``norm`` (``"linf"`` or ``"l2"``) and
    budget ``eps``: PGD (gradients) and the square attack (none), each re-checked.

    Returns ``{"robust": ..., "pgd": ..., "square": ...}``: an image counts as robust only
    if neither attack's output fools the model. ``SETTINGS[norm]`` says how they ran.
    """
    check_images(x)
    check_labels(y, len(x))
    norm = check_choice(norm, "norm", ("linf", "l2"))
    eps = check_nonnegative(eps, "eps")
    ok = {name: _attack(model, x, y, norm, eps, name, seed) for name in ("pgd", "square")}
    both = ok["pgd"] & ok["square"]
    return {"robust": both.float().mean().item(), "pgd": ok["pgd"].float().mean().item(),
            "square": ok["square"].float().mean().item()}


def robust_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, budgets: Sequence[float], *,
                 seed: int = 0) -> list[float]:
    """Robust accuracy at each budget (ascending), the minimum over the same two attacks as
    :func:`robust_accuracy`. Notebook 09 and its scoreboard.

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
                alive[idx] = _attack(model, x[idx], y[idx], norm, eps, name, seed)
        out.append(alive.float().mean().item())
    return out


def pixels_needed(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, max_pixels: int = 60,
                  targeted: bool = False, seed: int = 0) -> torch.Tensor:
    """Per image, the fewest pixels either L0 attack needed to change the class (``inf``
    if neither managed within ``max_pixels``; 0 if already wrong). Every result is
    re-predicted and its changed pixels re-counted here. Settings: ``SETTINGS["l0"]``.
    """
    pixels, adv = attacks.min_pixels(model, x, y, max_pixels=max_pixels, targeted=targeted, seed=seed,
                                     return_images=True)
    found = torch.isfinite(pixels) & (pixels > 0)
    if found.any():
        fooled = ~_correct(model, adv[found], y[found]) if not targeted else (
            _correct(model, adv[found], y[found]))
        counted = attacks.changed_pixels(x[found], adv[found]).to(pixels.dtype)
        if not fooled.all() or (counted > pixels[found]).any():
            raise RuntimeError("an L0 result did not hold up when re-checked")
    return pixels
