"""Datasets: the bundled standard MNIST (offline), or the same digits through torchvision; transforms.

Taught in notebook 01 (the data) and notebook 00 (which source is in use); the transforms
(zoom, soft labels, mosaics, foreground on a background) in notebook 07.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import math
import os
import struct
from pathlib import Path

import numpy as np
import torch

from .checks import check_choice, check_images, check_labels
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


RAW_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""sha256 of the four standard MNIST files, uncompressed, under torchvision's names (the
bundled gzip files decompress to exactly these bytes; ``tools/convert_mnist.py``)."""


def load_bundled(split: str = "train", folder: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled standard MNIST (60,000 train / 10,000 test digits in the original
    order), sha256-checked. Notebook 01."""
    check_choice(split, "split", SPLITS)
    images = parse_idx(gzip.decompress(verified_bytes(f"mnist/{split}-images-idx3-ubyte.gz", folder)))
    labels = parse_idx(gzip.decompress(verified_bytes(f"mnist/{split}-labels-idx1-ubyte.gz", folder)))
    return _to_tensors(images, labels)


def _raw_names(split: str) -> tuple[str, str]:
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def check_torchvision_files(split: str, root: Path | None = None) -> Path:
    """Check that torchvision's raw MNIST files for ``split`` under ``root`` are the standard
    MNIST, byte for byte; return their folder.

    Raises ``FileNotFoundError`` naming the files that are missing and ``ValueError``
    naming each file whose bytes differ from the standard ones (so a learner never
    trains or tests on other digits than the committed outputs were made with).
    """
    check_choice(split, "split", SPLITS)
    raw = Path(root or default_torchvision_root()) / "MNIST" / "raw"
    names = _raw_names(split)
    missing = [n for n in names if not (raw / n).is_file()]
    if missing:
        raise FileNotFoundError(f"torchvision's MNIST folder {raw} lacks {', '.join(missing)}")
    differ = []
    for name in names:
        digest = hashlib.sha256((raw / name).read_bytes()).hexdigest()
        if digest != RAW_SHA256[name]:
            differ.append(f"{name} (sha256 {digest[:12]}..., standard {RAW_SHA256[name][:12]}...)")
    if differ:
        raise ValueError(f"torchvision's MNIST files in {raw} differ from the standard MNIST: {'; '.join(differ)}")
    return raw


def load_torchvision(split: str = "train", root: Path | None = None, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The standard MNIST through ``torchvision.datasets.MNIST`` (downloads once where
    online), after ``check_torchvision_files`` has checked its files byte for byte."""
    from torchvision.datasets import MNIST

    check_choice(split, "split", SPLITS)
    root = Path(root or default_torchvision_root())
    dataset = MNIST(str(root), train=(split == "train"), download=download)
    check_torchvision_files(split, root)
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

    The standard MNIST: ``split="train"`` gives its 60,000 training digits, ``"test"``
    its 10,000 test digits, in the original order. ``source="bundled"`` reads the copy
    shipped with the course (sha256-checked), ``"torchvision"`` uses torchvision's MNIST
    (downloading into ``root`` if needed; its files must be byte for byte the standard
    ones), and ``"auto"`` tries torchvision and falls back to the bundled copy, printing
    one line that says which it used. Both give identical tensors. Taught in notebooks 00 and 01.
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
    except ValueError:  # torchvision's files are not the standard MNIST: say so, never fall back silently
        raise
    except Exception as error:  # offline, blocked, or torchvision missing: use the bundled copy
        x, y = load_bundled(split)
        used = f"bundled MNIST ({len(x)} {split} images; torchvision unavailable: {type(error).__name__})"
    if verbose:
        print(f"data source: {used}")
    return x, y


def write_torchvision_layout(root: Path, folder: Path | None = None) -> Path:
    """Write the bundled MNIST into torchvision's on-disk MNIST layout under ``root``.

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


def salt_and_pepper(x: torch.Tensor, generator: torch.Generator, *, rate: float = 0.05) -> torch.Tensor:
    """Set a random ``rate`` of each image's pixels to 0 or to 1 (half each): training noise
    that looks like an L0 attack. Notebook 08 trains the routing nets with it."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ValueError(f"rate must be a number in [0, 1], got {rate!r}")
    u = torch.rand(x.shape, generator=generator, device="cpu").to(x.device)
    hit = u < rate
    return torch.where(hit, (u < rate / 2).to(x.dtype), x)


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

    Says whether the bundled standard MNIST passes its sha256 check and whether
    torchvision's copy of it is already on disk under ``root``.
    """
    lines = []
    try:
        sizes = [len(load_bundled(split)[1]) for split in SPLITS]
        lines.append(f"bundled MNIST: {sizes[0]} train + {sizes[1]} test images, sha256 verified")
    except (OSError, ValueError) as error:
        lines.append(f"bundled MNIST: NOT usable ({error})")
    raw = Path(root or default_torchvision_root()) / "MNIST" / "raw"
    found = (raw / "train-images-idx3-ubyte").exists() or (raw / "train-images-idx3-ubyte.gz").exists()
    lines.append("torchvision MNIST: " + ("on disk, source='auto' will use it" if found else
                 "not on disk; source='auto' downloads it where the internet is reachable, else uses the bundled copy "
                 "(the same digits)"))
    return "\n".join(lines)


# --- notebook 07: what the training set never said ---------------------------------------------
#
# The essay's training-set augmentations: digits far away (zoom out) and in close-up (zoom in)
# with a certainty that falls smoothly with the zoom, "10% cat" mosaics labelled by the fraction
# of tiles of each class, and a foreground digit over a busy background of small digits. Every
# function takes and returns float images [B,1,28,28] in [0,1]; the random ones draw only from a
# torch.Generator seeded with ``seed`` (never the global RNG), so a seed fixes the result.

SIZE = 28  # MNIST images are SIZE x SIZE
NUM_CLASSES = 10


def _check_int(value: object, name: str, lo: int, hi: int | None = None) -> int:
    allowed = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__}")
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return int(value)


def _check_unit(value: object, name: str) -> float:
    """A number in [0, 1] (a certainty, a fraction, a brightness)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(value).__name__}")
    if not 0 <= value <= 1:  # also refuses NaN
        raise ValueError(f"{name} must be a number in [0, 1], got {value}")
    return float(value)


def _check_factor(factor: object, name: str = "factor") -> float:
    if isinstance(factor, torch.Tensor) and factor.numel() == 1:
        factor = factor.item()
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a finite number > 0, got {type(factor).__name__}")
    if not math.isfinite(factor) or factor <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (< 1 zooms out, > 1 zooms in), got {factor}")
    return float(factor)


def _check_classes(classes: object) -> int:
    return _check_int(classes, "classes", 2)


def _seeded(seed: object) -> torch.Generator:
    seed = _check_int(seed, "seed", 0)
    return torch.Generator().manual_seed(seed)


def _shrink(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resample ``[B,1,28,28]`` to ``[B,1,size,size]`` by area averaging (no aliasing)."""
    if size == x.shape[-1]:
        return x.clone()
    return torch.nn.functional.interpolate(x, size=(size, size), mode="area")


def _paste_centre(small: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """``small`` ``[B,1,s,s]`` at the centre of a black ``size x size`` canvas."""
    s = small.shape[-1]
    top = (size - s) // 2
    canvas = small.new_zeros(small.shape[0], 1, size, size)
    canvas[:, :, top : top + s, top : top + s] = small
    return canvas


def zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """The same digits seen from further away (``factor < 1``) or closer (``factor > 1``).

    ``factor < 1`` ("in the distance"): the whole image is shrunk by area averaging to
    ``round(28 * factor)`` pixels a side (at least 1) and pasted at the centre of a black
    28x28 canvas, so the ink keeps its brightness per area and its total mass scales like
    ``factor**2``; the shrunk image sits up to half a pixel off-centre when ``28 - size``
    is odd, and factors within about 1/56 of each other can give the same image (the
    size moves in whole pixels). ``factor > 1`` ("close-up"): the central ``28 / factor``
    square is enlarged back to 28x28 by bilinear resampling about the exact centre, which
    changes continuously with ``factor``. ``factor == 1`` returns an exact copy. The
    certainty schedule of :func:`zoom_certainty` is smooth in ``factor`` either way. Mind
    the essay's warning: resampling leaves artifacts (blur in close-ups, softened strokes
    far away) that a network could use to guess the zoom rather than read the digit.

    Output has the shape and dtype of ``x``, values in [0,1]. Taught in notebook 07.
    """
    check_images(x)
    factor = _check_factor(factor)
    if factor == 1:
        return x.clone()
    if factor < 1:
        small = _shrink(x, max(1, round(SIZE * factor)))
        return _paste_centre(small).clamp_(0, 1)
    # the central 28/factor square, enlarged by bilinear resampling about the exact centre
    # (a crop of whole pixels would sit half a pixel off-centre whenever 28 - crop is odd,
    # and enlarging would magnify that shift)
    theta = x.new_tensor([[1 / factor, 0.0, 0.0], [0.0, 1 / factor, 0.0]]).expand(len(x), 2, 3)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.clamp_(0, 1)


def _check_band(full: object, gone: object) -> tuple[float, float, float, float]:
    pairs = []
    for name, pair in (("full", full), ("gone", gone)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{name} must be a pair (low, high) of zoom factors, got {pair!r}")
        for value in pair:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{name} must hold two numbers, got {pair!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must hold two finite zoom factors > 0, got {pair!r}")
        pairs.append((float(pair[0]), float(pair[1])))
    (full_lo, full_hi), (gone_lo, gone_hi) = pairs
    if not full_lo <= 1 <= full_hi:
        raise ValueError(f"full must be a band (low, high) with low <= 1 <= high, got {full!r}")
    if not gone_lo < full_lo:
        raise ValueError(f"gone[0] must be below full[0] (0 < gone[0] < full[0]), got gone={gone!r}, full={full!r}")
    if not full_hi < gone_hi:
        raise ValueError(f"gone[1] must be above full[1] (full[1] < gone[1]), got gone={gone!r}, full={full!r}")
    return full_lo, full_hi, gone_lo, gone_hi


def zoom_certainty(
    factor: float | torch.Tensor,
    *,
    full: tuple[float, float] = (0.7, 1.4),
    gone: tuple[float, float] = (0.25, 4.0),
) -> float | torch.Tensor:
    """The soft-label schedule: how sure a label may be of a digit zoomed by ``factor``.

    1.0 for factors in the band ``[full[0], full[1]]``; from there it falls smoothly, as
    a half cosine in ``log(factor)``, to 0 at ``gone[0]`` (too far away to tell) and at
    ``gone[1]`` (so close that only a fragment of a stroke is left), and stays 0 beyond.
    No cliff anywhere: the essay's criterion forbids a big change in certainty for a small
    change in the image. Requires ``0 < gone[0] < full[0] <= 1 <= full[1] < gone[1]``.

    A number gives a float, a tensor of factors a float tensor of the same shape.
    Taught in notebook 07.
    """
    full_lo, full_hi, gone_lo, gone_hi = _check_band(full, gone)
    if isinstance(factor, torch.Tensor):
        f = factor.detach().to("cpu", torch.float64)
        if f.numel() and not (torch.isfinite(f).all() and (f > 0).all()):
            raise ValueError(f"factor must hold finite zoom factors > 0, got min {f.min().item():.4g} and max {f.max().item():.4g}")
    else:
        f = torch.tensor(_check_factor(factor), dtype=torch.float64)
    lf = f.log()
    out_far = ((math.log(full_lo) - lf) / (math.log(full_lo) - math.log(gone_lo))).clamp(0, 1)
    out_near = ((lf - math.log(full_hi)) / (math.log(gone_hi) - math.log(full_hi))).clamp(0, 1)
    s = torch.maximum(out_far, out_near)
    certainty = 0.5 * (1 + torch.cos(torch.pi * s))
    certainty = torch.where(s <= 0, 1.0, torch.where(s >= 1, 0.0, certainty))
    if isinstance(factor, torch.Tensor):
        dtype = factor.dtype if factor.is_floating_point() else torch.get_default_dtype()
        return certainty.to(device=factor.device, dtype=dtype)
    return float(certainty)


def soft_labels(y: torch.Tensor, certainty: float | torch.Tensor, classes: int = 10) -> torch.Tensor:
    """Target distributions ``[B, classes]``: how sure, and of what.

    Certainty ``c`` goes to the true class and the rest, ``1 - c``, is spread uniformly
    over *all* classes, the true one included. So ``c = 1`` is the usual one-hot label,
    ``c = 0`` the uniform distribution ("no idea": the image no longer says which digit it
    is), and the true class gets ``c + (1 - c) / classes``. Spreading over the other
    classes only would make ``c = 0`` mean "anything but the true class", a confident
    claim the image does not support. ``certainty`` is one number or one per image
    (``[B]``), each in [0,1]. Rows sum to 1. Taught in notebook 07.
    """
    classes = _check_classes(classes)
    if isinstance(y, torch.Tensor) and y.dim() != 1:
        raise ValueError(f"y must be a 1-D tensor of class indices [B], got shape {list(y.shape)}")
    check_labels(y, len(y) if isinstance(y, torch.Tensor) else 0, num_classes=classes)
    if isinstance(certainty, torch.Tensor):
        c = certainty.detach().to(torch.float32)
        if c.dim() == 0:
            c = c.expand(len(y))
        if c.shape != y.shape:
            raise ValueError(f"certainty must be one number or a tensor of shape [{len(y)}], got {list(certainty.shape)}")
        if c.numel() and not ((c >= 0) & (c <= 1)).all():
            raise ValueError("certainty must hold values in [0, 1]")
        c = c.to(y.device)
    else:
        c = torch.full(y.shape, _check_unit(certainty, "certainty"), device=y.device)
    targets = ((1 - c) / classes)[:, None].expand(len(y), classes).clone()
    targets[torch.arange(len(y), device=y.device), y] += c
    return targets


def zoom_dataset(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    factors: object,
    seed: int = 0,
    full: tuple[float, float] = (0.7, 1.4),
    gone: tuple[float, float] = (0.25, 4.0),
    classes: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zoom each image by a factor drawn from ``factors``; label it by the schedule.

    One factor per image, drawn uniformly from ``factors`` (a non-empty sequence or 1-D
    tensor of zoom factors) by a generator seeded with ``seed``. Returns the zoomed images
    (:func:`zoom`), their soft targets ``[B, classes]`` (:func:`soft_labels` with
    :func:`zoom_certainty` of the factor, band ``full``/``gone``), and the factors used
    (float ``[B]``). Taught in notebook 07.
    """
    check_images(x)
    check_labels(y, len(x), num_classes=_check_classes(classes))
    if isinstance(factors, torch.Tensor):
        factors = factors.flatten().tolist()
    if isinstance(factors, (str, bytes)) or not hasattr(factors, "__len__") or len(factors) == 0:
        raise ValueError(f"factors must be a non-empty sequence of zoom factors > 0, got {factors!r}")
    values = [_check_factor(f, "factors") for f in factors]
    _check_band(full, gone)
    pick = torch.randint(len(values), (len(x),), generator=_seeded(seed))
    used = torch.tensor(values, dtype=torch.float32)[pick]
    out = torch.empty_like(x)
    for i, value in enumerate(values):
        rows = (pick == i).nonzero().flatten().to(x.device)
        if len(rows):
            out[rows] = zoom(x[rows], value)
    targets = soft_labels(y, zoom_certainty(used, full=full, gone=gone), classes)
    return out, targets, used


def _check_grid(grid: object) -> int:
    return _check_int(grid, "grid", 1, SIZE)


def _tiles(x: torch.Tensor, grid: int) -> torch.Tensor:
    """Images ``[N * grid * grid, 1, 28, 28]`` as ``grid x grid`` small tiles on black canvases ``[N,1,28,28]``.

    Each tile is a digit shrunk to ``28 // grid`` pixels; the tiled block sits at the centre.
    """
    tile = SIZE // grid
    small = _shrink(x, tile)  # [N*g*g, 1, t, t]
    n = len(x) // (grid * grid)
    block = small.reshape(n, grid, grid, tile, tile).permute(0, 1, 3, 2, 4).reshape(n, 1, grid * tile, grid * tile)
    return _paste_centre(block)


def _class_pools(y: torch.Tensor, classes: int) -> list[torch.Tensor]:
    return [(y == c).nonzero().flatten() for c in range(classes)]


def _draw(pool: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Indices drawn uniformly, with replacement, from ``pool``."""
    return pool[torch.randint(len(pool), shape, generator=generator)]


def mosaic(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    grid: int = 3,
    fraction: float,
    target_class: int,
    count: int | None = None,
    seed: int = 0,
    classes: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """"10% cat": images made of many small digits, labelled by the fraction of each class.

    Each of the ``count`` images (default ``len(x)``) is a ``grid x grid`` array of tiles,
    each a digit from ``(x, y)`` shrunk to ``28 // grid`` pixels, on a black 28x28 canvas.
    ``k = round(fraction * grid**2)`` tiles (Python's ``round``: halves go to the even
    number) show digits of ``target_class``, at random positions; the others show digits of
    the other classes, drawn uniformly from those in ``(x, y)``. Digits are drawn with
    replacement. The target of each image is the fraction of its tiles of each class, so
    ``target_class`` gets exactly ``k / grid**2``: one small digit among others is not
    "certainly" its class. The essay's own "10% cat" is stricter: a pile of tiny cats rated
    like one of them; these labels ignore the tiles' size and call a pile of nine tiny 3s
    100% a 3 (notebook 07 compares the two).

    Returns ``(images [count,1,28,28], targets [count, classes])``. Raises ``ValueError``
    for ``grid`` outside 1..28, ``fraction`` outside [0,1], ``target_class`` outside
    0..classes-1, or when ``(x, y)`` hold no digit of a class that is needed.
    Taught in notebook 07.
    """
    check_images(x)
    classes = _check_classes(classes)
    check_labels(y, len(x), num_classes=classes)
    grid = _check_grid(grid)
    fraction = _check_unit(fraction, "fraction")
    target_class = _check_int(target_class, "target_class", 0, classes - 1)
    count = len(x) if count is None else _check_int(count, "count", 0)
    tiles = grid * grid
    k = round(fraction * tiles)
    y_cpu = y.cpu()
    same = (y_cpu == target_class).nonzero().flatten()
    other = (y_cpu != target_class).nonzero().flatten()
    if k > 0 and len(same) == 0:
        raise ValueError(f"x, y hold no digit of target_class={target_class}; fraction={fraction} needs {k} per mosaic")
    if k < tiles and len(other) == 0:
        raise ValueError(f"x, y hold no digit of a class other than target_class={target_class}; "
                         f"fraction={fraction} needs {tiles - k} per mosaic")
    generator = _seeded(seed)
    index = torch.empty(count, tiles, dtype=torch.long)
    if k:
        index[:, :k] = _draw(same, (count, k), generator)
    if k < tiles:
        index[:, k:] = _draw(other, (count, tiles - k), generator)
    # shuffle the positions of the target tiles within each mosaic
    order = torch.rand(count, tiles, generator=generator).argsort(dim=1)
    index = index.gather(1, order)
    images = _tiles(x[index.flatten().to(x.device)], grid).clamp_(0, 1)
    counts = torch.nn.functional.one_hot(y_cpu[index], classes).sum(dim=1)
    targets = (counts.float() / tiles).to(x.device)
    return images, targets


def on_background(
    x_fg: torch.Tensor,
    y_fg: torch.Tensor,
    x_bg: torch.Tensor,
    y_bg: torch.Tensor,
    *,
    grid: int = 4,
    foreground: float = 0.99,
    background_level: float = 0.5,
    seed: int = 0,
    classes: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A full-size digit in front of a busy background of small digits.

    The background of each image is a ``grid x grid`` array of digits drawn (uniformly,
    with replacement) from ``(x_bg, y_bg)``, shrunk to ``28 // grid`` pixels and dimmed to
    ``background_level`` times their brightness. The foreground digit ``x_fg[i]`` is laid
    over it with a pixelwise maximum, so where it has ink it stays on top. The target puts
    ``foreground`` on the foreground class and spreads the remaining ``1 - foreground`` over
    the background tiles' classes in proportion to their counts (a background tile of the
    foreground's own class adds its share to that class). The essay's case: a foreground
    99% cat over a background full of small cats still rates 99% cat, not more.

    Returns ``(images [len(x_fg),1,28,28], targets [len(x_fg), classes])``; rows sum to 1.
    ``foreground`` and ``background_level`` must be in [0,1], ``grid`` in 1..28.
    Taught in notebook 07.
    """
    check_images(x_fg, "x_fg")
    check_images(x_bg, "x_bg")
    classes = _check_classes(classes)
    check_labels(y_fg, len(x_fg), "y_fg", num_classes=classes)
    check_labels(y_bg, len(x_bg), "y_bg", num_classes=classes)
    grid = _check_grid(grid)
    foreground = _check_unit(foreground, "foreground")
    background_level = _check_unit(background_level, "background_level")
    if len(x_bg) == 0:
        raise ValueError("x_bg must hold at least one image to draw the background from")
    n, tiles = len(x_fg), grid * grid
    index = torch.randint(len(x_bg), (n, tiles), generator=_seeded(seed))
    background = _tiles(x_bg[index.flatten().to(x_bg.device)], grid).to(x_fg) * background_level
    images = torch.maximum(x_fg, background).clamp_(0, 1)
    counts = torch.nn.functional.one_hot(y_bg.cpu()[index], classes).sum(dim=1).float()
    targets = (1 - foreground) * counts / tiles
    targets[torch.arange(n), y_fg.cpu()] += foreground
    return images, targets.to(x_fg.device)


def zoom_out_with(x: torch.Tensor, factor: float, mode: str = "nearest") -> torch.Tensor:
    """Zoom out like :func:`zoom` (``factor < 1``: same size, same place) but resampled with
    another ``torch.nn.functional.interpolate`` ``mode`` (default ``"nearest"``: sharp,
    jagged strokes), to test whether a network reads the resampling. Taught in notebook 07.
    """
    check_images(x)
    factor = _check_factor(factor)
    if factor >= 1:
        raise ValueError(f"zoom_out_with only zooms out: factor must be < 1, got {factor}")
    mode = check_choice(mode, "mode", ("nearest", "nearest-exact", "bilinear", "bicubic", "area"))
    size = max(1, round(SIZE * factor))
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    small = torch.nn.functional.interpolate(x, size=(size, size), mode=mode, **kwargs)
    return _paste_centre(small).clamp_(0, 1)
