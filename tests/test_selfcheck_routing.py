"""The self-checks of notebooks 08 and 09 accept a right answer and reject the plausible wrong ones."""
from __future__ import annotations

import math

import pytest
import torch
from helpers import routing, selfcheck


def margin(q: torch.Tensor) -> float:
    top2 = q.mean(0).topk(2).values
    return float(top2[0] - top2[1])


def right_certificate(q: torch.Tensor, r: int) -> int:
    m = q.shape[0]
    return max(0, math.ceil(margin(q) * m / (2 * r)) - 1)


def right_certificate_by_loop(q: torch.Tensor, r: int) -> int:
    k = 0
    while 2 * (k + 1) * r / q.shape[0] < margin(q):
        k += 1
    return k


def tie_counted_safe(q, r):
    return math.floor(margin(q) * q.shape[0] / (2 * r))


def forgets_the_two(q, r):
    return max(0, math.ceil(margin(q) * q.shape[0] / r) - 1)


def counts_hard_votes(q, r):
    votes = torch.bincount(q.argmax(1), minlength=10).sort(descending=True).values
    return max(0, math.ceil(int(votes[0] - votes[1]) / (2 * r)) - 1)


def first_k_that_fails(q, r):
    return math.ceil(margin(q) * q.shape[0] / (2 * r))


def top_probability_not_margin(q, r):
    return max(0, math.ceil(float(q.mean(0).max()) * q.shape[0] / (2 * r)) - 1)


def test_simple_vote_certificate_accepts_the_right_answer():
    assert selfcheck.simple_vote_certificate(right_certificate) == "correct"
    assert selfcheck.simple_vote_certificate(right_certificate_by_loop) == "correct"
    assert selfcheck.simple_vote_certificate(lambda q, r: torch.tensor(right_certificate(q, r))) == "correct"


@pytest.mark.parametrize("wrong", [tie_counted_safe, forgets_the_two, counts_hard_votes, first_k_that_fails,
                                   top_probability_not_margin,
                                   lambda q, r: float(right_certificate(q, r)),  # not an int
                                   lambda q, r: None])
def test_simple_vote_certificate_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.simple_vote_certificate(wrong)


def test_simple_vote_certificate_agrees_with_the_library():
    """The check's certificate is routing.certified_pixels(method="simple") on a real vote net."""
    net = routing.TwoNOutputNet(hidden=2, seed=0)
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        q = net.node_logits(x).double().softmax(dim=1)  # [M, 10, B]
    mine = [right_certificate(q[:, :, b], net.reach()) for b in range(len(x))]
    assert mine == routing.certified_pixels(net, x, method="simple", tolerance=0.0).tolist()


def right_reach(first: torch.Tensor, second: torch.Tensor, n_inputs: int) -> torch.Tensor:
    sees = torch.zeros(first.shape[0], n_inputs, dtype=torch.bool)
    sees[torch.arange(first.shape[0]).unsqueeze(1), first] = True
    reads = torch.zeros(second.shape[0], first.shape[0], dtype=torch.bool)
    reads[torch.arange(second.shape[0]).unsqueeze(1), second] = True
    return ((reads.float() @ sees.float()) > 0).sum(0)


def counts_paths(first, second, n_inputs):
    sees = torch.zeros(first.shape[0], n_inputs)
    sees[torch.arange(first.shape[0]).unsqueeze(1), first] = 1.0
    reads = torch.zeros(second.shape[0], first.shape[0])
    reads[torch.arange(second.shape[0]).unsqueeze(1), second] = 1.0
    return (reads @ sees).sum(0).long()


def first_layer_only(first, second, n_inputs):
    return torch.bincount(first.flatten(), minlength=n_inputs)


def product_of_layer_reaches(first, second, n_inputs):
    per_middle = torch.bincount(second.flatten(), minlength=first.shape[0])
    return torch.bincount(first.flatten(), minlength=n_inputs) * per_middle.max()


def test_reach_through_layers_accepts_the_right_answer():
    assert selfcheck.reach_through_layers(right_reach) == "correct"
    assert selfcheck.reach_through_layers(lambda a, b, n: routing.reach_counts([a, b], n)) == "correct"


@pytest.mark.parametrize("wrong", [counts_paths, first_layer_only, product_of_layer_reaches,
                                   lambda a, b, n: right_reach(a, b, n).max(),  # only the largest reach
                                   lambda a, b, n: right_reach(a, b, n).tolist()])  # not a tensor
def test_reach_through_layers_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.reach_through_layers(wrong)
