"""Notebook 02's self-checks (one PGD step, Linf and L2) accept a right answer and reject the usual mistakes."""
from __future__ import annotations

import pytest
import torch
from helpers.selfcheck import attacks as check


def per_image(t):
    return t.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


def linf_right(x_adv, x, grad, alpha, eps):
    return torch.min(torch.max(x_adv + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)


def linf_clamp_first(x_adv, x, grad, alpha, eps):  # the other order: the same box, so also right
    return (x_adv + alpha * grad.sign()).clamp(0, 1).clamp(x - eps, x + eps)


def l2_right(x_adv, x, grad, alpha, eps):
    delta = x_adv + alpha * grad / per_image(grad).clamp_min(1e-12) - x
    scale = (eps / per_image(delta).clamp_min(1e-12)).clamp(max=1)
    return (x + delta * scale).clamp(0, 1)


def l2_finish(point, x, eps):
    delta = point - x
    return (x + delta * (eps / per_image(delta).clamp_min(1e-12)).clamp(max=1)).clamp(0, 1)


LINF_WRONG = {
    "forgets the clamp to [0,1]": lambda xa, x, g, a, e: torch.min(torch.max(xa + a * g.sign(), x - e), x + e),
    "projects around x_adv": lambda xa, x, g, a, e: torch.min(torch.max(xa + a * g.sign(), xa - e), xa + e).clamp(0, 1),
    "the gradient, not its sign": lambda xa, x, g, a, e: torch.min(torch.max(xa + a * g, x - e), x + e).clamp(0, 1),
    "steps down the loss": lambda xa, x, g, a, e: linf_right(xa, x, -g, a, e),
    "forgets the projection": lambda xa, x, g, a, e: (xa + a * g.sign()).clamp(0, 1),
    "grad / |grad| for the sign (NaN at a zero gradient)":
        lambda xa, x, g, a, e: torch.min(torch.max(xa + a * g / g.abs(), x - e), x + e).clamp(0, 1),
    "returns None (the stub)": lambda xa, x, g, a, e: None,
}

L2_WRONG = {
    "forgets the clamp to [0,1]": lambda xa, x, g, a, e: (lambda d: x + d * (e / per_image(d)).clamp(max=1))(
        xa + a * g / per_image(g).clamp_min(1e-12) - x),
    "projects around x_adv": lambda xa, x, g, a, e: l2_finish(xa + a * g / per_image(g).clamp_min(1e-12), xa, e),
    "the sign of the gradient": lambda xa, x, g, a, e: l2_finish(xa + a * g.sign(), x, e),
    "the gradient, not normalised": lambda xa, x, g, a, e: l2_finish(xa + a * g, x, e),
    "one norm for the whole batch": lambda xa, x, g, a, e: l2_finish(xa + a * g / g.norm(), x, e),
    "steps down the loss": lambda xa, x, g, a, e: l2_right(xa, x, -g, a, e),
    "always scales to length eps": lambda xa, x, g, a, e: (lambda d: (x + d * e / per_image(d)).clamp(0, 1))(
        xa + a * g / per_image(g).clamp_min(1e-12) - x),
}


@pytest.mark.parametrize("right", [linf_right, linf_clamp_first])
def test_linf_step_accepts_the_right_answer(right):
    assert check.pgd_linf_step(right) == "correct"


@pytest.mark.parametrize("mistake", list(LINF_WRONG))
def test_linf_step_rejects_wrong_answers(mistake):
    with pytest.raises(AssertionError):
        check.pgd_linf_step(LINF_WRONG[mistake])


def test_l2_step_accepts_the_right_answer():
    assert check.pgd_l2_step(l2_right) == "correct"


@pytest.mark.parametrize("mistake", list(L2_WRONG))
def test_l2_step_rejects_wrong_answers(mistake):
    with pytest.raises(AssertionError):
        check.pgd_l2_step(L2_WRONG[mistake])


def test_hints_name_the_mistake():
    with pytest.raises(AssertionError, match="clamp to \\[0, 1\\]"):
        check.pgd_linf_step(LINF_WRONG["forgets the clamp to [0,1]"])
    with pytest.raises(AssertionError, match="around the clean image x"):
        check.pgd_linf_step(LINF_WRONG["projects around x_adv"])
    with pytest.raises(AssertionError, match="sign"):
        check.pgd_linf_step(LINF_WRONG["the gradient, not its sign"])
    with pytest.raises(AssertionError, match="down the loss"):
        check.pgd_linf_step(LINF_WRONG["steps down the loss"])
    with pytest.raises(AssertionError, match="None"):
        check.pgd_linf_step(LINF_WRONG["returns None (the stub)"])


def test_the_check_is_cheap_and_leaves_the_inputs_alone():
    import time

    start = time.perf_counter()
    seen = []

    def in_place(x_adv, x, grad, alpha, eps):  # works in place on its arguments: still right
        seen.append(x.clone())
        return x_adv.add_(alpha * grad.sign()).clamp_(min=0, max=1).clamp_(x - eps, x + eps)

    assert check.pgd_linf_step(in_place) == "correct"
    assert check.pgd_l2_step(l2_right) == "correct"
    assert time.perf_counter() - start < 2.0
