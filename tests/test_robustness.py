"""helpers.robustness: the minimum over attacks, re-checked; clear errors."""
from __future__ import annotations

import pytest
import torch

from helpers import attacks, robustness


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 1.5)])
def test_robust_is_the_minimum_over_attacks(cnn, test_split, norm, eps):
    x, y = test_split
    x, y = x[:60], y[:60]
    r = robustness.robust_accuracy(cnn, x, y, norm, eps, square_iterations=300)
    assert 0 <= r["robust"] <= min(r["pgd"], r["square"]) <= 1
    # PGD alone, re-run with the same settings, gives the same count: the numbers are real
    adv = attacks.pgd(cnn, x, y, eps, norm=norm, seed=0, **robustness.PGD)
    assert abs(r["pgd"] - (~attacks.is_adversarial(cnn, adv, y)).float().mean().item()) < 1e-9


def test_robust_accuracy_falls_with_the_budget(cnn, test_split):
    x, y = test_split
    small = robustness.robust_accuracy(cnn, x[:50], y[:50], "linf", 0.02, square_iterations=300)["robust"]
    large = robustness.robust_accuracy(cnn, x[:50], y[:50], "linf", 0.3, square_iterations=300)["robust"]
    assert large < small and large <= 0.1


def test_pixels_needed_rechecks_and_caps(cnn, test_split):
    x, y = test_split
    p = robustness.pixels_needed(cnn, x[:30], y[:30], max_pixels=25)
    assert p.shape == (30,)
    assert ((p >= 0) & ((p <= 25) | torch.isinf(p))).all()
    assert torch.isfinite(p).float().mean() >= 0.8  # the CNN falls to a few pixels


def test_bad_inputs(cnn, test_split):
    x, y = test_split
    with pytest.raises(ValueError, match="norm"):
        robustness.robust_accuracy(cnn, x[:2], y[:2], "l1", 0.1)
    with pytest.raises(ValueError, match="eps"):
        robustness.robust_accuracy(cnn, x[:2], y[:2], "l2", -1.0)
    with pytest.raises(ValueError):
        robustness.robust_accuracy(cnn, x[:2] * 3, y[:2], "l2", 1.0)


def test_robust_curve_starts_at_clean_and_never_rises(cnn, test_split):
    x, y = test_split
    x, y = x[:40], y[:40]
    curve = robustness.robust_curve(cnn, x, y, "linf", [0.0, 0.05, 0.1, 0.3], square_iterations=300)
    clean = (cnn(x).argmax(1) == y).float().mean().item()
    assert curve[0] == clean
    assert all(a >= b for a, b in zip(curve, curve[1:]))
    assert curve[-1] <= 0.05  # at Linf 0.3 the attacks must get through the plain CNN


def test_robust_curve_never_beats_a_certificate(test_split):
    """The Lipschitz CNN's certified accuracy at an L2 radius is a floor no attack may break."""
    from helpers import certainty, models

    lip = models.load_pretrained("lipschitz_cnn")
    x, y = test_split
    x, y = x[:60], y[:60]
    radii = [0.5, 1.0, 1.58]
    curve = robustness.robust_curve(lip, x, y, "l2", radii, square_iterations=300)
    certified = certainty.certified_accuracy(lip, x, y, radii)
    assert all(r >= c for r, c in zip(curve, certified.tolist())), (curve, certified)
    assert certified[0] > 0.5  # the comparison is not vacuous


def test_robust_curve_bad_budgets(cnn, test_split):
    x, y = test_split
    with pytest.raises(ValueError, match="ascending"):
        robustness.robust_curve(cnn, x[:2], y[:2], "l2", [1.0, 0.5])
    with pytest.raises(ValueError, match="budgets"):
        robustness.robust_curve(cnn, x[:2], y[:2], "l2", [-1.0])


def test_robust_flags_are_nested_and_agree_with_pgd_rerun_by_hand(cnn, test_split):
    x, y = test_split
    x, y = x[:40], y[:40]
    flags = robustness.robust_flags(cnn, x, y, "l2", 1.0, square_iterations=200)
    assert set(flags) == {"correct", "pgd", "robust"}
    assert not (flags["robust"] & ~flags["pgd"]).any() and not (flags["pgd"] & ~flags["correct"]).any()
    # the numbers are real: PGD re-run by hand on the digits read correctly gives the same flags
    right = flags["correct"]
    adv = attacks.pgd(cnn, x[right], y[right], 1.0, norm="l2", seed=0, **robustness.PGD)
    assert torch.equal(flags["pgd"][right], ~attacks.is_adversarial(cnn, adv, y[right]))


def test_settings_are_written_from_the_code(monkeypatch):
    words = robustness.settings("linf", square_iterations=1234)
    assert f"{robustness.PGD['steps']} steps" in words and "1234 queries" in words and "cross-entropy" in words
    monkeypatch.setitem(robustness.PGD, "steps", 77)
    assert "77 steps" in robustness.settings("l2")
    assert "margin" in robustness.settings("l0") and "pruned" in robustness.settings("l0")
    with pytest.raises(ValueError, match="norm"):
        robustness.settings("l1")
