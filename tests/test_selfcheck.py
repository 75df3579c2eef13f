"""Every exercise's self-check accepts a right answer and rejects wrong ones."""
from __future__ import annotations

import math

import pytest
import torch
from helpers import selfcheck, stats


def right_mcnemar(a: torch.Tensor, b: torch.Tensor) -> float:
    k, m = int((a & ~b).sum()), int((a ^ b).sum())
    tail = sum(math.comb(m, i) for i in range(min(k, m - k) + 1)) / 2**m
    return min(1.0, 2 * tail)


def one_sided(a, b):
    k, m = int((a & ~b).sum()), int((a ^ b).sum())
    return sum(math.comb(m, i) for i in range(min(k, m - k) + 1)) / 2**m


def counts_agreements_too(a, b):
    n, k = len(a), int((a & ~b).sum())
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2**n)


def test_mcnemar_self_check_accepts_the_right_answer():
    assert selfcheck.mcnemar_p(right_mcnemar) == "correct"
    assert selfcheck.mcnemar_p(lambda a, b: stats.mcnemar(a, b)["p_value"]) == "correct"


@pytest.mark.parametrize("wrong", [one_sided, counts_agreements_too, lambda a, b: 0.05, lambda a, b: "p",
                                   lambda a, b: stats.mcnemar(a, b)["difference"]])
def test_mcnemar_self_check_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.mcnemar_p(wrong)


def test_partition_certificate_accepts_the_right_answer():
    assert selfcheck.partition_certificate(lambda lead, r: max(0, -(-lead // (2 * r)) - 1)) == "correct"


@pytest.mark.parametrize("wrong", [
    lambda lead, r: lead // (2 * r),  # counts a tie as safe
    lambda lead, r: max(0, lead // 2 - 1),  # forgets the reach
    lambda lead, r: max(0, -(-lead // r) - 1),  # a changed voter costs 1, not 2
    lambda lead, r: float(max(0, -(-lead // (2 * r)) - 1)),  # not an int
])
def test_partition_certificate_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.partition_certificate(wrong)
