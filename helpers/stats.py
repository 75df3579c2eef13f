"""The statistics behind the course's verdicts: intervals and paired tests.

Notebook 11 and the scoreboard use these to say whether one model really is more
accurate or more robust than another, or whether the gap between two numbers is what
a different draw of test digits could give by chance:

- ``wilson``: a confidence interval for an accuracy (a binomial proportion);
- ``bootstrap_median``: a percentile bootstrap interval for a median, e.g. the median
  number of pixels an attack needs (``inf`` where it never succeeded);
- ``mcnemar``: the exact McNemar test and an interval for the difference of two models'
  accuracies on the same digits;
- ``sign_test``: the exact sign test for paired measurements (pixels needed, per digit);
- ``paired_bootstrap_median_difference``: an interval for the difference of two medians
  measured on the same digits.

Everything is pure Python, ``math``, ``statistics``, numpy and torch; no scipy.
Nothing happens on import.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from statistics import NormalDist

import numpy as np
import torch

__all__ = [
    "wilson",
    "bootstrap_median",
    "mcnemar",
    "sign_test",
    "paired_bootstrap_median_difference",
]

# Largest number of resampled values drawn at once by the bootstraps (bounds memory).
_CHUNK_ELEMENTS = 1 << 22


# ----------------------------------------------------------------------------- checks


def _check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_confidence(confidence: object) -> float:
    if isinstance(confidence, (bool, np.bool_)) or not isinstance(confidence, numbers.Real):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:  # also rejects NaN
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return confidence


def _z(confidence: float) -> float:
    """The two-sided standard normal quantile: Phi^-1(1 - (1 - confidence) / 2)."""
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def _as_1d(values: object, name: str) -> np.ndarray | torch.Tensor:
    """A 1-D, non-empty CPU tensor (torch input) or array (anything else), unconverted."""
    if isinstance(values, torch.Tensor):
        out: np.ndarray | torch.Tensor = values.detach().cpu()
    else:
        try:
            out = np.asarray(values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be a 1-D tensor or sequence: {error}") from None
    if out.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(out.shape)}")
    if out.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return out


def _as_float(values: object, name: str) -> torch.Tensor:
    """A 1-D, non-empty float64 tensor without NaN (+-inf allowed); bool/complex rejected."""
    out = _as_1d(values, name)
    if isinstance(out, torch.Tensor):
        if out.dtype == torch.bool or out.is_complex():
            raise ValueError(f"{name} must hold real numbers, got dtype {out.dtype}")
        out = out.to(torch.float64)
    else:
        if out.dtype.kind not in "iuf":
            raise ValueError(f"{name} must hold real numbers, got dtype {out.dtype}")
        out = torch.from_numpy(out.astype(np.float64))
    if torch.isnan(out).any():
        raise ValueError(f"{name} contains NaN")
    return out


def _as_bool(values: object, name: str) -> torch.Tensor:
    """A 1-D, non-empty bool tensor; any other dtype is rejected (no 0/1 coercion)."""
    out = _as_1d(values, name)
    if isinstance(out, torch.Tensor):
        if out.dtype != torch.bool:
            raise ValueError(f"{name} must be a bool tensor, got dtype {out.dtype}")
        return out
    if out.dtype != np.bool_:
        raise ValueError(f"{name} must hold bools, got dtype {out.dtype}")
    return torch.from_numpy(out.copy())


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.shape[0]} and {b.shape[0]}")


# -------------------------------------------------------------------------- internals


def _binomial_two_sided_half(k: int, m: int) -> float:
    """Exact two-sided p of k successes in m fair trials: min(1, 2 P(X <= min(k, m-k)))."""
    if m == 0:
        return 1.0
    low = min(k, m - k)
    term, tail = 1, 0  # C(m, 0); exact integers, so no overflow or underflow on the way
    for i in range(low + 1):
        tail += term
        term = term * (m - i) // (i + 1)
    return min(1.0, 2 * tail / 2**m)  # int / int is correctly rounded at any size


def _lower_median_rows(x: torch.Tensor) -> torch.Tensor:
    """The lower median of each row (sorted element (n-1)//2), inf-safe."""
    n = x.shape[-1]
    return torch.kthvalue(x, (n - 1) // 2 + 1, dim=-1).values


def _percentile_interval(stats: torch.Tensor, confidence: float) -> tuple[float, float]:
    """Order-statistic percentile interval, rounded outward (no interpolation, inf-safe).

    With the B statistics sorted as s_0 <= ... <= s_{B-1} and alpha = 1 - confidence,
    lo = s_floor((B-1) alpha/2) and hi = s_ceil((B-1)(1 - alpha/2)).
    """
    s = torch.sort(stats).values
    last = s.shape[0] - 1
    alpha = 1.0 - confidence
    lo_index = math.floor(last * alpha / 2 + 1e-9)
    hi_index = math.ceil(last * (1 - alpha / 2) - 1e-9)
    return float(s[max(lo_index, 0)]), float(s[min(hi_index, last)])


def _resampled_statistics(
    n: int, resamples: int, seed: int, statistic: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """statistic(indices) for ``resamples`` rows of n indices drawn with replacement."""
    generator = torch.Generator().manual_seed(seed)
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // n)
    out = []
    done = 0
    while done < resamples:
        rows = min(rows_per_chunk, resamples - done)
        indices = torch.randint(n, (rows, n), generator=generator)
        out.append(statistic(indices))
        done += rows
    return torch.cat(out)


def _difference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x - y, except that equal values (inf == inf, -inf == -inf) differ by exactly 0."""
    return torch.where(x == y, torch.zeros_like(x), x - y)


# -------------------------------------------------------------------------- functions


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion successes / n.

    Formula (Wilson 1927): (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n),
    with p = successes / n and z = Phi^-1(1 - (1 - confidence)/2). Notebook 11 teaches it
    (the interval around each accuracy on the scoreboard).

    Returns (lo, hi) with 0 <= lo <= p <= hi <= 1; lo is exactly 0 when successes == 0 and
    hi exactly 1 when successes == n. With n == 0 nothing is known: (0.0, 1.0).
    Raises ValueError for non-integer (or bool) counts, negative n, successes outside
    [0, n], or confidence outside (0, 1).
    """
    successes = _check_int(successes, "successes")
    n = _check_int(n, "n", minimum=0)
    confidence = _check_confidence(confidence)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n] = [0, {n}], got {successes}")
    if n == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    lo = 0.0 if successes == 0 else max(0.0, min(p, centre - half))
    hi = 1.0 if successes == n else min(1.0, max(p, centre + half))
    return lo, hi


def bootstrap_median(
    values: torch.Tensor | Sequence[float],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap interval for the (lower) median of a 1-D sample.

    Formula (Efron 1979; Efron & Tibshirani 1993, ch. 13): resample the n values with
    replacement ``resamples`` times, take each resample's lower median (sorted element
    (n-1)//2, what ``torch.median`` returns), and report the alpha/2 and 1 - alpha/2
    order statistics of those medians (rounded outward, no interpolation). Notebook 11
    teaches it (the interval around the median pixels an attack needs).

    ``inf`` values (an attack that never succeeded within its search limit) are allowed
    and simply sort last; an endpoint is inf when that many resampled medians are inf.
    The lower median is never an average, so no inf - inf arises. Deterministic under
    ``seed`` (a private torch generator; the global RNG is untouched).
    Raises ValueError on empty input, NaN, non-1-D input, resamples < 1 or confidence
    outside (0, 1).
    """
    x = _as_float(values, "values")
    resamples = _check_int(resamples, "resamples", minimum=1)
    confidence = _check_confidence(confidence)
    seed = _check_int(seed, "seed")
    stats = _resampled_statistics(
        x.shape[0], resamples, seed, lambda idx: _lower_median_rows(x[idx])
    )
    return _percentile_interval(stats, confidence)


def mcnemar(
    a: torch.Tensor | Sequence[bool],
    b: torch.Tensor | Sequence[bool],
    *,
    confidence: float = 0.95,
) -> dict[str, float | int]:
    """The exact McNemar test and an interval for the difference of two paired proportions.

    a[i], b[i]: whether model A, model B is correct (or robust) on digit i. Formula
    (McNemar 1947, exact form): with a_only = #(a & ~b) and b_only = #(~a & b),
    p = min(1, 2 P(X <= min(a_only, b_only))), X ~ Binomial(a_only + b_only, 1/2); the
    interval for mean(a) - mean(b) is Newcombe's hybrid score ("square-and-add") method
    10 for paired data (Newcombe 1998, Stat Med 17:2635), built from the Wilson
    intervals of mean(a) and mean(b) and their phi correlation. Notebook 11 teaches it
    (is one model's accuracy or robustness really higher?).

    Returns {"a_only", "b_only", "p_value", "difference", "difference_lo",
    "difference_hi"}; p_value is 1.0 when a_only == b_only (including both 0).
    Raises ValueError on non-bool input, empty input, or mismatched lengths.
    """
    a = _as_bool(a, "a")
    b = _as_bool(b, "b")
    _check_pair(a, b)
    confidence = _check_confidence(confidence)
    n = a.shape[0]
    both = int((a & b).sum())
    a_only = int((a & ~b).sum())
    b_only = int((~a & b).sum())
    neither = n - both - a_only - b_only

    p_value = _binomial_two_sided_half(a_only, a_only + b_only)

    # Newcombe (1998), method 10.
    pa, pb = (both + a_only) / n, (both + b_only) / n
    difference = (a_only - b_only) / n
    la, ua = wilson(both + a_only, n, confidence)
    lb, ub = wilson(both + b_only, n, confidence)
    margins = (both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    phi = 0.0 if margins == 0 else (both * neither - a_only * b_only) / math.sqrt(margins)
    down = math.sqrt(max(0.0, (pa - la) ** 2 - 2 * phi * (pa - la) * (ub - pb) + (ub - pb) ** 2))
    up = math.sqrt(max(0.0, (ua - pa) ** 2 - 2 * phi * (ua - pa) * (pb - lb) + (pb - lb) ** 2))
    return {
        "a_only": a_only,
        "b_only": b_only,
        "p_value": p_value,
        "difference": difference,
        "difference_lo": max(-1.0, difference - down),
        "difference_hi": min(1.0, difference + up),
    }


def sign_test(
    a: torch.Tensor | Sequence[float],
    b: torch.Tensor | Sequence[float],
) -> dict[str, float | int]:
    """The exact two-sided sign test for paired measurements a[i], b[i] on the same digits.

    Formula (Dixon & Mood 1946): ties (a[i] == b[i], including inf == inf) are dropped;
    with k = #(a > b) and m = #(a > b) + #(a < b), p = min(1, 2 P(X <= min(k, m - k))),
    X ~ Binomial(m, 1/2). Notebook 11 teaches it (does model A need more pixels than
    model B on the same digits?). inf (never succeeded) compares larger than any number.

    Returns {"a_larger", "b_larger", "ties", "p_value"}; p_value is 1.0 when every pair
    ties. Raises ValueError on NaN, bool/complex or non-numeric input, empty input, or
    mismatched lengths.
    """
    a = _as_float(a, "a")
    b = _as_float(b, "b")
    _check_pair(a, b)
    a_larger = int((a > b).sum())
    b_larger = int((a < b).sum())
    ties = a.shape[0] - a_larger - b_larger
    return {
        "a_larger": a_larger,
        "b_larger": b_larger,
        "ties": ties,
        "p_value": _binomial_two_sided_half(a_larger, a_larger + b_larger),
    }


def paired_bootstrap_median_difference(
    a: torch.Tensor | Sequence[float],
    b: torch.Tensor | Sequence[float],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """median(a) - median(b) and a paired percentile bootstrap interval for it.

    Formula (Efron & Tibshirani 1993, ch. 13, resampling pairs): the point estimate is
    lowmed(a) - lowmed(b) (lower medians, sorted element (n-1)//2); each resample draws
    n digit indices with replacement, the same indices for a and b (pairs stay
    together), and the interval is the alpha/2 and 1 - alpha/2 order statistics of the
    resampled differences (rounded outward, no interpolation). Notebook 11 teaches it.

    inf - inf: when both medians are the same infinity (neither attack succeeded on the
    median digit) the difference is defined as 0, not NaN; inf - finite is inf and
    finite - inf is -inf. So no NaN ever appears, and endpoints may be +-inf.
    Returns (difference, lo, hi). Deterministic under ``seed``. Raises ValueError on
    NaN, empty or non-1-D input, mismatched lengths, resamples < 1 or confidence outside
    (0, 1).
    """
    a = _as_float(a, "a")
    b = _as_float(b, "b")
    _check_pair(a, b)
    resamples = _check_int(resamples, "resamples", minimum=1)
    confidence = _check_confidence(confidence)
    seed = _check_int(seed, "seed")
    point = float(_difference(_lower_median_rows(a), _lower_median_rows(b)))
    stats = _resampled_statistics(
        a.shape[0],
        resamples,
        seed,
        lambda idx: _difference(_lower_median_rows(a[idx]), _lower_median_rows(b[idx])),
    )
    lo, hi = _percentile_interval(stats, confidence)
    return point, lo, hi
