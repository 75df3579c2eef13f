"""Tests for helpers.attacks: budgets, ranges, known answers on linear models, real attacks
on the bundled CNN (every success re-checked by re-predicting), and clear errors.

Kept fast: small batches (16-64 images), few steps, few hypothesis examples.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from helpers import attacks
from helpers.attacks import (
    changed_pixels,
    fgsm,
    is_adversarial,
    l0_attack,
    min_pixels,
    pgd,
    recheck,
)
from helpers.caper import apply_glasses, glasses, glasses_mask  # the glasses live with the caper

FEW = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ----------------------------------------------------------------------------
# models and data
# ----------------------------------------------------------------------------


def linear_model(weight_pixels: torch.Tensor, bias0: float) -> nn.Module:
    """Softmax regression with a known answer.

    Class 0 scores a constant ``bias0``; class 1 scores the sum of the pixels in
    ``weight_pixels`` (a bool mask [28,28]); classes 2..9 score -10. On an image that is 0
    on those pixels the prediction is 0, and class 1 wins exactly when the sum of its
    pixels exceeds ``bias0``.
    """
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[1] = weight_pixels.flatten().float()
        model[1].bias.fill_(-10.0)
        model[1].bias[0] = bias0
        model[1].bias[1] = 0.0
    return model.eval()


def blank_on(region: torch.Tensor, n: int = 4, seed: int = 0) -> torch.Tensor:
    """Random images in [0,1] that are 0 on ``region``."""
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    return x * ~region


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tests attack 1-64 images at a time: one thread is as fast on an idle machine and
    far faster on a busy one (no waiting on a second thread). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small(test_split):
    """64 test images and labels."""
    x, y = test_split
    return x[:64].clone(), y[:64].clone()


def ce(model, x, y):
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


def images(batch: int, seed: int) -> torch.Tensor:
    return torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------
# zero budgets return the input
# ----------------------------------------------------------------------------


def test_zero_budget_returns_input(cnn, small):
    x, y = small[0][:8], small[1][:8]
    assert torch.equal(fgsm(cnn, x, y, 0.0), x)
    assert torch.equal(pgd(cnn, x, y, 0.0, norm="linf"), x)
    assert torch.equal(pgd(cnn, x, y, 0, norm="l2"), x)
    for method in ("greedy", "random_search"):
        assert torch.equal(l0_attack(cnn, x, y, max_pixels=0, method=method), x)
    delta = glasses(cnn, x, 3, eps=0.0)
    assert torch.equal(delta, torch.zeros(1, 1, 28, 28))
    assert torch.equal(apply_glasses(x, delta), x)


# ----------------------------------------------------------------------------
# budgets and ranges: property tests
# ----------------------------------------------------------------------------


@FEW
@given(
    batch=st.integers(1, 5),
    eps=st.floats(0.0, 1.0),
    norm=st.sampled_from(["linf", "l2"]),
    loss=st.sampled_from(["ce", "margin"]),
    targeted=st.booleans(),
    restarts=st.integers(1, 2),
    seed=st.integers(0, 1000),
)
def test_pgd_stays_in_budget_and_range(cnn, batch, eps, norm, loss, targeted, restarts, seed):
    x = images(batch, seed)
    y = torch.randint(10, (batch,), generator=torch.Generator().manual_seed(seed))
    if norm == "l2":
        eps *= 4
    adv = pgd(cnn, x, y, eps, norm=norm, steps=5, loss=loss, targeted=targeted, restarts=restarts, seed=seed)
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert adv.min() >= 0 and adv.max() <= 1
    diff = (adv - x).flatten(1)
    size = diff.abs().amax(dim=1) if norm == "linf" else diff.norm(dim=1)
    assert (size <= eps + 1e-5).all()


@FEW
@given(batch=st.integers(1, 5), eps=st.floats(0.0, 1.0), targeted=st.booleans(), seed=st.integers(0, 1000))
def test_fgsm_stays_in_budget_and_range(cnn, batch, eps, targeted, seed):
    x = images(batch, seed)
    y = torch.randint(10, (batch,), generator=torch.Generator().manual_seed(seed))
    adv = fgsm(cnn, x, y, eps, targeted=targeted)
    assert adv.shape == x.shape and adv.min() >= 0 and adv.max() <= 1
    assert ((adv - x).abs().flatten(1).amax(dim=1) <= eps + 1e-6).all()


@FEW
@given(
    batch=st.integers(1, 4),
    max_pixels=st.integers(0, 12),
    method=st.sampled_from(["greedy", "random_search"]),
    targeted=st.booleans(),
    start=st.integers(0, 1990),
)
def test_l0_attack_changes_at_most_max_pixels(cnn, test_split, batch, max_pixels, method, targeted, start):
    x, y = test_split
    x, y = x[start : start + batch], y[start : start + batch]
    goal = (y + 1) % 10 if targeted else y
    adv = l0_attack(cnn, x, goal, max_pixels=max_pixels, method=method, targeted=targeted, iterations=40)
    assert adv.shape == x.shape and adv.min() >= 0 and adv.max() <= 1
    assert (changed_pixels(x, adv) <= max_pixels).all()
    # an image that was changed at all is a success (failures come back unchanged)
    touched = changed_pixels(x, adv) > 0
    assert is_adversarial(cnn, adv, goal, targeted=targeted)[touched].all()


@FEW
@given(
    rows=st.tuples(st.integers(0, 20), st.integers(1, 8)),
    eps=st.one_of(st.none(), st.floats(0.0, 1.0)),
    seed=st.integers(0, 1000),
)
def test_glasses_zero_outside_mask_and_bounded(cnn, rows, eps, seed):
    top, height = rows
    mask = glasses_mask((top, min(28, top + height)))
    x = images(3, seed)
    delta = glasses(cnn, x, seed % 10, mask=mask, eps=eps, steps=3, seed=seed)
    assert delta.shape == (1, 1, 28, 28)
    assert (delta[~mask] == 0).all()
    assert delta.abs().max() <= (1.0 if eps is None else eps) + 1e-6
    worn = apply_glasses(x, delta)
    assert worn.min() >= 0 and worn.max() <= 1
    assert torch.equal(worn[~mask.expand_as(worn)], x[~mask.expand_as(x)])


@FEW
@given(eps=st.floats(0.05, 6.0), scale=st.floats(0.01, 1.0), seed=st.integers(0, 1000))
def test_l2_projection_is_the_nearest_point_of_ball_and_box(eps, scale, seed):
    # reference: bisection on the scale s of clamp(s * delta, -x, 1 - x), the form the
    # optimality conditions give; the helper must agree and be feasible
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(6, 1, 28, 28, generator=gen) > 0.6) * torch.rand(6, 1, 28, 28, generator=gen)
    delta = torch.randn(6, 1, 28, 28, generator=gen) * scale
    out = attacks._project_l2_box(delta, x, eps)
    assert (out.flatten(1).norm(dim=1) <= eps + 1e-5).all()
    assert ((x + out) >= -1e-6).all() and ((x + out) <= 1 + 1e-6).all()
    low, high = torch.zeros(6), torch.ones(6)
    for _ in range(60):
        mid = (low + high) / 2
        too_far = (torch.clamp(delta * mid.view(-1, 1, 1, 1), -x, 1 - x).flatten(1).norm(dim=1) > eps)
        high, low = torch.where(too_far, mid, high), torch.where(too_far, low, mid)
    reference = torch.clamp(delta * low.view(-1, 1, 1, 1), -x, 1 - x)
    assert torch.allclose(out, reference, atol=1e-4)


# ----------------------------------------------------------------------------
# known answers on linear models
# ----------------------------------------------------------------------------


FOUR = torch.zeros(28, 28, dtype=torch.bool)
FOUR[14, 12:16] = True  # class 1 reads 4 pixels; class 0 scores 1.0


@pytest.mark.parametrize("norm, enough, too_little", [("linf", 0.3, 0.2), ("l2", 0.6, 0.45)])
def test_targeted_pgd_reaches_target_exactly_when_budget_allows(norm, enough, too_little):
    # class 1 needs its 4 pixels to sum above 1: Linf needs eps > 1/4, L2 needs eps > 1/2
    model = linear_model(FOUR, 1.0)
    x = blank_on(FOUR)
    target = torch.ones(len(x), dtype=torch.long)
    assert not is_adversarial(model, x, target, targeted=True).any()
    adv = pgd(model, x, target, enough, norm=norm, targeted=True, steps=30)
    assert is_adversarial(model, adv, target, targeted=True).all()
    adv = pgd(model, x, target, too_little, norm=norm, targeted=True, steps=30, restarts=2)
    assert not is_adversarial(model, adv, target, targeted=True).any()


def test_targeted_fgsm_on_linear_model():
    model = linear_model(FOUR, 1.0)
    x = blank_on(FOUR)
    target = torch.ones(len(x), dtype=torch.long)
    assert is_adversarial(model, fgsm(model, x, target, 0.3, targeted=True), target, targeted=True).all()
    assert not is_adversarial(model, fgsm(model, x, target, 0.2, targeted=True), target, targeted=True).any()


BAND = torch.zeros(28, 28, dtype=torch.bool)
BAND[10:20] = True  # class 1 reads 280 pixels; class 0 scores 1.5: two pixels at 1 are needed


@pytest.mark.parametrize("method", ["greedy", "random_search"])
def test_l0_known_answer_on_linear_model(method):
    model = linear_model(BAND, 1.5)
    x = blank_on(BAND)
    target = torch.ones(len(x), dtype=torch.long)
    one = l0_attack(model, x, target, max_pixels=1, targeted=True, method=method, iterations=200)
    assert torch.equal(one, x)  # impossible with one pixel: returned unchanged
    two = l0_attack(model, x, target, max_pixels=2, targeted=True, method=method, iterations=500)
    assert is_adversarial(model, two, target, targeted=True).all()
    assert (changed_pixels(x, two) == 2).all()
    assert (two.flatten(1)[:, BAND.flatten()].sum(dim=1) == 2).all()  # both pixels where class 1 reads
    needed = min_pixels(model, x, target, targeted=True, methods=(method,), max_pixels=10, iterations=500)
    assert torch.equal(needed, torch.full((len(x),), 2.0))


def test_glasses_on_linear_model_use_the_band():
    # the band must cover class 1's pixels for the glasses to work
    model = linear_model(FOUR, 1.0)
    x = blank_on(FOUR, n=8)
    on = glasses(model, x, 1, mask=glasses_mask((12, 16)), steps=30)
    assert is_adversarial(model, apply_glasses(x, on), torch.ones(8, dtype=torch.long), targeted=True).all()
    off = glasses(model, x, 1, mask=glasses_mask((0, 5)), steps=30)
    assert torch.equal(apply_glasses(x, off), x)  # no gradient reaches a band the model ignores


# ----------------------------------------------------------------------------
# recheck: the independent check of an adversarial input
# ----------------------------------------------------------------------------


def two_band_pixels(x: torch.Tensor, pixels: int = 2) -> torch.Tensor:
    """``x`` with its first ``pixels`` pixels of ``BAND`` set to 1: read as class 1 by
    ``linear_model(BAND, 1.5)`` from two pixels on."""
    adv = x.clone().flatten(1)
    adv[:, BAND.flatten().nonzero()[:pixels, 0]] = 1.0
    return adv.view_as(x)


@pytest.mark.parametrize("norm,budget", [("linf", 1.0), ("l2", 2 ** 0.5), ("l0", 2)])
def test_recheck_passes_a_correct_adversarial_input_and_reports_it_fooled(norm, budget):
    model = linear_model(BAND, 1.5)
    x = blank_on(BAND)
    y = torch.zeros(len(x), dtype=torch.long)
    adv = two_band_pixels(x)
    assert not recheck(model, x, adv, y, norm=norm, budget=budget).any()  # every image fooled
    mixed = torch.cat([adv[:2], x[2:]])  # the last two not attacked at all
    still = recheck(model, x, mixed, y, norm=norm, budget=budget)
    assert still.dtype == torch.bool and still.tolist() == [False, False, True, True]
    assert torch.equal(still, ~is_adversarial(model, mixed, y))
    assert recheck(model, x[:0], x[:0], y[:0], norm=norm, budget=budget).shape == (0,)


@pytest.mark.parametrize("norm,budget", [("linf", 0.5), ("l2", 1.0), ("l0", 5)])
@pytest.mark.parametrize("value", [-1e-3, 1 + 1e-3])
def test_recheck_raises_on_one_pixel_outside_the_unit_box(cnn, small, norm, budget, value):
    x, y = small
    adv = x.clone().flatten(1)
    pixel = adv[1].argmin() if value < 0 else adv[1].argmax()  # a pixel at 0 (or 1): moved by only 1e-3
    assert abs(adv[1, pixel] - value) < 2e-3
    adv[1, pixel] = value  # within every budget: only the range is wrong
    adv = adv.view_as(x)
    with pytest.raises(RuntimeError, match=r"outside \[0, 1\]"):
        recheck(cnn, x, adv, y, norm=norm, budget=budget)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_recheck_raises_when_a_budget_is_exceeded_by_a_hundredth(cnn, norm):
    x = torch.full((3, 1, 28, 28), 0.5)
    y = torch.zeros(3, dtype=torch.long)
    eps = 0.1
    adv = x.clone()
    adv[2, 0, 5, 5] += eps  # exactly on the budget: fine
    assert recheck(cnn, x, adv, y, norm=norm, budget=eps).shape == (3,)
    adv[2, 0, 5, 5] += 1e-2
    with pytest.raises(RuntimeError, match=f"{'Linf' if norm == 'linf' else 'L2'} ball of radius 0.1: image 2"):
        recheck(cnn, x, adv, y, norm=norm, budget=eps)
    spread = x + (eps + 1e-2) / 28  # every pixel moved a little: L2 norm 0.11, Linf norm 0.004
    if norm == "l2":
        with pytest.raises(RuntimeError, match="L2 ball"):
            recheck(cnn, x, spread, y, norm="l2", budget=eps)
    else:
        assert recheck(cnn, x, spread, y, norm="linf", budget=eps).shape == (3,)


def test_recheck_raises_on_one_pixel_too_many_and_takes_a_budget_per_image():
    model = linear_model(BAND, 1.5)
    x = blank_on(BAND)
    y = torch.zeros(len(x), dtype=torch.long)
    three = two_band_pixels(x, 3)
    assert not recheck(model, x, three, y, norm="l0", budget=3).any()
    with pytest.raises(RuntimeError, match="changed more pixels than its budget: image 0 changed 3, allowed 2"):
        recheck(model, x, three, y, norm="l0", budget=2)
    budgets = torch.tensor([3, 3, 2, 3])
    with pytest.raises(RuntimeError, match="image 2 changed 3, allowed 2"):
        recheck(model, x, three, y, norm="l0", budget=budgets)
    assert not recheck(model, x, three, y, norm="l0", budget=budgets + 1).any()
    assert not recheck(model, x, three, y, norm="l0", budget=torch.full((4,), 3.0)).any()  # counts as floats


def test_recheck_targeted_is_true_where_the_target_is_not_yet_read():
    model = linear_model(BAND, 1.5)
    x = blank_on(BAND)
    adv = torch.cat([two_band_pixels(x[:2]), x[2:]])  # images 0 and 1 now read as 1; 2 and 3 still as 0
    ones = torch.ones(len(x), dtype=torch.long)
    assert recheck(model, x, adv, ones, norm="l0", budget=2, targeted=True).tolist() == [False, False, True, True]
    assert recheck(model, x, adv, 2, norm="l0", budget=2, targeted=True).all()  # nobody reads as 2
    # untargeted with the same labels: True where the model still reads 1
    assert recheck(model, x, adv, ones, norm="l0", budget=2).tolist() == [True, True, False, False]


def test_recheck_raises_on_another_shape_and_bad_arguments(cnn, small):
    x, y = small
    with pytest.raises(RuntimeError, match="shape"):
        recheck(cnn, x, x[:, :, :27], y, norm="linf", budget=0.1)
    with pytest.raises(RuntimeError, match="shape"):
        recheck(cnn, x, x[:-1], y, norm="l2", budget=1.0)
    with pytest.raises(ValueError, match="norm"):
        recheck(cnn, x, x, y, norm="l1", budget=1.0)
    with pytest.raises(ValueError, match="budget"):
        recheck(cnn, x, x, y, norm="linf", budget=-0.1)
    with pytest.raises(ValueError, match="y"):
        recheck(cnn, x, x, y[:-1], norm="linf", budget=0.1)
    with pytest.raises(RuntimeError, match="pgd left the Linf ball"):
        recheck(cnn, x, (x + 0.2).clamp(0, 1), y, norm="linf", budget=0.1, name="pgd")


def test_recheck_agrees_with_every_attack_on_the_cnn(cnn, small):
    x, y = small
    x, y = x[:16], y[:16]
    for norm, eps, adv in [("linf", 0.15, pgd(cnn, x, y, 0.15, steps=10)),
                           ("l2", 1.5, pgd(cnn, x, y, 1.5, norm="l2", steps=10)),
                           ("linf", 0.15, fgsm(cnn, x, y, 0.15)),
                           ("l2", 1.5, attacks.square_l2(cnn, x, y, 1.5, iterations=30)),
                           ("linf", 0.15, attacks.square_linf(cnn, x, y, 0.15, iterations=30)),
                           ("l0", 10, l0_attack(cnn, x, y, max_pixels=10))]:
        assert torch.equal(recheck(cnn, x, adv, y, norm=norm, budget=eps, tolerance=1e-5),
                           ~is_adversarial(cnn, adv, y))


# ----------------------------------------------------------------------------
# the real CNN
# ----------------------------------------------------------------------------


def test_pgd_reaches_at_least_fgsm_loss(cnn, small):
    x, y = small
    eps = 0.1
    fgsm_loss = ce(cnn, fgsm(cnn, x, y, eps), y)
    pgd_loss = ce(cnn, pgd(cnn, x, y, eps, loss="ce", steps=20), y)
    assert pgd_loss.sum() >= fgsm_loss.sum()
    assert (pgd_loss >= fgsm_loss - 1e-3).float().mean() >= 0.9


@pytest.mark.parametrize("norm, eps", [("linf", 0.3), ("l2", 3.0)])
def test_pgd_fools_the_cnn_and_successes_recheck(cnn, small, norm, eps):
    x, y = small[0][:32], small[1][:32]
    adv = pgd(cnn, x, y, eps, norm=norm, steps=20)
    fooled = is_adversarial(cnn, adv, y)
    assert fooled.float().mean() >= 0.95
    diff = (adv - x).flatten(1)
    assert (diff.abs().amax(1) if norm == "linf" else diff.norm(dim=1)).max() <= eps + 1e-5


def test_restarts_only_add_successes(cnn, small):
    x, y = small[0][:32], small[1][:32]
    one = is_adversarial(cnn, pgd(cnn, x, y, 1.0, norm="l2", steps=10, restarts=1, seed=3), y)
    three = is_adversarial(cnn, pgd(cnn, x, y, 1.0, norm="l2", steps=10, restarts=3, seed=3), y)
    assert (three | ~one).all() and three.sum() >= one.sum()


def test_pgd_is_reproducible_with_a_seed(cnn, small):
    x, y = small[0][:8], small[1][:8]
    a = pgd(cnn, x, y, 0.2, steps=5, seed=7)
    assert torch.equal(a, pgd(cnn, x, y, 0.2, steps=5, seed=7))
    assert torch.equal(a, pgd(cnn, x, y, 0.2, steps=5, generator=torch.Generator().manual_seed(7)))


def test_targeted_pgd_on_cnn(cnn, small):
    x, y = small[0][:32], small[1][:32]
    target = (y + 1) % 10
    adv = pgd(cnn, x, target, 0.3, steps=20, targeted=True)
    assert is_adversarial(cnn, adv, target, targeted=True).float().mean() >= 0.9


@pytest.mark.parametrize("method", ["greedy", "random_search"])
def test_l0_untargeted_succeeds_on_cnn_with_30_pixels(cnn, small, method):
    x, y = small[0][:32], small[1][:32]
    adv = l0_attack(cnn, x, y, max_pixels=30, method=method, iterations=500)
    assert (changed_pixels(x, adv) <= 30).all()
    fooled = is_adversarial(cnn, adv, y)
    assert fooled.float().mean() >= 0.9
    assert torch.equal(adv[~fooled], x[~fooled])


def test_min_pixels_counts_recheck(cnn, small):
    x, y = small[0][:16], small[1][:16]
    target = (y + 1) % 10
    needed, adv = min_pixels(cnn, x, target, targeted=True, max_pixels=20, iterations=300, patience=60,
                             return_images=True)
    assert needed.shape == (16,) and needed.dtype == torch.float32
    found = torch.isfinite(needed)
    assert found.float().mean() >= 0.5
    assert is_adversarial(cnn, adv[found], target[found], targeted=True).all()
    assert torch.equal(changed_pixels(x, adv)[found].float(), needed[found])
    assert (needed[found] <= 20).all()
    assert torch.equal(adv[~found], x[~found])
    # the minimum over methods is no worse than either method alone
    greedy = min_pixels(cnn, x, target, targeted=True, methods=("greedy",), max_pixels=20)
    assert (needed <= greedy).all()


def test_glasses_on_cnn_help(cnn, test_split):
    x, y = test_split
    x = x[y == 1][:32]
    target = torch.full((len(x),), 7)
    delta = glasses(cnn, x, 7, steps=40)
    before = is_adversarial(cnn, x, target, targeted=True).float().mean()
    after = is_adversarial(cnn, apply_glasses(x, delta), target, targeted=True).float().mean()
    assert after >= before + 0.3


def test_attacks_leave_the_model_alone(cnn, small):
    x, y = small[0][:4], small[1][:4]
    before = {k: v.clone() for k, v in cnn.state_dict().items()}
    pgd(cnn, x, y, 0.1, steps=2)
    l0_attack(cnn, x, y, max_pixels=3)
    glasses(cnn, x, 2, steps=2)
    assert not cnn.training
    assert all(p.grad is None for p in cnn.parameters())
    assert all(torch.equal(before[k], v) for k, v in cnn.state_dict().items())


# ----------------------------------------------------------------------------
# clear errors naming the parameter
# ----------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors(cnn, small):
    x, y = small[0][:4], small[1][:4]
    with pytest.raises(ValueError, match="eps"):
        fgsm(cnn, x, y, -0.1)
    with pytest.raises(ValueError, match="eps"):
        pgd(cnn, x, y, -1.0)
    with pytest.raises(ValueError, match="eps"):
        glasses(cnn, x, 3, eps=-0.5)
    with pytest.raises(ValueError, match="norm"):
        pgd(cnn, x, y, 0.1, norm="l1")
    with pytest.raises(ValueError, match="loss"):
        pgd(cnn, x, y, 0.1, loss="hinge")
    with pytest.raises(ValueError, match="method"):
        l0_attack(cnn, x, y, max_pixels=3, method="magic")
    with pytest.raises(ValueError, match="methods"):
        min_pixels(cnn, x, y, methods=("greedy", "magic"))
    with pytest.raises(ValueError, match="max_pixels"):
        l0_attack(cnn, x, y, max_pixels=-1)
    with pytest.raises(ValueError, match="max_pixels"):
        min_pixels(cnn, x, y, max_pixels=-2)
    with pytest.raises(ValueError, match=r"x must have values in \[0, 1\]"):
        pgd(cnn, x * 2, y, 0.1)
    with pytest.raises(ValueError, match=r"x must have values in \[0, 1\]"):
        l0_attack(cnn, x - 0.5, y, max_pixels=3)
    with pytest.raises(ValueError, match="x must have shape"):
        fgsm(cnn, x[:, 0], y, 0.1)
    with pytest.raises(ValueError, match="x must have shape"):
        pgd(cnn, x.repeat(1, 3, 1, 1), y, 0.1)
    with pytest.raises(ValueError, match="y must have shape"):
        pgd(cnn, x, y[:2], 0.1)
    with pytest.raises(ValueError, match="y must hold class indices"):
        l0_attack(cnn, x, y + 10, max_pixels=3)
    with pytest.raises(ValueError, match="target"):
        glasses(cnn, x, 12)
    with pytest.raises(ValueError, match="mask"):
        glasses(cnn, x, 3, mask=torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="delta"):
        apply_glasses(x, torch.zeros(28))
    with pytest.raises(ValueError, match="rows"):
        glasses_mask((20, 10))
    with pytest.raises(ValueError, match="steps"):
        pgd(cnn, x, y, 0.1, steps=-1)
    with pytest.raises(TypeError, match="max_pixels"):
        l0_attack(cnn, x, y, max_pixels=2.5)


def test_module_has_no_side_effects_on_import():
    import importlib

    before = torch.get_num_threads(), torch.is_grad_enabled()
    importlib.reload(attacks)
    assert (torch.get_num_threads(), torch.is_grad_enabled()) == before


# ----------------------------------------------------------------------------
# the gradient-free L2 attack (notebook 06)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.5, 2.0])
def test_square_l2_keeps_budget_and_range(cnn, test_split, eps):
    x, y = test_split
    adv = attacks.square_l2(cnn, x[:40], y[:40], eps, iterations=50, seed=1)
    assert adv.shape == x[:40].shape and adv.min() >= 0 and adv.max() <= 1
    assert ((adv - x[:40]).flatten(1).norm(dim=1) <= eps + 1e-5).all()


def test_square_l2_needs_no_gradient_and_succeeds_where_it_must(cnn, test_split):
    x, y = test_split
    x, y = x[:60], y[:60]

    class NoGradient(torch.nn.Module):  # the same function, but its gradient is zero everywhere
        def forward(self, images):
            return cnn(images).detach() + 0 * images.sum()

    adv = attacks.square_l2(NoGradient(), x, y, 3.0, iterations=300, seed=0)
    fooled = attacks.is_adversarial(cnn, adv, y)
    assert fooled.float().mean() >= 0.5
    assert torch.equal(attacks.square_l2(cnn, x, y, 0.0), x)


def test_square_l2_bad_inputs(cnn, test_split):
    x, y = test_split
    with pytest.raises(ValueError, match="eps"):
        attacks.square_l2(cnn, x[:2], y[:2], -1.0)
    with pytest.raises(ValueError, match="iterations"):
        attacks.square_l2(cnn, x[:2], y[:2], 1.0, iterations=-3)
    with pytest.raises(ValueError):
        attacks.square_l2(cnn, x[:2] + 2, y[:2], 1.0)


# ----------------------------------------------------------------------------
# the gradient-free Linf attack (notebook 08)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_square_linf_keeps_budget_and_range(cnn, test_split, eps):
    x, y = test_split
    adv = attacks.square_linf(cnn, x[:40], y[:40], eps, iterations=50, seed=1)
    assert adv.shape == x[:40].shape and adv.min() >= 0 and adv.max() <= 1
    assert ((adv - x[:40]).abs().flatten(1).amax(dim=1) <= eps + 1e-6).all()


def test_square_linf_needs_no_gradient_and_succeeds_where_it_must(cnn, test_split):
    x, y = test_split
    x, y = x[:60], y[:60]

    class NoGradient(torch.nn.Module):  # the same function, but its gradient is zero everywhere
        def forward(self, images):
            return cnn(images).detach() + 0 * images.sum()

    adv = attacks.square_linf(NoGradient(), x, y, 0.3, iterations=300, seed=0)
    assert attacks.is_adversarial(cnn, adv, y).float().mean() >= 0.5
    assert torch.equal(attacks.square_linf(cnn, x, y, 0.0), x)


def test_square_linf_bad_inputs(cnn, test_split):
    x, y = test_split
    with pytest.raises(ValueError, match="eps"):
        attacks.square_linf(cnn, x[:2], y[:2], -0.1)
    with pytest.raises(ValueError, match="iterations"):
        attacks.square_linf(cnn, x[:2], y[:2], 0.1, iterations=-3)
    with pytest.raises(ValueError):
        attacks.square_linf(cnn, x[:2] + 2, y[:2], 0.1)


# --- the attacks at full strength (defaults measured in benchmarks/attack_strength.py) -------------


def test_pgd_schedule_is_checked_and_both_schedules_keep_the_budget(cnn, small):
    x, y = small
    for schedule in attacks.SCHEDULES:
        adv = pgd(cnn, x[:16], y[:16], 0.1, steps=10, schedule=schedule)
        assert (adv - x[:16]).abs().amax() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    with pytest.raises(ValueError, match="schedule"):
        pgd(cnn, x[:2], y[:2], 0.1, schedule="linear")


def test_pgd_defaults_at_least_as_strong_as_the_old_ones(cnn, test_split):
    """The defaults (cross-entropy, cosine from eps) leave no more digits standing than the old
    defaults (margin loss, constant 2.5 eps / steps) on the same digits."""
    x, y = test_split
    x, y = x[:200], y[:200]
    new = attacks.recheck(cnn, x, pgd(cnn, x, y, 0.1), y, norm="linf", budget=0.1).float().mean()
    old = attacks.recheck(cnn, x, pgd(cnn, x, y, 0.1, loss="margin", schedule="constant"), y, norm="linf",
                          budget=0.1).float().mean()
    assert new <= old


def test_square_l2_uses_its_whole_budget_where_the_box_allows(cnn, test_split):
    """The perturbation of an image the attack did not fool ends at L2 eps (mass the box
    clips off is budget handed on, never lost to a rescaling)."""
    x, y = test_split
    x, y = x[:20], y[:20]
    adv = attacks.square_l2(cnn, x, y, 0.5, iterations=200, seed=0)
    size = (adv - x).flatten(1).norm(dim=1)
    assert size.max() <= 0.5 + 1e-5
    unfooled = attacks.recheck(cnn, x, adv, y, norm="l2", budget=0.5)
    assert unfooled.any() and (size[unfooled] > 0.99 * 0.5).all()  # at most 1% left unspent by the box


def test_min_pixels_pruning_never_adds_a_pixel_and_keeps_every_success(cnn, small):
    x, y = small
    x, y = x[:24], y[:24]
    raw = attacks.min_pixels(cnn, x, y, methods=("greedy",), max_pixels=30, prune=False)
    pruned, adv = attacks.min_pixels(cnn, x, y, methods=("greedy",), max_pixels=30, prune=True, return_images=True)
    assert (pruned <= raw).all() and torch.equal(torch.isfinite(pruned), torch.isfinite(raw))
    found = torch.isfinite(pruned) & (pruned > 0)
    assert not attacks.recheck(cnn, x[found], adv[found], y[found], norm="l0", budget=pruned[found]).any()
    assert (attacks.changed_pixels(x[found], adv[found]) == pruned[found]).all()


def test_prune_removes_a_pixel_the_success_does_not_need(cnn, small):
    """A success padded with a pixel far from the digit (a corner) loses that pixel."""
    from helpers.attacks.l0 import _prune

    x, y = small
    pixels, adv = attacks.min_pixels(cnn, x[:8], y[:8], methods=("greedy",), max_pixels=30, prune=True,
                                     return_images=True)
    i = int(torch.nonzero(torch.isfinite(pixels) & (pixels > 0))[0])
    padded = adv[i : i + 1].clone()
    padded[0, 0, 0, 0] = 1.0 - x[i, 0, 0, 0]  # an extra changed pixel in the corner
    assert attacks.changed_pixels(x[i : i + 1], padded).item() == pixels[i] + 1
    again = _prune(cnn, x[i : i + 1], padded, y[i : i + 1], False)
    assert attacks.changed_pixels(x[i : i + 1], again).item() <= pixels[i]
    assert again[0, 0, 0, 0] == x[i, 0, 0, 0]
