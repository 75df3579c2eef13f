"""helpers.caper: the thief's smudges and the CEO's glasses (notebook 02, replayed in 09).

Small batches and few steps, so the whole file runs in seconds on two CPU threads.
"""
from __future__ import annotations

import pytest
import torch

from helpers import caper
from helpers.caper import apply_glasses, glasses_mask

TOL = 1e-5


@pytest.fixture(scope="module")
def cast(test_split):
    x, y = test_split
    thief, ceo = caper.cast(x, y)
    return thief[:12], ceo[:24]


@pytest.fixture(scope="module")
def ceo_train():
    from helpers.data import load_dataset

    x, y = load_dataset("mnist", "train", source="bundled", verbose=False)
    return x[y == caper.CEO][:64]


def test_the_characters():
    assert caper.THIEF == 3 and caper.CEO == 8


def test_cast_picks_the_two_classes(test_split):
    x, y = test_split
    thief, ceo = caper.cast(x, y)
    assert len(thief) == int((y == 3).sum()) and len(ceo) == int((y == 8).sum())
    assert torch.equal(thief[0], x[y == 3][0])


@pytest.mark.parametrize("norm,eps", [("l2", 2.5), ("linf", 0.2)])
def test_impersonate_stays_in_budget_and_range_and_success_is_rechecked(cnn, cast, norm, eps):
    thief, _ = cast
    smudged, ok = caper.impersonate(cnn, thief, eps=eps, norm=norm, steps=10, restarts=1)
    assert smudged.shape == thief.shape and ok.shape == (len(thief),) and ok.dtype == torch.bool
    assert smudged.min() >= 0 and smudged.max() <= 1
    diff = (smudged - thief).flatten(1)
    size = diff.abs().amax(1) if norm == "linf" else diff.norm(dim=1)
    assert (size <= eps + TOL).all()
    with torch.no_grad():
        pred = cnn(smudged).argmax(1)
    assert torch.equal(ok, pred == caper.CEO)
    assert ok.float().mean() >= 0.5, "at these budgets most thieves pass as the CEO"


def test_impersonate_with_zero_budget_changes_nothing(cnn, cast):
    thief, _ = cast
    smudged, ok = caper.impersonate(cnn, thief, eps=0.0)
    assert torch.equal(smudged, thief)
    assert not ok.any()  # the camera reads these 3s as 3s


def test_glasses_are_zero_outside_the_mask_and_success_is_rechecked(cnn, cast, ceo_train):
    _, ceo_test = cast
    for mask in (None, glasses_mask(rows=(6, 11))):
        delta = caper.glasses_for(cnn, ceo_train, mask=mask, steps=10, batch_size=32)
        m = glasses_mask() if mask is None else mask
        assert delta.shape == (1, 1, 28, 28)
        assert (delta[~m] == 0).all() and delta.abs().max() <= 1
        rate = caper.glasses_success(cnn, delta, ceo_test, mask=m)
        worn = apply_glasses(ceo_test, delta)
        assert worn.min() >= 0 and worn.max() <= 1
        with torch.no_grad():
            expected = (cnn(worn).argmax(1) == caper.THIEF).float().mean().item()
        assert rate == pytest.approx(expected)
        assert 0.0 <= rate <= 1.0


def test_add_only_glasses_only_brighten(cnn, cast, ceo_train):
    """``add_only=True``: marks in [0, 1], so worn glasses never darken a pixel; the full glasses
    of the same run do darken some (else the control would test nothing)."""
    _, ceo_test = cast
    full = caper.glasses_for(cnn, ceo_train, steps=10, batch_size=32)
    added = caper.glasses_for(cnn, ceo_train, steps=10, batch_size=32, add_only=True)
    assert (full < 0).any() and (added >= 0).all() and (added > 0).any()
    assert (apply_glasses(ceo_test, added) >= ceo_test).all()
    with pytest.raises(TypeError, match="add_only"):
        caper.glasses_for(cnn, ceo_train, steps=1, add_only="yes")


def test_no_glasses_fool_nobody(cnn, cast):
    _, ceo_test = cast
    assert caper.glasses_success(cnn, torch.zeros(1, 1, 28, 28), ceo_test) == pytest.approx(
        caper.reads_as(cnn, ceo_test, caper.THIEF).float().mean().item()
    )


def test_replay_reports_both_halves(cnn, cast, ceo_train):
    thief, ceo_test = cast
    result = caper.replay(cnn, thief[:4], ceo_train[:16], ceo_test[:8], smudge_kwargs={"steps": 5, "restarts": 1},
                          glasses_kwargs={"steps": 5, "batch_size": 16})
    assert set(result) == {"thief_clean", "ceo_clean", "smudges", "glasses"}
    assert all(0.0 <= v <= 1.0 for v in result.values())


def test_bad_inputs_raise(cnn, cast):
    thief, ceo = cast
    with pytest.raises(ValueError, match="eps"):
        caper.impersonate(cnn, thief, eps=-0.1)
    with pytest.raises(ValueError, match="norm"):
        caper.impersonate(cnn, thief, norm="l1")
    with pytest.raises(ValueError, match="target"):
        caper.impersonate(cnn, thief, target=10)
    with pytest.raises(TypeError, match="target"):
        caper.impersonate(cnn, thief, target="8")
    with pytest.raises(TypeError, match="targeted"):
        caper.impersonate(cnn, thief, targeted=False)
    with pytest.raises(ValueError, match="thief_images"):
        caper.impersonate(cnn, thief * 2)  # outside [0, 1]
    with pytest.raises(ValueError, match="thief_images"):
        caper.impersonate(cnn, thief[:, :, :14])  # wrong shape
    with pytest.raises(ValueError, match="at least one"):
        caper.impersonate(cnn, thief[:0])
    with pytest.raises(TypeError, match="thief_images"):
        caper.impersonate(cnn, thief.numpy())
    with pytest.raises(TypeError, match="model"):
        caper.impersonate("cnn", thief)
    with pytest.raises(ValueError, match="outside the mask"):
        caper.glasses_success(cnn, torch.full((1, 1, 28, 28), 0.1), ceo)
    with pytest.raises(ValueError, match="delta"):
        caper.glasses_success(cnn, torch.zeros(1, 1, 14, 14), ceo)
    with pytest.raises(ValueError, match="delta"):
        caper.glasses_success(cnn, torch.full((1, 1, 28, 28), 2.0) * glasses_mask(), ceo)
    with pytest.raises(ValueError, match="ceo_images"):
        caper.glasses_for(cnn, ceo[:0])
    with pytest.raises(ValueError, match="target"):
        caper.glasses_for(cnn, ceo, target=-1)
