"""Clear errors for bad input, shared by every helper that takes images or budgets.

Taught in notebook 01 (what the helpers accept) and used throughout.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def check_choice(value: object, name: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; else a ``ValueError`` naming the parameter."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")
    return value


def check_nonnegative(value: object, name: str) -> float:
    """A finite number >= 0 (a budget, a radius); ``TypeError``/``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number >= 0, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def check_int(value: object, name: str, minimum: int = 1) -> int:
    """An ``int`` (not a bool) >= ``minimum`` (a count, a size, a number of steps)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def check_images(x: object, name: str = "x", shape: tuple[int, int, int] = (1, 28, 28)) -> torch.Tensor:
    """A float tensor ``[B, *shape]`` with every value in [0, 1]; a clear error otherwise."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [B, {', '.join(map(str, shape))}], got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor with values in [0, 1], got dtype {x.dtype}")
    if x.dim() != 1 + len(shape) or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} must have shape [B, {', '.join(map(str, shape))}], got {list(x.shape)}")
    if x.numel() and (torch.isnan(x).any() or x.min() < 0 or x.max() > 1):
        lo, hi = x.min().item(), x.max().item()
        raise ValueError(f"{name} must have values in [0, 1], got min {lo:.4g} and max {hi:.4g}")
    return x


def check_labels(y: object, batch: int, name: str = "y", num_classes: int = 10) -> torch.Tensor:
    """A long tensor ``[batch]`` of class indices in ``0..num_classes-1``."""
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long:
        raise TypeError(f"{name} must be a torch.long tensor of class indices")
    if y.shape != (batch,):
        raise ValueError(f"{name} must have shape [{batch}], got {list(y.shape)}")
    if y.numel() and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{name} must hold class indices in 0..{num_classes - 1}")
    return y
