"""Self-checks for notebook 06 (the certainty criterion): Lipschitz bounds and certified radii."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .. import certainty

__all__ = ["chain_bound", "certified_radius"]


def chain_bound(answer: Callable[[Sequence[float]], float]) -> str:
    """Notebook 06, exercise 1: ``answer(norms)`` must return the upper bound on the L2
    Lipschitz constant of a chain of layers whose own L2 Lipschitz constants are ``norms``
    (a list of floats, in order): their product. Checked on chains where the product differs
    from the sum, the largest norm and the mean (norms below 1, all norms 1, one layer)."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    cases = [[2.0, 3.0], [0.5, 0.5], [1.0, 1.0, 1.0, 1.0], [3.0], [0.5, 4.0, 1.0, 0.25],
             [8.229, 1.0, 1.0, 23.549, 1.0, 1.0, 11.389, 1.0, 2.12]]
    for norms in cases:
        want = 1.0
        for n in norms:
            want *= n
        got = answer(list(norms))
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise AssertionError(f"return a number, got {type(got).__name__}")
        if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            hint = "Hint: a layer stretches whatever the layer before it has already stretched."
            if math.isclose(got, sum(norms), rel_tol=1e-9):
                hint = ("You added the norms. " + hint + " Stretching by a and then by b stretches by a times b.")
            elif math.isclose(got, max(norms), rel_tol=1e-9):
                hint = "You took the largest norm: the others stretch too. " + hint
            raise AssertionError(f"for layer norms {norms} the chain's bound is {want:.6g}, yours says {got:.6g}. {hint}")
    return "correct"


def _want_radius(logits: torch.Tensor, labels: torch.Tensor, lipschitz: float, tolerance: float) -> torch.Tensor:
    """Independent of ``helpers.certainty``: the label's logit minus the best other logit, less
    the tolerance, over sqrt(2) times the bound, never below 0."""
    out = []
    for row, label in zip(logits.tolist(), labels.tolist()):
        others = [v for j, v in enumerate(row) if j != label]
        margin = row[label] - max(others) - tolerance
        out.append(max(0.0, margin / (math.sqrt(2.0) * lipschitz)))
    return torch.tensor(out, dtype=torch.float64)


def _radius_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, float]]:
    generator = torch.Generator().manual_seed(6)
    mixed = torch.randn(8, 10, generator=generator, dtype=torch.float64) * 3
    mixed_labels = mixed.argmax(1).clone()
    mixed_labels[[1, 4, 6]] = (mixed_labels[[1, 4, 6]] + 3) % 10  # three digits read wrongly
    return [
        ("one digit read correctly", torch.tensor([[0.0, 3.0, 1.0]], dtype=torch.float64), torch.tensor([1]), 1.0),
        ("a digit read wrongly", torch.tensor([[4.0, 1.0, 0.0]], dtype=torch.float64), torch.tensor([1]), 1.0),
        ("a batch", torch.tensor([[5.0, -1.0, 2.0, 0.0], [-3.0, -2.5, -4.0, -1.0], [0.2, 0.1, 0.0, 0.3]],
                                 dtype=torch.float64), torch.tensor([0, 3, 3]), 2.5),
        ("a tie between the label and another class", torch.tensor([[2.0, 2.0, 0.0], [1.0, 0.0, 1.0]],
                                                                   dtype=torch.float64), torch.tensor([0, 2]), 1.0),
        ("a lead smaller than the float tolerance", torch.tensor([[1.00005, 1.0, 0.0]], dtype=torch.float64),
         torch.tensor([0]), 0.01),
        ("ten classes, some digits read wrongly", mixed, mixed_labels, 1.007),
        ("a steep model", mixed, mixed_labels, 4677.6),
    ]


def certified_radius(answer: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> str:
    """Notebook 06, exercise 2: ``answer(logits, labels, lipschitz)`` must return, per digit,
    the L2 radius within which a model whose logit map has L2 Lipschitz constant at most
    ``lipschitz`` provably still reads the digit as its label: the label's logit minus the
    best other logit, less ``certainty.LOGIT_TOLERANCE``, over ``sqrt(2) * lipschitz``, and 0
    where that is not positive (a digit read wrongly, a tie). ``logits`` is ``[B, classes]``,
    ``labels`` ``[B]``; the result a tensor ``[B]``. Checked on hand-made logits: ties, a
    lead below the tolerance, wrong readings, batches."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    tol = certainty.LOGIT_TOLERANCE
    for what, logits, labels, lipschitz in _radius_cases():
        want = _want_radius(logits, labels, lipschitz, tol)
        got = answer(logits.clone(), labels.clone(), lipschitz)
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"return a tensor of radii, one per digit, got {type(got).__name__}")
        got = got.detach().to(torch.float64).cpu()
        if got.shape != want.shape:
            raise AssertionError(f"{what}: {len(labels)} digits need a tensor of shape {tuple(want.shape)}, "
                                 f"yours has shape {tuple(got.shape)}")
        close = torch.isclose(got, want, rtol=1e-6, atol=1e-9)
        if bool(close.all()):
            continue
        i = int((~close).nonzero()[0, 0])
        row, label = logits[i], int(labels[i])
        s2k = math.sqrt(2.0) * lipschitz
        others = torch.cat([row[:label], row[label + 1:]])
        lead = float(row[label] - others.max())
        g = float(got[i])
        if lead - tol <= 0 and g < 0:
            hint = "a radius is never negative: where the label does not lead by more than the tolerance, it is 0."
        elif lead - tol <= 0 < g and int(row.argmax()) != label:
            hint = ("this digit is read wrongly, so no radius keeps it correct: measure the lead of the label's "
                    "logit, not of the top one.")
        elif lead <= 0 < g:
            hint = "a tie is not safe: a lead of 0 certifies nothing."
        elif lead - tol <= 0 < g:
            hint = f"take the float tolerance certainty.LOGIT_TOLERANCE = {tol} off the lead before dividing."
        elif math.isclose(g, (lead - tol) / lipschitz, rel_tol=1e-6):
            hint = "a margin is a difference of two logits, so it shrinks by up to sqrt(2) times the bound."
        elif math.isclose(g, lead / s2k, rel_tol=1e-6):
            hint = f"take the float tolerance certainty.LOGIT_TOLERANCE = {tol} off the lead before dividing."
        elif abs(g) < 1e-12 and lead > tol:
            hint = ("the label leads here; measure its logit against the best *other* logit (the top logit "
                    "minus the label's logit is 0 for a digit read correctly).")
        elif math.isclose(g, max(0.0, float(row[label] - row.min()) - tol) / s2k, rel_tol=1e-6):
            hint = "measure the lead over the runner-up (the best other logit), not over the smallest one."
        else:
            p = torch.softmax(row, 0)
            if g <= 1.0 / s2k + 1e-12 and float(p.max()) > 0:
                hint = ("use the logits, not probabilities: the bound is on the logit map, and the lead is "
                        "the label's logit minus the best other logit.")
            else:
                hint = "radius = (label's logit - best other logit - tolerance) / (sqrt(2) x bound), at least 0."
        raise AssertionError(
            f"{what}: for logits {[round(v, 5) for v in row.tolist()]}, label {label} and bound {lipschitz}, "
            f"the certified radius is {float(want[i]):.6g}, yours says {g:.6g}. Hint: {hint}")
    return "correct"
