"""Notebook 07: the zoom widget's figure and the retrained "cnn_augmented" checkpoint."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from helpers import data, widgets
from helpers.models import REGISTRY, load_pretrained
from helpers.recipes import RECIPES
from helpers.train import accuracy, predict


@pytest.fixture(scope="module")
def augmented() -> torch.nn.Module:
    return load_pretrained("cnn_augmented")


def test_registered_as_a_baseline_cnn_with_a_recipe():
    assert "cnn_augmented" in REGISTRY and "cnn_augmented" in RECIPES
    assert REGISTRY["cnn_augmented"].file == "checkpoints/cnn_augmented.pt"


@pytest.mark.parametrize("factor", [0.2, 0.5, 1.0, 2.5, 5.0])
def test_zoom_figure_returns_a_figure_and_leaves_its_input_alone(cnn, test_split, factor):
    x, y = test_split
    image = x[:1].clone()
    before = image.clone()
    fig = widgets.zoom_figure(cnn, image, int(y[0]), factor)
    try:
        assert isinstance(fig, Figure)
        assert len(fig.axes) == 3
        assert torch.equal(image, before), "zoom_figure modified its input image"
    finally:
        plt.close(fig)


def test_zoom_figure_takes_custom_factors(cnn, test_split):
    x, y = test_split
    fig = widgets.zoom_figure(cnn, x[:1], int(y[0]), 0.7, factors=torch.tensor([0.3, 0.7, 1.0, 3.0]))
    try:
        curve = fig.axes[2].lines[0]
        assert len(curve.get_xdata()) == 4
    finally:
        plt.close(fig)


def test_zoom_widget_builds(cnn, test_split):
    pytest.importorskip("ipywidgets")
    x, y = test_split
    w = widgets.zoom_widget(cnn, x[:1], int(y[0]), factor=0.5)
    slider = w.children[0]
    assert slider.continuous_update is False
    assert abs(slider.value - 0.5) < 1e-9
    plt.close("all")


def test_cnn_augmented_loads_checked_and_is_accurate(augmented, test_split):
    x, y = test_split
    assert not augmented.training
    assert accuracy(augmented, x, y) >= 0.97


def test_cnn_augmented_is_less_sure_of_distant_digits(augmented, test_split):
    """Trained on the zoom schedule, it must be less sure of a digit at zoom 0.25 than at zoom 1."""
    x, y = test_split
    xs, ys = x[:500], y[:500]
    rows = torch.arange(len(xs))
    far = torch.softmax(predict(augmented, data.zoom(xs, 0.25)), 1)[rows, ys].mean()
    near = torch.softmax(predict(augmented, data.zoom(xs, 1.0)), 1)[rows, ys].mean()
    assert far < near - 0.5


def test_cnn_augmented_checkpoint_is_sha256_checked(data_copy, flip_byte):
    from helpers.integrity import ChecksumError

    load_pretrained("cnn_augmented", folder=data_copy)  # the intact copy loads
    flip_byte(data_copy / "checkpoints" / "cnn_augmented.pt")
    with pytest.raises(ChecksumError, match="cnn_augmented.pt"):
        load_pretrained("cnn_augmented", folder=data_copy)
