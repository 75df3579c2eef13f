"""The square attacks: gradient-free random search with square patches, in an L2 or an
Linf ball intersected with [0,1] (Andriushchenko et al. 2020).

Notebook 06 teaches ``square_l2`` (an attack a masked gradient cannot stop) and
notebook 07 uses it; ``helpers.robustness`` runs both, ``square_linf`` and ``square_l2``,
as the gradient-free half of every robust accuracy (notebooks 08-11). The conventions of
every attack are in ``helpers.attacks.common``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import check_int, check_nonnegative
from .common import _check_inputs, _generator, _rand, _scores, _verify, margin
from .gradient import _project_l2_box

__all__ = ["square_l2", "square_linf"]


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
    Notebook 06.

    Only the model's outputs are used, so a gradient that misleads (masked, or shattered
    by a non-differentiable layer) cannot protect the model from it. Per example it keeps a
    perturbation, starting from none, and each iteration proposes a change confined to two
    random squares of the same side (shrinking from 14 to 2 pixels over the run): the mass
    of the second square (the donor) is freed, and that mass plus whatever budget is left
    goes into the first square as a flat patch of one random sign added to what is there,
    so the proposal has L2 norm exactly ``eps`` before it is clipped to the [0,1] box (mass
    the box clips off is budget left for later). The rest of the perturbation is never
    touched, so earlier progress is kept; the change is kept when the margin loss
    improves. Examples already fooled are not touched again.
    """
    x, y = _check_inputs(model, x, y)
    eps = check_nonnegative(eps, "eps")
    iterations = check_int(iterations, "iterations", 0)
    if eps == 0 or len(x) == 0:
        return x.clone()
    gen = _generator(seed, generator)
    n, side = len(x), x.shape[-1]
    delta = torch.zeros_like(x)
    best = margin(_scores(model, x), y, targeted)
    for t in range(iterations):
        todo = (best <= 0).nonzero().squeeze(1)
        if len(todo) == 0:
            break
        size = max(2, round(14 * (1 - t / max(iterations, 1)) ** 1.5))
        inside, sign = _random_squares(len(todo), size, side, gen, x)
        donor, _ = _random_squares(len(todo), size, side, gen, x)
        donor = donor & ~inside
        d = delta[todo].masked_fill(donor, 0.0)
        patch = inside.to(x) * sign.view(-1, 1, 1, 1)
        # the patch's height a solves |d + a patch|^2 = eps^2: a^2 P + 2 a S + |d|^2 - eps^2 = 0
        p2 = float(size * size)
        s_dot = (d * patch).flatten(1).sum(dim=1)
        room = (eps**2 - d.flatten(1).pow(2).sum(dim=1)).clamp_min(0)
        a = (-s_dot + (s_dot**2 + p2 * room).sqrt()) / p2
        d = d + a.view(-1, 1, 1, 1) * patch
        d = _project_l2_box(d, x[todo], eps)  # the box (and rounding); the norm is already <= eps
        cand = margin(_scores(model, (x[todo] + d).clamp(0, 1)), y[todo], targeted)
        better = cand > best[todo]
        delta[todo[better]] = d[better]
        best[todo[better]] = cand[better]
    return _verify(x, (x + delta).clamp(0, 1), norm="l2", budget=eps)


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
    (Andriushchenko et al. 2020). Notebook 08.

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
    return _verify(x, (x + delta).clamp(0, 1), norm="linf", budget=eps)
