"""Self-checks for notebooks 08 (2N outputs: the simple vote certificate) and 09 (layered
routing: a pixel's reach through two routed layers)."""
from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import torch

__all__ = ["simple_vote_certificate", "reach_through_layers"]


def _as_int(got: object, what: str) -> int:
    """``got`` as a Python int, or an AssertionError saying what was expected."""
    if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point() \
            and got.dtype != torch.bool:
        return int(got.item())
    if isinstance(got, bool) or not isinstance(got, int):
        raise AssertionError(f"return {what} as an int (e.g. int(k)), got {type(got).__name__}")
    return got


def _one_hot_votes(classes: list[int]) -> torch.Tensor:
    """Outputs that are each sure of one class: ``[M, 10]`` probabilities."""
    q = torch.zeros(len(classes), 10, dtype=torch.float64)
    q[torch.arange(len(classes)), torch.tensor(classes)] = 1.0
    return q


def _vote_cases() -> list[tuple[str, torch.Tensor, int]]:
    """Hand-made votes ``(description, q [M, 10], r)``. Every probability is a multiple of
    1/16 and M a power of two, so the float margins are exact and the ties are real ties."""
    cases = []
    cases.append(("8 outputs, 6 say 3 and 2 say 5 (margin 0.5), r = 2: one pixel costs exactly 0.5",
                  _one_hot_votes([3] * 6 + [5] * 2), 2))
    cases.append(("8 outputs, 7 say 3 and 1 says 5 (margin 0.75), r = 2", _one_hot_votes([3] * 7 + [5]), 2))
    cases.append(("8 outputs, all say 3 (margin 1), r = 1", _one_hot_votes([3] * 8), 1))
    cases.append(("8 outputs, all say 3 (margin 1), r = 4: half the outputs per pixel",
                  _one_hot_votes([3] * 8), 4))
    cases.append(("8 outputs, 4 say 3 and 4 say 5: a tie between two classes", _one_hot_votes([3] * 4 + [5] * 4), 1))
    soft = torch.zeros(8, 10, dtype=torch.float64)
    soft[:, 2], soft[:, 7] = 0.625, 0.375  # every output prefers 2, but only a little
    cases.append(("8 outputs, each 0.625 for 2 and 0.375 for 7 (margin 0.25), r = 1", soft, 1))
    mixed = torch.zeros(16, 10, dtype=torch.float64)
    mixed[:, 1] = 0.75
    mixed[:, 4] = 0.125
    mixed[:, 9] = 0.125
    cases.append(("16 outputs, each 0.75 / 0.125 / 0.125 (margin 0.625), r = 1", mixed, 1))
    three = _one_hot_votes([0] * 9 + [6] * 4 + [8] * 3)
    cases.append(("16 outputs: 9 say 0, 4 say 6, 3 say 8 (margin 0.3125), r = 1", three, 1))
    g = torch.Generator().manual_seed(8)
    for m, r in ((1568, 196), (1568, 56), (100, 7)):
        logits = torch.randn(m, 10, generator=g, dtype=torch.float64) * 2
        logits[:, 4] += 2.5  # most outputs lean to class 4
        cases.append((f"{m} random outputs leaning to class 4, r = {r}", logits.softmax(dim=1), r))
    return cases


def _certified(q: torch.Tensor, r: int) -> int:
    """The largest k with 2 k r / M < margin, counted in exact fractions."""
    m = q.shape[0]
    total = [sum((Fraction(float(v)) for v in q[:, c].tolist()), Fraction(0)) for c in range(q.shape[1])]
    first, second = sorted(total, reverse=True)[:2]
    margin = (first - second) / m
    k = 0
    while k * r < m and Fraction(2 * (k + 1) * r, m) < margin:
        k += 1
    return k


def simple_vote_certificate(answer: Callable[[torch.Tensor, int], int]) -> str:
    """Notebook 08, exercise 2: ``answer(q, r)`` gets the probabilities ``q`` ``[M, 10]`` of a
    vote net's M outputs on one image and the reach r (the most outputs one pixel reaches),
    and must return the pixels the simple vote certificate proves: the largest k with
    2 k r / M < p_top - p_second, where p is the mean of the rows of q (0 when even one
    pixel is too many). Checked on hand-made votes, ties included, against exact fractions."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    for description, q, r in _vote_cases():
        want = _certified(q, r)
        got = _as_int(answer(q.clone(), r), "the number of certified pixels")
        if got != want:
            hint = ("the margin is p_top - p_second of the mean probabilities (not a count of votes, not "
                    "p_top alone); one changed output moves it by up to 2 / M; a pixel changes up to r "
                    "outputs; and a bound equal to the margin is a tie, which is not safe")
            raise AssertionError(f"{description}: the simple certificate gives {want} pixels, yours says {got}. "
                                 f"Hint: {hint}.")
    return "correct"


def _reach(first: list[list[int]], second: list[list[int]], n_inputs: int) -> list[int]:
    """Per input, how many outputs see it through both layers, by sets of outputs."""
    pixels_of_middle = [set(row) for row in first]
    seen_by = [set() for _ in range(n_inputs)]
    for out, row in enumerate(second):
        for mid in row:
            for pixel in pixels_of_middle[mid]:
                seen_by[pixel].add(out)
    return [len(s) for s in seen_by]


def _reach_cases() -> list[tuple[str, list[list[int]], list[list[int]], int]]:
    """Hand-made two-layer wirings ``(description, first, second, n_inputs)``."""
    return [
        ("4 pixels; middle nodes read pixels {0,1} and {2,3}; outputs read middle node 0, 1 and 0",
         [[0, 1], [2, 3]], [[0], [1], [0]], 4),
        ("4 pixels; middle nodes read {0,1}, {1,2}, {2,3}; outputs read middle {0,1}, {1,2}, {0,2}: "
         "pixels 1 and 2 reach some outputs through two middle nodes",
         [[0, 1], [1, 2], [2, 3]], [[0, 1], [1, 2], [0, 2]], 4),
        ("5 pixels (pixel 4 read by nobody); middle {0,1}, {0,2}, {1,3}; outputs read middle {0,1}, {1,2}, "
         "{0,2}, {2,1}",
         [[0, 1], [0, 2], [1, 3]], [[0, 1], [1, 2], [0, 2], [2, 1]], 5),
        ("6 pixels; middle {0,1,2}, {3,4,5}, {0,3,4}, {1,2,5}; outputs read middle {0,1}, {2,3}, {0,2}, {1,3}, "
         "{0,3}",
         [[0, 1, 2], [3, 4, 5], [0, 3, 4], [1, 2, 5]], [[0, 1], [2, 3], [0, 2], [1, 3], [0, 3]], 6),
    ]


def reach_through_layers(answer: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> str:
    """Notebook 09, exercise 3: ``answer(first, second, n_inputs)`` gets a two-layer wiring
    (``first`` ``[M1, k1]``: the pixels each middle node reads; ``second`` ``[M2, k2]``: the
    middle nodes each output reads) and must return, for every pixel, how many outputs can
    see it through both layers (long ``[n_inputs]``): an output that sees a pixel through two
    of its middle nodes still counts once. Checked on hand-made wirings against sets."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    for description, first, second, n in _reach_cases():
        want = _reach(first, second, n)
        got = answer(torch.tensor(first), torch.tensor(second), n)
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"return a tensor of {n} counts, got {type(got).__name__}")
        if got.shape != (n,):
            raise AssertionError(f"{description}: return one count per pixel, shape ({n},), got {tuple(got.shape)}")
        if got.is_floating_point() and not torch.equal(got, got.round()):
            raise AssertionError(f"{description}: counts are whole numbers, got {got.tolist()}")
        got_list = [int(v) for v in got.tolist()]
        if got_list != want:
            hint = ("follow each pixel to the middle nodes that read it, then to the outputs that read any of "
                    "those, and count distinct outputs (not paths, not the reach of one layer alone)")
            raise AssertionError(f"{description}: the reach per pixel is {want}, yours says {got_list}. Hint: {hint}.")
    return "correct"
