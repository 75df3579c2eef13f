"""The self-checks of notebooks 00 and 01 accept the right answers and reject the usual mistakes."""
from __future__ import annotations

import pytest
import torch
from helpers import norms, selfcheck


def right_size(original: torch.Tensor, changed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    delta = (changed - original).flatten(1)
    return delta.pow(2).sum(1).sqrt(), delta.abs().amax(1)


def test_perturbation_size_accepts_right_answers():
    assert selfcheck.perturbation_size(right_size) == "correct"
    assert selfcheck.perturbation_size(lambda a, b: (norms.l2(b - a), norms.linf(b - a))) == "correct"
    # lists of floats are fine too
    assert selfcheck.perturbation_size(lambda a, b: tuple(t.tolist() for t in right_size(a, b))) == "correct"


@pytest.mark.parametrize("wrong", [
    lambda a, b: ((b - a).flatten(1).pow(2).sum(1), (b - a).flatten(1).abs().amax(1)),  # forgets the square root
    lambda a, b: ((b - a).flatten(1).norm(dim=1), (b - a).flatten(1).amax(1)),  # Linf without the absolute value
    lambda a, b: ((b - a).norm().expand(len(a)), (b - a).abs().max().expand(len(a))),  # one norm for the whole batch
    lambda a, b: (b.flatten(1).norm(dim=1), b.flatten(1).abs().amax(1)),  # the size of the image, not of the change
    lambda a, b: right_size(a, b)[::-1],  # (linf, l2)
    lambda a, b: ((b - a).flatten(1).abs().sum(1), (b - a).flatten(1).abs().amax(1)),  # L1, not L2
    lambda a, b: ((b - a).flatten(1).pow(2).mean(1).sqrt(), (b - a).flatten(1).abs().amax(1)),  # a mean, not a sum
    lambda a, b: ((b - a).norm(dim=1), (b - a).abs().amax(1)),  # reduces over the channel only
    lambda a, b: right_size(a, b)[0],  # only one of the two
    lambda a, b: None,  # the stub
])
def test_perturbation_size_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.perturbation_size(wrong)


def test_perturbation_size_hints_at_the_swap():
    with pytest.raises(AssertionError, match="swapped"):
        selfcheck.perturbation_size(lambda a, b: right_size(a, b)[::-1])


def test_softmax_certainty_accepts_right_answers():
    assert selfcheck.softmax_certainty(lambda z: torch.softmax(z, dim=1).max(dim=1).values) == "correct"
    assert selfcheck.softmax_certainty(lambda z: torch.softmax(z, dim=-1).amax(-1)) == "correct"
    # the stable softmax written out by hand
    assert selfcheck.softmax_certainty(lambda z: 1 / (z - z.amax(1, keepdim=True)).exp().sum(1)) == "correct"


@pytest.mark.parametrize("wrong", [
    lambda z: torch.softmax(z, dim=0).amax(1),  # softmax down the batch
    lambda z: z.amax(1),  # the largest logit, not a probability
    lambda z: torch.sigmoid(z).amax(1),  # a sigmoid, not a softmax
    lambda z: (z.exp() / z.exp().sum(1, keepdim=True)).amax(1),  # naive softmax: exp overflows
    lambda z: torch.softmax(z, dim=1).max(dim=1),  # keeps (values, indices)
    lambda z: torch.softmax(z, dim=1).argmax(1),  # the class, not its probability
    lambda z: torch.softmax(z, dim=1).max(),  # one number for the whole batch
    lambda z: torch.softmax(z, dim=1).amax(0),  # max down the batch
    lambda z: None,  # the stub
])
def test_softmax_certainty_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.softmax_certainty(wrong)


def test_softmax_certainty_explains_the_overflow():
    with pytest.raises(AssertionError, match="overflow"):
        selfcheck.softmax_certainty(lambda z: (z.exp() / z.exp().sum(1, keepdim=True)).amax(1))
