"""Which pixels each voter of a fixed-wiring vote sees: the groupings of the wiring sweep.

Taught in notebook 10 (the wiring sweep). A grouping is a boolean matrix ``[M, N]``: row j
marks the pixels voter j reads. Two numbers decide what a vote over it can certify:

* the **reach** r, the most voters one pixel can influence (``reach``), and
* the number of voters M.

k changed pixels change at most k r voters; a hard vote whose top class leads by fewer
than M votes can lose at most 2 votes of its lead per changed voter, so no grouping can
certify more than M / (2 r) pixels (``ceiling``). Every grouping here builds its groups as
partitions of the pixels (disjoint groups that together hold every pixel once), repeated
R times, so r = R and M = R T with T groups per partition: the ceiling is T / 2 whatever R.

The groupings (``GROUPINGS``):

* ``"contiguous"``: T runs of ``group_size`` consecutive pixels in reading order;
* ``"strided"``: pixel i in group i mod T, as in Feature Partition Aggregation
  (Hammoudeh and Lowd, 2024);
* ``"random"``: R independent random partitions (the essay's 2N-output wiring, notebook 08);
* ``"gaussian"``: groups drawn around spread centres (``routing.gaussian_local``); not
  partitions, so their reach is whatever the draw gives;
* ``"lines"``: the affine plane of Bram Cohen's construction (2021): the pixels placed at
  random in a P x P square, P the smallest prime with P^2 >= N (29 for MNIST), and each
  group one line {(a + z b, c + z d) mod P : z}. The P^2 + P lines fall into P + 1
  parallel classes, each a partition of the square into P lines; two lines share at most
  one cell. ``repetitions`` R <= P + 1 takes the first R classes, so r = R; all P + 1
  give M = 870 voters of (at most) 29 pixels with r = 30, a ceiling of 14.5 pixels.

Nothing happens on import.
"""
from __future__ import annotations

import math

import torch

from .checks import check_choice, check_int
from .routing import divisors, gaussian_local, partition_repeat

__all__ = ["GROUPINGS", "PARTITIONS", "groups", "reach", "ceiling", "smallest_prime_square", "affine_lines",
           "spread", "PLACEMENTS"]

GROUPINGS = ("contiguous", "strided", "random", "gaussian", "lines")
PARTITIONS = ("contiguous", "strided", "random", "lines")
"""The groupings built from partitions of the pixels (so reach = repetitions)."""


def smallest_prime_square(n: int) -> int:
    """The smallest prime P with P^2 >= n (29 for 784). Notebook 10."""
    n = check_int(n, "n")
    p = max(2, math.isqrt(n - 1) + 1) if n > 1 else 2
    while any(p % d == 0 for d in range(2, math.isqrt(p) + 1)):
        p += 1
    return p


def affine_lines(p: int) -> torch.Tensor:
    """Every line of the affine plane over the integers mod a prime ``p``, as cell indices
    ``row * p + column``: long ``[p + 1, p, p]``, indexed by parallel class (direction),
    line within the class, point on the line. Class 0 holds the p rows {(c, z) : z}; class
    1 + d the p lines {(z, c + z d mod p) : z} of slope d. Each class is a partition of the
    p^2 cells, and two lines of different classes meet in exactly one cell. Notebook 10."""
    p = check_int(p, "p", 2)
    if any(p % d == 0 for d in range(2, math.isqrt(p) + 1)):
        raise ValueError(f"p must be a prime (lines mod a composite number meet more than once), got {p}")
    z = torch.arange(p)
    offsets = torch.arange(p)
    classes = [offsets[:, None] * p + z[None, :]]  # the rows {(c, z)}: direction (0, 1)
    for d in range(p):  # direction (1, d): {(z, c + z d)}
        cols = (offsets[:, None] + z[None, :] * d) % p
        classes.append(z[None, :] * p + cols)
    return torch.stack(classes)


def spread(p: int) -> torch.Tensor:
    """For each parallel class of ``affine_lines(p)``, the length of the shortest step between
    two cells of one of its lines, on the p x p grid read as a torus (float ``[p + 1]``).
    Rows and columns have 1, the diagonals sqrt(2); a class whose lines are lattices with no
    short step covers the square evenly, like a subsampled image. Notebook 10."""
    p = check_int(p, "p", 2)
    out = [1.0]  # the rows: (0, 1)
    for d in range(p):  # steps (z, z d) of the class of slope d
        steps = [(z, (z * d + p // 2) % p - p // 2) for z in range(1, p)]
        out.append(min(math.hypot(a if a <= p // 2 else a - p, b) for a, b in steps))
    return torch.tensor(out)


def _lines(n: int, repetitions: int, seed: int, placement: str, image_size: int) -> torch.Tensor:
    p = smallest_prime_square(n)
    if repetitions > p + 1:
        raise ValueError(f"repetitions must be at most P + 1 = {p + 1} for the lines of a {p} x {p} square, "
                         f"got {repetitions}")
    pixel_at = torch.full((p * p,), -1, dtype=torch.long)
    if placement == "random":
        place = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))  # pixel i in cell place[i]
        order = torch.arange(p + 1)
    else:  # pixel (row, column) in cell (row, column): lines cross the image; the most even classes first
        if image_size * image_size != n or image_size > p:
            raise ValueError(f"placement='grid' needs n = image_size**2 with image_size <= {p}")
        pixels = torch.arange(n)
        place = (pixels // image_size) * p + pixels % image_size
        order = torch.sort(spread(p), descending=True, stable=True).indices
    pixel_at[place[:n]] = torch.arange(n)
    cells = affine_lines(p)[order[:repetitions]].reshape(-1, p)  # [R p, p]
    mask = torch.zeros(len(cells), n, dtype=torch.bool)
    pixels = pixel_at[cells]
    rows = torch.arange(len(cells))[:, None].expand_as(pixels)
    keep = pixels >= 0
    mask[rows[keep], pixels[keep]] = True
    return mask[mask.any(1)]  # a line through empty cells only (the grid's last row and column) reads nothing


def _partition(n: int, group_size: int, grouping: str) -> torch.Tensor:
    t = n // group_size
    i = torch.arange(n)
    owner = i // group_size if grouping == "contiguous" else i % t
    return torch.nn.functional.one_hot(owner, t).t().bool()


PLACEMENTS = ("random", "grid")
"""Where the ``"lines"`` grouping puts the pixels in its P x P square: at random (Cohen's
construction) or where they are in the image (so its lines are spread-out lattices)."""


def groups(grouping: str, group_size: int | None = None, repetitions: int = 1, *, n: int = 784,
           image_size: int = 28, sigma: float = 3.0, placement: str = "random", seed: int = 0) -> torch.Tensor:
    """The boolean ``[M, n]`` grouping of ``grouping`` (see the module docstring). Notebook 10.

    ``group_size`` must divide ``n`` for the partitions (contiguous, strided, random): a
    ``ValueError`` names the nearest divisors otherwise. For ``"lines"`` it must be None or
    P (the line length; lines through empty cells hold fewer pixels). ``repetitions`` R >= 1:
    fresh partitions for ``"random"``, parallel classes for ``"lines"``, M = R n / s centres
    for ``"gaussian"``; ``"contiguous"`` and ``"strided"`` are one fixed partition (R = 1:
    a repeat would be the same voters again). ``placement`` (lines only, ``PLACEMENTS``):
    ``"grid"`` keeps each pixel at its place in the image and takes the R most even
    parallel classes (``spread``), so each voter sees a lattice spread over the whole digit.
    """
    check_choice(grouping, "grouping", GROUPINGS)
    n = check_int(n, "n")
    repetitions = check_int(repetitions, "repetitions")
    if grouping == "lines":
        p = smallest_prime_square(n)
        if group_size is not None and group_size != p:
            raise ValueError(f"the lines of a {p} x {p} square hold {p} cells each: group_size must be None or {p}, "
                             f"got {group_size}")
        return _lines(n, repetitions, seed, check_choice(placement, "placement", PLACEMENTS), image_size)
    if group_size is None:
        raise ValueError(f"grouping={grouping!r} needs a group_size")
    group_size = check_int(group_size, "group_size")
    if group_size > n:
        raise ValueError(f"group_size must be at most n = {n}, got {group_size}")
    if grouping == "gaussian":
        if image_size * image_size != n:
            raise ValueError(f"gaussian groups need n = image_size**2, got n = {n}, image_size = {image_size}")
        m = repetitions * n // group_size
        idx = gaussian_local(image_size, group_size, m, sigma=sigma, seed=seed)
        return torch.zeros(m, n, dtype=torch.bool).scatter_(1, idx, True)
    if n % group_size:
        below = max(d for d in divisors(n) if d < group_size)
        above = min(d for d in divisors(n) if d > group_size)
        raise ValueError(f"group_size must divide n = {n} so that each partition uses every pixel once; "
                         f"{group_size} does not (nearest divisors: {below} and {above})")
    if grouping in ("contiguous", "strided"):
        if repetitions != 1:
            raise ValueError(f"grouping={grouping!r} is one fixed partition: repetitions must be 1, got {repetitions}")
        return _partition(n, group_size, grouping)
    idx = partition_repeat(n, group_size, repetitions * (n // group_size), seed=seed)
    return torch.zeros(len(idx), n, dtype=torch.bool).scatter_(1, idx, True)


def reach(mask: torch.Tensor) -> int:
    """r: the most groups any one pixel lies in. Notebook 10."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.dim() != 2:
        raise TypeError("mask must be a boolean tensor [voters, pixels]")
    return int(mask.sum(0).max())


def ceiling(mask: torch.Tensor) -> float:
    """M / (2 r): no hard or soft vote over this grouping certifies more pixels. Notebook 10."""
    return mask.shape[0] / (2 * reach(mask))
