"""How every bundled model is trained, so that ``make checkpoints`` can rebuild them all.

``python -m helpers.recipes [NAME ...]`` retrains the named models (all by default)
from scratch on the bundled data, saves them into data/ and updates SHA256SUMS,
printing each model's time. Notebook 01 calls ``pretrained`` with ``retrain``.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from .checks import check_choice
from .data import load_dataset, random_affine
from .models import BaselineCNN, count_parameters
from .train import accuracy, fit, seed_everything, train_or_load


def train_cnn(*, classes: int = 10, epochs: int = 30, seed: int = 0, progress: bool = True) -> tuple[nn.Module, dict]:
    """The baseline CNN: 30 epochs of Adam (one-cycle, peak lr 3e-3), batch 64, small affine augmentation.

    With ``classes=m < 10`` the same recipe on the digits ``0..m-1`` only (notebook 03).
    """
    x, y = load_dataset("mnist", "train", source="bundled", verbose=False)
    x_test, y_test = load_dataset("mnist", "test", source="bundled", verbose=False)
    x, y = x[y < classes], y[y < classes]
    x_test, y_test = x_test[y_test < classes], y_test[y_test < classes]
    seed_everything(seed)
    model = BaselineCNN(classes=classes)
    losses = fit(model, x, y, epochs=epochs, batch_size=64, lr=3e-3, augment=random_affine,
                 seed=seed, progress=progress, desc=f"CNN, {classes} classes")
    info = {
        "classes": classes,
        "train_images": len(x),
        "epochs": epochs,
        "seed": seed,
        "epoch_losses": [round(v, 4) for v in losses],
        "test_accuracy": round(accuracy(model, x_test, y_test), 4),
        "parameters": count_parameters(model),
        "torch": torch.__version__,
    }
    return model, info


RECIPES: dict[str, Callable[..., tuple[nn.Module, dict]]] = {
    "cnn": train_cnn,
    **{f"cnn_m{m}": partial(train_cnn, classes=m) for m in range(2, 10)},
}


def pretrained(name: str, *, retrain: bool = False, save: bool = False, progress: bool = True) -> nn.Module:
    """The bundled model ``name``, or (``retrain=True``) one trained now by its recipe."""
    recipe = RECIPES[check_choice(name, "name", RECIPES)]
    return train_or_load(name, lambda: recipe(progress=progress), retrain=retrain, save=save)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Retrain bundled models from scratch and save them into data/.")
    parser.add_argument("names", nargs="*", default=list(RECIPES), help=f"models to retrain (default: all of {', '.join(RECIPES)})")
    args = parser.parse_args(argv)
    for name in args.names:
        check_choice(name, "name", RECIPES)
    total = time.perf_counter()
    for name in args.names:
        start = time.perf_counter()
        pretrained(name, retrain=True, save=True)
        print(f"{name:>16}: retrained and saved in {time.perf_counter() - start:6.1f} s")
    print(f"{'all':>16}: {time.perf_counter() - total:6.1f} s")


if __name__ == "__main__":
    main()
