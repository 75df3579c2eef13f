"""The self-check of notebook 07's exercise 3 (the essay's "10% cat" label of a mosaic)."""
from __future__ import annotations

import math

import pytest
import torch

from helpers import data, selfcheck


def right(tiles):
    grid = tiles.shape[0]
    c = data.zoom_certainty((28 // grid) / 28)
    return data.soft_labels(tiles.flatten(), c).mean(0)


def fraction_only(tiles):  # the labels of data.mosaic: no certainty for a tiny digit
    return torch.bincount(tiles.flatten(), minlength=10).float() / tiles.numel()


def exact_tile_size(tiles):  # 28 / grid instead of the 28 // grid pixels a tile really has
    c = data.zoom_certainty(1 / tiles.shape[0])
    return data.soft_labels(tiles.flatten(), c).mean(0)


def tile_one_pixel_bigger(tiles):  # off by one in the tile's size
    c = data.zoom_certainty((28 // tiles.shape[0] + 1) / 28)
    return data.soft_labels(tiles.flatten(), c).mean(0)


def summed(tiles):  # adding the tiles' labels up: the pile of cats becomes "certainly cat"
    c = data.zoom_certainty((28 // tiles.shape[0]) / 28)
    return data.soft_labels(tiles.flatten(), c).sum(0)


def no_uniform_part(tiles):  # c times the fraction, the (1 - c) / 10 share forgotten
    c = data.zoom_certainty((28 // tiles.shape[0]) / 28)
    return c * fraction_only(tiles)


def other_nine(tiles):  # 1 - c over the nine other classes only
    c = data.zoom_certainty((28 // tiles.shape[0]) / 28)
    out = torch.zeros(10)
    for t in tiles.flatten().tolist():
        row = torch.full((10,), (1 - c) / 9)
        row[t] = c
        out += row / tiles.numel()
    return out


def cosine_in_factor(tiles):  # the half cosine in the factor itself, not in log(factor)
    f = (28 // tiles.shape[0]) / 28
    s = min(1.0, max(0.0, (0.7 - f) / (0.7 - 0.25)))
    c = 0.5 * (1 + math.cos(math.pi * s))
    return data.soft_labels(tiles.flatten(), c).mean(0)


def clamped_sum(tiles):  # "almost certainly cat": k tiny cats add up, capped at 1
    c = data.zoom_certainty((28 // tiles.shape[0]) / 28)
    counts = torch.bincount(tiles.flatten(), minlength=10).float()
    return (counts * c).clamp(max=1)


def test_right_answer_accepted():
    assert selfcheck.essay_mosaic_label(right) == "correct"


def test_list_answer_accepted():
    assert selfcheck.essay_mosaic_label(lambda tiles: right(tiles).tolist()) == "correct"


@pytest.mark.parametrize("wrong", [fraction_only, exact_tile_size, tile_one_pixel_bigger, summed, no_uniform_part,
                                   other_nine, cosine_in_factor, clamped_sum])
def test_wrong_answers_rejected(wrong):
    with pytest.raises(AssertionError):
        selfcheck.essay_mosaic_label(wrong)


@pytest.mark.parametrize("wrong, words", [(fraction_only, "fraction of tiles"), (summed, "outside [0, 1]"),
                                          (no_uniform_part, "sums to"), (other_nine, "nine other"),
                                          (exact_tile_size, "28 // grid")])
def test_hints_name_the_mistake(wrong, words):
    with pytest.raises(AssertionError, match=words.replace("[", r"\[").replace("]", r"\]")):
        selfcheck.essay_mosaic_label(wrong)


def test_stub_and_non_function_rejected():
    with pytest.raises(AssertionError, match="None"):
        selfcheck.essay_mosaic_label(lambda tiles: None)
    with pytest.raises(AssertionError, match="function"):
        selfcheck.essay_mosaic_label(right(torch.tensor([[3]])))


def test_independent_schedule_matches_the_course():
    from helpers.selfcheck import training_set

    for f in (0.1, 0.25, 0.3, 9 / 28, 0.5, 0.69, 0.7, 1.0, 1.4, 2.0, 3.9, 4.0, 6.0):
        assert abs(training_set._certainty(f) - data.zoom_certainty(f)) < 1e-9
