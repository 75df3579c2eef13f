"""Self-checks for notebooks 04 (norms: the L2 projection) and 05 (quantisation: dropping
low-order bits)."""
from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["l2_projection", "quantisation"]


def _l2_reference(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Row by row, in float64: scale a row down to length ``eps`` if it is longer, else keep it."""
    rows = []
    for row in delta.reshape(len(delta), -1).double():
        length = float(row.pow(2).sum().sqrt())
        rows.append(row * (eps / length) if length > eps else row.clone())
    return torch.stack(rows).reshape(delta.shape)


def _l2_cases() -> list[tuple[str, torch.Tensor, float]]:
    gen = torch.Generator().manual_seed(4)
    images = torch.rand(3, 1, 28, 28, generator=gen) * 2 - 1
    images[1] *= 0.02  # L2 about 0.3: inside a ball of radius 2
    return [
        ("one example [[3, 4]] (length 5), eps 1", torch.tensor([[3.0, 4.0]]), 1.0),
        ("a batch of three: [[0.3, 0.4], [3, 4], [0, 0]] (lengths 0.5, 5 and 0), eps 1",
         torch.tensor([[0.3, 0.4], [3.0, 4.0], [0.0, 0.0]]), 1.0),
        ("an example exactly on the sphere, [[3, 4]], eps 5", torch.tensor([[3.0, 4.0]]), 5.0),
        ("the zero perturbation [[0, 0, 0]], eps 1", torch.zeros(1, 3), 1.0),
        ("three images [3, 1, 28, 28], the second already inside the ball, eps 2", images, 2.0),
        ("a batch [[1, 1], [-2, 0]] with eps 0", torch.tensor([[1.0, 1.0], [-2.0, 0.0]]), 0.0),
    ]


def l2_projection(answer: Callable[[torch.Tensor, float], torch.Tensor]) -> str:
    """Notebook 04, exercise 2: ``answer(delta, eps)`` must return the nearest point of the L2
    ball of radius ``eps`` to each example of the batch ``delta`` ``[B, ...]``: an example no
    longer than ``eps`` unchanged, a longer one scaled down along its own direction to length
    ``eps``. Checked against a row-by-row computation, including a zero perturbation, an example
    on the sphere, a mixed batch and ``eps = 0``; the input must not be modified."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    for what, delta, eps in _l2_cases():
        want = _l2_reference(delta, eps)
        given = delta.clone()
        got = answer(given, eps)
        if not torch.equal(given, delta):
            raise AssertionError(f"on {what} your function changed its input; return a new tensor "
                                 "(no in-place operations on delta)")
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"return a tensor, got {type(got).__name__}")
        if got.shape != delta.shape:
            raise AssertionError(f"on {what}: return the shape of delta, {list(delta.shape)}, "
                                 f"got {list(got.shape)}")
        if not torch.isfinite(got).all():
            raise AssertionError(f"on {what} your answer holds NaN or inf. Hint: an example with length 0 "
                                 "(or any example inside the ball) needs no scaling, so never divide by its length")
        if not torch.allclose(got.double(), want, atol=1e-5, rtol=1e-5):
            lengths = got.reshape(len(got), -1).double().norm(dim=1)
            raise AssertionError(
                f"on {what} the projection has lengths {[round(v, 4) for v in _lengths(want)]}, yours "
                f"{[round(float(v), 4) for v in lengths]}. Hint: measure each example's own length (one norm "
                "per row, not one for the whole batch), leave the examples inside the ball alone, and "
                "scale the others by eps / length.")
    return "correct"


def _lengths(t: torch.Tensor) -> list[float]:
    return [float(v) for v in t.reshape(len(t), -1).norm(dim=1)]


def quantisation(answer: Callable[[torch.Tensor, int], torch.Tensor]) -> str:
    """Notebook 05, exercise 3: ``answer(x, bits)`` must round every value of the images ``x``
    (in [0, 1]) to the nearest of the ``2**bits`` levels ``j / (2**bits - 1)``. Checked on
    every bit depth from 1 to 8, on a fine grid of values in [0, 1] (0 and 1 included), values
    exactly half a step from two levels (either neighbour is accepted there: both are nearest)
    and a batch of random images; the input must not be modified."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    gen = torch.Generator().manual_seed(5)
    grid = torch.linspace(0, 1, 1001).reshape(1, -1)
    for bits in [1, 2, 3, 4, 5, 6, 7, 8]:
        steps = 2**bits - 1
        depth = f"{bits} bit{'s' * (bits > 1)}"
        ties = ((torch.arange(steps) + 0.5) / steps).reshape(1, -1)  # halfway between two levels
        cases = [(f"{depth}, values from 0 to 1 in steps of 0.001", grid),
                 (f"{depth}, values halfway between two levels", ties),
                 (f"{depth}, a batch of two random images [2, 1, 28, 28]", torch.rand(2, 1, 28, 28, generator=gen))]
        for what, x in cases:
            given = x.clone()
            got = answer(given, bits)
            if not torch.equal(given, x):
                raise AssertionError(f"on {what} your function changed its input; return a new tensor")
            if not isinstance(got, torch.Tensor):
                raise AssertionError(f"return a tensor, got {type(got).__name__}")
            if got.shape != x.shape:
                raise AssertionError(f"on {what}: return the shape of x, {list(x.shape)}, got {list(got.shape)}")
            if not got.is_floating_point():
                raise AssertionError(f"return floating-point values in [0, 1] (the levels j / {steps}), "
                                     f"got dtype {got.dtype}")
            g, xd = got.double(), x.double()
            level = g * steps
            off_level = ((level - level.round()).abs() > 1e-4) | (g < -1e-6) | (g > 1 + 1e-6)
            if off_level.any():
                v = float(g[off_level][0])
                raise AssertionError(f"on {what}: {v:.4f} is not one of the levels j / {steps}. Hint: "
                                     f"with {depth} there are 2**{bits} = {steps + 1} levels, so {steps} step{'s' * (steps > 1)} "
                                     f"between 0 and 1, each of size 1 / {steps}")
            far = (g - xd).abs() > 0.5 / steps + 1e-6
            if far.any():
                a, b = float(xd[far][0]), float(g[far][0])
                raise AssertionError(f"on {what}: {a:.4f} went to {b:.4f}, but the level "
                                     f"{round(a * steps) / steps:.4f} is nearer. Hint: round to the nearest "
                                     "level (not down, not up): no value moves by more than half a step")
    return "correct"
