"""Shamir et al.'s linear-region argument, worked through on a linear model.

Shamir, Safran, Ronen and Dunkelman (2019) observe that inside one linear region a
ReLU network *is* a linear map ``z = W x + b`` from pixels to the ``m`` class logits.
Making ``target`` the top class with a margin is then a question about ``m - 1``
numbers, the logit differences ``z[target] - z[j]``, and each changed pixel adds one
unknown. With ``m - 1`` pixels the equations can (generically) be solved exactly; a
couple more give slack when the answer must also stay inside the [0,1] box.

This module makes that concrete on the simplest model with such a linear map: softmax
regression, a single ``nn.Linear(784, m)`` (``train_softmax_regression``), and an exact
solver for a change of a few pixels (``solve_few_pixels``). Notebook 03 teaches both.
Nothing is cached on disk and nothing happens on import.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .checks import check_images, check_labels, check_nonnegative
from .models import ABSENT_LOGIT

__all__ = [
    "train_softmax_regression",
    "ImageLinear",
    "DifferenceSystem",
    "difference_system",
    "FewPixels",
    "solve_few_pixels",
]

class ImageLinear(nn.Module):
    """A linear map on flattened images that pads absent classes, so it fits the course's model API.

    Maps ``[B,1,28,28]`` to ``[B,10]``: the ``m`` logits of ``linear`` followed by the
    constant ``-1e4`` for classes ``m..9`` (as the ``cnn_m*`` models do), so the
    attacks of ``helpers.attacks`` run on it unchanged. Notebook 03.
    """

    def __init__(self, linear: nn.Linear, classes_out: int = 10) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        if linear.out_features > classes_out:
            raise ValueError(f"classes_out must be >= linear.out_features ({linear.out_features}), got {classes_out}")
        self.linear = linear
        self.classes_out = classes_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.linear(x.flatten(1))
        pad = self.classes_out - logits.shape[1]
        return nn.functional.pad(logits, (0, pad), value=ABSENT_LOGIT) if pad else logits


def train_softmax_regression(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    classes: int | None = None,
    weight_decay: float = 1e-4,
    max_iter: int = 150,
    seed: int = 0,
) -> nn.Linear:
    """Softmax regression: one ``nn.Linear(784, m)`` fitted by full-batch L-BFGS.

    Minimises the mean cross-entropy of ``softmax(W x + b)`` plus ``weight_decay / 2 *
    ||W||^2`` on images ``x`` (``[B,1,28,28]`` in [0,1], flattened) with labels ``y`` in
    ``0..classes-1`` (default: ``y.max() + 1``). Seconds on a CPU for the 60,000
    bundled training digits; the result is returned in eval mode and never written to
    disk. Notebook 03.
    """
    x = check_images(x, "x")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    check_nonnegative(weight_decay, "weight_decay")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long:
        raise TypeError("y must be a torch.long tensor of class indices")
    if len(y) == 0:
        raise ValueError("y must hold at least one label")
    m = int(y.max()) + 1 if classes is None else classes
    if isinstance(m, bool) or not isinstance(m, int) or m < 2:
        raise ValueError(f"classes must be an integer >= 2, got {classes!r}")
    check_labels(y, len(x), "y", num_classes=m)
    torch.manual_seed(seed)
    model = nn.Linear(x[0].numel(), m)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    flat = x.flatten(1)
    optimiser = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model(flat), y) + 0.5 * weight_decay * model.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    return model.eval()


class DifferenceSystem(NamedTuple):
    """The linear equations of the argument for one image and one target.

    ``others`` are the ``m - 1`` classes other than the target. Row ``k`` of ``A``
    (``[m-1, n]``) is ``W[target] - W[others[k]]``: how much one unit of each pixel
    moves the logit difference ``z[target] - z[others[k]]``. ``current`` holds those
    differences now and ``required`` how much each must rise to reach ``margin``
    (zero where it already does). A change ``delta`` of the pixels does the job
    exactly when ``A @ delta == required``.
    """

    A: torch.Tensor
    current: torch.Tensor
    required: torch.Tensor
    others: torch.Tensor


def _check_linear(W: object, b: object) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(W, torch.Tensor) or not W.is_floating_point() or W.dim() != 2:
        raise TypeError("W must be a 2-D floating-point tensor [m, n] (one row of weights per class)")
    m, n = W.shape
    if m < 2 or n < 1:
        raise ValueError(f"W must have at least 2 rows (classes) and 1 column (pixel), got shape {list(W.shape)}")
    if not isinstance(b, torch.Tensor) or not b.is_floating_point() or tuple(b.shape) != (m,):
        raise ValueError(f"b must be a floating-point tensor of shape [{m}] (one bias per row of W)")
    if not (torch.isfinite(W).all() and torch.isfinite(b).all()):
        raise ValueError("W and b must be finite")
    return W.detach(), b.detach()


def _check_image(x: object, n: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point tensor holding one image")
    if x.numel() != n:
        raise ValueError(f"x must hold exactly one image of {n} pixels (the columns of W), got shape {list(x.shape)}")
    if torch.isnan(x).any() or x.min() < 0 or x.max() > 1:
        raise ValueError(f"x must have values in [0, 1], got min {x.min().item():.4g} and max {x.max().item():.4g}")
    return x


def _check_target(target: object, m: int) -> int:
    if isinstance(target, torch.Tensor) and target.numel() == 1 and not target.is_floating_point():
        target = int(target)
    if isinstance(target, bool) or not isinstance(target, int):
        raise TypeError(f"target must be an integer class index in 0..{m - 1}, got {type(target).__name__}")
    if not 0 <= target < m:
        raise ValueError(f"target must be a class index in 0..{m - 1} (the rows of W), got {target}")
    return target


def difference_system(
    W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, target: int, *, margin: float = 1.0
) -> DifferenceSystem:
    """The ``m - 1`` equations ``A @ delta == required`` for the linear model ``z = W x + b``.

    ``x`` is one image (any shape holding ``n`` pixels, values in [0,1]); ``target`` a
    row of ``W``; ``margin`` how far the target must lead every other class afterwards.
    Computed in float64. Notebook 03 prints these numbers for a real digit.
    """
    W, b = _check_linear(W, b)
    x = _check_image(x, W.shape[1])
    target = _check_target(target, W.shape[0])
    margin = check_nonnegative(margin, "margin")
    W64, b64, x64 = W.double(), b.double(), x.detach().double().flatten()
    z = W64 @ x64 + b64
    others = torch.tensor([j for j in range(W.shape[0]) if j != target], dtype=torch.long)
    A = W64[target] - W64[others]
    current = z[target] - z[others]
    required = (margin - current).clamp(min=0)
    return DifferenceSystem(A, current, required, others)


class FewPixels(NamedTuple):
    """What ``solve_few_pixels`` returns.

    ``image``: the changed image (same shape and dtype as the input); ``pixels``: the
    flat indices (row * 28 + column for a digit) of the pixels it changed, sorted;
    ``reached``: whether the target now leads every other class by the margin, checked
    by recomputing ``W @ image + b``.
    """

    image: torch.Tensor
    pixels: torch.Tensor
    reached: bool


def _check_pixels(pixels: object, n: int) -> int | torch.Tensor | None:
    if pixels is None:
        return None
    if isinstance(pixels, torch.Tensor):
        if pixels.dtype != torch.long or pixels.dim() != 1 or len(pixels) == 0:
            raise TypeError("pixels must be None, an integer count, or a non-empty 1-D torch.long tensor of pixel indices")
        if pixels.min() < 0 or pixels.max() >= n:
            raise ValueError(f"pixels must index pixels 0..{n - 1}")
        if len(pixels.unique()) != len(pixels):
            raise ValueError("pixels must not repeat an index")
        return pixels
    if isinstance(pixels, bool) or not isinstance(pixels, int):
        raise TypeError(f"pixels must be None, an integer count or a 1-D long tensor, got {type(pixels).__name__}")
    if not 1 <= pixels <= n:
        raise ValueError(f"pixels must be a count from 1 to {n}, got {pixels}")
    return pixels


def _ranking(A: torch.Tensor, need: torch.Tensor, x: torch.Tensor, box: bool, taken: torch.Tensor) -> torch.Tensor:
    """Pixels not yet ``taken``, best first: how far each, pushed to the edge of the box, moves
    the differences along the direction ``need`` still asks for.

    ``u = A.T @ need / |need|`` is each pixel's effect per unit along that direction; a
    pixel can move up by ``1 - x`` or down by ``x``, whichever ``u`` favours (with
    ``box=False``, one unit either way). Ties are broken by index.
    """
    size = need.norm()
    u = A.T @ (need / size) if size > 0 else A.abs().sum(dim=0)
    room = torch.where(u > 0, 1 - x, x) if box else torch.ones_like(x)
    score = (u.abs() * room).masked_fill(taken, -1.0)
    return torch.argsort(-score, stable=True)[: int((~taken).sum())]


def solve_few_pixels(
    W: torch.Tensor,
    b: torch.Tensor,
    x: torch.Tensor,
    target: int,
    pixels: int | torch.Tensor | None = None,
    *,
    margin: float = 1.0,
    max_pixels: int | None = None,
    box: bool = True,
) -> FewPixels:
    """Change a few pixels of ``x`` so that the linear model ``z = W x + b`` puts ``target``
    on top, leading every other class by at least ``margin``, by solving linear equations exactly.

    The equations are those of ``difference_system``: the difference ``z[target] - z[j]``
    must rise by ``required[j]`` for every other class ``j`` whose difference is below
    ``margin``. A change ``d`` confined to a set ``S`` of pixels does this when ``A[J, S]
    @ d_S == required[J]`` for the set ``J`` of those classes: ``|J| <= m - 1`` equations
    in ``|S|`` unknowns, solved for the minimum-norm ``d_S`` with ``torch.linalg.lstsq``.
    Classes outside ``J`` are checked afterwards and join ``J`` if the change pulled them
    within ``margin``.

    Pixels are ranked by how far, pushed to the edge of the [0,1] box, they move the
    differences along the direction still needed. With ``box=True`` (pixel values stay in
    [0,1]) the solver alternates two steps:

    * *finish*: solve the equations exactly on the ``k`` best-ranked pixels (``k = m + 1``
      by default: ``m - 1`` equations plus two pixels of slack); while the solution pushes
      a pixel outside [0,1], the pixel furthest outside is fixed at its bound and the rest
      re-solved. If this lands inside the box, done: the differences in ``J`` now equal
      ``margin`` exactly.
    * *push*: otherwise the remaining rise is too large for ``k`` pixels that can move by
      at most 1 each; the best-ranked pixel is set to 0 or 1 (whichever helps; only as far
      as needed if this alone finishes the job), and the solver tries to finish again.

    With ``box=False`` (the unbounded version of the argument: values may leave [0,1]) the
    equations are solved on the ``k`` best-ranked pixels directly; ``m - 1`` pixels in
    general position always suffice. ``pixels`` sets ``k`` (default ``m + 1``), or, as a 1-D
    long tensor of pixel indices, the exact set of pixels to use (no others, no pushing).
    ``max_pixels`` caps the pixels changed in all (default: no cap).

    Returns ``FewPixels(image, pixels, reached)``; where the pixels allowed cannot do it,
    ``reached`` is False and ``image`` is the last attempt (inside the box if ``box``).
    Notebook 03.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tensors here are tiny: extra threads only add waiting
    try:
        return _solve(W, b, x, target, pixels, margin, max_pixels, box)
    finally:
        torch.set_num_threads(threads)


def _exact(A: torch.Tensor, need: torch.Tensor, x: torch.Tensor, candidates: list[int], box: bool,
           start: int, strict: bool = False) -> tuple[torch.Tensor, bool]:
    """Solve ``A[J, S] @ d == need[J]`` exactly on a set ``S`` drawn from ``candidates`` (in order).

    ``J`` starts as the rows with ``need > 0``; a row the change pulls below its ``need``
    joins it. ``S`` starts with the first ``start`` candidates; when the equations have no
    exact solution the next candidate joins. With ``box``, while the minimum-norm solution
    pushes a pixel outside [0,1] the pixel furthest outside is fixed at its bound, the next
    candidate joins, and the rest is re-solved. Returns the change ``d`` (zero off the
    pixels used) and whether every row now has ``A @ d >= need`` (with ``strict``, also
    that the last solve was exact, so the rows of ``J`` have ``A @ d == need``).
    """
    n = A.shape[1]
    lo, hi = -x, 1 - x
    delta = torch.zeros(n, dtype=torch.float64)
    active = need > 0
    if not active.any():
        return delta, True
    free, fixed = list(candidates[:start]), []
    waiting = list(candidates[start:])
    solved = True
    # each pass adds a pixel, fixes one at a bound, or adds an equation, so this ends
    while True:
        rows = active.nonzero().squeeze(1)
        rhs = need[rows] - (A[rows][:, fixed] @ delta[fixed] if fixed else 0)
        if free:
            cols = A[rows][:, free]
            solution = torch.linalg.lstsq(cols, rhs[:, None], driver="gelsd").solution[:, 0]
            missing = rhs - cols @ solution
            delta[free] = solution
        else:
            missing = rhs
        if float(missing.abs().max()) > 1e-9 * (1 + float(rhs.abs().max())):
            if not waiting:
                solved = False
                break
            free.append(waiting.pop(0))  # no exact solution on these pixels: one more unknown
            continue
        if box and free:
            free_t = torch.tensor(free, dtype=torch.long)
            over = torch.maximum(lo[free_t] - delta[free_t], delta[free_t] - hi[free_t])
            worst = int(over.argmax())
            if over[worst] > 1e-12:
                # the pixel furthest outside the box goes to its bound and stays there
                pixel = free.pop(worst)
                delta[pixel] = delta[pixel].clamp(lo[pixel], hi[pixel])
                fixed.append(pixel)
                if waiting:
                    free.append(waiting.pop(0))
                continue
        pulled = (~active) & (A @ delta < need - 1e-9 * (1 + need.abs()))
        if not pulled.any():
            break
        active |= pulled
    if box:
        delta = torch.maximum(torch.minimum(delta, hi), lo)
    ok = bool((A @ delta >= need - 1e-9 * (1 + need.abs())).all()) and (solved or not strict)
    return delta, ok


def _solve(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, target: int, pixels: int | torch.Tensor | None,
           margin: float, max_pixels: int | None, box: bool) -> FewPixels:
    """The body of ``solve_few_pixels`` (see there)."""
    system = difference_system(W, b, x, target, margin=margin)
    n = W.shape[1]
    pixels = _check_pixels(pixels, n)
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int)
                                   or not 1 <= max_pixels):
        raise ValueError(f"max_pixels must be None or an integer >= 1, got {max_pixels!r}")
    if not isinstance(box, bool):
        raise TypeError(f"box must be True or False, got {type(box).__name__}")
    A = system.A
    need = margin - system.current  # how much each difference must rise (< 0: room to spare)
    x64 = x.detach().double().flatten()
    limit = n if max_pixels is None else min(max_pixels, n)
    start = A.shape[0] + 2 if pixels is None or isinstance(pixels, torch.Tensor) else pixels

    if isinstance(pixels, torch.Tensor):  # exactly these pixels
        delta, _ = _exact(A, need, x64, pixels.tolist(), box, len(pixels))
    elif not box:  # unbounded: the best-ranked pixels, more only if the equations need them
        active = need > 0
        order = _ranking(A[active], need[active], x64, box, torch.zeros(n, dtype=torch.bool))[:limit].tolist()
        delta, _ = _exact(A, need, x64, order, box, min(start, limit))
    else:
        # push the strongest pixels to 0 or 1 until `start` pixels can finish the rest exactly
        pushed = torch.zeros(n, dtype=torch.float64)
        taken = torch.zeros(n, dtype=torch.bool)
        while True:
            remaining = need - A @ pushed
            active = remaining > 0
            if not active.any():
                delta = pushed
                break
            order = _ranking(A[active], remaining[active], x64, box, taken)
            size = min(start, limit - int(taken.sum()), len(order))
            finish, ok = _exact(A, remaining, x64, order[:size].tolist(), box, size, strict=True)
            if ok or int(taken.sum()) >= limit or len(order) == 0:
                delta = pushed + finish
                break
            top = int(order[0])
            u = float(A[active][:, top] @ remaining[active])
            push = float((1 - x64[top]) if u > 0 else -x64[top])
            effect = A[:, top] * push
            taken[top] = True
            if bool((effect >= remaining).all()):
                # this push alone finishes the job: push only as far as the tightest difference needs,
                # so that it lands exactly on the margin
                rows = remaining > 0
                push *= float((remaining[rows] / effect[rows]).max())
            pushed[top] = push
        delta = torch.maximum(torch.minimum(delta, 1 - x64), -x64)

    new = x64 + delta
    if box:
        new = new.clamp(0, 1)
    image = new.to(x.dtype).reshape(x.shape)
    changed = torch.nonzero(image.flatten() != x.detach().flatten()).squeeze(1)
    W64, b64 = W.detach().double(), b.detach().double()
    z = W64 @ image.detach().double().flatten() + b64
    lead = z[target] - z[system.others]
    # "reached" up to the rounding of the image's dtype (float32: about 3e-4 of the margin)
    tolerance = torch.finfo(x.dtype).eps ** 0.5 * (1 + margin)
    reached = bool((lead >= margin - tolerance).all())
    return FewPixels(image, changed, reached)
