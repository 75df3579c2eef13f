"""The pieces every attack of ``helpers.attacks`` shares, and the independent re-check.

Notebook 02 teaches ``margin`` (the margin loss) and ``is_adversarial`` (re-predicting every
returned input); notebook 03 teaches ``changed_pixels`` (the L0 distance); ``recheck`` is the
check METHODOLOGY.md asks for on every adversarial input (in [0,1], inside its budget,
re-predicted), run by ``helpers.robustness`` (notebooks 08-11) and ``helpers.caper``
(notebooks 02 and 11).

Conventions shared by every attack here:

* ``model`` maps images ``[B,1,28,28]`` in [0,1] to scores ``[B,C]``. Scores are
  treated as logits; vote models that return log-probabilities work unchanged,
  and the ``"margin"`` loss (best other score minus the score that must lose)
  does not care whether they are logits or log-probabilities.
* With ``targeted=False`` the attack tries to change the prediction away from
  the label ``y``; with ``targeted=True``, ``y`` holds the *target* classes.
* Every result stays in [0,1] and inside its budget; each attack checks this
  before returning. Budgets of 0 return the input unchanged.
* Attacks use gradients with respect to the input only: the model's weights,
  their ``.grad`` and its train/eval mode are left alone (call ``model.eval()``
  first; a model in training mode would be attacked with dropout switched on).
* Large batches are split into chunks of ``batch_size`` images to bound memory.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice, check_images, check_labels, check_nonnegative

NORMS = ("linf", "l2")
"""The norms of the gradient and square attacks (``pgd``, ``square_*``)."""
LOSSES = ("ce", "margin")
"""The losses an attack can push up: cross-entropy or the margin."""
RECHECK_NORMS = ("linf", "l2", "l0")
"""The budgets ``recheck`` can check: an Linf or L2 radius, or a number of changed pixels."""
IMAGE_SHAPE = (1, 28, 28)

__all__ = ["NORMS", "LOSSES", "margin", "is_adversarial", "changed_pixels", "recheck"]


def margin(scores: torch.Tensor, y: torch.Tensor, targeted: bool = False) -> torch.Tensor:
    """How far each example is past the decision boundary: > 0 means the attack succeeded.

    Untargeted: (best score of a class other than ``y``) - (score of ``y``).
    Targeted: (score of the target ``y``) - (best score of any other class).
    Notebook 02 (the margin loss) and 03 (what the L0 attacks push up).
    """
    own = scores.gather(1, y[:, None]).squeeze(1)
    others = scores.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return own - others if targeted else others - own


def _objective(scores: torch.Tensor, y: torch.Tensor, targeted: bool, loss: str) -> torch.Tensor:
    """Per-example quantity the attacker *increases*."""
    if loss == "margin":
        return margin(scores, y, targeted)
    ce = F.cross_entropy(scores, y, reduction="none")
    return -ce if targeted else ce


def _succeeded(scores: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    pred = scores.argmax(dim=1)
    return pred == y if targeted else pred != y


def is_adversarial(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, *, targeted: bool = False) -> torch.Tensor:
    """Re-predict ``x_adv``: True where it is classified as the target (targeted) or not as ``y``.

    The independent check every notebook runs on every returned adversarial input.
    Notebooks 02 and 03.
    """
    check_images(x_adv, "x_adv")
    check_labels(y, len(x_adv), "y")
    with torch.no_grad():
        return _succeeded(model(x_adv), y, targeted)


def changed_pixels(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Number of pixels that differ between ``x`` and ``x_adv``, per image (the L0 distance). Notebook 03."""
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {list(x.shape)} and {list(x_adv.shape)}")
    return (x != x_adv).flatten(1).sum(dim=1)


def _check_model_output(scores: torch.Tensor, batch: int) -> int:
    if scores.dim() != 2 or scores.shape[0] != batch:
        raise ValueError(f"model must map [B,1,28,28] to scores [B, classes]; got output of shape {list(scores.shape)}")
    return scores.shape[1]


def _check_inputs(model: nn.Module, x: object, y: object, y_name: str = "y") -> tuple[torch.Tensor, torch.Tensor]:
    """Validate images and labels (labels against the model's number of classes)."""
    if not callable(model):
        raise TypeError(f"model must be a callable nn.Module, got {type(model).__name__}")
    x = check_images(x, "x", IMAGE_SHAPE)
    if isinstance(y, int) and not isinstance(y, bool):
        y = torch.full((len(x),), y, dtype=torch.long, device=x.device)
    if len(x):
        with torch.no_grad():
            classes = _check_model_output(model(x[:1]), 1)
    else:
        classes = 10
    y = check_labels(y, len(x), y_name, num_classes=classes)
    return x, y.to(x.device)


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None:
        return generator
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g


def _rand(shape: tuple[int, ...], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Uniform [0,1) numbers drawn on the CPU (so a seed gives the same numbers on any device)."""
    return torch.rand(shape, generator=generator).to(device=like.device, dtype=like.dtype)


def _chunks(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def _input_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, targeted: bool, loss: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores at ``x``, the per-example objective, and its gradient with respect to ``x``."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        scores = model(x)
        objective = _objective(scores, y, targeted, loss)
        (grad,) = torch.autograd.grad(objective.sum(), x)
    return scores.detach(), objective.detach(), grad


def _scores(model: nn.Module, images: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Model outputs without gradients, in chunks (many trial images at once stay cheap in memory)."""
    with torch.no_grad():
        return torch.cat([model(images[i : i + chunk]) for i in range(0, len(images), chunk)])


_NORM_NAMES = {"linf": "Linf", "l2": "L2", "l0": "L0"}


def _check_budget(x: torch.Tensor, x_adv: torch.Tensor, *, norm: str, budget: float | int | torch.Tensor,
                  tolerance: float, name: str = "attack") -> None:
    """Raise ``RuntimeError`` naming what failed unless ``x_adv`` has the shape of ``x``, every
    value in [0,1], and every image inside its budget around ``x``: Linf or L2 distance at
    most ``budget + tolerance``, or (``"l0"``) at most ``budget`` changed pixels, ``budget``
    an int or a per-image tensor. The range-and-budget half of :func:`recheck`."""
    check_choice(norm, "norm", RECHECK_NORMS)
    if not isinstance(x_adv, torch.Tensor) or x_adv.shape != x.shape:
        got = list(x_adv.shape) if isinstance(x_adv, torch.Tensor) else type(x_adv).__name__
        raise RuntimeError(f"{name} changed the shape of its input: {list(x.shape)} became {got}")
    if x_adv.numel() == 0:
        return
    if torch.isnan(x_adv).any() or x_adv.min() < 0 or x_adv.max() > 1:
        raise RuntimeError(f"{name} produced values outside [0, 1] (min {x_adv.min().item():.6g}, "
                           f"max {x_adv.max().item():.6g})")
    diff = (x_adv - x).flatten(1)
    if norm == "l0":
        limit = torch.as_tensor(budget, device=x.device)
        if limit.dim() > 1 or (limit.dim() == 1 and limit.shape != (len(x),)):
            raise ValueError(f"an L0 budget must be a number or one count per image, [{len(x)}], "
                             f"got shape {list(limit.shape)}")
        over = (diff != 0).sum(dim=1) > limit
        if over.any():
            i = int(over.nonzero()[0, 0])
            allowed = int(limit if limit.dim() == 0 else limit[i])
            raise RuntimeError(f"{name} changed more pixels than its budget: image {i} changed "
                               f"{int((diff[i] != 0).sum())}, allowed {allowed}")
        return
    size = diff.abs().amax(dim=1) if norm == "linf" else diff.norm(dim=1)
    over = size > budget + tolerance
    if over.any():
        i = int(over.nonzero()[0, 0])
        raise RuntimeError(f"{name} left the {_NORM_NAMES[norm]} ball of radius {budget}: image {i} is at "
                           f"distance {size[i].item():.6g}")


def recheck(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor | int, *, norm: str,
            budget: float | int | torch.Tensor, targeted: bool = False, tolerance: float = 1e-4,
            name: str = "attack") -> torch.Tensor:
    """The independent check of an attack's output, as METHODOLOGY.md asks for it: ``x_adv``
    must have the shape of ``x``, every value in [0,1] and every image inside its budget
    (``norm`` ``"linf"`` or ``"l2"``: distance to ``x`` at most ``budget + tolerance``;
    ``"l0"``: at most ``budget`` changed pixels, an int or a per-image tensor of counts),
    else ``RuntimeError`` naming what failed (``name`` says whose output it was). Then
    ``x_adv`` is re-predicted by ``model`` (without gradients, its train/eval mode left alone).

    Returns a bool tensor ``[B]``, True where the attack *failed* on that image: the model
    still reads the true class ``y`` (untargeted), or does not yet read the target ``y``
    (``targeted=True``). So ``recheck(...).float().mean()`` is the robust accuracy of an
    untargeted attack. Notebooks 02 and 08-11 (through ``helpers.caper`` and
    ``helpers.robustness``).
    """
    if not callable(model):
        raise TypeError(f"model must be a callable nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if norm != "l0":
        budget = check_nonnegative(budget, "budget")
    tolerance = check_nonnegative(tolerance, "tolerance")
    _check_budget(x, x_adv, norm=norm, budget=budget, tolerance=tolerance, name=name)
    if isinstance(y, int) and not isinstance(y, bool):
        y = torch.full((len(x),), y, dtype=torch.long, device=x.device)
    if len(x_adv) == 0:
        check_labels(y, 0, "y")
        return torch.zeros(0, dtype=torch.bool, device=x.device)
    scores = _scores(model, x_adv, chunk=1000)
    y = check_labels(y, len(x), "y", num_classes=_check_model_output(scores, len(x_adv)))
    return ~_succeeded(scores, y.to(scores.device), targeted)


def _verify(x: torch.Tensor, x_adv: torch.Tensor, *, norm: str, budget: float | int | torch.Tensor) -> torch.Tensor:
    """Last line of defence of every attack: each output is in [0,1] and inside its budget
    (the range-and-budget half of :func:`recheck`, at a tolerance of 1e-5); returns ``x_adv``."""
    _check_budget(x, x_adv, norm=norm, budget=budget, tolerance=1e-5)
    return x_adv
