"""Datasets: the bundled offline MNIST subset, or torchvision's full MNIST.

Taught in notebook 01 (the data) and notebook 00 (which source is in use).
"""
from __future__ import annotations

import contextlib
import gzip
import io
import os
import struct
from pathlib import Path

import numpy as np
import torch

from .checks import check_choice
from .integrity import verified_bytes

DATASETS = ("mnist",)
SPLITS = ("train", "test")
SOURCES = ("auto", "bundled", "torchvision")


def default_torchvision_root() -> Path:
    """Where torchvision's datasets are kept: ``$SMUDGE_TORCHVISION_ROOT`` or ``~/.cache/smudge``."""
    return Path(os.environ.get("SMUDGE_TORCHVISION_ROOT", Path.home() / ".cache" / "smudge"))


def parse_idx(blob: bytes) -> np.ndarray:
    """Decode an IDX file of unsigned bytes (the MNIST distribution's format)."""
    zero, dtype_code, ndim = struct.unpack(">HBB", blob[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError("not an IDX file of unsigned bytes")
    shape = struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])
    data = np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"IDX file holds {data.size} bytes for shape {shape}")
    return data.reshape(shape)


def _to_tensors(images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).float().div_(255.0).unsqueeze(1)
    y = torch.from_numpy(np.array(labels)).long()
    return x.contiguous(), y


def load_bundled(split: str = "train", folder: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled subset (8,000 train / 2,000 test real MNIST digits), sha256-checked."""
    check_choice(split, "split", SPLITS)
    images = parse_idx(gzip.decompress(verified_bytes(f"mnist/{split}-images-idx3-ubyte.gz", folder)))
    labels = parse_idx(gzip.decompress(verified_bytes(f"mnist/{split}-labels-idx1-ubyte.gz", folder)))
    return _to_tensors(images, labels)


def load_torchvision(split: str = "train", root: Path | None = None, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Full MNIST through ``torchvision.datasets.MNIST`` (downloads once where online)."""
    from torchvision.datasets import MNIST

    check_choice(split, "split", SPLITS)
    dataset = MNIST(str(root or default_torchvision_root()), train=(split == "train"), download=download)
    return _to_tensors(dataset.data.numpy(), dataset.targets.numpy())


def load_dataset(
    name: str = "mnist",
    split: str = "train",
    source: str = "auto",
    *,
    root: str | Path | None = None,
    verbose: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``x`` (float32 ``[B,1,28,28]`` in [0,1]) and labels ``y`` (long ``[B]``).

    ``source="bundled"`` reads the offline subset shipped with the course,
    ``"torchvision"`` uses torchvision's MNIST (downloading into ``root`` if needed),
    and ``"auto"`` tries torchvision and falls back to the bundled subset, printing
    one line that says which it used. Taught in notebooks 00 and 01.
    """
    check_choice(name, "name", DATASETS)
    check_choice(split, "split", SPLITS)
    check_choice(source, "source", SOURCES)
    root = Path(root) if root is not None else None
    if source == "bundled":
        return load_bundled(split)
    if source == "torchvision":
        return load_torchvision(split, root)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            x, y = load_torchvision(split, root)
        used = f"torchvision MNIST ({len(x)} {split} images)"
    except Exception as error:  # offline, blocked, or torchvision missing: use the bundled subset
        x, y = load_bundled(split)
        used = f"bundled MNIST subset ({len(x)} {split} images; torchvision unavailable: {type(error).__name__})"
    if verbose:
        print(f"data source: {used}")
    return x, y


def write_torchvision_layout(root: Path, folder: Path | None = None) -> Path:
    """Write the bundled subset into torchvision's on-disk MNIST layout under ``root``.

    ``torchvision.datasets.MNIST(root, download=False)`` then loads it. Used by the
    tests to exercise the torchvision branch offline.
    """
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for ours, theirs in (("train", "train"), ("test", "t10k")):
        for kind in ("images-idx3", "labels-idx1"):
            blob = gzip.decompress(verified_bytes(f"mnist/{ours}-{kind}-ubyte.gz", folder))
            (raw / f"{theirs}-{kind}-ubyte").write_bytes(blob)
    return raw


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    max_shift: float = 2.0,
    max_degrees: float = 10.0,
    scale: tuple[float, float] = (0.9, 1.1),
) -> torch.Tensor:
    """Small random shifts (pixels), rotations and scalings: training augmentation.

    One random transform per image, drawn from ``generator``; output stays in [0,1].
    Taught in notebook 01 (how the baseline is trained).
    """
    b, _, h, w = x.shape
    u = torch.rand(b, 4, generator=generator, device="cpu").to(x.device)
    angle = (u[:, 0] * 2 - 1) * max_degrees * torch.pi / 180
    s = scale[0] + u[:, 1] * (scale[1] - scale[0])
    tx = (u[:, 2] * 2 - 1) * max_shift * 2 / w
    ty = (u[:, 3] * 2 - 1) * max_shift * 2 / h
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    return out.clamp_(0, 1)


def describe_sources(root: str | Path | None = None) -> str:
    """Which data sources this machine has, without touching the network. Notebook 00.

    Says whether the bundled subset passes its sha256 check and whether torchvision's
    full MNIST is already on disk under ``root``.
    """
    lines = []
    try:
        sizes = [len(load_bundled(split)[1]) for split in SPLITS]
        lines.append(f"bundled subset: {sizes[0]} train + {sizes[1]} test images, sha256 verified")
    except (OSError, ValueError) as error:
        lines.append(f"bundled subset: NOT usable ({error})")
    raw = Path(root or default_torchvision_root()) / "MNIST" / "raw"
    found = (raw / "train-images-idx3-ubyte").exists() or (raw / "train-images-idx3-ubyte.gz").exists()
    lines.append("torchvision MNIST: " + ("on disk, source='auto' will use it" if found else
                 "not on disk; source='auto' downloads it where the internet is reachable, else uses the bundled subset"))
    return "\n".join(lines)
