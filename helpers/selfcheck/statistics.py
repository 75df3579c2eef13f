"""Self-checks for notebook 11 (the scoreboard): paired tests."""
from __future__ import annotations

from collections.abc import Callable

import torch

from .. import stats

__all__ = ["mcnemar_p"]


def mcnemar_p(answer: Callable[[torch.Tensor, torch.Tensor], float]) -> str:
    """Notebook 11, exercise 1: ``answer(a, b)`` must return the two-sided exact McNemar
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
