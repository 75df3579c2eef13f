"""L0 attacks: change a few pixels, each to anything in [0,1]. Notebook 03.

``l0_attack`` changes at most ``max_pixels`` pixels per image, by a greedy search guided
by the gradient (``"greedy"``) or a gradient-free random search over pixel sets
(``"random_search"``, Sparse-RS style); ``min_pixels`` asks both for the fewest pixels
each image needs. ``helpers.robustness.pixels_needed`` (notebooks 08-11) builds on
``min_pixels``. The conventions of every attack are in ``helpers.attacks.common``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..checks import check_choice, check_int, check_nonnegative
from .common import (
    LOSSES,
    _check_inputs,
    _chunks,
    _generator,
    _input_gradient,
    _scores,
    _succeeded,
    _verify,
    margin,
)

L0_METHODS = ("greedy", "random_search")
"""The two L0 methods: gradient-guided greedy pixel setting and gradient-free random search."""

__all__ = ["L0_METHODS", "l0_attack", "min_pixels"]


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


def _prune(model: nn.Module, x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Undo the changed pixels a success does not need, one at a time.

    Each round tries, for every image, putting each of its changed pixels back to its
    original value (one forward pass per pixel, all images batched), and puts back the one
    that leaves the largest margin among those that keep the attack successful; an image
    stops when no single pixel can be put back. Images that are not adversarial are left
    as they are. Returns the pruned images (never more changed pixels than before).
    """
    shape = x.shape[1:]
    base = x.flatten(1)
    out = adv.flatten(1).clone()
    active = _succeeded(_scores(model, adv), y, targeted).nonzero().squeeze(1)
    while len(active):
        diff = out[active] != base[active]
        rows, cols = diff.nonzero(as_tuple=True)
        if len(rows) == 0:
            break
        trial = out[active][rows]
        trial[torch.arange(len(rows), device=x.device), cols] = base[active][rows, cols]
        scores = _scores(model, trial.view(-1, *shape))
        ok = _succeeded(scores, y[active][rows], targeted)
        gain = torch.full(diff.shape, float("-inf"), device=x.device)
        gain[rows, cols] = margin(scores, y[active][rows], targeted).masked_fill(~ok, float("-inf"))
        best, col = gain.max(dim=1)
        keep = torch.isfinite(best)
        if not keep.any():
            break
        active, col = active[keep], col[keep]
        out[active, col] = base[active, col]
    return out.view_as(adv)


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
    return _verify(x, out, norm="l0", budget=max_pixels)


def min_pixels(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    targeted: bool = False,
    methods: tuple[str, ...] | list[str] = L0_METHODS,
    max_pixels: int = 20,
    return_images: bool = False,
    loss: str = "margin",
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
    new success. With ``prune`` (default), every success of either method is then pruned:
    changed pixels are put back to their original values one at a time, the one that
    leaves the largest margin first, as long as the image stays adversarial, so a count
    never includes a pixel the success does not need. ``loss="margin"`` (default) guides
    the greedy search by the margin's gradient: the cross-entropy's gradient vanishes in
    float32 on a digit the model is sure of. With ``return_images=True`` returns
    ``(pixels, x_adv)``: ``x_adv`` holds the adversarial image behind each count (``x``
    itself where none was found). Notebook 03.
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
    found = torch.isfinite(pixels) & (pixels > 0)
    if prune and found.any():
        idx = found.nonzero().squeeze(1)
        for part in _chunks(len(idx), batch_size):
            rows = idx[part]
            x_adv[rows] = _prune(model, x[rows], x_adv[rows], y[rows], targeted)
            pixels[rows] = (x_adv[rows] != x[rows]).flatten(1).sum(dim=1).to(pixels.dtype)
    limit = torch.where(torch.isinf(pixels), torch.zeros_like(pixels), pixels).long()
    _verify(x, x_adv, norm="l0", budget=limit)
    return (pixels, x_adv) if return_images else pixels
