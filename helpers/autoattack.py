"""The field's standard evaluator: AutoAttack (Croce and Hein, ICML 2020), standard version.

The scoreboard (notebook 11) counts a digit as robust at a Linf or L2 budget only if
neither the course's own attacks nor AutoAttack fool it. AutoAttack is the original
implementation, PyPI ``pyautoattack``; it is an extra of the scoreboard, not a
dependency of the notebooks::

    pip install "smudge-course[scoreboard]"

Its standard version runs, each only on the digits the previous ones left standing:
APGD on the cross-entropy (100 iterations), targeted APGD on the DLR loss against the 9
other classes (100 iterations each), targeted FAB (9 classes, 100 iterations) and the
Square attack (5,000 queries). Nothing happens on import; the package is imported only
when an attack runs.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import logging

import torch
from torch import nn

from .checks import check_choice, check_images, check_labels, check_nonnegative

__all__ = ["PACKAGE", "EXTRA", "available", "settings", "autoattack"]

PACKAGE = "pyautoattack"
EXTRA = "smudge-course[scoreboard]"
_NORMS = {"linf": "Linf", "l2": "L2"}


def _module():
    try:
        return importlib.import_module(PACKAGE)
    except ImportError as err:
        raise ImportError(
            f"AutoAttack is not installed: the scoreboard needs the package {PACKAGE!r} "
            f"(pip install \"{EXTRA}\", or `make install`); the notebooks do not need it") from err


def available() -> bool:
    """Whether AutoAttack can be imported here. Notebook 11 reads the board either way."""
    try:
        _module()
    except ImportError:
        return False
    return True


def settings() -> str:
    """The words printed beside every number AutoAttack contributes to, read from the
    installed package itself (its version and its standard version's budgets)."""
    mod = _module()
    attack = mod.AutoAttack(nn.Identity(), norm="Linf", eps=0.1, version="standard")
    apgd, target, fab, square = attack.apgd, attack.apgd_targeted, attack.fab, attack.square
    return (f"AutoAttack {importlib.metadata.version(PACKAGE)}, standard version: "
            f"{', '.join(attack.attacks_to_run)} (APGD {apgd.n_iter} iterations, {apgd.n_restarts} restart; "
            f"targeted APGD {target.n_iter} iterations x {target.n_target_classes} targets; "
            f"FAB-T {fab.n_iter} iterations x {fab.n_target_classes} targets; Square {square.n_queries} queries)")


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, *, seed: int = 0,
               batch_size: int = 250, device: str | torch.device = "cpu") -> torch.Tensor:
    """AutoAttack's adversarial images for ``x`` (untargeted against the labels ``y``) at
    budget ``eps`` in ``norm`` (``"linf"`` or ``"l2"``). Notebook 11's scoreboard.

    Where it finds nothing, the image comes back unchanged. The caller re-checks every
    output (``helpers.attacks.recheck``) as for the course's own attacks: AutoAttack's
    word is not taken for it. ``model`` must be in eval mode.
    """
    check_images(x)
    check_labels(y, len(x))
    norm = check_choice(norm, "norm", tuple(_NORMS))
    eps = check_nonnegative(eps, "eps")
    if eps == 0 or len(x) == 0:
        return x.clone()
    mod = _module()
    logging.getLogger("auto-attack").setLevel(logging.WARNING)
    attack = mod.AutoAttack(model, norm=_NORMS[norm], eps=float(eps), version="standard", seed=seed,
                            device=device)
    adv, _ = attack.run_standard_evaluation(x.to(device), y.to(device), batch_size=batch_size)
    return adv.detach().to(x.device)
