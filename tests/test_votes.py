"""The fixed-wiring vote and its hard-vote certificate (helpers/votes.py)."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from helpers import groupings, votes
from helpers.attacks import min_pixels
from helpers.data import load_dataset


@pytest.fixture(scope="module")
def digits():
    x, y = load_dataset("mnist", "train", source="bundled", verbose=False)
    xt, yt = load_dataset("mnist", "test", source="bundled", verbose=False)
    return x[:3000], y[:3000], xt[:200], yt[:200]


@pytest.fixture(scope="module")
def trained(digits):
    x, y, _, _ = digits
    model, _ = votes.train_vote(groupings.groups("strided", 16), x, y, epochs=2, progress=False)
    return model


def _exhaustive(votes_row: torch.Tensor, mask: torch.Tensor, top: int, pixels: list[int], k_max: int) -> int:
    """The exact certified k: the largest k such that no set of k of ``pixels`` reaches voters
    whose votes, all turned to one rival, tie or beat the top class."""
    counts = torch.bincount(votes_row, minlength=10)
    if any(counts[c] >= counts[top] for c in range(10) if c != top):
        return 0
    for k in range(1, k_max + 1):
        for subset in itertools.combinations(pixels, k):
            reached = mask[:, list(subset)].any(1)
            left = torch.bincount(votes_row[~reached], minlength=10)
            for c in range(10):
                if c != top and left[c] + int(reached.sum()) >= left[top]:
                    return k - 1
    return k_max


def _small_problem(seed: int, overlap: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A vote over 9 voters that see only pixels 0..7 (so an exhaustive search is small)."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(9, 784, dtype=torch.bool)
    if overlap:
        for j in range(9):
            mask[j, torch.randperm(8, generator=gen)[:3]] = True
    else:
        owner = torch.randint(0, 9, (8,), generator=gen)
        mask[owner, torch.arange(8)] = True
        empty = ~mask.any(1)
        mask[empty, 100 + torch.arange(int(empty.sum()))] = True  # voters on pixels nobody else sees
    return mask, gen


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("overlap", [False, True])
def test_hard_vote_certificate_against_exhaustive_search(seed, overlap, digits):
    """A real GroupVote's votes on real digits: the certificate never exceeds the exact value
    found by trying every set of pixels, and equals it on a partition (reach 1)."""
    mask, gen = _small_problem(seed, overlap)
    model = votes.GroupVote(mask, hidden=(8,), seed=seed)
    _, _, xt, _ = digits
    x = xt[:6]
    with torch.no_grad():
        v = model.votes(x)
        # make the vote decisive on some digits: bias the voters towards class 3
        v = torch.where(torch.rand(v.shape, generator=gen) < 0.6, torch.full_like(v, 3), v)
    top = F.one_hot(v, 10).sum(1).argmax(1)
    cert = votes.hard_vote_certificate(v, torch.zeros_like(v, dtype=torch.bool), mask, top)
    pixels = mask.any(0).nonzero().squeeze(1).tolist()
    for i in range(len(x)):
        exact = _exhaustive(v[i], mask, int(top[i]), pixels, 6)
        assert cert[i] <= exact
        if not overlap:
            assert cert[i] == min(exact, 6) or exact == 6 and cert[i] >= 6


def test_uncertain_voters_only_lower_the_certificate():
    mask = groupings.groups("strided", 16)
    gen = torch.Generator().manual_seed(0)
    v = torch.where(torch.rand(20, 49, generator=gen) < 0.8, 2, torch.randint(0, 10, (20, 49), generator=gen))
    top = F.one_hot(v, 10).sum(1).argmax(1)
    sure = votes.hard_vote_certificate(v, torch.zeros_like(v, dtype=torch.bool), mask, top)
    unsure = votes.hard_vote_certificate(v, torch.rand(20, 49, generator=gen) < 0.2, mask, top)
    assert (unsure <= sure).all() and (unsure < sure).any()


def test_partition_certificate_is_the_lead_over_two(digits):
    """With disjoint groups the certificate is the largest k with 2 k < lead (ties not safe)."""
    mask = groupings.groups("strided", 28)  # 28 voters
    v = torch.tensor([[1] * 20 + [4] * 8, [1] * 14 + [4] * 14, [0] * 19 + [5] * 9])
    top = torch.tensor([1, 1, 0])
    cert = votes.hard_vote_certificate(v, torch.zeros_like(v, dtype=torch.bool), mask, top)
    assert cert.tolist() == [5, 0, 4]  # leads 12 (k < 6), 0 (a tie: nothing), 10 (k < 5)


def test_certificate_survives_attacks_and_random_changes(trained, digits):
    _, _, xt, yt = digits
    x, y = xt[:40], yt[:40]
    cert = votes.certified_pixels(trained, x)
    right = trained(x).argmax(1) == y
    pixels = min_pixels(trained, x, y, max_pixels=30)
    assert not ((pixels <= cert.float()) & right & (cert > 0)).any()
    gen = torch.Generator().manual_seed(1)
    top = trained(x).argmax(1)
    for i in (cert > 0).nonzero().squeeze(1).tolist()[:10]:
        k = int(cert[i])
        trials = x[i].repeat(50, 1, 1, 1).reshape(50, -1)
        where = torch.stack([torch.randperm(784, generator=gen)[:k] for _ in range(50)])
        trials.scatter_(1, where, torch.rand(50, k, generator=gen).round())
        assert (trained(trials.view(50, 1, 28, 28)).argmax(1) == top[i]).all()


def test_readouts_and_scores(trained, digits):
    _, _, xt, _ = digits
    x = xt[:30]
    v = trained.votes(x)
    counts = F.one_hot(v, 10).sum(1)
    scores = trained(x)
    assert torch.equal(scores.floor().long(), counts)  # counts plus less than one
    assert (scores.argmax(1) == counts.argmax(1))[counts.max(1).values > counts.topk(2).values[:, 1]].all()
    trained.readout = "soft"
    try:
        soft = trained(x)
        assert torch.allclose(soft.exp().sum(1), torch.ones(30), atol=1e-5)
        assert votes.certified_pixels(trained, x).shape == (30,)
    finally:
        trained.readout = "hard"


def test_a_pixel_outside_a_group_does_not_reach_its_voter(trained, digits):
    _, _, xt, _ = digits
    x = xt[:5].clone()
    before = trained.voter_logits(x)
    x2 = x.clone().view(5, -1)
    x2[:, 0] = 1 - x2[:, 0]
    after = trained.voter_logits(x2.view(5, 1, 28, 28))
    changed = (before - after).abs().amax(dim=(0, 2)) > 0
    assert torch.equal(changed, trained.mask[:, 0])


def test_shared_and_per_digit_voters_agree(digits):
    _, _, xt, _ = digits
    model = votes.GroupVote(groupings.groups("random", 28, 2), hidden=(16, 16), shared=True)
    x = xt[:4]
    full = model.voter_logits(x)
    pick = torch.tensor([[0, 5], [7, 1], [3, 3], [55, 2]])
    per = model.voter_logits(x, pick)
    assert torch.allclose(per, full[torch.arange(4)[:, None], pick], atol=1e-5)
    assert torch.allclose(model.voter_logits(x, torch.tensor([4, 9])), full[:, [4, 9]], atol=1e-6)


def test_train_vote_is_deterministic(digits):
    x, y, _, _ = digits
    mask = groupings.groups("random", 28, 2)
    a, info = votes.train_vote(mask, x[:1000], y[:1000], epochs=1, noise=0.05, progress=False, seed=3)
    b, _ = votes.train_vote(mask, x[:1000], y[:1000], epochs=1, noise=0.05, progress=False, seed=3)
    c, _ = votes.train_vote(mask, x[:1000], y[:1000], epochs=1, noise=0.05, progress=False, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert info["epochs"] == 1 and len(info["losses"]) == 1


def test_multiply_adds_counts_every_voter():
    mask = groupings.groups("strided", 16)
    own = votes.GroupVote(mask, hidden=(32,))
    assert votes.multiply_adds(own) == 784 * 32 + 49 * 32 * 10
    deeper = votes.GroupVote(mask, hidden=(32, 16), shared=False)
    assert votes.multiply_adds(deeper) == 784 * 32 + 49 * (32 * 16 + 16 * 10)
    assert votes.multiply_adds(deeper) == sum(p.numel() for n, p in deeper.named_parameters() if "bias" not in n)
    shared = votes.GroupVote(mask, hidden=(64, 32), shared=True)
    assert votes.multiply_adds(shared) == 784 * 64 + 49 * (64 * 32 + 32 * 10)


def test_bad_input(trained, digits):
    _, _, xt, _ = digits
    with pytest.raises(TypeError, match="boolean"):
        votes.GroupVote(torch.zeros(3, 784))
    empty = torch.zeros(2, 784, dtype=torch.bool)
    empty[0, 0] = True
    with pytest.raises(ValueError, match="at least one pixel"):
        votes.GroupVote(empty)
    with pytest.raises(ValueError, match="readout"):
        votes.GroupVote(groupings.groups("strided", 16), readout="linear")
    with pytest.raises(ValueError, match="at least one width"):
        votes.GroupVote(groupings.groups("strided", 16), hidden=())
    with pytest.raises(ValueError, match="readout is 'hard'"):
        votes.certified_pixels(trained, xt[:2], readout="soft")
    trained.readout = "soft"
    try:
        with pytest.raises(ValueError, match="hard-vote certificate was asked of a model whose readout is 'soft'"):
            votes.certified_pixels(trained, xt[:2], readout="hard")
    finally:
        trained.readout = "hard"
    with pytest.raises(TypeError, match="GroupVote"):
        votes.certified_pixels(torch.nn.Linear(2, 2), xt[:2])
    with pytest.raises(ValueError, match="shape"):
        trained(torch.rand(2, 784))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        votes.certified_pixels(trained, xt[:2] * 2)
    with pytest.raises(ValueError, match="per-digit voters need shared"):
        trained.voter_logits(xt[:2], torch.zeros(2, 3, dtype=torch.long))
