"""The sweep's groupings have exactly the structure claimed (helpers/groupings.py)."""
from __future__ import annotations

import itertools

import pytest
import torch

from helpers import groupings
from helpers.routing import divisors


def _is_partition(mask: torch.Tensor) -> bool:
    return bool((mask.sum(0) == 1).all())


@pytest.mark.parametrize("grouping", ["contiguous", "strided"])
@pytest.mark.parametrize("size", [d for d in divisors(784) if 4 <= d <= 196])
def test_fixed_partitions_are_exact_partitions(grouping, size):
    mask = groupings.groups(grouping, size)
    assert mask.shape == (784 // size, 784)
    assert _is_partition(mask)
    assert (mask.sum(1) == size).all()
    assert groupings.reach(mask) == 1 and groupings.ceiling(mask) == 784 / size / 2


def test_strided_groups_are_pixels_with_the_same_remainder():
    mask = groupings.groups("strided", 16)
    t = 49
    for g in (0, 5, 48):
        assert mask[g].nonzero().squeeze(1).tolist() == list(range(g, 784, t))
    contiguous = groupings.groups("contiguous", 16)
    assert contiguous[3].nonzero().squeeze(1).tolist() == list(range(48, 64))


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("size,reps", [(8, 1), (16, 3), (28, 4), (49, 2)])
def test_random_partitions_repeat_exact_partitions(size, reps, seed):
    mask = groupings.groups("random", size, reps, seed=seed)
    t = 784 // size
    assert mask.shape == (reps * t, 784)
    for r in range(reps):
        assert _is_partition(mask[r * t : (r + 1) * t])
    assert groupings.reach(mask) == reps


def test_reach_equals_brute_force():
    for mask in (groupings.groups("gaussian", 20, 3, seed=2), groupings.groups("random", 28, 3),
                 groupings.groups("lines", None, 7)):
        brute = max(sum(bool(mask[j, i]) for j in range(mask.shape[0])) for i in range(784))
        assert groupings.reach(mask) == brute


def test_lines_form_an_affine_plane():
    p = groupings.smallest_prime_square(784)
    assert p == 29
    lines = groupings.affine_lines(p).reshape(-1, p)
    assert lines.shape == (p * p + p, p)
    cells = torch.zeros(len(lines), p * p)
    cells[torch.arange(len(lines))[:, None], lines] = 1
    assert (cells.sum(1) == p).all()  # p distinct cells a line
    assert (cells.sum(0) == p + 1).all()  # every cell on p + 1 lines
    meet = cells @ cells.t()
    meet.fill_diagonal_(0)
    assert meet.max() == 1  # two lines share at most one cell
    for c in range(p + 1):  # each parallel class is a partition
        assert (cells[c * p : (c + 1) * p].sum(0) == 1).all()


@pytest.mark.parametrize("reps", [1, 5, 30])
def test_lines_grouping_reach_and_ceiling(reps):
    mask = groupings.groups("lines", None, reps, seed=3)
    assert mask.shape == (29 * reps, 784)
    assert (mask.sum(0) == reps).all()
    assert groupings.reach(mask) == reps
    assert groupings.ceiling(mask) == pytest.approx(14.5)
    overlap = mask.float() @ mask.float().t()
    overlap.fill_diagonal_(0)
    assert overlap.max() <= 1
    assert mask.sum(1).max() <= 29


def test_smallest_prime_square():
    assert [groupings.smallest_prime_square(n) for n in (1, 4, 5, 784, 841, 842)] == [2, 2, 3, 29, 29, 31]


def test_seeds_change_random_groupings_and_are_deterministic():
    a, b = groupings.groups("lines", None, 3, seed=0), groupings.groups("lines", None, 3, seed=0)
    assert torch.equal(a, b)
    assert not torch.equal(a, groupings.groups("lines", None, 3, seed=1))


@pytest.mark.parametrize("args,kwargs,error,words", [
    (("random", 30), {}, ValueError, "nearest divisors: 28 and 49"),
    (("strided", 15), {}, ValueError, "must divide"),
    (("random", 16, 0), {}, ValueError, "repetitions"),
    (("hexagons", 16), {}, ValueError, "grouping"),
    (("lines", 16), {}, ValueError, "None or 29"),
    (("lines", None, 31), {}, ValueError, r"at most P \+ 1 = 30"),
    (("strided", 16, 2), {}, ValueError, "repetitions must be 1"),
    (("random", None), {}, ValueError, "needs a group_size"),
    (("random", 1000), {}, ValueError, "at most n"),
])
def test_bad_input(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        groupings.groups(*args, **kwargs)


def test_affine_lines_need_a_prime():
    with pytest.raises(ValueError, match="prime"):
        groupings.affine_lines(28)
    with pytest.raises(TypeError):
        groupings.reach(torch.zeros(3, 4))


def test_any_two_pixels_share_exactly_one_line_of_the_full_plane():
    """In the affine plane two points lie on exactly one common line: two pixels together
    reach 2 r - 1 voters, never 2 r."""
    mask = groupings.groups("lines", None, 30)
    r = groupings.reach(mask)
    for pixels in itertools.islice(itertools.combinations(range(0, 784, 37), 2), 200):
        assert int(mask[:, list(pixels)].any(1).sum()) == 2 * r - 1


def test_grid_placement_keeps_pixels_in_place_and_orders_classes_by_spread():
    mask = groupings.groups("lines", None, 28, placement="grid")
    assert (mask.sum(0) == 28).all() and groupings.reach(mask) == 28
    spread = groupings.spread(29)
    assert spread[0] == spread[1] == 1.0 and spread.max() > 5  # rows and columns, then even lattices
    for line in mask[:29]:  # the most even class: one pixel in every row it crosses, no two adjacent
        rows = line.nonzero().squeeze(1) // 28
        assert len(rows.unique()) == len(rows)
    full = groupings.groups("lines", None, 30, placement="grid")
    assert full.shape[0] == 870 - 2  # the empty 29th row and 29th column of the square are no voters
    assert (full.sum(0) == 30).all() and full.any(1).all()
    with pytest.raises(ValueError, match="placement"):
        groupings.groups("lines", None, 3, placement="spiral")
