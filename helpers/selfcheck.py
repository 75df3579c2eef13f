"""Self-checks for the notebooks' exercises: each takes the learner's answer (often a
function) and raises ``AssertionError`` with a hint when it is wrong.

They live here, not in the notebooks, so that ``tests/test_selfcheck.py`` can feed each one
a wrong answer and see it rejected. Notebook 09 uses ``partition_certificate``, notebook 10
``mcnemar_p``. Nothing happens on import.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from . import stats

__all__ = ["mcnemar_p", "partition_certificate"]


def mcnemar_p(answer: Callable[[torch.Tensor, torch.Tensor], float]) -> str:
    """Notebook 10, exercise 1: ``answer(a, b)`` must return the two-sided exact McNemar
    p-value for two models' per-digit outcomes ``a`` and ``b`` (bool tensors). Checked on
    tables with a known answer, including ties and a lopsided one."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    cases = [(0, 6, 5), (3, 3, 4), (1, 9, 0), (7, 2, 11), (0, 0, 9), (12, 30, 40)]
    for a_only, b_only, both in cases:
        a = torch.tensor([True] * a_only + [False] * b_only + [True] * both)
        b = torch.tensor([False] * a_only + [True] * b_only + [True] * both)
        want = stats.mcnemar(a, b)["p_value"]
        got = answer(a, b)
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise AssertionError(f"return a number, got {type(got).__name__}") from None
        if abs(got - want) > 1e-9:
            raise AssertionError(
                f"with {a_only} digits only model a gets right and {b_only} only model b does, the exact "
                f"two-sided p-value is {want:.6f}, yours gives {got:.6f}. Hint: only the disagreeing digits "
                "count; under 'no difference' each one is a fair coin; add both tails, cap at 1.")
    return "correct"


def partition_certificate(answer: Callable[[int, int], int]) -> str:
    """Notebook 09, exercise 2: ``answer(lead, r)`` must return the pixels a hard vote certifies
    over disjoint groups repeated ``r`` times when the top class leads by ``lead`` votes: the
    largest k with 2 k r < lead (0 when even that fails). Checked against a count of k."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    for lead, r in [(0, 1), (1, 1), (2, 1), (3, 1), (12, 1), (13, 1), (60, 30), (61, 30), (541, 30), (540, 30),
                    (7, 4), (8, 4), (9, 4)]:
        want = 0
        while 2 * (want + 1) * r < lead:
            want += 1
        got = answer(lead, r)
        if isinstance(got, bool) or not isinstance(got, int):
            raise AssertionError(f"return an int, got {type(got).__name__}")
        if got != want:
            raise AssertionError(f"with a lead of {lead} votes and reach {r} the vote certifies {want} pixels, "
                                 f"yours says {got}. Hint: each changed pixel can turn r voters, each costing "
                                 "the lead 2; a tie is not safe.")
    return "correct"
