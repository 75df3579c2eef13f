"""Self-checks for notebook 07 (what the training set never said): the essay's "10% cat" label."""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["essay_mosaic_label"]

_SIZE = 28
_CLASSES = 10
# the course's zoom schedule, written out again here so the check does not lean on helpers.data:
# certainty 1 from zoom 0.7 to 1.4, a half cosine in log(zoom) down to 0 at 0.25 and at 4
_FULL = (0.7, 1.4)
_GONE = (0.25, 4.0)


def _certainty(factor: float) -> float:
    if _FULL[0] <= factor <= _FULL[1]:
        return 1.0
    if factor < _FULL[0]:
        s = (math.log(_FULL[0]) - math.log(factor)) / (math.log(_FULL[0]) - math.log(_GONE[0]))
    else:
        s = (math.log(factor) - math.log(_FULL[1])) / (math.log(_GONE[1]) - math.log(_FULL[1]))
    return 0.0 if s >= 1 else 0.5 * (1 + math.cos(math.pi * s))


def _label(tiles: torch.Tensor, size: int | None = None, spread: int = _CLASSES,
           certainty: bool = True) -> torch.Tensor:
    """The essay's label of a mosaic (and, with other arguments, the mistakes it is told apart from)."""
    grid = tiles.shape[0]
    size = _SIZE // grid if size is None else size
    c = _certainty(size / _SIZE) if certainty else 1.0
    counts = torch.bincount(tiles.flatten(), minlength=_CLASSES).double()
    share = counts / tiles.numel()
    if spread == _CLASSES:
        return share * c + (1 - c) / _CLASSES
    # 1 - c over the other nine classes of each tile
    return share * c + (1 - share) * (1 - c) / (_CLASSES - 1)


def _cases() -> list[torch.Tensor]:
    t = torch.tensor
    return [
        t([[3]]),                                      # one full-size 3: a plain one-hot label
        t([[3, 3], [3, 3]]),                           # four 3s, each half size
        t([[1, 3], [3, 7]]),
        t([[3] * 3] * 3),                              # the essay's pile of nine tiny 3s
        t([[3, 0, 5], [2, 8, 6], [1, 4, 9]]),          # one 3 among nine: the "10%" mosaic
        t([[7, 7, 2], [7, 0, 7], [2, 2, 7]]),
        t([[5] * 4] * 4),                              # sixteen 7-pixel 5s: too small to tell
        t([[9, 9, 9, 9, 1]] * 5),
    ]


def essay_mosaic_label(answer: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """Notebook 07, exercise 3: ``answer(tiles)`` gets the classes of a mosaic's tiles, a
    LongTensor ``[grid, grid]`` (each tile a digit shrunk to ``28 // grid`` pixels a side,
    as in ``data.mosaic``), and must return the label the essay asks for, a tensor ``[10]``:
    every tile keeps the soft label a digit of its size gets on its own (certainty
    ``zoom_certainty((28 // grid) / 28)`` on its class, the rest spread over all ten
    classes), and the mosaic's label is the average of its tiles' labels, each weighing
    by its share of the tiles (all tiles have the same area). Checked on mosaics of 1 to 25
    tiles against an independent computation of the schedule."""
    if not callable(answer):
        raise AssertionError(f"pass your function itself, not {type(answer).__name__}")
    for tiles in _cases():
        grid = tiles.shape[0]
        want = _label(tiles)
        where = f"for the {grid}x{grid} mosaic {tiles.tolist()}"
        got = answer(tiles.clone())
        if got is None:
            raise AssertionError(f"{where} your function returned None: return the label, a tensor of 10 numbers")
        try:
            got = torch.as_tensor(got, dtype=torch.float64).flatten().cpu()
        except (TypeError, ValueError, RuntimeError):
            raise AssertionError(f"{where} return a tensor of 10 numbers, got {type(got).__name__}") from None
        if got.numel() != _CLASSES:
            raise AssertionError(f"{where} the label must hold one number per class (10), got {got.numel()}")
        if torch.allclose(got, want, atol=1e-5):
            continue
        if not torch.isfinite(got).all() or got.min() < -1e-6 or got.max() > 1 + 1e-6:
            raise AssertionError(f"{where} your label has values outside [0, 1] ({got.min():.3f} to {got.max():.3f}): "
                                 "average the tiles' labels, do not add them up")
        if abs(float(got.sum()) - 1) > 1e-5:
            raise AssertionError(f"{where} your label sums to {float(got.sum()):.4f}, not 1: every tile's label is "
                                 "c on its class plus (1 - c) / 10 on every class, the tile's own included")
        if torch.allclose(got, _label(tiles, certainty=False), atol=1e-5):
            raise AssertionError(f"{where} you return the fraction of tiles of each class, the labels of data.mosaic: "
                                 "the essay wants each tiny digit only as sure as one of its size alone "
                                 "(certainty from data.zoom_certainty of the tile's zoom)")
        if torch.allclose(got, _label(tiles, spread=_CLASSES - 1), atol=1e-5):
            raise AssertionError(f"{where} you spread 1 - c over the nine other classes; the course spreads it over "
                                 "all ten (data.soft_labels), so that c = 0 means 'no idea', not 'anything but this'")
        for size in sorted({_SIZE / grid, _SIZE // grid + 1, _SIZE // grid - 1, round(_SIZE / grid)}):
            if size > 0 and torch.allclose(got, _label(tiles, size=size), atol=1e-5):
                raise AssertionError(f"{where} your tile certainty is that of a {size:g}-pixel digit: a tile is "
                                     f"28 // grid = {_SIZE // grid} pixels a side, so its zoom is "
                                     f"{_SIZE // grid}/28 = {(_SIZE // grid) / _SIZE:.3f}")
        raise AssertionError(f"{where} the label should be {[round(v, 3) for v in want.tolist()]}, yours is "
                             f"{[round(v, 3) for v in got.tolist()]}")
    return "correct"
