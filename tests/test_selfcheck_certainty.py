"""Notebook 06's self-checks accept the right answers and reject the mistakes a learner makes."""
from __future__ import annotations

import math

import pytest
import torch
from helpers import certainty, selfcheck

TOL = certainty.LOGIT_TOLERANCE


def right_radius(logits, labels, lipschitz):
    label_logit = logits.gather(1, labels[:, None])[:, 0]
    others = logits.scatter(1, labels[:, None], -math.inf)
    return ((label_logit - others.amax(1) - TOL) / (math.sqrt(2) * lipschitz)).clamp_min(0)


def through_helpers(logits, labels, lipschitz):
    """The course's own convention: certainty's radius (about the prediction), 0 where the prediction is wrong."""
    top2 = logits.topk(2, dim=1)
    radius = ((top2.values[:, 0] - top2.values[:, 1] - TOL) / (math.sqrt(2) * lipschitz)).clamp_min(0)
    return torch.where(top2.indices[:, 0] == labels, radius, torch.zeros_like(radius))


def no_sqrt2(logits, labels, lipschitz):
    return right_radius(logits, labels, lipschitz) * math.sqrt(2)


def top_probability(logits, labels, lipschitz):
    p = torch.softmax(logits, 1)
    top2 = p.topk(2, dim=1)
    right = top2.indices[:, 0] == labels
    return torch.where(right, (top2.values[:, 0] - top2.values[:, 1]) / (math.sqrt(2) * lipschitz), 0.0)


def margin_to_the_label(logits, labels, lipschitz):  # top logit minus the label's: 0 when right
    label_logit = logits.gather(1, labels[:, None])[:, 0]
    return ((logits.amax(1) - label_logit - TOL) / (math.sqrt(2) * lipschitz)).clamp_min(0)


def ignores_the_label(logits, labels, lipschitz):  # the prediction's radius, even when it is wrong
    top2 = logits.topk(2, dim=1)
    return ((top2.values[:, 0] - top2.values[:, 1] - TOL) / (math.sqrt(2) * lipschitz)).clamp_min(0)


def no_clamp(logits, labels, lipschitz):
    label_logit = logits.gather(1, labels[:, None])[:, 0]
    others = logits.scatter(1, labels[:, None], -math.inf)
    return (label_logit - others.amax(1) - TOL) / (math.sqrt(2) * lipschitz)


def no_tolerance(logits, labels, lipschitz):
    label_logit = logits.gather(1, labels[:, None])[:, 0]
    others = logits.scatter(1, labels[:, None], -math.inf)
    return ((label_logit - others.amax(1)) / (math.sqrt(2) * lipschitz)).clamp_min(0)


def lead_over_the_smallest(logits, labels, lipschitz):
    label_logit = logits.gather(1, labels[:, None])[:, 0]
    right = logits.argmax(1) == labels
    return torch.where(right, (label_logit - logits.amin(1) - TOL) / (math.sqrt(2) * lipschitz), 0.0)


def test_certified_radius_accepts_the_right_answer():
    assert selfcheck.certified_radius(right_radius) == "correct"
    assert selfcheck.certified_radius(through_helpers) == "correct"


@pytest.mark.parametrize("wrong", [no_sqrt2, top_probability, margin_to_the_label, ignores_the_label, no_clamp,
                                   no_tolerance, lead_over_the_smallest,
                                   lambda logits, labels, k: right_radius(logits, labels, k).tolist(),  # not a tensor
                                   lambda logits, labels, k: right_radius(logits, labels, k).sum()])  # not per digit
def test_certified_radius_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.certified_radius(wrong)


def test_certified_radius_hints_name_the_mistake():
    with pytest.raises(AssertionError, match="sqrt"):
        selfcheck.certified_radius(no_sqrt2)
    with pytest.raises(AssertionError, match="negative"):
        selfcheck.certified_radius(no_clamp)
    with pytest.raises(AssertionError, match="tolerance"):
        selfcheck.certified_radius(no_tolerance)


def test_certified_radius_agrees_with_the_helper_on_a_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 5))
    x = torch.rand(30, 1, 28, 28)
    bound = certainty.lipschitz_upper_bound(model)
    with torch.no_grad():
        logits = model(x)
    labels = logits.argmax(1)
    helper = certainty.certified_radius(model, x, bound)
    assert torch.allclose(right_radius(logits, labels, bound), helper, atol=1e-6)


def test_chain_bound_accepts_the_right_answer():
    assert selfcheck.chain_bound(math.prod) == "correct"
    assert selfcheck.chain_bound(lambda norms: torch.tensor(norms, dtype=torch.float64).prod()) == "correct"


@pytest.mark.parametrize("wrong", [sum, max, lambda norms: sum(norms) / len(norms),
                                   lambda norms: math.prod(n for n in norms if n > 1),  # drops the shrinking layers
                                   lambda norms: str(math.prod(norms))])
def test_chain_bound_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.chain_bound(wrong)
