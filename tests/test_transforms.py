"""helpers.data transforms of notebook 07 (zoom, the certainty schedule, soft labels, mosaics,
foreground on a background) and helpers.train.fit on soft targets.

Synthetic "digits" of constant brightness (class c has every pixel at (c + 1) / 11) let the
tests read each tile's class back from the image and so check the targets independently.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import helpers.data as data
import helpers.train as train

LEVELS = 11  # class c is drawn at brightness (c + 1) / LEVELS


@pytest.fixture(scope="module")
def digits(test_split):
    """64 real digits and their labels (a copy: the session fixture stays untouched)."""
    return test_split[0][:64].clone(), test_split[1][:64].clone()


def flat_digits(labels: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """One constant image per label, brightness (c + 1) / LEVELS: its class can be read off any pixel."""
    y = torch.tensor(labels, dtype=torch.long)
    x = ((y.float() + 1) / LEVELS)[:, None, None, None].expand(len(y), 1, 28, 28).clone()
    return x, y


def read_tiles(images: torch.Tensor, grid: int, level: float = 1.0) -> torch.Tensor:
    """Classes of the tiles of ``flat_digits`` mosaics, read at each tile's centre: long [N, grid*grid]."""
    tile = 28 // grid
    top = (28 - grid * tile) // 2
    centres = [top + i * tile + tile // 2 for i in range(grid)]
    values = images[:, 0][:, centres][:, :, centres].reshape(len(images), -1)
    return (values / level * LEVELS).round().long() - 1


def disc(radius: float, size: int = 28) -> torch.Tensor:
    """A bright disc at the centre of a black image, [1,1,size,size]."""
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    return ((r[:, None] ** 2 + r[None, :] ** 2) <= radius**2).float()[None, None]


def centroid(img: torch.Tensor) -> tuple[float, float]:
    r = torch.arange(img.shape[-1], dtype=torch.float32)
    m = img[0, 0]
    total = m.sum()
    return (m.sum(1) @ r / total).item(), (m.sum(0) @ r / total).item()


# --- every transform: shape, range, input untouched, global RNG untouched ---------------------


def all_transforms(x, y):
    return {
        "zoom out": data.zoom(x, 0.5),
        "zoom in": data.zoom(x, 2.5),
        "zoom_dataset": data.zoom_dataset(x, y, factors=[0.3, 1.0, 3.0], seed=1)[0],
        "mosaic": data.mosaic(x, y, grid=3, fraction=0.4, target_class=int(y[0]), count=len(x), seed=1)[0],
        "on_background": data.on_background(x, y, x, y, seed=1)[0],
    }


def test_every_transform_keeps_shape_range_dtype_and_input(digits):
    x, y = digits
    before = x.clone()
    for name, out in all_transforms(x, y).items():
        assert out.shape == x.shape, name
        assert out.dtype == x.dtype, name
        assert out.min() >= 0 and out.max() <= 1, name
        assert not torch.equal(out, x), f"{name} did not change the images"
    assert torch.equal(x, before)  # inputs left alone


def test_transforms_do_not_touch_the_global_rng(digits):
    x, y = digits
    state = torch.get_rng_state()
    all_transforms(x, y)
    assert torch.equal(torch.get_rng_state(), state)


# --- zoom -------------------------------------------------------------------------------------


def test_zoom_by_one_is_an_exact_copy(digits):
    x, _ = digits
    out = data.zoom(x, 1)
    assert torch.equal(out, x)
    assert out.data_ptr() != x.data_ptr()  # a copy, not a view
    assert torch.equal(data.zoom(x, 1.0), x)


@pytest.mark.parametrize("factor", [0.25, 0.4, 0.5, 0.75])
def test_zoom_out_keeps_ink_in_the_central_box_and_scales_its_mass(digits, factor):
    x, _ = digits
    out = data.zoom(x, factor)
    half = 14 * factor + 1  # the central factor*28 box, one pixel of slack for rounding
    coords = torch.arange(28, dtype=torch.float32) - 13.5
    inside = (coords.abs() <= half)[:, None] & (coords.abs() <= half)[None, :]
    ink = out.sum(dim=(1, 2, 3))
    outside = (out * ~inside).sum(dim=(1, 2, 3))
    assert (outside <= 1e-3 * ink).all(), f"ink outside the central {2 * half:.0f}px box"
    ratio = ink / x.sum(dim=(1, 2, 3))
    size = round(28 * factor)  # the shrunk digit's side, in whole pixels
    expected = (size / 28) ** 2
    if 28 % size == 0:  # whole-pixel windows: area averaging keeps every digit's mass exactly
        assert torch.allclose(ratio, torch.full_like(ratio, expected), rtol=1e-5), ratio
    else:  # uneven windows weigh pixels unevenly: right on average, each digit within a third
        assert abs(ratio.mean().item() / expected - 1) < 0.05, ratio.mean()
        assert ((ratio / expected - 1).abs() < 0.35).all(), ratio
    # far away digits really are smaller: a larger factor leaves more ink
    assert (data.zoom(x, factor).sum() < data.zoom(x, min(1.0, factor + 0.2)).sum()).item()


def test_zoom_in_enlarges_a_centred_blob():
    blob = disc(4.0)
    areas = []
    for factor in (1.5, 2.0, 3.0):
        out = data.zoom(blob, factor)
        area = (out > 0.5).sum().item()
        areas.append(area)
        assert area == pytest.approx(blob.sum().item() * factor**2, rel=0.25), factor
        cy, cx = centroid(out)
        assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1  # it stays centred
        assert out[0, 0, 14, 14 + round(4 * factor) - 2] > 0.5  # bright out to about factor * radius
    assert areas == sorted(areas) and areas[0] > blob.sum().item()


def test_zoom_out_then_in_roughly_recovers_the_digit(digits):
    x, _ = digits
    back = data.zoom(data.zoom(x, 0.5), 2.0)
    similarity = nn.functional.cosine_similarity(back.flatten(1), x.flatten(1))
    assert similarity.mean() > 0.85 and similarity.min() > 0.7, similarity.min()


@pytest.mark.parametrize("factor", [0, -0.5, float("nan"), float("inf"), -float("inf")])
def test_zoom_rejects_bad_factor(digits, factor):
    with pytest.raises(ValueError, match=r"^factor must be a finite number > 0"):
        data.zoom(digits[0], factor)


def test_zoom_rejects_non_number_factor(digits):
    with pytest.raises(TypeError, match="factor"):
        data.zoom(digits[0], "2")


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.full((2, 1, 28, 28), 1.5), r"x must have values in \[0, 1\]"),
        (torch.full((2, 1, 28, 28), -0.1), r"x must have values in \[0, 1\]"),
        (torch.zeros(2, 28, 28), r"x must have shape"),
        (torch.zeros(2, 1, 14, 14), r"x must have shape"),
    ],
)
def test_transforms_reject_bad_images(bad, match):
    y = torch.zeros(len(bad), dtype=torch.long)
    y[1:] = 1
    calls = [
        lambda: data.zoom(bad, 0.5),
        lambda: data.zoom_dataset(bad, y, factors=[0.5]),
        lambda: data.mosaic(bad, y, fraction=0.5, target_class=0),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=match):
            call()
    good = torch.zeros(2, 1, 28, 28)
    with pytest.raises(ValueError, match=match.replace("x must", "x_fg must")):
        data.on_background(bad, y, good, y)
    with pytest.raises(ValueError, match=match.replace("x must", "x_bg must")):
        data.on_background(good, y, bad, y)


# --- zoom_certainty -----------------------------------------------------------------------------


def test_zoom_certainty_is_one_in_the_band_and_zero_beyond():
    band = torch.linspace(0.7, 1.4, 50)
    assert torch.equal(data.zoom_certainty(band), torch.ones(50))
    beyond = torch.cat([torch.linspace(0.01, 0.25, 30), torch.linspace(4.0, 100.0, 30)])
    assert torch.equal(data.zoom_certainty(beyond), torch.zeros(60))
    ramps = torch.cat([torch.linspace(0.26, 0.69, 20), torch.linspace(1.41, 3.9, 20)])
    c = data.zoom_certainty(ramps)
    assert ((c > 0) & (c < 1)).all()  # a ramp, not a step


def test_zoom_certainty_is_monotone_and_continuous():
    factors = torch.logspace(math.log10(0.1), math.log10(10.0), 2001)
    c = data.zoom_certainty(factors)
    steps = c.diff()
    peak = int((factors <= 1).sum())
    assert (steps[: peak - 1] >= 0).all()  # rises while zooming from far away towards 1
    assert (steps[peak:] <= 0).all()  # falls while zooming further in
    assert steps.abs().max() < 0.01, f"a step of {steps.abs().max():.3g} between neighbouring factors"
    assert c.max() == 1 and c.min() == 0


def test_zoom_certainty_cosine_in_log_factor():
    # halfway (in log) between full and gone the certainty is exactly one half
    assert data.zoom_certainty(math.sqrt(0.25 * 0.7)) == pytest.approx(0.5)
    assert data.zoom_certainty(math.sqrt(1.4 * 4.0)) == pytest.approx(0.5)
    assert data.zoom_certainty(math.sqrt(0.5), full=(1.0, 1.0), gone=(0.5, 2.0)) == pytest.approx(0.5)
    # a quarter of the way down (in log) it is a cosine's 0.854, not a straight line's 0.75
    quarter = math.exp(math.log(1.4) + 0.25 * (math.log(4.0) - math.log(1.4)))
    assert data.zoom_certainty(quarter) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    value = data.zoom_certainty(0.5)
    assert isinstance(value, float)
    assert value == pytest.approx(data.zoom_certainty(torch.tensor([0.5]))[0].item())


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"full": (0.7, 1.4), "gone": (0.8, 4.0)}, "gone"),  # gone[0] above full[0]
        ({"full": (0.7, 1.4), "gone": (0.25, 1.2)}, "gone"),  # gone[1] below full[1]
        ({"full": (1.2, 1.4), "gone": (0.25, 4.0)}, "full"),  # band misses 1
        ({"full": (0.5, 0.9), "gone": (0.25, 4.0)}, "full"),
        ({"full": (0.7, 1.4), "gone": (0.0, 4.0)}, "gone"),
        ({"full": (0.7, 1.4), "gone": (0.25, float("inf"))}, "gone"),
        ({"full": (0.7, float("nan")), "gone": (0.25, 4.0)}, "full"),
    ],
)
def test_zoom_certainty_rejects_bad_bands(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}"):
        data.zoom_certainty(1.0, **kwargs)


@pytest.mark.parametrize("factor", [0.0, -1.0, float("nan")])
def test_zoom_certainty_rejects_bad_factors(factor):
    with pytest.raises(ValueError, match="factor"):
        data.zoom_certainty(factor)
    with pytest.raises(ValueError, match="factor"):
        data.zoom_certainty(torch.tensor([1.0, factor]))


# --- soft_labels --------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.0, 0.3, 0.9, 1.0])
def test_soft_labels_rows_and_true_class(c):
    y = torch.tensor([0, 3, 9, 3])
    t = data.soft_labels(y, c)
    assert t.shape == (4, 10)
    assert torch.allclose(t.sum(1), torch.ones(4))
    assert torch.allclose(t[torch.arange(4), y], torch.full((4,), c + (1 - c) / 10))
    others = t.masked_fill(nn.functional.one_hot(y, 10).bool(), float("nan"))
    assert torch.allclose(others[~others.isnan()], torch.tensor((1 - c) / 10))


def test_soft_labels_extremes_and_per_image_certainty():
    y = torch.tensor([2, 5, 7])
    assert torch.equal(data.soft_labels(y, 1.0), nn.functional.one_hot(y, 10).float())
    assert torch.allclose(data.soft_labels(y, 0.0), torch.full((3, 10), 0.1))
    t = data.soft_labels(y, torch.tensor([1.0, 0.5, 0.0]), classes=4 + 6)
    assert torch.allclose(t[torch.arange(3), y], torch.tensor([1.0, 0.55, 0.1]))
    assert data.soft_labels(torch.tensor([1]), 0.0, classes=4).tolist() == [[0.25] * 4]


@pytest.mark.parametrize("c", [1.5, -0.1, float("nan")])
def test_soft_labels_rejects_bad_certainty(c):
    with pytest.raises(ValueError, match="certainty"):
        data.soft_labels(torch.tensor([1, 2]), c)
    with pytest.raises(ValueError, match="certainty"):
        data.soft_labels(torch.tensor([1, 2]), torch.tensor([0.5, c]))


def test_soft_labels_rejects_bad_labels():
    with pytest.raises(TypeError, match="y must be a torch.long"):
        data.soft_labels(torch.tensor([1.0, 2.0]), 0.5)
    with pytest.raises(ValueError, match="y must hold class indices"):
        data.soft_labels(torch.tensor([1, 10]), 0.5)
    with pytest.raises(ValueError, match="certainty"):
        data.soft_labels(torch.tensor([1, 2]), torch.tensor([0.5, 0.5, 0.5]))


# --- zoom_dataset -------------------------------------------------------------------------------


def test_zoom_dataset_images_targets_and_factors_agree(digits):
    x, y = digits
    factors = [0.2, 0.6, 1.0, 2.0, 5.0]
    images, targets, used = data.zoom_dataset(x, y, factors=factors, seed=3)
    assert used.shape == (len(x),)
    assert torch.isin(used, torch.tensor(factors)).all()
    assert len(set(used.tolist())) == len(factors)  # 64 draws from 5 factors use them all
    for i in range(len(x)):
        assert torch.equal(images[i : i + 1], data.zoom(x[i : i + 1], used[i].item()))
    expected = data.soft_labels(y, data.zoom_certainty(used))
    assert torch.allclose(targets, expected)
    far = used == 0.2
    assert torch.allclose(targets[far], torch.full_like(targets[far], 0.1))  # too far: no idea
    assert torch.equal(targets[used == 1.0], nn.functional.one_hot(y[used == 1.0], 10).float())


def test_zoom_dataset_rejects_bad_factors(digits):
    x, y = digits
    with pytest.raises(ValueError, match="factors"):
        data.zoom_dataset(x, y, factors=[])
    with pytest.raises(ValueError, match="factors"):
        data.zoom_dataset(x, y, factors=[0.5, 0.0])
    with pytest.raises(ValueError, match="factors"):
        data.zoom_dataset(x, y, factors=[float("nan")])


# --- mosaic -------------------------------------------------------------------------------------


@pytest.mark.parametrize("grid, fraction", [(3, 0.1), (3, 0.5), (4, 0.25), (10, 0.1), (1, 1.0), (1, 0.0), (5, 0.0), (2, 1.0)])
def test_mosaic_targets_are_the_fractions_of_tiles(grid, fraction):
    x, y = flat_digits(list(range(10)) * 3)
    images, targets = data.mosaic(x, y, grid=grid, fraction=fraction, target_class=7, count=40, seed=0)
    tiles = grid * grid
    assert images.shape == (40, 1, 28, 28) and targets.shape == (40, 10)
    assert images.min() >= 0 and images.max() <= 1
    read = read_tiles(images, grid)
    counted = nn.functional.one_hot(read, 10).sum(1).float() / tiles
    assert torch.allclose(targets, counted), "targets differ from the tiles actually drawn"
    assert torch.allclose(targets.sum(1), torch.ones(40))
    k = round(fraction * tiles)
    assert torch.allclose(targets[:, 7], torch.full((40,), k / tiles))
    # outside the tiled block the canvas stays black
    block = grid * (28 // grid)
    top = (28 - block) // 2
    inner = torch.zeros(28, 28, dtype=torch.bool)
    inner[top : top + block, top : top + block] = True
    assert (images[:, 0][:, ~inner] == 0).all()


def test_mosaic_ten_percent_and_random_positions():
    x, y = flat_digits(list(range(10)) * 2)
    images, targets = data.mosaic(x, y, grid=10, fraction=0.1, target_class=3, count=20, seed=5)
    assert torch.allclose(targets[:, 3], torch.full((20,), 0.1))
    where = read_tiles(images, 10) == 3
    assert (where.sum(1) == 10).all()
    assert len({tuple(row.nonzero().flatten().tolist()) for row in where}) > 1  # positions vary


def test_mosaic_real_digits(digits):
    x, y = digits
    images, targets = data.mosaic(x, y, grid=3, fraction=0.3, target_class=int(y[0]), count=8, seed=0)
    assert images.shape == (8, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert torch.allclose(targets[:, int(y[0])], torch.full((8,), 3 / 9))
    assert ((targets * 9).round() - targets * 9).abs().max() < 1e-5  # whole tiles
    assert images.sum() > 0


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"fraction": 1.5}, ValueError, "fraction"),
        ({"fraction": -0.1}, ValueError, "fraction"),
        ({"fraction": float("nan")}, ValueError, "fraction"),
        ({"grid": 0}, ValueError, "grid"),
        ({"grid": 29}, ValueError, "grid"),
        ({"grid": 2.5}, TypeError, "grid"),
        ({"target_class": 10}, ValueError, "target_class"),
        ({"target_class": -1}, ValueError, "target_class"),
        ({"count": -1}, ValueError, "count"),
    ],
)
def test_mosaic_rejects_bad_arguments(kwargs, error, name):
    x, y = flat_digits(list(range(10)))
    args = {"fraction": 0.5, "target_class": 2, **kwargs}
    with pytest.raises(error, match=rf"^{name}"):
        data.mosaic(x, y, **args)


def test_mosaic_needs_digits_of_the_classes_it_uses():
    x, y = flat_digits([0, 1, 2, 4])  # no 3
    with pytest.raises(ValueError, match="target_class=3"):
        data.mosaic(x, y, fraction=0.2, target_class=3)
    _, targets = data.mosaic(x, y, fraction=0.0, target_class=3, count=4)  # needs no 3
    assert (targets[:, 3] == 0).all()
    x3, y3 = flat_digits([3, 3])  # only 3s
    with pytest.raises(ValueError, match="other than target_class=3"):
        data.mosaic(x3, y3, fraction=0.5, target_class=3)
    _, targets = data.mosaic(x3, y3, fraction=1.0, target_class=3, count=2)
    assert (targets[:, 3] == 1).all()


# --- on_background ------------------------------------------------------------------------------


@pytest.mark.parametrize("foreground", [0.99, 0.8, 1.0])
def test_on_background_targets(foreground):
    fg = torch.zeros(6, 1, 28, 28)
    fg[:, :, 0, 0] = 1.0  # a one-pixel "digit" in the corner, away from every tile's centre
    y_fg = torch.tensor([0, 1, 2, 3, 4, 5])
    x_bg, y_bg = flat_digits([6, 7, 8, 9])  # background classes differ from the foreground's
    images, targets = data.on_background(fg, y_fg, x_bg, y_bg, grid=4, foreground=foreground,
                                         background_level=0.5, seed=2)
    assert torch.allclose(targets.sum(1), torch.ones(6))
    assert torch.allclose(targets[torch.arange(6), y_fg], torch.full((6,), foreground))
    read = read_tiles(images, 4, level=0.5)
    assert ((read >= 6) & (read <= 9)).all()
    expected = foreground * nn.functional.one_hot(y_fg, 10) + (1 - foreground) * nn.functional.one_hot(read, 10).sum(1) / 16
    assert torch.allclose(targets, expected.float())
    assert (images[:, :, 0, 0] == 1).all()  # the foreground stays on top


def test_on_background_foreground_class_in_background_adds_its_share():
    fg = torch.zeros(3, 1, 28, 28)
    y_fg = torch.tensor([4, 4, 4])
    x_bg, y_bg = flat_digits([4])  # a background made only of 4s: "50% cat" behind a "99% cat"
    _, targets = data.on_background(fg, y_fg, x_bg, y_bg, foreground=0.99)
    assert torch.allclose(targets[:, 4], torch.ones(3))


def test_on_background_real_digits_keep_the_foreground_on_top(digits):
    x, y = digits
    level = 0.5
    images, targets = data.on_background(x, y, x, y, grid=4, background_level=level, seed=0)
    assert (images >= x).all()  # pixelwise max: the foreground is never dimmed
    assert torch.equal(images[x >= level], x[x >= level])  # bright strokes are exactly the foreground's
    assert (images <= torch.maximum(x, torch.tensor(level)) + 1e-6).all()  # the background never exceeds its level
    assert (images > x).any()  # there is a background
    assert torch.allclose(targets.sum(1), torch.ones(len(x)))
    assert (targets[torch.arange(len(x)), y] >= 0.99 - 1e-6).all()
    # no background at all: the image is the foreground and the label its class
    plain, onehot = data.on_background(x, y, x, y, background_level=0.0, foreground=1.0)
    assert torch.equal(plain, x)
    assert torch.equal(onehot, nn.functional.one_hot(y, 10).float())


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"foreground": 1.2}, "foreground"),
        ({"foreground": -0.1}, "foreground"),
        ({"background_level": 1.5}, "background_level"),
        ({"background_level": -0.5}, "background_level"),
        ({"background_level": float("nan")}, "background_level"),
        ({"grid": 0}, "grid"),
    ],
)
def test_on_background_rejects_bad_levels(kwargs, name, digits):
    x, y = digits
    with pytest.raises(ValueError, match=rf"^{name}"):
        data.on_background(x, y, x, y, **kwargs)


# --- seeds --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda x, y, seed: data.zoom_dataset(x, y, factors=[0.3, 0.5, 2.0, 3.0], seed=seed)[0],
    lambda x, y, seed: data.mosaic(x, y, fraction=0.3, target_class=1, count=16, seed=seed)[0],
    lambda x, y, seed: data.on_background(x, y, x, y, seed=seed)[0],
], ids=["zoom_dataset", "mosaic", "on_background"])
def test_same_seed_same_images_other_seed_other_images(make, digits):
    x, y = digits
    a, b, c = make(x, y, 11), make(x, y, 11), make(x, y, 12)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# --- fit on soft targets ------------------------------------------------------------------------


def linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def test_fit_with_one_hot_soft_targets_matches_hard_labels(digits):
    x, y = digits
    hard, soft = linear_model(), linear_model()
    losses_hard = train.fit(hard, x, y, epochs=2, batch_size=16, lr=1e-2, seed=4, progress=False)
    losses_soft = train.fit(soft, x, data.soft_labels(y, 1.0), epochs=2, batch_size=16, lr=1e-2, seed=4, progress=False)
    assert losses_soft == pytest.approx(losses_hard, rel=1e-4)
    for key, value in hard.state_dict().items():
        assert torch.allclose(value, soft.state_dict()[key], atol=1e-5), key


def test_fit_learns_the_certainty_it_is_given(digits):
    x, y = digits
    rows = torch.arange(len(x))
    sure = {}
    for c in (1.0, 0.5):
        model = linear_model()
        train.fit(model, x, data.soft_labels(y, c), epochs=10, batch_size=16, lr=5e-2, seed=0, progress=False)
        with torch.no_grad():
            sure[c] = torch.softmax(model(x), 1)[rows, y].mean().item()
    assert sure[1.0] > 0.95  # one-hot targets: sure of the true class
    assert sure[0.5] == pytest.approx(0.5 + 0.5 / 10, abs=0.05)  # half sure: c + (1 - c) / 10, not 1


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda y: data.soft_labels(y, 1.0) * 0.9, "sum to 1"),
        (lambda y: data.soft_labels(y, 1.0)[:-1], r"shape"),
        (lambda y: data.soft_labels(y, 1.0) * 2 - data.soft_labels(y, 1.0).roll(1, 1), r"values in \[0, 1\]"),
        (lambda y: data.soft_labels(y, 1.0).fill_(float("nan")), r"values in \[0, 1\]"),
    ],
)
def test_fit_rejects_bad_soft_targets(make, match, digits):
    x, y = digits
    model = linear_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=rf"^y \(soft targets\).*{match}"):
        train.fit(model, x, make(y), epochs=1, progress=False)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.5])
def test_salt_and_pepper_sets_about_rate_of_pixels_to_0_or_1(digits, rate):
    x, _ = digits
    out = data.salt_and_pepper(x, torch.Generator().manual_seed(0), rate=rate)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    changed = out != x
    assert ((out[changed] == 0) | (out[changed] == 1)).all()
    # pixels hit: about rate of them (a hit on a pixel already at its value leaves it unchanged)
    assert changed.float().mean() <= rate + 0.01
    if rate == 0:
        assert torch.equal(out, x)
    with pytest.raises(ValueError, match="rate"):
        data.salt_and_pepper(x, torch.Generator(), rate=1.5)
