"""Notebook 07's measuring helpers (helpers.training_set: zoom curves, cliffs, mosaic ratings, the
linear probe) and its other resampling (helpers.data.zoom_out_with)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import data, training_set


class Constant(nn.Module):
    """Logits that ignore the image: the same probabilities for every digit."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, x):
        return self.logits.expand(len(x), -1)


class Ink(nn.Module):
    """Class 0's logit grows with the total ink, so its probability depends on the zoom."""

    def forward(self, x):
        ink = x.flatten(1).sum(1)
        return torch.stack([ink / 10] + [torch.zeros_like(ink)] * 9, 1)


def images(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 6:22, 10:18] = torch.rand(n, 1, 16, 8, generator=g)
    return x


def test_zoom_curves_shape_and_values():
    x, y = images(), torch.tensor([0, 1, 2, 3])
    curves = training_set.zoom_curves(Constant([0.0] * 10), x, y, [0.5, 1.0, 2.0])
    assert curves.shape == (4, 3)
    assert torch.allclose(curves, torch.full((4, 3), 0.1))
    ink = training_set.zoom_curves(Ink(), x, torch.zeros(4, dtype=torch.long), torch.tensor([0.3, 0.6, 1.0]))
    assert (ink.diff(dim=1) > 0).all()  # more ink, surer of class 0


def test_zoom_step_l2_matches_zoom():
    x = images()
    steps = training_set.zoom_step_l2(x, [0.5, 1.0])
    assert steps.shape == (4, 1)
    assert torch.allclose(steps[:, 0], (data.zoom(x, 1.0) - data.zoom(x, 0.5)).flatten(1).norm(dim=1))
    with pytest.raises(ValueError):
        training_set.zoom_step_l2(x, [0.5])


def test_zoom_cliffs_by_hand():
    curve = torch.tensor([[1.0, 1.0, 0.2], [1.0, 0.4, 0.4]])
    step = torch.tensor([[1.0, 4.0], [2.0, 1.0]])
    c = training_set.zoom_cliffs(curve, step)
    assert c["mean"] == pytest.approx(0.4) and c["at"] == 1  # mean curve 1.0, 0.7, 0.3
    assert c["digit"] == pytest.approx(0.6)  # lower median of 0.8 and 0.6
    assert c["digit_l2"] == pytest.approx(2.0)  # lower median of the steps 4.0 and 2.0
    assert c["per_l2"] == pytest.approx(0.2)  # lower median of 0.2 and 0.3
    with pytest.raises(ValueError):
        training_set.zoom_cliffs(curve, step[:, :1])


def test_mosaic_ratings_of_a_constant_model():
    x = images(20, seed=1)
    y = torch.arange(20) % 10
    logits = [0.0] * 10
    logits[4] = 5.0
    rated = training_set.mosaic_ratings(Constant(logits), x, y, (0, 9), count=3)
    p4 = torch.softmax(torch.tensor(logits), 0)[4].item()
    assert set(rated) == {0, 9}
    for r in rated.values():
        assert r["top"] == pytest.approx(p4)
        assert r["p"] == pytest.approx((p4 + 9 * (1 - p4) / 9) / 10)  # target 4: p4; each other target: (1-p4)/9
        assert r["read"] == pytest.approx(0.1)  # only when the target is 4
        assert r["sure"] == pytest.approx(0.1 if p4 > 0.9 else 0.0)


def test_zoom_out_with_keeps_size_and_place():
    x = images()
    area = data.zoom_out_with(x, 0.5, "area")
    assert torch.allclose(area, data.zoom(x, 0.5))
    near = data.zoom_out_with(x, 0.5)
    assert near.shape == x.shape and near.min() >= 0 and near.max() <= 1
    assert near[:, :, :7].abs().sum() == 0 and near[:, :, 21:].abs().sum() == 0  # 14 pixels, centred
    with pytest.raises(ValueError):
        data.zoom_out_with(x, 1.5)


def test_linear_probe_separable_and_chance():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 5, generator=g)
    truth = (a[:, 0] > 0).float()
    b = torch.randn(200, 5, generator=g)
    assert training_set.linear_probe_accuracy(a, truth, b, (b[:, 0] > 0).float()) > 0.95
    noise = training_set.linear_probe_accuracy(a, torch.randint(2, (200,), generator=g).float(), b,
                                       torch.randint(2, (200,), generator=g).float())
    assert 0.3 < noise < 0.7
    assert training_set.linear_probe_accuracy(a, truth, b, (b[:, 0] > 0).float()) == \
        training_set.linear_probe_accuracy(a, truth, b, (b[:, 0] > 0).float())
