"""Self-checks for notebooks 00 (start here) and 01 (the baseline CNN): the size of a change
to an image, and the certainty a classifier gives its answer."""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["perturbation_size", "softmax_certainty"]


def _as_vector(value: object, n: int, what: str, unit: str = "image") -> torch.Tensor:
    """``value`` as a float tensor of shape ``(n,)``, or an ``AssertionError`` saying what is wrong."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, torch.Tensor) for v in value):
        raise AssertionError(f"{what}: you returned a pair of tensors; torch.max(..., dim=...) returns "
                             "(values, indices): keep .values")
    if value is None:
        raise AssertionError(f"{what}: your function returned None; return a tensor")
    try:
        vector = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise AssertionError(f"{what}: return a tensor of numbers, got {type(value).__name__}") from None
    if tuple(vector.shape) != (n,):
        raise AssertionError(f"{what}: want one number per {unit}, shape ({n},), got shape "
                             f"{tuple(vector.shape)}. Hint: reduce over every dimension except the first (the batch)")
    return vector


def _image(pixels: dict[int, float], background: float = 0.0) -> torch.Tensor:
    """A 1 x 28 x 28 image of ``background`` with the flat pixel indices in ``pixels`` set."""
    image = torch.full((784,), background)
    for index, value in pixels.items():
        image[index] = value
    return image.reshape(1, 28, 28)


def perturbation_size(answer: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> str:
    """Notebook 00, exercise 2: ``answer(original, changed)`` must return ``(l2, linf)``, the L2
    length and the largest absolute pixel change of ``changed - original``, one number per image
    of the batch (shape ``(n,)`` each). Checked against sums written out pixel by pixel, on hand-made
    images: one changed pixel, a darkened pixel on a grey image, every pixel brightened by 0.1, changes
    of both signs, no change at all, and all of them in one batch."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    grey = _image({}, 0.5)
    cases = {  # name: (original, changed), each 1 x 28 x 28
        "one pixel of a black image set to 0.5": (_image({}), _image({300: 0.5})),
        "one pixel of a grey (0.5) image darkened to 0.2": (grey, _image({410: 0.2}, 0.5)),
        "every pixel of a black image brightened by 0.1": (_image({}), _image({}, 0.1)),
        "a grey image with one pixel up by 0.2 and one down by 0.6": (grey, _image({5: 0.7, 600: -0.1}, 0.5)),
        "an image left unchanged": (_image({100: 1.0, 101: 0.3}), _image({100: 1.0, 101: 0.3})),
    }
    names = list(cases)
    singles = [([name], cases[name][0][None], cases[name][1][None]) for name in names]
    batch = (names, torch.stack([cases[n][0] for n in names]), torch.stack([cases[n][1] for n in names]))
    for which, original, changed in [*singles, batch]:
        # the reference, pixel by pixel in Python floats
        want_l2, want_linf = [], []
        for a, b in zip(original.reshape(len(which), -1).tolist(), changed.reshape(len(which), -1).tolist()):
            diffs = [bi - ai for ai, bi in zip(a, b)]
            want_l2.append(math.sqrt(sum(d * d for d in diffs)))
            want_linf.append(max(abs(d) for d in diffs))
        got = answer(original.clone(), changed.clone())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(f"return two things, (l2, linf), got {type(got).__name__}")
        label = which[0] if len(which) == 1 else f"a batch of all {len(which)} cases"
        got_l2 = _as_vector(got[0], len(which), f"l2 for {label}")
        got_linf = _as_vector(got[1], len(which), f"linf for {label}")
        for i, name in enumerate(which):
            w2, wi, g2, gi = want_l2[i], want_linf[i], float(got_l2[i]), float(got_linf[i])
            if abs(g2 - wi) < 1e-5 and abs(gi - w2) < 1e-5 and abs(w2 - wi) > 1e-5:
                raise AssertionError(f"{name}: the L2 and Linf sizes look swapped; return (l2, linf)")
            if abs(g2 - w2) > 1e-5:
                where = f" (in {label})" if len(which) > 1 else ""
                raise AssertionError(
                    f"{name}{where}: the L2 size is {w2:.4f}, yours says {g2:.4f}. Hint: take the difference "
                    "changed - original, square every pixel, add up each image's squares, then the square root")
            if abs(gi - wi) > 1e-5:
                where = f" (in {label})" if len(which) > 1 else ""
                raise AssertionError(
                    f"{name}{where}: the Linf size is {wi:.4f}, yours says {gi:.4f}. Hint: the largest "
                    "*absolute* change of any pixel of that image")
    return "correct"


def _reference_certainty(row: list[float]) -> float:
    """The largest softmax probability of one row of logits, with the largest logit taken off first."""
    top = max(row)
    total = sum(math.exp(v - top) for v in row)
    return 1.0 / total


def softmax_certainty(answer: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """Notebook 01, exercise 4: ``answer(logits)`` must return, for each row of ``logits``
    (shape ``(n, classes)``), the probability the softmax gives the predicted class: the largest
    of ``softmax(row)``, shape ``(n,)``. Checked against the softmax written out in Python floats
    on ties, a single row, negative logits, rows where a softmax over the batch gives another
    answer, and logits large enough to overflow ``exp``."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    cases = [
        ("a tie between two classes", [[0.0, 0.0]]),
        ("four equal logits", [[1.0, 1.0, 1.0, 1.0]]),
        ("one row", [[1.0, 2.0, 3.0]]),
        ("two rows (a softmax must run along each row, not down the batch)", [[2.0, 0.0, 0.0], [0.0, 0.0, 2.0],
                                                                              [0.0, 0.0, 5.0]]),
        ("negative logits", [[-5.0, -6.0, -7.0], [-1.0, -1.0, -3.0]]),
        ("ten classes, a camera-like row", [[0.5, -1.0, 3.0, 0.0, 2.5, -2.0, 1.0, 0.0, 0.2, -0.3]]),
        ("large logits (exp(100) overflows in float32)", [[100.0, 99.0, 0.0], [1000.0, 0.0, -1000.0]]),
    ]
    for name, rows in cases:
        logits = torch.tensor(rows, dtype=torch.float32)
        want = [_reference_certainty(row) for row in rows]
        got = _as_vector(answer(logits.clone()), len(rows), name, unit="row of logits")
        for i, w in enumerate(want):
            g = float(got[i])
            if not math.isfinite(g):
                raise AssertionError(f"{name}: row {i} should give {w:.4f}, yours gives {g}. Hint: exp overflows "
                                     "for large logits; subtract the row's largest logit first (torch.softmax "
                                     "does this for you)")
            if abs(g - w) > 1e-5:
                raise AssertionError(
                    f"{name}: row {i} ({rows[i]}) should give {w:.4f}, yours gives {g:.4f}. Hint: turn each row of "
                    "logits into probabilities with a softmax along the classes (dim=1), then take the largest")
    return "correct"
