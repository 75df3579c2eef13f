"""helpers.linear_region: softmax regression and the exact few-pixel solve of notebook 03.

Random linear models (fast, seeded) and one small trained model; the solved change must
touch only the pixels it reports, stay in [0,1], and land where the algebra says.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import linear_region as lr


def random_model(m: int = 10, n: int = 784, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random linear model ``W [m,n]``, ``b [m]`` and a digit-like image (mostly 0, some ink)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(m, n, generator=g) * 0.3
    b = torch.randn(m, generator=g)
    x = (torch.rand(n, generator=g) * 2 - 1).clamp(0, 1)
    return W, b, x.reshape(1, 28, 28) if n == 784 else x


def leads(W: torch.Tensor, b: torch.Tensor, image: torch.Tensor, target: int) -> torch.Tensor:
    z = W.double() @ image.double().flatten() + b.double()
    return z[target] - torch.cat([z[:target], z[target + 1:]])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("m", [2, 5, 10])
def test_solution_touches_only_its_pixels_stays_in_box_and_lands_exactly(seed, m):
    W, b, x = random_model(m, seed=seed)
    z = W @ x.flatten() + b
    target = int(z.argmin())  # the hardest target
    margin = 0.5
    image, pixels, reached = lr.solve_few_pixels(W, b, x, target, margin=margin)
    assert reached
    assert image.shape == x.shape and image.dtype == x.dtype
    assert image.min() >= 0 and image.max() <= 1
    changed = torch.nonzero(image.flatten() != x.flatten()).squeeze(1)
    assert torch.equal(changed, pixels)
    lead = leads(W, b, image, target)
    # every other class is at least `margin` behind, and the binding ones exactly `margin`
    assert lead.min() >= margin - 1e-4
    assert abs(float(lead.min()) - margin) < 1e-4
    # the algebra: the new differences are the old ones plus A @ delta
    system = lr.difference_system(W, b, x, target, margin=margin)
    delta = (image - x).double().flatten()
    assert torch.allclose(system.current + system.A @ delta, lead, atol=1e-4)


@pytest.mark.parametrize("m", [3, 10])
def test_without_the_box_m_minus_1_pixels_suffice(m):
    W, b, x = random_model(m, seed=1)
    target = int((W @ x.flatten() + b).argmin())
    image, pixels, reached = lr.solve_few_pixels(W, b, x, target, pixels=m - 1, max_pixels=m - 1, box=False, margin=1.0)
    assert reached
    assert len(pixels) <= m - 1


def test_explicit_pixel_set_is_respected():
    W, b, x = random_model(4, seed=2)
    target = int((W @ x.flatten() + b).argmin())
    chosen = torch.tensor([10, 200, 300, 400, 500, 600], dtype=torch.long)
    image, pixels, reached = lr.solve_few_pixels(W, b, x, target, chosen, box=False)
    assert reached
    assert set(pixels.tolist()) <= set(chosen.tolist())
    # with the box, the same few pixels may not be enough: then it says so, and stays in the box
    W_small = W * 0.01
    image, pixels, reached = lr.solve_few_pixels(W_small, b, x, target, chosen, margin=5.0)
    assert not reached
    assert set(pixels.tolist()) <= set(chosen.tolist())
    assert image.min() >= 0 and image.max() <= 1


def test_max_pixels_caps_the_change():
    W, b, x = random_model(10, seed=3)
    target = int((W @ x.flatten() + b).argmin())
    image, pixels, reached = lr.solve_few_pixels(W, b, x, target, max_pixels=3)
    assert len(pixels) <= 3
    assert reached == bool(leads(W, b, image, target).min() >= 1.0 - 1e-4)


def test_already_the_target_changes_nothing():
    W, b, x = random_model(5, seed=4)
    target = int((W @ x.flatten() + b).argmax())
    image, pixels, reached = lr.solve_few_pixels(W, b, x, target, margin=0.0)
    assert reached and len(pixels) == 0 and torch.equal(image, x)


def test_trained_softmax_regression_and_a_real_solve():
    g = torch.Generator().manual_seed(0)
    # two easily separated "classes": ink on the left half or on the right half
    x = torch.zeros(200, 1, 28, 28)
    y = torch.arange(200) % 2
    x[y == 0, :, :, :14] = torch.rand(100, 1, 28, 14, generator=g)
    x[y == 1, :, :, 14:] = torch.rand(100, 1, 28, 14, generator=g)
    model = lr.train_softmax_regression(x, y, max_iter=30)
    assert isinstance(model, nn.Linear) and model.out_features == 2 and not model.training
    with torch.no_grad():
        assert (model(x.flatten(1)).argmax(1) == y).float().mean() > 0.95
    image, pixels, reached = lr.solve_few_pixels(model.weight, model.bias, x[0], 1)
    assert reached and image.min() >= 0 and image.max() <= 1
    wrapped = lr.ImageLinear(model)
    with torch.no_grad():
        out = wrapped(image[None])
    assert out.shape == (1, 10) and int(out.argmax()) == 1 and float(out[0, 5]) == -1e4


def test_bad_inputs_name_the_parameter():
    W, b, x = random_model(4, seed=5)
    with pytest.raises(ValueError, match="target"):
        lr.solve_few_pixels(W, b, x, 7)
    with pytest.raises(TypeError, match="target"):
        lr.solve_few_pixels(W, b, x, 1.5)
    with pytest.raises(ValueError, match="x"):
        lr.solve_few_pixels(W, b, x * 2, 1)
    with pytest.raises(ValueError, match="x"):
        lr.solve_few_pixels(W, b, torch.rand(10), 1)
    with pytest.raises(TypeError, match="W"):
        lr.solve_few_pixels(W[0], b, x, 1)
    with pytest.raises(ValueError, match="b"):
        lr.solve_few_pixels(W, b[:2], x, 1)
    with pytest.raises(ValueError, match="margin"):
        lr.solve_few_pixels(W, b, x, 1, margin=-1.0)
    with pytest.raises(ValueError, match="pixels"):
        lr.solve_few_pixels(W, b, x, 1, pixels=0)
    with pytest.raises(ValueError, match="pixels"):
        lr.solve_few_pixels(W, b, x, 1, pixels=torch.tensor([1, 1]))
    with pytest.raises(TypeError, match="pixels"):
        lr.solve_few_pixels(W, b, x, 1, pixels=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="max_pixels"):
        lr.solve_few_pixels(W, b, x, 1, max_pixels=0)
    with pytest.raises(TypeError, match="box"):
        lr.solve_few_pixels(W, b, x, 1, box=1)
    with pytest.raises(ValueError, match="classes"):
        lr.train_softmax_regression(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="max_iter"):
        lr.train_softmax_regression(torch.zeros(4, 1, 28, 28), torch.tensor([0, 1, 0, 1]), max_iter=0)
    with pytest.raises(ValueError, match="x"):
        lr.train_softmax_regression(torch.ones(4, 1, 28, 28) * 2, torch.tensor([0, 1, 0, 1]))
    with pytest.raises(TypeError, match="linear"):
        lr.ImageLinear(nn.Conv2d(1, 1, 3))
