"""Self-checks for notebook 10 (wiring: what resists a few pixels): vote certificates."""
from __future__ import annotations

from collections.abc import Callable

__all__ = ["partition_certificate"]


def partition_certificate(answer: Callable[[int, int], int]) -> str:
    """Notebook 10, exercise 2: ``answer(lead, r)`` must return the pixels a hard vote certifies
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
