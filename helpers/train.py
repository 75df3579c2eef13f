"""Seeding, training with a progress bar, and evaluation.

Taught in notebook 01 (training the baseline) and reused by every later notebook. Cached
training (load the bundled checkpoint unless asked to retrain) is ``helpers.models.train_or_load``;
this module imports nothing from ``helpers.models``, so models can be built and trained here
without an import circle.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .checks import check_images, check_labels, check_nonnegative

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def subnormals_flushed() -> Iterator[None]:
    """Round subnormal floats (below about 1.2e-38 in float32) to zero on the CPU while the
    block runs (``torch.set_flush_denormal``), then compute with them again, torch's default.

    x86 CPUs compute many times more slowly with subnormals; a recipe whose gradients are
    full of them trains several times faster flushed (``benchmarks/denormals.py``). The
    arithmetic changes only where a subnormal occurs, so a recipe that adopts it must be
    checked to reproduce (or re-measured). Notebook 08's ``two_n_linear`` recipe uses it.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def check_targets(y: object, batch: int, name: str = "y", tol: float = 1e-4) -> bool:
    """Check training targets; return True for soft targets, False for class indices.

    Class indices: a long tensor ``[batch]`` (``checks.check_labels``). Soft targets: a
    float tensor ``[batch, classes]`` with values in [0,1] and rows summing to 1 within
    ``tol``. Notebook 07 trains on soft targets.
    """
    if not (isinstance(y, torch.Tensor) and y.is_floating_point() and y.dim() == 2):
        check_labels(y, batch, name)
        return False
    if y.shape[0] != batch or y.shape[1] < 2:
        raise ValueError(f"{name} (soft targets) must have shape [{batch}, classes] with classes >= 2, got {list(y.shape)}")
    if y.numel() and not (torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1):
        raise ValueError(f"{name} (soft targets) must have values in [0, 1]")
    if y.numel() and (y.sum(dim=1) - 1).abs().max() > tol:
        worst = (y.sum(dim=1) - 1).abs().max().item()
        raise ValueError(f"{name} (soft targets): every row must sum to 1, one is off by {worst:.3g}")
    return True


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    augment: Augment | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training",
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> list[float]:
    """Train with Adam and a one-cycle learning rate; return the mean loss of each epoch.

    Batches are shuffled by a generator seeded with ``seed``, so the same seed, data
    and model initialisation give the same run. A ``tqdm.auto`` bar shows progress.

    ``y`` is either class indices (long ``[B]``) or soft targets (float ``[B, classes]``,
    each row a probability distribution, e.g. from ``helpers.data.soft_labels``); soft
    targets use the probability form of ``cross_entropy`` (notebook 07). ``loss_fn(logits, y)``
    replaces cross-entropy (the Lipschitz CNN's margin loss, notebook 06).
    """
    check_images(x)
    soft = check_targets(y, len(x))
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    check_nonnegative(lr, "lr")
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    losses = []
    model.train()
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False)
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            if augment is not None:
                xb = augment(xb, generator)
            scores = model(xb)
            if loss_fn is not None:
                loss = loss_fn(scores, yb)
            else:
                loss = nn.functional.cross_entropy(scores, yb.to(scores.dtype) if soft else yb)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
            bar.update(1)
        losses.append(total / len(x))
        bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.4f}")
    bar.close()
    model.eval()
    return losses


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits of ``model`` on ``x``, computed in batches, in eval mode, on CPU."""
    check_images(x)
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y``. Notebook 01."""
    check_labels(y, len(x))
    return (predict(model, x).argmax(1) == y).float().mean().item()


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Counts ``[true, predicted]`` as a ``num_classes x num_classes`` long tensor. Notebook 01."""
    index = y_true.long() * num_classes + y_pred.long()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
