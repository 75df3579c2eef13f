"""The setup cell every notebook runs, and the environment check of notebook 00."""
from __future__ import annotations

import ctypes
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


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse rather than give it back to the system.

    By default every allocation above a threshold (at most 32 MB) is a fresh ``mmap`` and
    freed memory at the top of the heap is handed back, so a forward pass that allocates the
    same large temporaries every time also page-faults them in every time: up to a third of
    a plain forward pass of the course's models. With ``mmap`` off and the trim threshold at
    1 GiB the memory is reused; the arithmetic is the same (torch aligns its buffers to 64
    bytes either way). The scoreboard's tasks call it (notebook 11). Returns True where it
    applied (Linux with glibc), False elsewhere, where nothing changes."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # glibc's malloc.h
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))


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
