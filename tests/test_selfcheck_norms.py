"""The self-checks of notebooks 04 (the L2 projection) and 05 (quantising) accept a right
answer and reject the mistakes a learner would really make."""
from __future__ import annotations

import pytest
import torch
from helpers import norms, selfcheck


def right_project_l2(delta, eps):
    lengths = delta.flatten(1).norm(dim=1)
    scale = torch.where(lengths > eps, eps / lengths.clamp_min(1e-12), torch.ones_like(lengths))
    return delta * scale.view(-1, *[1] * (delta.dim() - 1))


def whole_batch_norm(delta, eps):  # one length for the whole batch instead of one per example
    length = delta.norm()
    return delta * (eps / length) if length > eps else delta.clone()


def always_to_the_sphere(delta, eps):  # scales examples inside the ball up to length eps too
    lengths = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * (eps / lengths).view(-1, *[1] * (delta.dim() - 1))


def linf_clamp(delta, eps):  # the Linf projection instead of the L2 one
    return delta.clamp(-eps, eps)


def divides_by_zero(delta, eps):  # right for nonzero rows, NaN for a zero perturbation
    lengths = delta.flatten(1).norm(dim=1, keepdim=True)
    return (delta.flatten(1) * torch.clamp(eps / lengths, max=1.0) * (lengths / lengths)).view_as(delta)


def in_place(delta, eps):
    lengths = delta.flatten(1).norm(dim=1)
    scale = torch.where(lengths > eps, eps / lengths.clamp_min(1e-12), torch.ones_like(lengths))
    return delta.mul_(scale.view(-1, *[1] * (delta.dim() - 1)))


def test_l2_projection_accepts_the_right_answers():
    assert selfcheck.l2_projection(right_project_l2) == "correct"
    assert selfcheck.l2_projection(norms.project_l2) == "correct"


@pytest.mark.parametrize("wrong", [whole_batch_norm, always_to_the_sphere, linf_clamp, divides_by_zero, in_place,
                                   lambda delta, eps: delta.clone(), lambda delta, eps: None])
def test_l2_projection_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.l2_projection(wrong)


def right_quantize(x, bits):
    steps = 2**bits - 1
    return torch.round(x * steps) / steps


def rounds_half_up(x, bits):  # ties go up, not to the even level: still the nearest level
    steps = 2**bits - 1
    return torch.floor(x * steps + 0.5) / steps


def two_to_the_b_steps(x, bits):  # 2**b steps (2**b + 1 levels) instead of 2**b - 1
    return torch.round(x * 2**bits) / 2**bits


def floor_instead_of_round(x, bits):
    steps = 2**bits - 1
    return torch.floor(x * steps) / steps


def ceil_instead_of_round(x, bits):
    steps = 2**bits - 1
    return torch.ceil(x * steps) / steps


def level_index(x, bits):  # returns j, not the value j / (2**b - 1)
    return torch.round(x * (2**bits - 1))


def bits_as_levels(x, bits):  # b levels instead of 2**b
    return torch.round(x * (bits - 1)) / max(bits - 1, 1)


def test_quantisation_accepts_the_right_answers():
    assert selfcheck.quantisation(right_quantize) == "correct"
    assert selfcheck.quantisation(rounds_half_up) == "correct"
    assert selfcheck.quantisation(norms.quantize) == "correct"


@pytest.mark.parametrize("wrong", [two_to_the_b_steps, floor_instead_of_round, ceil_instead_of_round, level_index,
                                   bits_as_levels, lambda x, bits: x.clone(), lambda x, bits: None])
def test_quantisation_rejects_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        selfcheck.quantisation(wrong)
