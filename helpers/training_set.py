"""How a model rates the training-set edits of notebook 07: its certainty along a zoom, the
certainty cliffs, its ratings of fraction-labelled mosaics, and a linear probe that asks
whether the resampling itself can be read. The edits themselves (``zoom``, ``mosaic``,
``soft_labels``, ...) are in ``helpers.data``. Taught in notebook 07. Nothing happens on import.
"""
from __future__ import annotations

import torch

from .checks import check_images, check_labels
from .data import _check_factor, _check_grid, _check_int, mosaic, zoom

__all__ = ["zoom_curves", "zoom_step_l2", "zoom_cliffs", "mosaic_ratings", "linear_probe_accuracy"]


def _factor_list(factors: object) -> list[float]:
    if isinstance(factors, torch.Tensor):
        factors = factors.flatten().tolist()
    return [_check_factor(f, "factors") for f in factors]


def zoom_curves(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, factors: object) -> torch.Tensor:
    """The probability ``model`` gives the true class of each digit at each zoom factor.

    ``x`` ``[N,1,28,28]`` and ``y`` ``[N]``; ``factors`` a sequence or 1-D tensor of zoom
    factors (:func:`zoom`). Returns a float tensor ``[N, len(factors)]``: the softmax of
    ``model``'s logits at the true class, computed without gradients. Taught in notebook 07.
    """
    check_images(x)
    check_labels(y, len(x))
    values = _factor_list(factors)
    rows = torch.arange(len(x), device=x.device)
    with torch.no_grad():
        return torch.stack([torch.softmax(model(zoom(x, f)), 1)[rows, y].float().cpu() for f in values], 1)


def zoom_step_l2(x: torch.Tensor, factors: object) -> torch.Tensor:
    """How far each step between neighbouring zoom factors moves each image, in L2.

    Returns ``[N, len(factors) - 1]``: ``||zoom(x, f[i+1]) - zoom(x, f[i])||_2`` per digit.
    Taught in notebook 07.
    """
    check_images(x)
    values = _factor_list(factors)
    if len(values) < 2:
        raise ValueError("factors must hold at least two zoom factors")
    return torch.stack([(zoom(x, b) - zoom(x, a)).flatten(1).norm(dim=1).float().cpu()
                        for a, b in zip(values[:-1], values[1:])], 1)


def zoom_cliffs(curve: torch.Tensor, step_l2: torch.Tensor) -> dict[str, float | int]:
    """The largest jump of a zoom curve between neighbouring factors: the certainty cliff.

    ``curve`` ``[N, F]`` (:func:`zoom_curves`), ``step_l2`` ``[N, F-1]`` (:func:`zoom_step_l2`).
    Returns ``"mean"`` (largest jump of the mean curve) and ``"at"`` (its step index i:
    between factors i and i+1); ``"digit"`` (median over digits of each digit's own largest
    jump) and ``"digit_l2"`` (median L2 size of the step where it happens); ``"per_l2"``
    (median over digits of the largest jump per unit of L2 moved). Taught in notebook 07.
    """
    if curve.dim() != 2 or step_l2.shape != (curve.shape[0], curve.shape[1] - 1):
        raise ValueError(f"curve must be [N, F] and step_l2 [N, F-1], "
                         f"got {list(curve.shape)} and {list(step_l2.shape)}")
    mean_jumps = curve.mean(0).diff().abs()
    jumps = curve.diff(dim=1).abs()
    where = jumps.argmax(1)
    rows = torch.arange(len(curve))
    return {"mean": float(mean_jumps.max()), "at": int(mean_jumps.argmax()),
            "digit": float(jumps.max(1).values.median()), "digit_l2": float(step_l2[rows, where].median()),
            "per_l2": float((jumps / step_l2.clamp_min(1e-6)).max(1).values.median())}


def mosaic_ratings(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, ks: object, *, count: int,
                   grid: int = 3, classes: int = 10) -> dict[int, dict[str, float]]:
    """How ``model`` rates :func:`mosaic` images with ``k`` of ``grid**2`` tiles of the target.

    For each ``k`` in ``ks`` and each target class, ``count`` mosaics (seed ``10 * k + class``)
    built from ``(x, y)``. Returns per ``k``: ``"p"`` mean probability of the target class,
    ``"read"`` share read as the target, ``"sure"`` share with p(target) > 0.9, ``"top"`` mean
    top probability. Taught in notebook 07.
    """
    grid = _check_grid(grid)
    out = {}
    for k in ks:
        k = _check_int(k, "ks", 0, grid * grid)
        p_t, read, top = [], [], []
        for c in range(classes):
            xm, _ = mosaic(x, y, grid=grid, fraction=k / grid**2, target_class=c, count=count, seed=10 * k + c,
                           classes=classes)
            with torch.no_grad():
                p = torch.softmax(model(xm), 1).float().cpu()
            p_t.append(p[:, c])
            read.append((p.argmax(1) == c).float())
            top.append(p.amax(1))
        p_t, read, top = torch.cat(p_t), torch.cat(read), torch.cat(top)
        out[k] = {"p": float(p_t.mean()), "read": float(read.mean()), "sure": float((p_t > 0.9).float().mean()),
                  "top": float(top.mean())}
    return out


def linear_probe_accuracy(train_features: torch.Tensor, train_truth: torch.Tensor, test_features: torch.Tensor,
                          test_truth: torch.Tensor, *, weight_decay: float = 1e-3, max_iter: int = 200) -> float:
    """Test accuracy of a logistic regression telling two kinds of image apart from features.

    Features ``[N, D]`` are standardised with the training set's mean and spread; truth is 0
    or 1 per row. Fitted by L-BFGS (``max_iter`` iterations) on the cross-entropy plus
    ``weight_decay`` times the squared weights, from a seeded start (torch seed 0), so a
    run is deterministic on one thread. Taught in notebook 07 (can the resampling be read?).
    """
    a, b = train_features.detach().double(), test_features.detach().double()
    ta, tb = train_truth.detach().double(), test_truth.detach().double()
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or len(ta) != len(a) or len(tb) != len(b):
        raise ValueError("features must be [N, D] with one 0/1 truth per row, the same D for train and test")
    mu, sd = a.mean(0), a.std(0) + 1e-6
    a, b = (a - mu) / sd, (b - mu) / sd
    generator = torch.Generator().manual_seed(0)
    weight = (torch.randn(a.shape[1], generator=generator, dtype=torch.float64) * 0.01).requires_grad_()
    bias = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=max_iter)

    def loss() -> torch.Tensor:
        opt.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(a @ weight + bias, ta)
        value = value + weight_decay * weight.pow(2).sum()
        value.backward()
        return value

    opt.step(loss)
    with torch.no_grad():
        return float(((b @ weight + bias > 0).double() == tb).double().mean())
