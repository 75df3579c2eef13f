"""Adversarial attacks, one module per family, every one re-checked before it returns.

* ``helpers.attacks.gradient``: ``fgsm`` and ``pgd`` (Linf and L2), taught in notebook 02;
* ``helpers.attacks.square``: the gradient-free square attacks ``square_l2`` (notebook 06)
  and ``square_linf`` (behind the robust accuracies of notebooks 08-11);
* ``helpers.attacks.l0``: the few-pixel (L0) attacks ``l0_attack`` and ``min_pixels``,
  taught in notebook 03;
* ``helpers.attacks.common``: what they share (``margin``, ``is_adversarial``,
  ``changed_pixels``, the conventions every attack follows) and ``recheck``, the
  independent check of an adversarial input (in [0,1], inside its budget, re-predicted).

The caper's glasses (one perturbation confined to a band, notebook 02) live in
``helpers.caper``. Use the package as one module: ``from helpers import attacks;
attacks.pgd(...)``. Importing it has no side effects.
"""
from __future__ import annotations

from .common import LOSSES, NORMS, changed_pixels, is_adversarial, margin, recheck
from .gradient import SCHEDULES, _project_l2_box, fgsm, pgd
from .l0 import L0_METHODS, l0_attack, min_pixels
from .square import square_l2, square_linf

__all__ = [
    "square_l2",
    "square_linf",
    "fgsm",
    "pgd",
    "l0_attack",
    "min_pixels",
    "is_adversarial",
    "changed_pixels",
    "margin",
    "recheck",
    "NORMS",
    "LOSSES",
    "L0_METHODS",
]
