"""helpers.stats: the intervals and paired tests behind notebook 11's verdicts.

scipy is not installed in the course environment, so the references here are values
computed by hand from the published formulas (written out independently of the module,
e.g. Wilson as the roots of its quadratic), well-known published values, and exact
enumeration of binomial / multinomial outcomes.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from helpers import stats

INF = float("inf")
Z95 = 1.959963984540054  # Phi^-1(0.975), the published constant


# ------------------------------------------------------------------ references by hand


def wilson_by_quadratic(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's interval as the two roots p of (k/n - p)^2 = z^2 p (1 - p) / n."""
    ph = k / n
    qa = 1 + z * z / n
    qb = -(2 * ph + z * z / n)
    qc = ph * ph
    root = math.sqrt(qb * qb - 4 * qa * qc)
    return (-qb - root) / (2 * qa), (-qb + root) / (2 * qa)


def wald(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The textbook Wald interval, a deliberately wrong stand-in for Wilson."""
    ph = k / n
    half = z * math.sqrt(ph * (1 - ph) / n)
    return max(0.0, ph - half), min(1.0, ph + half)


# (successes, n) -> published/hand-computed 95% Wilson limits.
WILSON_TABLE = {
    (0, 10): (0.0, 0.2775327999),
    (5, 10): (0.2365930905, 0.7634069095),
    (10, 10): (0.7224672001, 1.0),
    (38, 100): (0.2909759925, 0.4779024470),
    (450, 500): (0.8705780904, 0.9233224373),
}


def check_wilson_table(interval) -> None:
    """Assert that ``interval(k, n)`` gives the Wilson limits of WILSON_TABLE to 1e-6."""
    for (k, n), expected in WILSON_TABLE.items():
        assert interval(k, n) == pytest.approx(expected, abs=1e-6), (k, n)
        assert interval(k, n) == pytest.approx(wilson_by_quadratic(k, n), abs=1e-6), (k, n)


def exact_two_sided_minlike(k: int, m: int) -> float:
    """Exact binomial test at 1/2 by enumeration: sum of P(i) over P(i) <= P(k)."""
    if m == 0:
        return 1.0
    pk = math.comb(m, k)
    return min(1.0, sum(math.comb(m, i) for i in range(m + 1) if math.comb(m, i) <= pk) / 2**m)


def paired_bools(both: int, a_only: int, b_only: int, neither: int):
    a = torch.tensor([True] * both + [True] * a_only + [False] * b_only + [False] * neither)
    b = torch.tensor([True] * both + [False] * a_only + [True] * b_only + [False] * neither)
    return a, b


# ------------------------------------------------------------------------------ wilson


def test_wilson_matches_hand_computed_values():
    check_wilson_table(stats.wilson)


def test_the_wilson_check_rejects_a_wald_implementation():
    # The same check applied to the Wald interval must fail: for 0/10 Wald is (0, 0).
    assert wald(0, 10) == (0.0, 0.0)
    with pytest.raises(AssertionError):
        check_wilson_table(wald)


def test_wilson_endpoints_are_exact_at_the_boundaries():
    assert stats.wilson(0, 37)[0] == 0.0
    assert stats.wilson(37, 37)[1] == 1.0
    assert stats.wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("n", [1, 2, 7, 50, 1000])
def test_wilson_lies_in_unit_interval_and_contains_the_estimate(n):
    for k in range(n + 1) if n <= 50 else range(0, n + 1, 37):
        lo, hi = stats.wilson(k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0, (k, n, lo, hi)
        assert lo < hi


def test_wilson_other_confidence_levels():
    z99 = 2.5758293035489004  # Phi^-1(0.995)
    assert stats.wilson(38, 100, 0.99) == pytest.approx(wilson_by_quadratic(38, 100, z99), abs=1e-9)
    narrow, wide = stats.wilson(38, 100, 0.80), stats.wilson(38, 100, 0.99)
    assert wide[0] < narrow[0] and narrow[1] < wide[1]
    # Symmetry: the interval for failures is the mirror image.
    lo, hi = stats.wilson(13, 40)
    assert stats.wilson(27, 40) == pytest.approx((1 - hi, 1 - lo), abs=1e-12)


def test_wilson_coverage_at_n_50_is_near_nominal():
    # Exact coverage: sum of Binomial(50, p) probabilities of the k whose interval holds p.
    n = 50
    intervals = [stats.wilson(k, n) for k in range(n + 1)]
    coverages = []
    for p in np.linspace(0.01, 0.99, 99):
        pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
        coverages.append(sum(w for w, (lo, hi) in zip(pmf, intervals) if lo <= p <= hi))
    mean = sum(coverages) / len(coverages)
    assert 0.90 <= mean <= 0.99, mean
    assert min(coverages) > 0.80  # Wilson has no collapse near the edges (Wald does)
    # The same computation for Wald is far below nominal: the check discriminates.
    wald_intervals = [wald(k, n) for k in range(n + 1)]
    wald_cov = []
    for p in np.linspace(0.01, 0.99, 99):
        pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
        wald_cov.append(sum(w for w, (lo, hi) in zip(pmf, wald_intervals) if lo <= p <= hi))
    assert min(wald_cov) < 0.80


@pytest.mark.parametrize(
    "args",
    [
        (-1, 10),
        (11, 10),
        (0, -1),
        (2.0, 10),
        (2, 10.0),
        (True, 10),
        (1, True),
        ("3", 10),
        (3, 10, 0.0),
        (3, 10, 1.0),
        (3, 10, 1.5),
        (3, 10, -0.5),
        (3, 10, float("nan")),
        (3, 10, True),
    ],
)
def test_wilson_rejects_bad_input(args):
    with pytest.raises(ValueError):
        stats.wilson(*args)


def test_wilson_accepts_numpy_integers():
    assert stats.wilson(np.int64(38), np.int32(100)) == pytest.approx(WILSON_TABLE[(38, 100)], abs=1e-6)


# -------------------------------------------------------------------- bootstrap_median


def test_bootstrap_median_contains_the_sample_median_and_is_deterministic():
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(101 + 50 * seed, generator=g).exp()  # skewed
        median = float(torch.median(x))
        lo, hi = stats.bootstrap_median(x, seed=seed)
        assert lo <= median <= hi
        assert lo < hi
        assert stats.bootstrap_median(x, seed=seed) == (lo, hi)
    # The seed matters (endpoints are sample elements, so two seeds may coincide; ten won't).
    x = torch.randn(200, generator=torch.Generator().manual_seed(9))
    assert len({stats.bootstrap_median(x, seed=s, resamples=50) for s in range(10)}) > 1


def test_bootstrap_median_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    stats.bootstrap_median(torch.arange(50.0), seed=4)
    assert torch.equal(torch.rand(3), expected)


def test_bootstrap_median_uses_the_lower_median():
    # Resampled lower medians are always sample elements; averaged medians (2.5, ...) are not.
    values = [1.0, 2.0, 3.0, 4.0]
    for confidence in (0.05, 0.2, 0.5, 0.8, 0.95):
        lo, hi = stats.bootstrap_median(values, confidence=confidence, seed=3)
        assert lo in values and hi in values, (confidence, lo, hi)
    # Two values: the resampled lower median is 0 unless both draws are 1 (prob 1/4).
    lo, hi = stats.bootstrap_median([0.0, 1.0], confidence=0.5)
    assert (lo, hi) == (0.0, 1.0)
    lo, hi = stats.bootstrap_median([0.0, INF], confidence=0.5)
    assert (lo, hi) == (0.0, INF)


def test_bootstrap_median_handles_inf():
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, INF, INF, INF, INF]  # lower median 5
    lo, hi = stats.bootstrap_median(x)
    assert math.isfinite(lo) and lo <= 5.0 and hi == INF
    assert stats.bootstrap_median([INF] * 7) == (INF, INF)
    lo, hi = stats.bootstrap_median([-INF, 0.0, 0.0, 0.0, 0.0, INF])
    assert lo <= 0.0 <= hi and not math.isnan(lo) and not math.isnan(hi)
    lo, hi = stats.bootstrap_median([2.0] * 20 + [INF] * 3)
    assert (lo, hi) == (2.0, 2.0)
    assert stats.bootstrap_median([3.5]) == (3.5, 3.5)


def test_bootstrap_median_width_matches_the_asymptotic_standard_error():
    # For N(0,1), the median's standard error is sqrt(pi/2)/sqrt(n).
    n = 2000
    ratios = []
    for seed in range(4):
        y = torch.randn(n, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.float64)
        lo, hi = stats.bootstrap_median(y, seed=seed)
        ratios.append((hi - lo) / (2 * Z95 * math.sqrt(math.pi / 2) / math.sqrt(n)))
    assert 0.8 < sum(ratios) / len(ratios) < 1.25, ratios
    # A wider confidence gives a wider (nested) interval.
    y = torch.randn(500, generator=torch.Generator().manual_seed(5))
    lo90, hi90 = stats.bootstrap_median(y, confidence=0.90)
    lo99, hi99 = stats.bootstrap_median(y, confidence=0.99)
    assert lo99 <= lo90 < hi90 <= hi99


def test_bootstrap_median_accepts_sequences_arrays_and_tensors_alike():
    values = [0.3, 5.0, 2.0, 9.0, 1.0, 4.0, 7.0]
    expected = stats.bootstrap_median(values, seed=7)
    assert stats.bootstrap_median(np.array(values), seed=7) == expected
    assert stats.bootstrap_median(torch.tensor(values, dtype=torch.float64), seed=7) == expected
    assert stats.bootstrap_median(torch.tensor([3, 1, 2]), seed=0) == stats.bootstrap_median(
        [3.0, 1.0, 2.0], seed=0
    )


@pytest.mark.parametrize(
    "values,kwargs",
    [
        ([], {}),
        (torch.empty(0), {}),
        ([1.0, float("nan")], {}),
        (torch.tensor([1.0, float("nan")]), {}),
        (torch.ones(3, 3), {}),
        (torch.tensor(1.0), {}),
        (torch.tensor([True, False]), {}),
        (["a", "b"], {}),
        ([1.0, 2.0], {"resamples": 0}),
        ([1.0, 2.0], {"resamples": 10.5}),
        ([1.0, 2.0], {"confidence": 1.0}),
        ([1.0, 2.0], {"confidence": 0}),
        ([1.0, 2.0], {"seed": 1.5}),
    ],
)
def test_bootstrap_median_rejects_bad_input(values, kwargs):
    with pytest.raises(ValueError):
        stats.bootstrap_median(values, **kwargs)


# ------------------------------------------------------------------------------ mcnemar


@pytest.mark.parametrize(
    "a_only,b_only,expected",
    [
        (0, 6, 2 * 0.5**6),  # 0.03125
        (6, 0, 2 * 0.5**6),
        (1, 9, 22 / 1024),  # 2 (C(10,0) + C(10,1)) / 2^10
        (3, 3, 1.0),
        (0, 0, 1.0),
        (0, 1, 1.0),
        (2, 8, 2 * (1 + 10 + 45) / 2**10),
    ],
)
def test_mcnemar_exact_p_for_small_cases(a_only, b_only, expected):
    a, b = paired_bools(both=5, a_only=a_only, b_only=b_only, neither=4)
    result = stats.mcnemar(a, b)
    assert result["a_only"] == a_only and result["b_only"] == b_only
    assert result["p_value"] == pytest.approx(expected, rel=1e-12)
    n = 9 + a_only + b_only
    assert result["difference"] == pytest.approx((a_only - b_only) / n)
    assert result["difference"] == pytest.approx(float(a.float().mean() - b.float().mean()))


def test_mcnemar_p_matches_enumeration_and_a_one_sided_p_would_not():
    for x, y in itertools.product(range(16), repeat=2):
        a, b = paired_bools(2, x, y, 1)
        p = stats.mcnemar(a, b)["p_value"]
        assert p == pytest.approx(exact_two_sided_minlike(x, x + y), rel=1e-12), (x, y)
        assert 0.0 < p <= 1.0
    # A one-sided p (no doubling) would be caught by the (0, 6) case above.
    assert 0.5**6 != pytest.approx(2 * 0.5**6)


def test_mcnemar_large_counts_do_not_overflow_and_agree_with_the_normal_approximation():
    a, b = paired_bools(both=0, a_only=5000, b_only=5200, neither=0)
    p = stats.mcnemar(a, b)["p_value"]
    chi = (200 - 1) / math.sqrt(10200)  # continuity-corrected McNemar statistic
    approx = math.erfc(chi / math.sqrt(2))
    assert p == pytest.approx(approx, rel=0.05)
    a, b = paired_bools(both=0, a_only=0, b_only=3000, neither=0)
    assert stats.mcnemar(a, b)["p_value"] == 0.0  # 2 / 2^3000 underflows cleanly


def test_mcnemar_interval_is_newcombe_method_10():
    both, a_only, b_only, neither = 30, 12, 4, 54
    n = both + a_only + b_only + neither
    a, b = paired_bools(both, a_only, b_only, neither)
    result = stats.mcnemar(a, b)
    # Newcombe (1998) method 10, by hand.
    p1, p2 = (both + a_only) / n, (both + b_only) / n
    l1, u1 = wilson_by_quadratic(both + a_only, n)
    l2, u2 = wilson_by_quadratic(both + b_only, n)
    phi = (both * neither - a_only * b_only) / math.sqrt(
        (both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    )
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    assert result["difference"] == pytest.approx(0.08)
    assert result["difference_lo"] == pytest.approx(lower, abs=1e-9)
    assert result["difference_hi"] == pytest.approx(upper, abs=1e-9)
    assert lower < 0.08 < upper


def test_mcnemar_interval_is_not_a_degenerate_wald_interval():
    # No discordant pairs: the paired Wald interval has zero width, Newcombe's does not.
    a, b = paired_bools(both=7, a_only=0, b_only=0, neither=3)
    result = stats.mcnemar(a, b)
    assert result["difference"] == 0.0
    assert result["difference_lo"] < -0.01 and result["difference_hi"] > 0.01
    # Extremes stay inside [-1, 1].
    a, b = paired_bools(0, 20, 0, 0)
    result = stats.mcnemar(a, b)
    assert result["difference"] == 1.0
    assert -1.0 <= result["difference_lo"] < 1.0 and result["difference_hi"] == 1.0


def test_mcnemar_interval_coverage_by_exact_enumeration():
    # All 2x2 paired tables of n = 20, weighted by their multinomial probabilities.
    n = 20
    intervals = {}
    for both in range(n + 1):
        for a_only in range(n + 1 - both):
            for b_only in range(n + 1 - both - a_only):
                neither = n - both - a_only - b_only
                r = stats.mcnemar(*paired_bools(both, a_only, b_only, neither))
                intervals[(both, a_only, b_only, neither)] = (r["difference_lo"], r["difference_hi"])
                assert r["difference_lo"] <= r["difference"] <= r["difference_hi"]
                assert -1.0 <= r["difference_lo"] and r["difference_hi"] <= 1.0
    coverages = []
    for cells in [
        (0.4, 0.2, 0.1, 0.3),
        (0.25, 0.25, 0.25, 0.25),
        (0.7, 0.05, 0.05, 0.2),
        (0.1, 0.3, 0.1, 0.5),
        (0.5, 0.15, 0.05, 0.3),
        (0.2, 0.1, 0.4, 0.3),
    ]:
        truth = cells[1] - cells[2]
        cover = 0.0
        for (x11, x10, x01, x00), (lo, hi) in intervals.items():
            if lo <= truth <= hi:
                cover += (
                    math.factorial(n)
                    / (math.factorial(x11) * math.factorial(x10) * math.factorial(x01) * math.factorial(x00))
                    * cells[0] ** x11 * cells[1] ** x10 * cells[2] ** x01 * cells[3] ** x00
                )
        coverages.append(cover)
    assert 0.90 <= sum(coverages) / len(coverages) <= 0.99, coverages
    assert min(coverages) > 0.85, coverages


def test_mcnemar_accepts_bool_sequences_and_arrays():
    a = [True, True, False, True, False]
    b = [False, True, False, False, True]
    expected = stats.mcnemar(torch.tensor(a), torch.tensor(b))
    assert stats.mcnemar(a, b) == expected
    assert stats.mcnemar(np.array(a), np.array(b)) == expected
    assert (expected["a_only"], expected["b_only"]) == (2, 1)


@pytest.mark.parametrize(
    "a,b",
    [
        (torch.tensor([True, False]), torch.tensor([True, False, True])),
        (torch.tensor([1, 0, 1]), torch.tensor([1, 1, 0])),
        (torch.tensor([1.0, 0.0]), torch.tensor([True, False])),
        (torch.tensor([True, False]), [1, 0]),
        (torch.empty(0, dtype=torch.bool), torch.empty(0, dtype=torch.bool)),
        ([], []),
        (torch.ones(2, 2, dtype=torch.bool), torch.ones(2, 2, dtype=torch.bool)),
    ],
)
def test_mcnemar_rejects_bad_input(a, b):
    with pytest.raises(ValueError):
        stats.mcnemar(a, b)


# ---------------------------------------------------------------------------- sign_test


def test_sign_test_known_cases():
    r = stats.sign_test([1.0] * 6, [2.0] * 6)
    assert (r["a_larger"], r["b_larger"], r["ties"]) == (0, 6, 0)
    assert r["p_value"] == pytest.approx(0.03125, rel=1e-12)
    r = stats.sign_test([3.0, 1.0, 5.0, 0.0], [2.0, 2.0, 4.0, 1.0])
    assert (r["a_larger"], r["b_larger"], r["ties"]) == (2, 2, 0)
    assert r["p_value"] == 1.0
    r = stats.sign_test([5.0] + [1.0] * 9, [1.0] + [5.0] * 9)
    assert r["p_value"] == pytest.approx(22 / 1024, rel=1e-12)
    r = stats.sign_test([2.0, 2.0], [2.0, 2.0])
    assert (r["a_larger"], r["b_larger"], r["ties"], r["p_value"]) == (0, 0, 2, 1.0)


def test_sign_test_drops_ties_including_inf_and_orders_inf_last():
    a = [INF, INF, INF, 3.0, INF, INF, INF, INF, INF, 7.0, -INF]
    b = [INF, 4.0, 9.0, 3.0, 1.0, 2.0, 5.0, 6.0, 8.0, INF, -INF]
    r = stats.sign_test(a, b)
    assert (r["a_larger"], r["b_larger"], r["ties"]) == (7, 1, 3)
    assert r["p_value"] == pytest.approx(2 * (1 + 8) / 2**8, rel=1e-12)
    assert not math.isnan(r["p_value"])


def test_sign_test_matches_enumeration_on_random_data():
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        n = 5 + trial
        a = torch.randint(0, 4, (n,), generator=g).double()
        b = torch.randint(0, 4, (n,), generator=g).double()
        r = stats.sign_test(a, b)
        assert r["a_larger"] + r["b_larger"] + r["ties"] == n
        assert r["p_value"] == pytest.approx(
            exact_two_sided_minlike(r["a_larger"], r["a_larger"] + r["b_larger"]), rel=1e-12
        )
        swapped = stats.sign_test(b, a)
        assert swapped["p_value"] == r["p_value"] and swapped["a_larger"] == r["b_larger"]


@pytest.mark.parametrize(
    "a,b",
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0]),
        ([], []),
        (torch.empty(0), torch.empty(0)),
        ([1.0, float("nan")], [1.0, 2.0]),
        ([1.0, 2.0], torch.tensor([float("nan"), 2.0])),
        (torch.tensor([True, False]), torch.tensor([True, True])),
        (["x", "y"], [1.0, 2.0]),
        (torch.ones(2, 2), torch.ones(2, 2)),
    ],
)
def test_sign_test_rejects_bad_input(a, b):
    with pytest.raises(ValueError):
        stats.sign_test(a, b)


# ----------------------------------------------------- paired_bootstrap_median_difference


def test_paired_difference_point_is_the_difference_of_lower_medians():
    d, lo, hi = stats.paired_bootstrap_median_difference([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0])
    assert d == 2.0  # lower median of 1..4 is 2, not 2.5
    assert lo <= d <= hi


def test_paired_difference_keeps_pairs_together():
    # b = a + 1 exactly: every resample's difference is -1, so the interval is a point.
    # Resampling a and b independently would give a wide interval.
    a = torch.randn(300, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 10
    d, lo, hi = stats.paired_bootstrap_median_difference(a, a + 1.0)
    assert (d, lo, hi) == pytest.approx((-1.0, -1.0, -1.0), abs=1e-9)


def test_paired_difference_contains_the_point_and_is_deterministic():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(400, generator=g).exp() * 5
    b = a + torch.randn(400, generator=g)
    result = stats.paired_bootstrap_median_difference(a, b, seed=11)
    d, lo, hi = result
    assert d == pytest.approx(float(torch.median(a) - torch.median(b)))
    assert lo <= d <= hi and lo < hi
    assert stats.paired_bootstrap_median_difference(a, b, seed=11) == result
    assert stats.paired_bootstrap_median_difference(a, b, seed=12) != result
    narrow = stats.paired_bootstrap_median_difference(a, b, seed=11, confidence=0.5)
    assert lo <= narrow[1] <= narrow[2] <= hi


def test_paired_difference_defines_inf_minus_inf_as_zero():
    d, lo, hi = stats.paired_bootstrap_median_difference([1.0, INF, INF], [2.0, INF, INF])
    assert d == 0.0
    assert not any(math.isnan(v) for v in (d, lo, hi))
    assert stats.paired_bootstrap_median_difference([INF] * 5, [INF] * 5) == (0.0, 0.0, 0.0)
    d, lo, hi = stats.paired_bootstrap_median_difference([INF] * 5, [1.0] * 5)
    assert (d, lo, hi) == (INF, INF, INF)
    d, lo, hi = stats.paired_bootstrap_median_difference([1.0] * 5, [INF] * 5)
    assert (d, lo, hi) == (-INF, -INF, -INF)
    # Mixed: some resamples have inf medians on one side only.
    a = [1.0, 2.0, 3.0, INF, INF, INF]
    b = [1.0, 1.0, 1.0, 1.0, 1.0, INF]
    d, lo, hi = stats.paired_bootstrap_median_difference(a, b)
    assert d == 2.0 and hi == INF and lo <= d
    assert not any(math.isnan(v) for v in (d, lo, hi))


@pytest.mark.parametrize(
    "a,b,kwargs",
    [
        ([1.0, 2.0], [1.0], {}),
        ([], [], {}),
        ([1.0, float("nan")], [1.0, 2.0], {}),
        (torch.tensor([True]), torch.tensor([False]), {}),
        (torch.ones(2, 2), torch.ones(2, 2), {}),
        ([1.0, 2.0], [1.0, 2.0], {"resamples": 0}),
        ([1.0, 2.0], [1.0, 2.0], {"confidence": 2.0}),
        ([1.0, 2.0], [1.0, 2.0], {"seed": True}),
    ],
)
def test_paired_difference_rejects_bad_input(a, b, kwargs):
    with pytest.raises(ValueError):
        stats.paired_bootstrap_median_difference(a, b, **kwargs)


# ------------------------------------------------------------------------------ module


def test_module_is_self_contained():
    import ast
    import inspect

    source = inspect.getsource(stats)
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "math", "numbers", "collections", "statistics", "numpy", "torch"}
    for name in stats.__all__:
        doc = getattr(stats, name).__doc__
        assert doc and "Notebook 11" in doc, name
