"""helpers.checks: every error names the parameter and what is allowed."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.checks import check_choice, check_images, check_labels, check_nonnegative


# --- check_images ------------------------------------------------------------------------------


def test_check_images_returns_good_input():
    x = torch.rand(4, 1, 28, 28)
    assert check_images(x) is x
    edges = torch.zeros(2, 1, 28, 28)
    edges[1] = 1.0
    assert check_images(edges, "images") is edges  # 0 and 1 themselves are allowed
    assert check_images(torch.rand(0, 1, 28, 28)) is not None  # an empty batch is fine
    assert check_images(torch.rand(3, 3, 32, 32, dtype=torch.float64), shape=(3, 32, 32)).shape == (3, 3, 32, 32)


@pytest.mark.parametrize("bad", [np.zeros((1, 1, 28, 28), dtype=np.float32), [[0.5]], 0.5, None])
def test_check_images_rejects_non_tensors(bad):
    with pytest.raises(TypeError, match=r"^images must be a torch\.Tensor of shape \[B, 1, 28, 28\]"):
        check_images(bad, "images")


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_check_images_rejects_integer_dtypes(dtype):
    with pytest.raises(TypeError, match=r"^x_adv must be a floating-point tensor.*" + str(dtype).replace(".", r"\.")):
        check_images(torch.zeros(2, 1, 28, 28, dtype=dtype), "x_adv")


@pytest.mark.parametrize("shape", [(1, 28, 28), (2, 28, 28), (2, 3, 28, 28), (2, 1, 28, 27), (2, 1, 1, 28, 28), (784,)])
def test_check_images_rejects_wrong_shape(shape):
    with pytest.raises(ValueError, match=r"^images must have shape \[B, 1, 28, 28\], got " + re_list(shape)):
        check_images(torch.zeros(shape), "images")


def re_list(shape) -> str:
    return r"\[" + ", ".join(map(str, shape)) + r"\]"


@pytest.mark.parametrize(
    "value, where",
    [(-1e-6, (0, 0, 0, 0)), (1.0001, (1, 0, 27, 27)), (float("nan"), (0, 0, 5, 5)),
     (float("inf"), (1, 0, 3, 3)), (-float("inf"), (0, 0, 0, 1))],
)
def test_check_images_rejects_values_outside_unit_interval(value, where):
    x = torch.full((2, 1, 28, 28), 0.5)
    x[where] = value
    with pytest.raises(ValueError, match=r"^images must have values in \[0, 1\]"):
        check_images(x, "images")


def test_check_images_reports_the_range():
    x = torch.full((1, 1, 28, 28), 0.25)
    x[0, 0, 0, 0] = 3.0
    with pytest.raises(ValueError, match=r"got min 0\.25 and max 3"):
        check_images(x)


# --- check_nonnegative -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 0.0, 3, 0.3, 1e9])
def test_check_nonnegative_accepts(value):
    out = check_nonnegative(value, "eps")
    assert isinstance(out, float) and out == value


@pytest.mark.parametrize("value", [-1, -1e-9, -0.3, math.inf, -math.inf, math.nan])
def test_check_nonnegative_rejects_values(value):
    with pytest.raises(ValueError, match=r"^eps must be a finite number >= 0, got"):
        check_nonnegative(value, "eps")


@pytest.mark.parametrize("value, kind", [(True, "bool"), (False, "bool"), ("0.3", "str"), (None, "NoneType"), ([1], "list")])
def test_check_nonnegative_rejects_types(value, kind):
    with pytest.raises(TypeError, match=rf"^max_pixels must be a number >= 0, got {kind}$"):
        check_nonnegative(value, "max_pixels")


# --- check_choice ------------------------------------------------------------------------------


def test_check_choice_accepts():
    assert check_choice("l2", "norm", ("linf", "l2")) == "l2"
    assert check_choice("cnn", "name", {"cnn": 1}) == "cnn"  # any iterable of names, e.g. a registry


@pytest.mark.parametrize("value", ["L2", "l1", "", None, 2])
def test_check_choice_rejects(value):
    with pytest.raises(ValueError, match=r"^norm=.* is not allowed; choose one of 'linf', 'l2'$"):
        check_choice(value, "norm", ["linf", "l2"])


def test_check_choice_shows_the_bad_value():
    with pytest.raises(ValueError, match=r"^norm='l1' "):
        check_choice("l1", "norm", ["linf", "l2"])


# --- check_labels ------------------------------------------------------------------------------


def test_check_labels_accepts():
    y = torch.tensor([0, 9, 3])
    assert check_labels(y, 3) is y
    assert check_labels(torch.zeros(0, dtype=torch.long), 0).shape == (0,)


@pytest.mark.parametrize("bad", [[0, 1], np.array([0, 1]), torch.tensor([0, 1], dtype=torch.int32), torch.tensor([0.0, 1.0])])
def test_check_labels_rejects_types(bad):
    with pytest.raises(TypeError, match=r"^target must be a torch\.long tensor"):
        check_labels(bad, 2, "target")


@pytest.mark.parametrize("bad", [torch.tensor([0, 1, 2]), torch.tensor([[0, 1]]), torch.tensor(1)])
def test_check_labels_rejects_shape(bad):
    with pytest.raises(ValueError, match=r"^target must have shape \[2\]"):
        check_labels(bad, 2, "target")


@pytest.mark.parametrize("bad", [torch.tensor([0, 10]), torch.tensor([-1, 3])])
def test_check_labels_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match=r"^target must hold class indices in 0\.\.9"):
        check_labels(bad, 2, "target")


def test_check_labels_num_classes():
    assert check_labels(torch.tensor([0, 2]), 2, num_classes=3) is not None
    with pytest.raises(ValueError, match=r"0\.\.2"):
        check_labels(torch.tensor([0, 3]), 2, num_classes=3)
