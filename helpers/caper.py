"""The caper of the essay, as two attacks that can be replayed against any model.

The vault camera is a digit classifier. The **thief** is a 3 and the **CEO** an 8:

* the thief's makeup smudges are a *targeted* attack on her own picture: a small
  PGD perturbation that makes a 3 read as an 8 (:func:`impersonate`);
* the marks on the CEO's glasses are *one* perturbation, confined to a band across
  the image (:func:`glasses_mask`), found on pictures of the CEO from the
  training split, that makes his *other* pictures read as the thief
  (:func:`glasses_for`, :func:`glasses_success`; the attack itself is :func:`glasses`,
  worn with :func:`apply_glasses`).

Taught in notebook 02 (attacking the vault camera); notebook 11 replays the caper
against every model with :func:`replay`. Every success reported here comes from
re-predicting the returned images with the model, after checking that they are in
[0, 1] and inside their budget (``helpers.attacks.recheck``). Nothing happens on import.
"""
from __future__ import annotations

import torch
from torch import nn

from .attacks import NORMS, pgd, recheck
from .attacks.common import LOSSES, _check_inputs, _generator, _objective
from .checks import check_choice, check_images, check_int, check_nonnegative

THIEF: int = 3
"""The digit class that plays the thief (notebook 02)."""

CEO: int = 8
"""The digit class that plays the CEO (notebook 02)."""

IMAGE_SHAPE = (1, 28, 28)
_TOL = 1e-5

__all__ = [
    "settings",
    "THIEF",
    "CEO",
    "cast",
    "reads_as",
    "impersonate",
    "glasses_mask",
    "apply_glasses",
    "glasses",
    "glasses_for",
    "glasses_success",
    "replay",
]


def _check_model(model: object) -> nn.Module:
    if not callable(model):
        raise TypeError(f"model must be a callable nn.Module, got {type(model).__name__}")
    return model


def _check_class(value: object, name: str, num_classes: int = 10) -> int:
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a class index (an int), got {type(value).__name__}")
    if not 0 <= value < num_classes:
        raise ValueError(f"{name} must be a class index in 0..{num_classes - 1}, got {value}")
    return value


def _check_nonempty(x: object, name: str) -> torch.Tensor:
    x = check_images(x, name, IMAGE_SHAPE)
    if len(x) == 0:
        raise ValueError(f"{name} must hold at least one image")
    return x


def _predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    with torch.no_grad():
        scores = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    if scores.dim() != 2 or scores.shape[0] != len(x):
        raise ValueError(f"model must map [B,1,28,28] to scores [B, classes]; got output of shape {list(scores.shape)}")
    return scores


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
    add_only: bool = False,
) -> torch.Tensor:
    """One perturbation ``delta`` (``[1,1,28,28]``), zero outside ``mask``, that makes
    *all* images in ``x`` read as ``target`` once worn: ``apply_glasses(x, delta)``.

    The default mask is ``glasses_mask()``, a band of rows 8-12. Inside it the glasses
    are an object put on, so by default nothing bounds them: ``delta`` ranges over
    [-1, 1], which lets a pixel of the band become anything in [0,1] (the same value
    on every image where ``delta`` is +-1). ``eps`` bounds ``delta`` in Linf instead.
    ``add_only=True`` keeps ``delta`` in [0, bound]: marks that only brighten (ink is white
    in MNIST), the control of notebook 02 for glasses that work by erasing strokes.
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
    if not isinstance(add_only, bool):
        raise TypeError(f"add_only must be True or False, got {add_only!r}")
    low = 0.0 if add_only else -bound
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
        delta = ((delta + size * grad.sign()) * maskf).clamp(low, bound)
    delta = delta.detach()
    if delta.abs().amax() > bound or delta.amin() < low or (delta * ~mask).abs().amax() > 0:
        raise RuntimeError("glasses left their mask or their bound")
    return delta


# ----------------------------------------------------------------------------
# the caper's two halves (notebooks 02 and 11)
# ----------------------------------------------------------------------------


def cast(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The caper's two characters in a labelled split: ``(x[y == THIEF], x[y == CEO])``. Notebook 02."""
    x = check_images(x, "x", IMAGE_SHAPE)
    if not isinstance(y, torch.Tensor) or y.shape != (len(x),):
        raise ValueError(f"y must be a tensor of {len(x)} labels, one per image")
    return x[y == THIEF], x[y == CEO]


def reads_as(model: nn.Module, images: torch.Tensor, cls: int) -> torch.Tensor:
    """Re-predict ``images``: a bool tensor, True where the model's top class is ``cls``. Notebook 02."""
    model = _check_model(model)
    images = check_images(images, "images", IMAGE_SHAPE)
    if len(images) == 0:
        return torch.zeros(0, dtype=torch.bool)
    scores = _predict(model, images)
    cls = _check_class(cls, "cls", scores.shape[1])
    return scores.argmax(dim=1) == cls


def impersonate(
    model: nn.Module,
    thief_images: torch.Tensor,
    *,
    target: int = CEO,
    eps: float = 2.5,
    norm: str = "l2",
    steps: int = 20,
    restarts: int = 3,
    **pgd_kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The thief's smudges: a targeted PGD attack that makes each thief image read as ``target``.

    Runs ``helpers.attacks.pgd(model, thief_images, target, eps, norm=norm, steps=steps,
    restarts=restarts, targeted=True, **pgd_kwargs)`` (the defaults: an L2 budget of 2.5,
    20 steps, 3 restarts), then checks the result independently: every smudged image must be
    in [0, 1] and within ``eps`` of its original in ``norm`` (``RuntimeError`` otherwise),
    and it is re-predicted. Returns ``(smudged, success)``: the smudged images and a bool
    tensor, True where the model now reads the image as ``target``. Notebooks 02 and 11.
    """
    model = _check_model(model)
    x = _check_nonempty(thief_images, "thief_images")
    eps = check_nonnegative(eps, "eps")
    check_choice(norm, "norm", NORMS)
    for reserved in ("targeted", "norm", "eps"):
        if reserved in pgd_kwargs:
            raise TypeError(f"impersonate sets {reserved!r} itself; do not pass it in pgd_kwargs")
    num_classes = _predict(model, x[:1]).shape[1]
    target = _check_class(target, "target", num_classes)
    goal = torch.full((len(x),), target, dtype=torch.long, device=x.device)
    smudged = pgd(model, x, goal, eps, norm=norm, steps=steps, restarts=restarts, targeted=True, **pgd_kwargs)
    # the independent check: range, budget, then re-predict (True where it is not yet the target)
    missed = recheck(model, x, smudged, goal, norm=norm, budget=eps, targeted=True, tolerance=_TOL,
                     name="impersonate: the attack")
    return smudged, ~missed


def glasses_for(
    model: nn.Module,
    ceo_images: torch.Tensor,
    *,
    target: int = THIEF,
    mask: torch.Tensor | None = None,
    steps: int = 100,
    batch_size: int = 200,
    loss: str = "margin",
    seed: int | None = 0,
    **kwargs,
) -> torch.Tensor:
    """The marks on the CEO's glasses: one perturbation ``delta`` ``[1,1,28,28]``, zero outside
    ``mask`` (default ``glasses_mask()``, rows 8-12), that makes the CEO images read as ``target``.

    Optimise it on the CEO's *training* images and measure it on held-out ones with
    :func:`glasses_success`. A thin wrapper of :func:`glasses` with defaults chosen
    in notebook 02 (100 steps on random minibatches of 200 images, the capped margin loss);
    ``kwargs`` go to it (``eps`` bounds the marks in Linf, ``step_size``, ``generator``,
    ``add_only``).
    Checks that the result is zero outside the mask. Notebooks 02 and 11.
    """
    model = _check_model(model)
    x = _check_nonempty(ceo_images, "ceo_images")
    num_classes = _predict(model, x[:1]).shape[1]
    target = _check_class(target, "target", num_classes)
    mask = glasses_mask() if mask is None else mask
    delta = glasses(model, x, target, mask=mask, steps=steps, batch_size=batch_size, loss=loss, seed=seed, **kwargs)
    outside = delta.reshape(1, *IMAGE_SHAPE) * (~mask.reshape(1, *IMAGE_SHAPE).to(delta.device))
    if outside.abs().amax() > 0:
        raise RuntimeError("glasses_for: the glasses changed pixels outside their mask")
    return delta


def glasses_success(
    model: nn.Module,
    delta: torch.Tensor,
    ceo_images: torch.Tensor,
    *,
    target: int = THIEF,
    mask: torch.Tensor | None = None,
) -> float:
    """The fraction of ``ceo_images`` that read as ``target`` once they wear the glasses ``delta``.

    ``delta`` must be zero outside ``mask`` (default ``glasses_mask()``; ``ValueError``
    otherwise). The images are put on with :func:`apply_glasses` (so they stay
    in [0, 1]) and re-predicted. Measure it on images the glasses were not optimised on.
    Notebooks 02 and 11.
    """
    model = _check_model(model)
    x = _check_nonempty(ceo_images, "ceo_images")
    if not isinstance(delta, torch.Tensor) or not delta.is_floating_point():
        raise TypeError("delta must be a floating-point tensor of shape [1,1,28,28]")
    if tuple(delta.shape) not in ((1, *IMAGE_SHAPE), IMAGE_SHAPE):
        raise ValueError(f"delta must have shape [1,1,28,28], got {list(delta.shape)}")
    if not torch.isfinite(delta).all() or delta.abs().amax() > 1:
        raise ValueError("delta must have finite values in [-1, 1]")
    mask = glasses_mask() if mask is None else mask
    if not isinstance(mask, torch.Tensor) or mask.numel() != 28 * 28:
        raise ValueError("mask must be a bool tensor of shape [1,1,28,28]")
    mask = mask.reshape(1, *IMAGE_SHAPE).to(device=delta.device, dtype=torch.bool)
    delta = delta.reshape(1, *IMAGE_SHAPE)
    if (delta * ~mask).abs().amax() > 0:
        raise ValueError("delta must be zero outside the mask (the glasses may only mark the band they cover)")
    worn = apply_glasses(x, delta, mask)
    return float(reads_as(model, worn, target).float().mean())


def settings(pictures: int, train_pictures: int) -> str:
    """The caper as ``replay`` runs it at its defaults, in words read from the code's own
    defaults (``impersonate``, ``glasses_for``, ``glasses_mask``). Notebook 11's board header."""
    import inspect

    smudge = inspect.signature(impersonate).parameters
    found = inspect.signature(glasses_for).parameters
    band = inspect.signature(glasses_mask).parameters["rows"].default
    return (f"Caper: the thief's smudges (targeted PGD-{smudge['norm'].default.upper()}, budget "
            f"{smudge['eps'].default}, {smudge['steps'].default} steps, {smudge['restarts'].default} runs) on "
            f"{pictures} test images of the digit {THIEF}, success = read as {CEO}; the CEO's glasses (a universal "
            f"change confined to rows {band[0]}-{band[1] - 1}, {found['steps'].default} steps on {train_pictures} "
            f"training images of the digit {CEO}) on {pictures} test images, success = read as {THIEF}.")


def replay(
    model: nn.Module,
    thief_test: torch.Tensor,
    ceo_train: torch.Tensor,
    ceo_test: torch.Tensor,
    *,
    smudge_eps: float = 2.5,
    smudge_norm: str = "l2",
    smudge_kwargs: dict | None = None,
    glasses_kwargs: dict | None = None,
) -> dict[str, float]:
    """Both halves of the caper against one model, with their success rates.

    ``smudges``: the fraction of ``thief_test`` that :func:`impersonate` (budget
    ``smudge_eps`` in ``smudge_norm``) makes read as the CEO. ``glasses``: the fraction of
    ``ceo_test`` that reads as the thief wearing glasses found by :func:`glasses_for` on
    ``ceo_train``. Also reports ``thief_clean`` and ``ceo_clean``, the fractions the model
    reads correctly before any attack. Notebooks 02 and 11.
    """
    _, ok = impersonate(model, thief_test, eps=smudge_eps, norm=smudge_norm, **(smudge_kwargs or {}))
    gkw = dict(glasses_kwargs or {})
    mask = gkw.get("mask")
    delta = glasses_for(model, ceo_train, **gkw)
    return {
        "thief_clean": float(reads_as(model, thief_test, THIEF).float().mean()),
        "ceo_clean": float(reads_as(model, ceo_test, CEO).float().mean()),
        "smudges": float(ok.float().mean()),
        "glasses": glasses_success(model, delta, ceo_test, mask=mask),
    }
