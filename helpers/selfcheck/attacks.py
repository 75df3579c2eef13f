"""Self-checks for notebook 02 (attacking the vault camera): one projected gradient step."""
from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["pgd_linf_step", "pgd_l2_step"]

_SHAPE = (1, 28, 28)


def _cases(norm: str) -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, float, float]]:
    """Hand-made steps ``(what, x_adv, x, grad, alpha, eps)`` on batches ``[B,1,28,28]``.

    Pixel (0, 0) of each image carries the hand-made case; the rest is a seeded random
    background, so that per-image norms and broadcasting are exercised too. The cases are
    chosen so that the plausible mistakes give different answers: a clean pixel near 1 (the
    clamp to [0,1]), an iterate already on the edge of the ball (projecting around ``x``,
    not around ``x_adv``), gradients of sizes other than 1 and of both signs (the sign, the
    direction uphill), a zero gradient, and a step longer than the ball is wide.
    """
    g = torch.Generator().manual_seed(2)
    cases = []
    # (clean value, offset of x_adv from x, gradient) for pixel (0, 0), one row per image
    rows = {
        "a clean pixel at 0.95, stepping up (past 1)": (0.95, 0.0, 0.7),
        "an iterate already on the edge of the ball, stepping further out": (0.5, 0.1, 3.0),
        "an iterate on the edge of the ball, stepping back in": (0.5, 0.1, -0.25),
        "a clean pixel at 0.02, stepping down (past 0)": (0.02, 0.0, -5.0),
        "a zero gradient": (0.4, -0.05, 0.0),
    }
    for eps, alpha in ((0.1, 0.03), (0.1, 0.25)) if norm == "linf" else ((1.0, 0.4), (0.5, 2.0)):
        x = torch.rand(len(rows), *_SHAPE, generator=g)
        start = (torch.rand(len(rows), *_SHAPE, generator=g) * 2 - 1) * (eps if norm == "linf" else eps / 28)
        grad = torch.randn(len(rows), *_SHAPE, generator=g) * 0.3
        for i, (clean, offset, slope) in enumerate(rows.values()):
            x[i, 0, 0, 0] = clean
            start[i, 0, 0, 0] = offset if norm == "linf" else offset * eps * 5
            grad[i, 0, 0, 0] = slope
        grad[4] = 0.0  # the last image: no gradient anywhere
        x_adv = (x + start).clamp(0, 1)
        cases.append((f"eps {eps}, alpha {alpha}", x_adv, x, grad, alpha, eps))
    return cases


def _linf_reference(x_adv: torch.Tensor, x: torch.Tensor, grad: torch.Tensor, alpha: float, eps: float) -> torch.Tensor:
    up = x_adv + alpha * grad.sign()
    return torch.minimum(torch.maximum(up, x - eps), x + eps).clamp(0, 1)


def _per_image(t: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each image of a batch, shaped to broadcast against it."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def _l2_finish(point: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Back into the L2 ball of radius ``eps`` around ``x`` (scaling the change), then into [0, 1]."""
    delta = point - x
    return (x + delta * (eps / _per_image(delta).clamp_min(1e-12)).clamp(max=1.0)).clamp(0, 1)


def _l2_reference(x_adv: torch.Tensor, x: torch.Tensor, grad: torch.Tensor, alpha: float, eps: float) -> torch.Tensor:
    return _l2_finish(x_adv + alpha * grad / _per_image(grad).clamp_min(1e-12), x, eps)


def _ask(answer: Callable[..., torch.Tensor], x_adv: torch.Tensor, x: torch.Tensor, grad: torch.Tensor,
         alpha: float, eps: float, what: str) -> torch.Tensor:
    # fresh copies, so that a function that works in place cannot change the check's tensors
    got = answer(x_adv.clone(), x.clone(), grad.clone(), alpha, eps)
    if got is None:
        raise AssertionError("your function returned None: return the next iterate x_next, a tensor shaped like x")
    if not isinstance(got, torch.Tensor) or got.shape != x.shape:
        shape = list(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise AssertionError(f"return a tensor of the shape of x, {list(x.shape)}; got {shape} ({what})")
    if torch.isnan(got).any():
        raise AssertionError(f"your step gives NaN ({what}; one image has a zero gradient). Hint: a zero "
                             "gradient must leave the image where it is: torch.sign(0) is 0 (Linf), and a "
                             "division by the gradient's norm needs a guard, .clamp_min(1e-12) (L2)")
    return got.detach().to(torch.float32)


def _diagnose(got: torch.Tensor, want: torch.Tensor, x_adv: torch.Tensor, x: torch.Tensor, grad: torch.Tensor,
              alpha: float, eps: float, norm: str, what: str) -> None:
    """Raise an AssertionError naming the first plausible mistake that ``got`` shows."""
    size = ((got - x).flatten(1).abs().amax(dim=1) if norm == "linf" else (got - x).flatten(1).norm(dim=1))
    if got.min() < -1e-6 or got.max() > 1 + 1e-6:
        raise AssertionError(f"your result leaves [0, 1] (min {got.min():.3f}, max {got.max():.3f}; {what}). "
                             "Hint: after projecting onto the ball, clamp to [0, 1]: an image has no pixel "
                             "darker than black or brighter than white")
    if (size > eps + 1e-5).any():
        raise AssertionError(f"your result is {size.max():.3f} from the clean x in {norm}, beyond eps = {eps} "
                             f"({what}). Hint: project onto the ball around the clean image x, not around "
                             "x_adv, so that all the steps together stay inside the budget")
    wrong = {"linf": {
        "you stepped down the loss, not up: the attacker raises the loss, so add alpha * sign(grad)":
            _linf_reference(x_adv, x, -grad, alpha, eps),
        "you stepped along the gradient itself; an Linf step moves every pixel by alpha, along sign(grad)":
            torch.minimum(torch.maximum(x_adv + alpha * grad, x - eps), x + eps).clamp(0, 1),
    }, "l2": {
        "you stepped down the loss, not up: the attacker raises the loss, so add alpha * grad / ||grad||":
            _l2_reference(x_adv, x, -grad, alpha, eps),
        "you stepped along sign(grad), the Linf direction; an L2 step goes along grad / ||grad||":
            _l2_finish(x_adv + alpha * grad.sign(), x, eps),
        "you did not normalise the gradient: an L2 step has length alpha, so use grad / ||grad||":
            _l2_finish(x_adv + alpha * grad, x, eps),
        "you normalised by the norm of the whole batch; take one norm per image (flatten(1).norm(dim=1))":
            _l2_finish(x_adv + alpha * grad / grad.norm().clamp_min(1e-12), x, eps),
        "you always scaled the change to length eps; scale it only when it is longer than eps":
            (x + (lambda d: d * eps / _per_image(d).clamp_min(1e-12))(
                x_adv + alpha * grad / _per_image(grad).clamp_min(1e-12) - x)).clamp(0, 1),
    }}[norm]
    for hint, wrong_answer in wrong.items():
        if torch.allclose(got, wrong_answer, atol=1e-5):
            raise AssertionError(f"not yet ({what}): {hint}")
    i = int((got - want).abs().flatten(1).amax(dim=1).argmax())
    where = tuple(int(v) for v in torch.unravel_index((got[i] - want[i]).abs().flatten().argmax(), got[i].shape))
    raise AssertionError(f"image {i}, pixel {where[-2:]} ({what}): yours gives {got[i][where]:.4f}, the step gives "
                         f"{want[i][where]:.4f} (x_adv there {x_adv[i][where]:.4f}, x {x[i][where]:.4f}, grad "
                         f"{grad[i][where]:.4f}). Hint: step up the loss by alpha, project onto the eps-ball "
                         "around x, then clamp to [0, 1]")


def _check_step(answer: Callable[..., torch.Tensor], norm: str) -> str:
    """Run ``answer`` on every hand-made case of ``norm`` and compare it with the reference step."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    reference, atol = {"linf": (_linf_reference, 1e-6), "l2": (_l2_reference, 1e-5)}[norm]
    for what, x_adv, x, grad, alpha, eps in _cases(norm):
        want = reference(x_adv, x, grad, alpha, eps)
        got = _ask(answer, x_adv, x, grad, alpha, eps, what)
        if not torch.allclose(got, want, atol=atol):
            _diagnose(got, want, x_adv, x, grad, alpha, eps, norm, what)
    return "correct"


def pgd_linf_step(answer: Callable[..., torch.Tensor]) -> str:
    """Notebook 02, exercise 1: ``answer(x_adv, x, grad, alpha, eps)`` must return one PGD-Linf
    step, ``clamp(clip(x_adv + alpha * sign(grad), x - eps, x + eps), 0, 1)``: up the loss by
    ``alpha`` along the sign of its gradient, back into the Linf ball of radius ``eps`` around
    the clean ``x``, then into [0, 1]. Checked against that computation on hand-made batches
    (pixels near 0 and 1, iterates on the edge of the ball, gradients of all sizes, a zero one)."""
    return _check_step(answer, "linf")


def pgd_l2_step(answer: Callable[..., torch.Tensor]) -> str:
    """Notebook 02, exercise 2: ``answer(x_adv, x, grad, alpha, eps)`` must return one PGD-L2
    step on a batch ``[B,1,28,28]``: up the loss by ``alpha`` along ``grad / ||grad||`` (one L2
    norm per image), then, if the change from the clean ``x`` is longer than ``eps``, scale it
    back to length ``eps``, then clamp to [0, 1] (clamping only moves pixels towards ``x``, so
    the result stays in the ball). Checked against that computation on hand-made batches."""
    return _check_step(answer, "l2")
