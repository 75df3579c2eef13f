"""Self-checks for notebook 03 (a few pixels): the greedy L0 attack's step."""
from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["best_pixel"]


def _want(grad: torch.Tensor, x: torch.Tensor) -> tuple[int, float, float]:
    """The right answer, pixel by pixel in plain Python: (index, value, first-order gain)."""
    best = (-1, 0.0, 0.0)
    for i, (g, v) in enumerate(zip(grad.flatten().tolist(), x.flatten().tolist())):
        for new in (0.0, 1.0):
            gain = g * (new - v)  # first-order change of the margin when pixel i is set to `new`
            if gain > best[2]:
                best = (i, new, gain)
    return best


def _cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Hand-made (grad, x) pairs where the plausible mistakes give a different answer, then random ones."""
    cases = [
        ("the largest gradient sits on a pixel already at 1 that it would push further up",
         torch.tensor([0.2, 3.0, 0.5, 0.0, 1.0]), torch.tensor([0.0, 1.0, 0.5, 0.0, 1.0])),
        ("the largest gradient asks to darken a pixel that is already 0",
         torch.tensor([0.1, -2.0, 0.3]), torch.tensor([0.0, 0.0, 0.0])),
        ("the helpful moves differ in length: a large gradient on a pixel close to its edge",
         torch.tensor([2.0, 0.5, -1.0]), torch.tensor([0.9, 0.0, 0.2])),
        ("every gradient is negative, on a grey image",
         torch.tensor([-0.3, -0.1, -0.8, -0.2]), torch.full((4,), 0.5)),
        ("the best move erases ink: a negative gradient on a pixel at 1",
         torch.tensor([0.4, -0.9, 0.6, 1.5]), torch.tensor([0.0, 1.0, 0.2, 0.8])),
    ]
    grad = torch.zeros(1, 4, 4)  # an image [1, 4, 4]: the index counts pixels in flattened order
    grad[0, 2, 1], grad[0, 0, 3], grad[0, 3, 3] = 0.7, -0.6, 0.9
    x = torch.zeros(1, 4, 4)
    x[0, 0, 3], x[0, 3, 3] = 0.5, 1.0
    cases.append(("an image of shape [1, 4, 4] (index in x.flatten() order)", grad, x))
    gen = torch.Generator().manual_seed(3)
    for k in range(3):
        x = (torch.rand(1, 28, 28, generator=gen) > 0.8).float()  # a binary 'digit': 0 or 1 everywhere
        x[0, 10:14, 10:14] = torch.rand(4, 4, generator=gen)  # and a patch of grey
        cases.append((f"random 28 x 28 image {k + 1}", torch.randn(1, 28, 28, generator=gen), x))
    return cases


def best_pixel(answer: Callable[[torch.Tensor, torch.Tensor], tuple[int, float]]) -> str:
    """Notebook 03, exercise 1: ``answer(grad, x)`` must return ``(index, value)``: the pixel
    (an index into ``x.flatten()``) and its new value, 0.0 or 1.0, that the first-order estimate
    ``grad[i] * (value - x[i])`` says raises the margin most, for an image ``x`` in [0, 1] and the
    margin's gradient ``grad`` (same shape). Checked against a pixel-by-pixel search on hand-made
    tensors (pixels at the edge of the box, grey pixels, a [1, 4, 4] image) and random images."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    for name, grad, x in _cases():
        index, value, gain = _want(grad, x)
        got = answer(grad.clone(), x.clone())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(f"return a pair (index, value), got {type(got).__name__}")
        i, v = got
        if isinstance(i, torch.Tensor) and i.numel() == 1 and not i.is_floating_point():
            i = int(i)
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = float(v)
        if isinstance(i, bool) or not isinstance(i, int):
            raise AssertionError(f"the index must be one int (a position in x.flatten()), got {i!r}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v not in (0, 1):
            raise AssertionError(f"the new value must be 0.0 or 1.0, got {v!r}")
        if not 0 <= i < x.numel():
            raise AssertionError(f"{name}: index {i} is outside x.flatten() (it has {x.numel()} pixels)")
        got_gain = float(grad.flatten()[i]) * (float(v) - float(x.flatten()[i]))
        if (i, float(v)) != (index, value):
            raise AssertionError(
                f"{name}: the best move is pixel {index} -> {value:.0f} (estimated gain {gain:.3g}); yours is pixel "
                f"{i} -> {float(v):.0f} (estimated gain {got_gain:.3g}). Hint: setting pixel i to v changes the margin "
                "by about grad[i] * (v - x[i]); a pixel at 1 cannot go up, one at 0 cannot go down, and a pixel "
                "halfway moves only halfway.")
    return "correct"
