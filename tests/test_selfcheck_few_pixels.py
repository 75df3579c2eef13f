"""Notebook 03's self-check (the greedy L0 step) accepts a right answer and rejects plausible wrong ones."""
from __future__ import annotations

import pytest
import torch
from helpers import selfcheck


def right(grad: torch.Tensor, x: torch.Tensor) -> tuple[int, float]:
    g, v = grad.flatten(), x.flatten()
    gain = torch.where(g > 0, g * (1 - v), -g * v)
    i = int(gain.argmax())
    return i, float(g[i] > 0)


def right_tensors(grad: torch.Tensor, x: torch.Tensor):
    g, v = grad.flatten(), x.flatten()
    up, down = g * (1 - v), -g * v  # gain of setting each pixel to 1, to 0
    i = torch.maximum(up, down).argmax()
    return i, (up[i] > down[i]).float()  # 0-dim tensors are fine too


def ignores_the_box(grad, x):  # the largest |gradient|, even on a pixel that cannot move that way
    g = grad.flatten()
    i = int(g.abs().argmax())
    return i, float(g[i] > 0)


def wrong_value(grad, x):  # the right pixel, pushed the wrong way
    i, v = right(grad, x)
    return i, 1.0 - v


def descends(grad, x):  # lowers the margin instead of raising it
    g, v = grad.flatten(), x.flatten()
    gain = torch.where(g < 0, -g * (1 - v), g * v)
    i = int(gain.argmax())
    return i, float(g[i] < 0)


def ignores_the_distance(grad, x):  # knows which moves are possible, ranks them by |gradient| alone
    g, v = grad.flatten(), x.flatten()
    possible = torch.where(g > 0, v < 1, v > 0)
    i = int(torch.where(possible, g.abs(), torch.tensor(-1.0)).argmax())
    return i, float(g[i] > 0)


def row_and_column(grad, x):  # an index per row of the image, not into x.flatten()
    g, v = grad.flatten(), x.flatten()
    gain = torch.where(g > 0, g * (1 - v), -g * v)
    i = int(gain.argmax())
    return i % x.shape[-1], float(g[i] > 0)


def gain_not_value(grad, x):  # returns the estimated gain where the new value belongs
    g, v = grad.flatten(), x.flatten()
    gain = torch.where(g > 0, g * (1 - v), -g * v)
    i = int(gain.argmax())
    return i, float(gain[i])


@pytest.mark.parametrize("answer", [right, right_tensors])
def test_best_pixel_accepts_the_right_answer(answer):
    assert selfcheck.best_pixel(answer) == "correct"


@pytest.mark.parametrize("wrong", [ignores_the_box, wrong_value, descends, ignores_the_distance, row_and_column,
                                   gain_not_value, lambda grad, x: None, lambda grad, x: 0])
def test_best_pixel_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.best_pixel(wrong)


def test_best_pixel_is_quick():
    import time
    start = time.perf_counter()
    for _ in range(3):
        selfcheck.best_pixel(right)
    assert time.perf_counter() - start < 3
