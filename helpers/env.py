"""The setup cell every notebook runs, and the environment check of notebook 00."""
from __future__ import annotations

import importlib
import os
import platform
import sys

import torch

from .train import seed_everything


def setup(seed: int = 0, threads: int | None = None) -> torch.device:
    """Seed everything, cap torch's CPU threads, and return the device (the CPU).

    The course's models are small: a laptop CPU trains and attacks them in
    seconds, so the notebooks run on the CPU everywhere (Colab included) and
    their numbers match the committed outputs. Used by every notebook's setup cell.
    ``threads`` defaults to ``$SMUDGE_THREADS`` if set (``make course`` runs two notebooks
    side by side with one thread each), else the CPU count, at most 4.
    """
    seed_everything(seed)
    threads = threads or int(os.environ.get("SMUDGE_THREADS", 0)) or max(1, min(4, os.cpu_count() or 1))
    torch.set_num_threads(threads)
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"cpu"``: the CPU; ``"cuda"``: the GPU (a clear error where there is none).

    The ``--device`` of ``python -m helpers.recipes`` and ``python -m helpers.scoreboard``,
    for a learner who outgrows the laptop (a Colab GPU); the notebooks stay on the CPU."""
    try:
        device = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {str(device)!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch sees no CUDA GPU here")
    return device


def in_colab() -> bool:
    """True inside Google Colab. Notebook 00."""
    return "google.colab" in sys.modules


def versions() -> dict[str, str]:
    """Versions of Python and of the packages the course uses. Notebook 00."""
    out = {"python": platform.python_version()}
    for name in ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "tqdm"):
        try:
            out[name] = importlib.import_module(name).__version__
        except ImportError:
            out[name] = "missing"
    return out


def environment_report() -> str:
    """A short multi-line report: versions, platform, Colab or not, threads. Notebook 00."""
    lines = [f"{name:>12}: {version}" for name, version in versions().items()]
    lines.append(f"{'platform':>12}: {platform.system()} {platform.machine()}")
    lines.append(f"{'colab':>12}: {in_colab()}")
    lines.append(f"{'threads':>12}: {torch.get_num_threads()} (of {os.cpu_count()} CPUs)")
    lines.append(f"{'cuda':>12}: {'available (not needed)' if torch.cuda.is_available() else 'not available (not needed)'}")
    return "\n".join(lines)
