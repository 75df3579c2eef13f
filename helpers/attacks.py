"""Adversarial attacks: FGSM, PGD (Linf and L2), the "glasses", and L0 (few-pixel) attacks.

The thief's smudges of the caper are a *targeted* attack on one image; the marks
on the CEO's glasses are one perturbation, confined to a band across the image,
that makes every CEO image read as the thief. Notebook 02 teaches ``fgsm``,
``pgd``, ``glasses`` and ``apply_glasses``; notebook 03 teaches the L0 attacks
``l0_attack`` and ``min_pixels``.

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

import math

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_choice, check_images, check_int, check_labels, check_nonnegative

NORMS = ("linf", "l2")
LOSSES = ("ce", "margin")
L0_METHODS = ("greedy", "random_search")
IMAGE_SHAPE = (1, 28, 28)

__all__ = [
    "square_l2",
    "square_linf",
    "fgsm",
    "pgd",
    "glasses",
    "glasses_mask",
    "apply_glasses",
    "l0_attack",
    "min_pixels",
    "is_adversarial",
    "changed_pixels",
    "margin",
]


# ----------------------------------------------------------------------------
# small shared pieces
# ----------------------------------------------------------------------------


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


def _chunks(n: int, batch_size: int):
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


def _verify(x: torch.Tensor, x_adv: torch.Tensor, *, linf: float | None = None, l2: float | None = None,
            l0: torch.Tensor | int | None = None) -> torch.Tensor:
    """Last line of defence: every output is in [0,1] and inside its budget."""
    if x_adv.shape != x.shape:
        raise RuntimeError("attack changed the shape of its input")
    if x_adv.numel() == 0:
        return x_adv
    if x_adv.min() < 0 or x_adv.max() > 1:
        raise RuntimeError("attack produced values outside [0, 1]")
    diff = (x_adv - x).flatten(1)
    tolerance = 1e-5
    if linf is not None and diff.abs().amax() > linf + tolerance:
        raise RuntimeError(f"attack left the Linf ball of radius {linf}")
    if l2 is not None and diff.norm(dim=1).amax() > l2 + tolerance:
        raise RuntimeError(f"attack left the L2 ball of radius {l2}")
    if l0 is not None:
        limit = torch.as_tensor(l0, device=x.device)
        if ((diff != 0).sum(dim=1) > limit).any():
            raise RuntimeError("attack changed more pixels than its budget")
    return x_adv


# ----------------------------------------------------------------------------
# FGSM and PGD (notebook 02)
# ----------------------------------------------------------------------------


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    targeted: bool = False,
    loss: str = "ce",
    batch_size: int = 1000,
) -> torch.Tensor:
    """Fast Gradient Sign Method: one step of size ``eps`` along the sign of the loss gradient.

    Untargeted: raises the loss of the true class ``y``; targeted: lowers the loss of the
    target ``y``. The result is clamped to [0,1], so it is within ``eps`` of ``x`` in Linf.
    Notebook 02.
    """
    x, y = _check_inputs(model, x, y)
    eps = check_nonnegative(eps, "eps")
    check_choice(loss, "loss", LOSSES)
    check_int(batch_size, "batch_size")
    if eps == 0 or len(x) == 0:
        return x.clone()
    out = torch.empty_like(x)
    for part in _chunks(len(x), batch_size):
        _, _, grad = _input_gradient(model, x[part], y[part], targeted, loss)
        out[part] = (x[part] + eps * grad.sign()).clamp_(0, 1)
    return _verify(x, out, linf=eps)


def _project_l2_box(delta: torch.Tensor, x: torch.Tensor, eps: float, iterations: int = 8) -> torch.Tensor:
    """Euclidean projection of ``delta`` onto {d : ||d||_2 <= eps and x + d in [0,1]}.

    From the optimality conditions, coordinate by coordinate, the projection is
    ``clamp(s * delta, -x, 1 - x)`` for the largest scale ``s`` in (0, 1] whose norm is
    <= eps. With ``b_i`` the room pixel i has in the direction of ``delta_i``, the squared
    norm is sum_i min(s^2 delta_i^2, b_i^2). Given a feasible ``s``, treat the pixels
    already clamped as fixed (C = sum of their b_i^2) and the others as growing
    (A = sum of their delta_i^2) and solve s^2 A + C = eps^2: this never overshoots, only
    grows, and is exact once no further pixel clamps (a few rounds in practice).
    """
    flat, xf = delta.flatten(1), x.flatten(1)
    size = flat.abs()
    room = torch.where(flat > 0, 1 - xf, xf)  # b_i: how far pixel i can move that way
    clipped = torch.minimum(size, room)
    if not ((clipped * clipped).sum(dim=1) > eps**2).any():
        return torch.copysign(clipped, flat).view_as(delta)
    size2, room2 = size * size, room * room
    s = (eps / size2.sum(dim=1).sqrt().clamp_min(1e-12)).clamp(max=1.0)  # feasible: clamping only shrinks
    for _ in range(iterations):
        free = size * s[:, None] < room
        grow = (size2 * free).sum(dim=1)
        fixed = (room2 * ~free).sum(dim=1)
        s_next = ((eps**2 - fixed).clamp_min(0) / grow.clamp_min(1e-30)).sqrt().clamp(max=1.0)
        s_next = torch.maximum(s, s_next)
        if torch.equal(s_next, s):
            break
        s = s_next
    s = torch.where(s < 1, s * (1 - 1e-6), s)  # stay inside despite rounding
    return torch.copysign(torch.minimum(size * s[:, None], room), flat).view_as(delta)


def _random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """A random point of the ball (uniform in Linf; uniform direction and radius in L2), in [0,1]."""
    if norm == "linf":
        delta = (2 * _rand(tuple(x.shape), generator, x) - 1) * eps
        return (x + delta).clamp(0, 1)
    direction = torch.randn(tuple(x.shape), generator=generator).to(x)
    direction = direction / direction.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    radius = eps * _rand((len(x), 1, 1, 1), generator, x)
    return (x + _project_l2_box(direction * radius, x, eps)).clamp_(0, 1)


def _pgd_run(model, x, y, eps, norm, steps, step_size, targeted, loss, start, aim=None):
    """One PGD run from ``start``; returns the best iterate per example and its (success, objective).

    Every iterate is scored by the forward pass of its own gradient step; the last one
    needs a forward pass of its own, spent only on examples not yet fooled (for the
    others a success is already in hand). ``aim`` optionally gives other classes to push
    towards (a targeted margin), while success and "best" are still judged against
    ``y`` and ``targeted``.
    """
    x_adv = start.clone()
    best = start
    if norm == "linf":  # the ball intersected with [0,1] is a box: [low, high]
        low, high = (x - eps).clamp_(min=0), (x + eps).clamp_(max=1)
    best_obj = torch.full((len(x),), float("-inf"), device=x.device)
    best_ok = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    shape = (-1,) + (1,) * (x.dim() - 1)

    def keep_better(rows, candidate, scores, obj):
        nonlocal best
        ok = _succeeded(scores, y[rows], targeted)
        better = (ok & ~best_ok[rows]) | ((ok == best_ok[rows]) & (obj > best_obj[rows]))
        if rows is ...:
            best = torch.where(better.view(shape), candidate, best)
        else:
            best[rows[better]] = candidate[better]
        best_obj[rows] = torch.where(better, obj, best_obj[rows])
        best_ok[rows] |= ok

    for _ in range(steps):
        if aim is None:
            scores, obj, grad = _input_gradient(model, x_adv, y, targeted, loss)
        else:
            scores, _, grad = _input_gradient(model, x_adv, aim, True, "margin")
            obj = _objective(scores, y, targeted, loss)
        keep_better(..., x_adv, scores, obj)
        if norm == "linf":
            x_adv = x_adv.add_(grad.sign_(), alpha=step_size).clamp_(low, high)
        else:
            # ignore directions the [0,1] box blocks, so the whole step goes where it can move
            grad.masked_fill_(torch.where(grad < 0, x_adv <= 0, x_adv >= 1), 0)
            g_norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(shape)
            delta = (x_adv - x).add_(grad.mul_(step_size / g_norm))
            x_adv = (x + _project_l2_box(delta, x, eps)).clamp_(0, 1)  # clamp: rounding only
    rows = (~best_ok).nonzero().squeeze(1)
    if len(rows):
        scores = _scores(model, x_adv[rows])
        keep_better(rows, x_adv[rows], scores, _objective(scores, y[rows], targeted, loss))
    return best, best_ok, best_obj


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    norm: str = "linf",
    steps: int = 40,
    step_size: float | None = None,
    restarts: int = 1,
    targeted: bool = False,
    loss: str = "margin",
    random_start: bool = True,
    multitarget: bool = True,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
    batch_size: int = 1000,
) -> torch.Tensor:
    """Projected Gradient Descent in the Linf or L2 ball of radius ``eps``, intersected with [0,1].

    Each of ``steps`` steps moves along the sign of the gradient (Linf) or the
    normalised gradient (L2; directions blocked by the [0,1] box are left out) by
    ``step_size`` (default ``2.5 * eps / steps``), then projects exactly onto the ball
    intersected with the [0,1] box. ``loss="margin"`` (default) pushes up the best wrong
    score minus the true score (targeted: the target's score minus the best other
    score); ``loss="ce"`` uses cross-entropy. With ``random_start`` each run starts at a
    random point of the ball (drawn from ``generator``, or from a generator seeded with
    ``seed``). Per example the best point seen is kept: a success if any step of any run
    succeeded, else the highest loss.

    ``restarts`` runs in all; runs after the first attack only the examples not yet
    fooled. For an untargeted attack with ``multitarget`` (default), run r >= 2 pushes
    each remaining example towards one wrong class, the (r-1)-th most likely at the
    clean input, cycling (the multi-targeted attack of Gowal et al., 2019); so
    ``restarts=10`` tries every wrong class once. Notebook 02.
    """
    x, y = _check_inputs(model, x, y)
    eps = check_nonnegative(eps, "eps")
    check_choice(norm, "norm", NORMS)
    check_choice(loss, "loss", LOSSES)
    steps = check_int(steps, "steps", 0)
    restarts = check_int(restarts, "restarts")
    check_int(batch_size, "batch_size")
    if step_size is None:
        step_size = 2.5 * eps / max(steps, 1)
    step_size = check_nonnegative(step_size, "step_size")
    if eps == 0 or len(x) == 0:
        return x.clone()
    gen = _generator(seed, generator)
    out = torch.empty_like(x)

    def run(xs, ys, aim=None):
        start = _random_start(xs, eps, norm, gen) if random_start else xs.clone()
        return _pgd_run(model, xs, ys, eps, norm, steps, step_size, targeted, loss, start, aim)

    for part in _chunks(len(x), batch_size):
        xs, ys = x[part], y[part]
        best, best_ok, best_obj = run(xs, ys)
        ranked = None
        for r in range(1, restarts):
            todo = (~best_ok).nonzero().squeeze(1)
            if len(todo) == 0:
                break
            aim = None
            if multitarget and not targeted:
                if ranked is None:  # wrong classes, most likely first, at the clean input
                    clean = _scores(model, xs)
                    ranked = clean.scatter(1, ys[:, None], float("-inf")).argsort(dim=1, descending=True)[:, :-1]
                aim = ranked[todo, (r - 1) % ranked.shape[1]]
            adv, ok, obj = run(xs[todo], ys[todo], aim)
            better = (ok & ~best_ok[todo]) | ((ok == best_ok[todo]) & (obj > best_obj[todo]))
            best[todo[better]] = adv[better]
            best_obj[todo[better]] = obj[better]
            best_ok[todo[better]] |= ok[better]
        out[part] = best
    return _verify(x, out, **({"linf": eps} if norm == "linf" else {"l2": eps}))


def _random_squares(n: int, size: int, side: int, gen: torch.Generator, like: torch.Tensor):
    """``n`` random ``size`` x ``size`` squares in a ``side`` x ``side`` image, as a bool mask
    ``[n, 1, side, side]``, and a random sign (+-1) for each: the proposals of both square attacks."""
    rows = (_rand((n,), gen, like) * (side - size + 1)).long()
    cols = (_rand((n,), gen, like) * (side - size + 1)).long()
    sign = torch.where(_rand((n,), gen, like) < 0.5, -1.0, 1.0).to(like)
    r = torch.arange(side, device=like.device)
    inside = (((r[None, :] >= rows[:, None]) & (r[None, :] < (rows + size)[:, None]))[:, :, None]
              & ((r[None, :] >= cols[:, None]) & (r[None, :] < (cols + size)[:, None]))[:, None, :])
    return inside[:, None], sign


def square_l2(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    iterations: int = 1000,
    targeted: bool = False,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A gradient-free attack in the L2 ball of radius ``eps`` (with [0,1]): random search
    with square patches, in the spirit of the L2 Square Attack (Andriushchenko et al. 2020).
    Notebook 05.

    Only the model's outputs are used, so a gradient that misleads (masked, or shattered
    by a non-differentiable layer) cannot protect the model from it. Per example it keeps a
    perturbation and, each iteration, proposes to move mass into a random square (side
    shrinking from 14 to 2 pixels over the run, a random sign per square): the new
    perturbation is rescaled to L2 ``eps``, projected onto the ball and the [0,1] box, and
    kept when the margin loss improves. Examples already fooled are not touched again.
    """
    x, y = _check_inputs(model, x, y)
    eps = check_nonnegative(eps, "eps")
    iterations = check_int(iterations, "iterations", 0)
    if eps == 0 or len(x) == 0:
        return x.clone()
    gen = _generator(seed, generator)
    n, side = len(x), x.shape[-1]
    # start: vertical stripes of +-eps/sqrt(pixels), a classic start for square attacks
    signs = torch.where(_rand((n, 1, 1, side), gen, x) < 0.5, -1.0, 1.0).to(x)
    delta = _project_l2_box(signs.expand_as(x) * eps / math.sqrt(x[0].numel()), x, eps)
    best = margin(_scores(model, (x + delta).clamp(0, 1)), y, targeted)
    for t in range(iterations):
        todo = (best <= 0).nonzero().squeeze(1)
        if len(todo) == 0:
            break
        size = max(2, round(14 * (1 - t / max(iterations, 1)) ** 1.5))
        inside, sign = _random_squares(len(todo), size, side, gen, x)
        d = delta[todo].clone()
        patch = inside.to(x) * sign.view(-1, 1, 1, 1)
        d = d + patch * (eps / size)  # a square of total L2 mass eps, then back onto the ball
        d = d * (eps / d.flatten(1).norm(dim=1).clamp_min(1e-12)).view(-1, 1, 1, 1)
        d = _project_l2_box(d, x[todo], eps)
        cand = margin(_scores(model, (x[todo] + d).clamp(0, 1)), y[todo], targeted)
        better = cand > best[todo]
        delta[todo[better]] = d[better]
        best[todo[better]] = cand[better]
    return _verify(x, (x + delta).clamp(0, 1), l2=eps)


def square_linf(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    iterations: int = 1000,
    targeted: bool = False,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A gradient-free attack in the Linf ball of radius ``eps`` (with [0,1]): random search
    over the ball's corners with square patches, in the spirit of the Linf Square Attack
    (Andriushchenko et al. 2020). Notebook 07.

    Per example it keeps a perturbation of +-eps in every pixel and, each iteration, gives a
    random square (side shrinking from 14 to 1 pixels over the run) one random sign, keeping
    the change when the margin loss improves. Only the model's outputs are used.
    """
    x, y = _check_inputs(model, x, y)
    eps = check_nonnegative(eps, "eps")
    iterations = check_int(iterations, "iterations", 0)
    if eps == 0 or len(x) == 0:
        return x.clone()
    gen = _generator(seed, generator)
    n, side = len(x), x.shape[-1]
    delta = torch.where(_rand((n, 1, 1, side), gen, x) < 0.5, -eps, eps).to(x).expand_as(x).clone()
    best = margin(_scores(model, (x + delta).clamp(0, 1)), y, targeted)
    for t in range(iterations):
        todo = (best <= 0).nonzero().squeeze(1)
        if len(todo) == 0:
            break
        size = max(1, round(14 * (1 - t / max(iterations, 1)) ** 1.5))
        inside, sign = _random_squares(len(todo), size, side, gen, x)
        d = torch.where(inside, eps * sign.view(-1, 1, 1, 1), delta[todo])
        cand = margin(_scores(model, (x[todo] + d).clamp(0, 1)), y[todo], targeted)
        better = cand > best[todo]
        delta[todo[better]] = d[better]
        best[todo[better]] = cand[better]
    return _verify(x, (x + delta).clamp(0, 1), linf=eps)


# ----------------------------------------------------------------------------
# the glasses: one perturbation confined to a mask, shared by many images (notebook 02)
# ----------------------------------------------------------------------------


def glasses_mask(rows: tuple[int, int] = (8, 13), cols: tuple[int, int] = (0, 28), *,
                 shape: tuple[int, int] = (28, 28)) -> torch.Tensor:
    """A bool mask ``[1,1,H,W]``, True on the band ``rows[0] <= row < rows[1]`` and
    ``cols[0] <= col < cols[1]``: where glasses would sit on a face (rows 8-12 of 28
    by default). Notebook 02.
    """
    h, w = shape
    r0, r1 = rows
    c0, c1 = cols
    if not (0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w):
        raise ValueError(f"rows={rows} and cols={cols} must be non-empty ranges inside an image of shape {shape}")
    mask = torch.zeros(1, 1, h, w, dtype=torch.bool)
    mask[..., r0:r1, c0:c1] = True
    return mask


def _check_mask(mask: object, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a bool tensor of shape [1,1,28,28], got {type(mask).__name__}")
    if tuple(mask.shape) not in ((1, *IMAGE_SHAPE), IMAGE_SHAPE, IMAGE_SHAPE[1:]):
        raise ValueError(f"mask must have shape [1,1,28,28] (or [1,28,28], [28,28]), got {list(mask.shape)}")
    return mask.reshape(1, *IMAGE_SHAPE).to(device=x.device, dtype=torch.bool)


def apply_glasses(x: torch.Tensor, delta: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Put the glasses on: ``clamp(x + delta, 0, 1)`` for every image in ``x``.

    ``delta`` (``[1,1,28,28]``, as returned by ``glasses``) is zero outside its mask;
    pass ``mask`` to enforce that (anything outside it is ignored). Notebook 02.
    """
    x = check_images(x, "x", IMAGE_SHAPE)
    if not isinstance(delta, torch.Tensor) or tuple(delta.shape) not in ((1, *IMAGE_SHAPE), IMAGE_SHAPE):
        raise ValueError(f"delta must be a tensor of shape [1,1,28,28], got "
                         f"{list(delta.shape) if isinstance(delta, torch.Tensor) else type(delta).__name__}")
    delta = delta.reshape(1, *IMAGE_SHAPE).to(x)
    if mask is not None:
        delta = delta * _check_mask(mask, x)
    return (x + delta).clamp(0, 1)


def glasses(
    model: nn.Module,
    x: torch.Tensor,
    target: int | torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    eps: float | None = None,
    steps: int = 200,
    step_size: float | None = None,
    loss: str = "ce",
    batch_size: int = 500,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One perturbation ``delta`` (``[1,1,28,28]``), zero outside ``mask``, that makes
    *all* images in ``x`` read as ``target`` once worn: ``apply_glasses(x, delta)``.

    The default mask is ``glasses_mask()``, a band of rows 8-12. Inside it the glasses
    are an object put on, so by default nothing bounds them: ``delta`` ranges over
    [-1, 1], which lets a pixel of the band become anything in [0,1] (the same value
    on every image where ``delta`` is +-1). ``eps`` bounds ``delta`` in Linf instead.
    Optimised by signed-gradient ascent on the mean objective (``loss="ce"``: mean
    target log-probability; ``"margin"``: mean target margin, capped at 1 so that
    images already fooled stop pulling), with a step size that decays linearly from
    ``step_size`` (default: a tenth of the bound). When ``x`` holds more than
    ``batch_size`` images, each step uses a random minibatch. Notebook 02.
    """
    x = check_images(x, "x", IMAGE_SHAPE)
    if len(x) == 0:
        raise ValueError("x must hold at least one image")
    if isinstance(target, torch.Tensor) and target.dim() == 0:
        target = int(target)
    x, target = _check_inputs(model, x, target, "target")
    mask = glasses_mask() if mask is None else mask
    mask = _check_mask(mask, x)
    bound = 1.0 if eps is None else min(1.0, check_nonnegative(eps, "eps"))
    check_choice(loss, "loss", LOSSES)
    steps = check_int(steps, "steps", 0)
    check_int(batch_size, "batch_size")
    step_size = bound / 10 if step_size is None else check_nonnegative(step_size, "step_size")
    delta = torch.zeros(1, *IMAGE_SHAPE, dtype=x.dtype, device=x.device)
    if bound == 0 or steps == 0:
        return delta
    gen = _generator(seed, generator)
    maskf = mask.to(x.dtype)
    for step in range(steps):
        if len(x) > batch_size:
            pick = torch.randperm(len(x), generator=gen)[:batch_size].to(x.device)
            xs, ts = x[pick], target[pick]
        else:
            xs, ts = x, target
        with torch.enable_grad():
            d = delta.detach().requires_grad_(True)
            # clamp the values but let the gradient through: torch's clamp has zero gradient
            # at 0 and 1, which would hide every blank background pixel from the glasses
            worn = xs + d * maskf
            scores = model(worn + (worn.clamp(0, 1) - worn).detach())
            obj = _objective(scores, ts, True, loss)
            if loss == "margin":
                obj = obj.clamp(max=1.0)
            (grad,) = torch.autograd.grad(obj.mean(), d)
        size = step_size * (1 - step / steps)
        delta = ((delta + size * grad.sign()) * maskf).clamp(-bound, bound)
    delta = delta.detach()
    if delta.abs().amax() > bound or (delta * ~mask).abs().amax() > 0:
        raise RuntimeError("glasses left their mask or their bound")
    return delta


# ----------------------------------------------------------------------------
# L0 attacks: a few pixels (notebook 03)
# ----------------------------------------------------------------------------


def _greedy_l0(model, x, y, budget: int, targeted: bool, loss: str, per_step: int, candidates: int):
    """Greedy pixel setting guided by the gradient (in the spirit of JSMA and Shamir et al.).

    Linearising the objective at the current image, setting pixel i to value v changes
    it by about g_i (v - x_i); the best value for pixel i is v = 1 if g_i > 0 and v = 0
    otherwise, with gain |g_i| * (distance to that extreme). Each round, for every image
    still unfooled, the ``candidates`` unused pixels with the largest linear gain are each
    tried exactly (one forward pass per candidate) and the ``per_step`` best by margin are
    set (with ``candidates <= per_step`` the linear gain alone decides); then the gradient
    is recomputed. An image stops at its first success.
    Returns the adversarial images and, per image, the pixels changed at success (inf if none).
    """
    n = len(x)
    flat_x = x.flatten(1)
    current = flat_x.clone()
    used = torch.zeros_like(current, dtype=torch.bool)
    found = torch.full((n,), float("inf"), device=x.device)
    best = x.clone()
    todo = torch.arange(n, device=x.device)
    while len(todo):
        imgs = current[todo].view(-1, *x.shape[1:])
        changed = (current[todo] != flat_x[todo]).sum(dim=1)
        scores, _, grad = _input_gradient(model, imgs, y[todo], targeted, loss)
        ok = _succeeded(scores, y[todo], targeted)
        if ok.any():
            best[todo[ok]] = imgs[ok]
            found[todo[ok]] = changed[ok].to(found.dtype)
        grad = grad.flatten(1)
        cur = current[todo]
        gain = torch.where(grad > 0, grad * (1 - cur), -grad * cur).masked_fill(used[todo], float("-inf"))
        # carry on with images still unfooled, with budget left and some pixel worth changing
        room = budget - changed
        keep = ~ok & (room > 0) & (gain.amax(dim=1) > 0)
        if not keep.any():
            break
        todo, grad, room, cur, gain = todo[keep], grad[keep], room[keep], cur[keep], gain[keep]
        take = min(per_step, int(room.max()))
        top_gain, top = gain.topk(max(take, min(candidates, gain.shape[1])), dim=1)
        values = (grad.gather(1, top) > 0).to(cur.dtype)
        if top.shape[1] > take:  # try each candidate exactly, keep the `take` best
            a, c = top.shape
            trial = cur.repeat_interleave(c, dim=0).scatter(1, top.reshape(-1, 1), values.reshape(-1, 1))
            trial_scores = _scores(model, trial.view(-1, *x.shape[1:]))
            exact = margin(trial_scores, y[todo].repeat_interleave(c), targeted).view(a, c)
            exact = exact.masked_fill(top_gain <= 0, float("-inf"))
            order = exact.topk(take, dim=1).indices
            top, top_gain, values = top.gather(1, order), top_gain.gather(1, order), values.gather(1, order)
        # images with less room than `take` set only their first `room` pixels
        allowed = (torch.arange(take, device=x.device)[None, :] < room[:, None]) & (top_gain > 0)
        values = torch.where(allowed, values, cur.gather(1, top))
        current[todo] = cur.scatter(1, top, values)
        used[todo] = used[todo].scatter(1, top, allowed | used[todo].gather(1, top))
    return best, found


def _schedule(t: int, horizon: int, start: float) -> float:
    """Fraction of the pixel set swapped at iteration ``t``: halves at a few milestones."""
    milestones = (0.002, 0.01, 0.04, 0.1, 0.2, 0.4, 0.6, 0.8)
    halvings = sum(t >= m * horizon for m in milestones)
    return start / 2**halvings


def _random_search_l0(model, x, y, budget: int, targeted: bool, iterations: int, shrink: bool,
                      generator: torch.Generator, swap_fraction: float = 0.3, patience: int | None = None,
                      prune: bool = False):
    """Sparse-RS-style random search over sets of ``budget`` pixels (gradient-free).

    Each image keeps a set of k pixel positions; a pixel in the set is pushed to its far
    extreme (0 if it is >= 0.5, else 1), so every pixel in the set really changes. Every
    iteration proposes replacing some of the set (a fraction ``swap_fraction`` of it at
    first, halving at milestones) by random other positions, and keeps the proposal if
    the margin improves. Only the model's outputs are used. With ``shrink``, an image
    that succeeds with k pixels records the result, drops one pixel from its set (with
    ``prune`` the one whose removal leaves the best margin, trying each; else a random
    one) and searches on with k - 1, until ``patience`` iterations pass without a
    success or k reaches 0. Returns the best adversarial images and the pixels each changed (inf if none).
    """
    n, dims = len(x), x[0].numel()
    dev = x.device
    flat_x = x.flatten(1)
    far = (flat_x < 0.5).to(x.dtype)  # the value each pixel takes when it is in the set
    found = torch.full((n,), float("inf"), device=dev)
    best = x.clone()
    if n == 0:
        return best, found
    with torch.no_grad():
        ok0 = _succeeded(model(x), y, targeted)
    found[ok0] = 0
    slots = min(budget, dims)
    if slots == 0:
        return best, found
    k = torch.full((n,), slots, dtype=torch.long, device=dev)  # current set size per image
    # random distinct starting positions: the `slots` largest of random scores
    pos = torch.rand(n, dims, generator=generator).to(dev).topk(slots, dim=1).indices
    cur_obj = torch.full((n,), float("-inf"), device=dev)  # -inf: state not scored yet
    last_success = torch.zeros(n, dtype=torch.long, device=dev)
    running = ~ok0
    slot_ids = torch.arange(slots, device=dev)
    earlier = slot_ids[None, :] < slot_ids[:, None]  # earlier[j, i]: slot i comes before slot j
    patience = iterations if patience is None else patience

    for t in range(iterations):
        rows = running.nonzero().squeeze(1)
        if len(rows) == 0:
            break
        m, kr, old = len(rows), k[rows], pos[rows]
        active = slot_ids[None, :] < kr[:, None]
        # how many pixels to swap (none for a state not scored yet: score it as it is)
        n_swap = (kr * _schedule(t, iterations, swap_fraction)).round().long().clamp(min=1)
        n_swap = torch.where(cur_obj[rows] == float("-inf"), torch.zeros_like(n_swap), n_swap)
        # which active slots to swap: the first n_swap of a random ranking
        keys = torch.rand(m, slots, generator=generator).to(dev).masked_fill(~active, 2.0)
        replace = keys.argsort(dim=1).argsort(dim=1) < n_swap[:, None]
        # new random positions; a swap that would repeat a pixel of the set is skipped
        new = torch.randint(dims, (m, slots), generator=generator).to(dev)
        in_set = (new[:, :, None] == old.masked_fill(~active, -1)[:, None, :]).any(dim=2)
        repeated = ((new[:, :, None] == new[:, None, :]) & replace[:, None, :] & earlier[None]).any(dim=2)
        proposal = torch.where(replace & ~in_set & ~repeated, new, old)
        # inactive slots repeat slot 0, so writing every slot writes the active set exactly
        written = torch.where(active, proposal, proposal[:, :1])
        base = flat_x[rows]
        cand = base.scatter(1, written, far[rows].gather(1, written))
        with torch.no_grad():
            out = model(cand.view(m, *x.shape[1:]))
        obj = margin(out, y[rows], targeted)
        accept = obj > cur_obj[rows]
        pos[rows[accept]], cur_obj[rows[accept]] = proposal[accept], obj[accept]
        ok = accept & _succeeded(out, y[rows], targeted)
        if not ok.any():
            if shrink:
                running &= ~((t - last_success >= patience) & (found < float("inf")))
            continue
        won = rows[ok]
        n_changed = (cand[ok] != base[ok]).sum(dim=1).to(found.dtype)
        better = n_changed < found[won]
        best[won[better]] = cand[ok][better].view(-1, *x.shape[1:])
        found[won[better]] = n_changed[better]
        last_success[won] = t
        if not shrink:
            running[won] = False
            continue
        # drop one active slot: move the last active slot into it, shorten the set
        sub, last = pos[won], k[won] - 1
        if prune:  # the slot whose removal leaves the best margin: try leaving out each one
            w, kk = len(won), int(last.max()) + 1
            left_out = torch.arange(kk, device=dev)
            # trial (i, j): image won[i] with its set minus slot j; slots it keeps are
            # written, the rest repeat a kept slot (any one: it is written anyway)
            in_set = slot_ids[None, None, :kk] <= last[:, None, None]
            keeps = ((slot_ids[None, :kk] != left_out[:, None])[None] & in_set).reshape(w * kk, kk)
            tpos = sub[:, :kk].repeat_interleave(kk, dim=0)
            tpos = torch.where(keeps, tpos, tpos.gather(1, keeps.float().argmax(dim=1, keepdim=True)))
            trial = flat_x[won].repeat_interleave(kk, dim=0)
            trial = trial.scatter(1, tpos, far[won].repeat_interleave(kk, dim=0).gather(1, tpos))
            score = margin(_scores(model, trial.view(-1, *x.shape[1:])), y[won].repeat_interleave(kk), targeted)
            score = score.view(w, kk).masked_fill(left_out[None, :] > last[:, None], float("-inf"))
            drop = score.argmax(dim=1)
        else:
            drop = (torch.rand(len(won), slots, generator=generator).to(dev)
                    .masked_fill(slot_ids[None, :] > last[:, None], -1.0).argmax(dim=1))
        sub.scatter_(1, drop[:, None], sub.gather(1, last[:, None]))
        pos[won], k[won], cur_obj[won] = sub, last, float("-inf")
        running[won[last == 0]] = False
        running &= ~((t - last_success >= patience) & (found < float("inf")))
    return best, found


def _check_max_pixels(max_pixels: object) -> int:
    if isinstance(max_pixels, float) and max_pixels.is_integer():
        max_pixels = int(max_pixels)
    check_nonnegative(max_pixels, "max_pixels")
    if not isinstance(max_pixels, int):
        raise TypeError(f"max_pixels must be a whole number of pixels >= 0, got {max_pixels!r}")
    return max_pixels


def l0_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    max_pixels: int,
    targeted: bool = False,
    method: str = "greedy",
    loss: str = "ce",
    candidates: int = 8,
    pixels_per_step: int = 1,
    iterations: int = 1000,
    swap_fraction: float = 0.3,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
    batch_size: int = 1000,
) -> torch.Tensor:
    """Change at most ``max_pixels`` pixels per image (each set anywhere in [0,1]; in
    practice to 0 or 1) so that the prediction leaves ``y`` (or, targeted, becomes ``y``).

    Two independent methods:

    * ``"greedy"`` (uses gradients, in the spirit of JSMA and Shamir et al.): the
      gradient of ``loss`` (``"ce"``: cross-entropy of ``y``; ``"margin"``) says, to first
      order, how much setting each unused pixel to 0 or to 1 would help; the
      ``candidates`` most promising pixels are tried exactly and the best
      ``pixels_per_step`` of them are set (``candidates=1``: the linearisation alone
      decides); then the gradient is recomputed. Stops per image at its first success.
    * ``"random_search"`` (gradient-free, Sparse-RS style): keep a set of ``max_pixels``
      positions, each pushed to its far extreme (0 or 1); for up to ``iterations``
      iterations propose swapping a fraction of the set (``swap_fraction`` at first,
      halving over time) for random other positions, and keep a proposal when it raises
      the margin. Only the model's outputs are used; randomness comes from
      ``generator`` or ``seed``. Stops per image at its first success.

    Images where the attack fails are returned unchanged; every returned image is checked
    to differ from ``x`` in at most ``max_pixels`` pixels. Notebook 03.
    """
    x, y = _check_inputs(model, x, y)
    max_pixels = _check_max_pixels(max_pixels)
    check_choice(method, "method", L0_METHODS)
    check_choice(loss, "loss", LOSSES)
    check_int(candidates, "candidates")
    check_int(pixels_per_step, "pixels_per_step")
    check_int(iterations, "iterations", 0)
    check_int(batch_size, "batch_size")
    if isinstance(swap_fraction, bool) or not isinstance(swap_fraction, (int, float)) or not 0 < swap_fraction <= 1:
        raise ValueError(f"swap_fraction must be a number in (0, 1], got {swap_fraction!r}")
    if max_pixels == 0 or len(x) == 0:
        return x.clone()
    gen = _generator(seed, generator)
    out = torch.empty_like(x)
    for part in _chunks(len(x), batch_size):
        if method == "greedy":
            adv, _ = _greedy_l0(model, x[part], y[part], max_pixels, targeted, loss, pixels_per_step, candidates)
        else:
            adv, _ = _random_search_l0(model, x[part], y[part], max_pixels, targeted, iterations, False, gen,
                                       swap_fraction)
        out[part] = adv
    return _verify(x, out, l0=max_pixels)


def min_pixels(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    targeted: bool = False,
    methods: tuple[str, ...] | list[str] = L0_METHODS,
    max_pixels: int = 20,
    return_images: bool = False,
    loss: str = "ce",
    candidates: int = 8,
    iterations: int = 1000,
    patience: int = 100,
    prune: bool = True,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
    batch_size: int = 1000,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Per image, the fewest changed pixels (at most ``max_pixels``) found to fool the model.

    Returns a float tensor ``[B]``: the minimum over ``methods`` of the pixels each
    needed, ``inf`` where none succeeded within ``max_pixels`` (0 where the image is
    already misclassified, or already the target). ``"greedy"`` (see ``l0_attack``)
    counts the pixels at which it first succeeded. ``"random_search"`` searches with
    ``max_pixels`` pixels and, each time it succeeds, records the result, drops one pixel
    (with ``prune``, the one whose removal hurts the margin least, found by trying each;
    else a random one) and searches on with one pixel fewer, for ``iterations``
    iterations in all, giving up on an image after ``patience`` iterations without a
    new success. With ``return_images=True`` returns ``(pixels, x_adv)``: ``x_adv``
    holds the adversarial image behind each count (``x`` itself where none was found).
    Notebook 03.
    """
    x, y = _check_inputs(model, x, y)
    max_pixels = _check_max_pixels(max_pixels)
    if isinstance(methods, str):
        methods = (methods,)
    if len(methods) == 0:
        raise ValueError("methods must name at least one of " + ", ".join(map(repr, L0_METHODS)))
    for method in methods:
        check_choice(method, "methods", L0_METHODS)
    check_choice(loss, "loss", LOSSES)
    check_int(candidates, "candidates")
    check_int(iterations, "iterations", 0)
    check_int(patience, "patience")
    check_int(batch_size, "batch_size")
    gen = _generator(seed, generator)
    pixels = torch.full((len(x),), float("inf"), device=x.device)
    x_adv = x.clone()
    if len(x):
        already = torch.cat([_succeeded(_scores(model, x[p]), y[p], targeted) for p in _chunks(len(x), batch_size)])
        pixels[already] = 0
    if max_pixels > 0:
        for method in dict.fromkeys(methods):
            for part in _chunks(len(x), batch_size):
                if method == "greedy":
                    adv, found = _greedy_l0(model, x[part], y[part], max_pixels, targeted, loss, 1, candidates)
                else:
                    adv, found = _random_search_l0(model, x[part], y[part], max_pixels, targeted, iterations,
                                                   True, gen, patience=patience, prune=prune)
                better = found < pixels[part]
                idx = torch.arange(part.start, part.stop, device=x.device)[better]
                pixels[idx] = found[better]
                x_adv[idx] = adv[better]
    limit = torch.where(torch.isinf(pixels), torch.zeros_like(pixels), pixels).long()
    _verify(x, x_adv, l0=limit)
    return (pixels, x_adv) if return_images else pixels
