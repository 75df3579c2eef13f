"""Models of the course, the registry of bundled, sha256-checked checkpoints, and cached training.

Taught in notebook 01 (the baseline CNN, loading a checkpoint safely, ``train_or_load``).
"""
from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from .checks import check_choice
from .integrity import data_dir, read_manifest, record, verified_bytes
from .lipschitz import LipschitzCNN
from .groupings import groups
from .routing import LayeredRoutingNet, TwoNOutputNet
from .votes import GroupVote


ABSENT_LOGIT = -1e4
"""The logit a model gives a class it was never trained on: its probability is exp(-1e4), i.e. 0."""


class BaselineCNN(nn.Module):
    """The "vault camera": two 5x5 conv layers with max-pooling, then two linear layers.

    Maps ``[B,1,28,28]`` in [0,1] to class logits ``[B,10]``. Notebook 01. With
    ``classes=m < 10`` it is trained on the digits ``0..m-1`` only and gives the
    others the constant logit ``ABSENT_LOGIT`` (notebook 03: pixels needed vs m).
    """

    def __init__(self, width: int = 16, hidden: int = 100, classes: int = 10) -> None:
        super().__init__()
        if not 2 <= classes <= 10:
            raise ValueError(f"classes must be an int from 2 to 10, got {classes}")
        self.classes = classes
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * width * 7 * 7, hidden), nn.ReLU(),
            nn.Dropout(0.3), nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.features(x))
        if self.classes < 10:
            logits = nn.functional.pad(logits, (0, 10 - self.classes), value=ABSENT_LOGIT)
        return logits


@dataclass(frozen=True)
class Pretrained:
    """A bundled model: how to build it, its checkpoint file (relative to data/), a summary."""

    build: Callable[[], nn.Module]
    file: str
    summary: str
    compact: bool = False
    """Store routed weights as 8-bit rows, other floats as float16, indices as int16 (the big
    routing nets; their recipes call ``quantize_`` before measuring, so nothing is lost)."""


TWO_N: dict = {"hidden": 32, "seed": 0}
"""Architecture of the bundled 2N-output nets (the group size is the default, 98 pixels)."""
LAYERED: dict = {"depth": 2, "hidden": 32, "node_dim": 8, "seed": 0}
"""Architecture of the bundled layered routing nets (the fan-in is the default, 8 and 8)."""

L0_VOTE: dict = {"grouping": "lines", "repetitions": 30, "hidden": (64, 32), "seed": 0}
"""The bundled fixed-wiring vote: the 870 lines of the 29 x 29 affine plane, an own MLP (64 and 32
hidden units) per line, the hard vote (notebook 10 chose it from the wiring sweep)."""


def build_l0_vote() -> GroupVote:
    """The architecture of ``l0_vote`` (``L0_VOTE``), untrained. Notebook 10."""
    mask = groups(L0_VOTE["grouping"], None, L0_VOTE["repetitions"], seed=L0_VOTE["seed"])
    return GroupVote(mask, hidden=L0_VOTE["hidden"], shared=False, readout="hard", seed=L0_VOTE["seed"])


REGISTRY: dict[str, Pretrained] = {
    "cnn": Pretrained(BaselineCNN, "checkpoints/cnn.pt", "baseline CNN (notebook 01)"),
    "cnn_noise": Pretrained(BaselineCNN, "checkpoints/cnn_noise.pt",
                            "baseline CNN trained with the routing nets' salt-and-pepper input noise: "
                            "their control (notebooks 08-11)"),
    **{
        f"cnn_m{m}": Pretrained(partial(BaselineCNN, classes=m), f"checkpoints/cnn_m{m}.pt",
                                f"baseline CNN trained on digits 0..{m - 1} only (notebook 03)")
        for m in range(2, 10)
    },
    "lipschitz_cnn": Pretrained(LipschitzCNN, "checkpoints/lipschitz_cnn.pt",
                                "CNN with every layer's operator norm held at 1 (notebook 06)"),
    "cnn_augmented": Pretrained(BaselineCNN, "checkpoints/cnn_augmented.pt",
                                "baseline CNN retrained on zoomed, mosaic and busy-background digits (notebook 07)"),
    **{
        f"two_n{suffix}": Pretrained(partial(TwoNOutputNet, **TWO_N, readout=readout), f"checkpoints/two_n{suffix}.pt",
                                     f"2N = 1568 outputs, each an MLP on its own 98 pixels; {readout} readout (notebook 08)", compact=True)
        for suffix, readout in (("", "vote"), ("_linear", "linear"))
    },
    **{
        f"layered{suffix}": Pretrained(partial(LayeredRoutingNet, **LAYERED, readout=readout),
                                       f"checkpoints/layered{suffix}.pt",
                                       f"two routed layers of 1568 nodes, fixed wiring; {readout} readout (notebook 09)", compact=True)
        for suffix, readout in (("", "vote"), ("_linear", "linear"))
    },
    "l0_vote": Pretrained(build_l0_vote, "checkpoints/l0_vote.pt",
                          "870 voters, each an MLP on one line of 29 pixels of a 29 x 29 affine plane; hard vote, "
                          "exact L0 certificate (notebook 10)", compact=True),
}


class OnDevice(nn.Module):
    """A copy of ``model`` that runs on ``device`` (a GPU, say) behind a CPU interface:
    inputs are moved there, logits (and so gradients) come back on the inputs' device, so
    every attack of the course runs unchanged. ``python -m helpers.scoreboard --device cuda``
    attacks through it; the notebooks stay on the CPU."""

    def __init__(self, model: nn.Module, device: str | torch.device) -> None:
        super().__init__()
        import copy

        self.device = torch.device(device)
        self.model = copy.deepcopy(model).to(self.device).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.device)).to(x.device)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters. Notebook 01."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_state(file: str, folder: Path | None = None) -> dict[str, torch.Tensor]:
    """Check a checkpoint's sha256 against data/SHA256SUMS, then ``torch.load(weights_only=True)``.

    A mismatch raises ``ChecksumError`` naming the file before anything is unpickled.
    """
    blob = verified_bytes(file, folder)
    return _expand(torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True))


def checkpoint_sha256(name: str, *, folder: Path | None = None) -> str:
    """The sha256 that data/SHA256SUMS records for the bundled model ``name``'s checkpoint:
    the weights a scoreboard result was computed from (notebook 11 keys every per-digit file
    by it, so a retrained model is never scored with its predecessor's results)."""
    spec = REGISTRY[check_choice(name, "name", REGISTRY)]
    manifest = read_manifest(folder)
    if spec.file not in manifest:
        raise FileNotFoundError(f"{spec.file} is not in the manifest of {folder or data_dir()}: run `make checkpoints`")
    return manifest[spec.file]


def load_pretrained(name: str, *, folder: Path | None = None) -> nn.Module:
    """An eval-mode model from a bundled checkpoint (``"cnn"``, ...). Notebook 01.

    Unknown names raise ``ValueError`` listing the available ones; a checkpoint whose
    sha256 does not match raises ``ChecksumError`` and nothing is loaded.
    """
    spec = REGISTRY[check_choice(name, "name", REGISTRY)]
    model = spec.build()
    model.load_state_dict(load_state(spec.file, folder))
    return model.eval()


QUANTIZED = ("weight1", "weight2", "pixel_weight", "out_weight")
"""Routed-layer and per-voter weights that compact checkpoints store as 8-bit integers (see ``quantize_``)."""


def quantize_(model: nn.Module) -> nn.Module:
    """Round a routing net's weights, in place, to what a compact checkpoint stores exactly:
    every row of every routed layer's two weight tensors becomes q * 2^e with integers
    |q| <= 127 and one power of two per row; every other float tensor is rounded to
    float16. The recipes call it before measuring a model, so the saved model is the one
    measured. Notebook 08."""
    with torch.no_grad():
        for key, p in model.named_parameters():
            if key.rsplit(".", 1)[-1] in QUANTIZED:
                exp = torch.ceil(torch.log2(p.abs().amax(dim=-1, keepdim=True).clamp_min(2.0**-100) / 127))
                p.copy_(torch.round(p / 2**exp).clamp(-127, 127) * 2**exp)
            else:
                p.copy_(p.half().float())
    return model


def _compact(key: str, value: torch.Tensor) -> dict[str, torch.Tensor]:
    """One state-dict entry in its compact form: 8-bit rows with a power-of-two exponent for
    the routed weights, float16 for other floats, int16 for indices; each must be exact."""
    if value.is_floating_point() and key.rsplit(".", 1)[-1] in QUANTIZED:
        exp = torch.ceil(torch.log2(value.abs().amax(dim=-1, keepdim=True).clamp_min(2.0**-100) / 127))
        q = value / 2**exp
        if not torch.equal(q, torch.round(q)) or q.abs().max() > 127:
            raise ValueError(f"{key}: call models.quantize_ before saving a compact checkpoint")
        return {f"{key}#q": q.to(torch.int8), f"{key}#exp": exp.to(torch.int16)}
    if value.is_floating_point():
        if not torch.equal(value.half().float(), value.float()):
            raise ValueError(f"{key}: call models.quantize_ before saving a compact checkpoint (float16)")
        return {key: value.half()}
    if value.dtype == torch.long:
        if value.numel() and (value.min() < -(2**15) or value.max() >= 2**15):
            raise ValueError(f"{key}: indices do not fit in int16")
        return {key: value.to(torch.int16)}
    return {key: value}


def _expand(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo ``_compact``: q * 2^e back to float32 (exact); other entries as they are."""
    out = {}
    for key, value in state.items():
        if key.endswith("#q"):
            base = key[:-2]
            out[base] = value.float() * 2 ** state[f"{base}#exp"].float()
        elif not key.endswith("#exp"):
            out[key] = value
    return out


def save_pretrained(name: str, model: nn.Module, info: dict | None = None, *, folder: Path | None = None) -> str:
    """Save a registry model's weights (and optional training info as JSON); record sha256s.

    Used by ``make checkpoints``. Returns the checkpoint's sha256.
    """
    spec = REGISTRY[check_choice(name, "name", REGISTRY)]
    folder = Path(folder) if folder is not None else data_dir()
    path = folder / spec.file
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if spec.compact:
        state = {k2: v2 for k, v in state.items() for k2, v2 in _compact(k, v).items()}
    torch.save(state, path)
    digest = record(spec.file, folder)
    if info is not None:
        meta = Path(spec.file).with_suffix(".json").as_posix()
        (folder / meta).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        record(meta, folder)
    return digest


def training_info(name: str, *, folder: Path | None = None) -> dict:
    """The JSON written beside a checkpoint at training time (epochs, seconds, accuracy)."""
    spec = REGISTRY[check_choice(name, "name", REGISTRY)]
    return json.loads(verified_bytes(Path(spec.file).with_suffix(".json").as_posix(), folder))


def train_or_load(
    name: str,
    train: Callable[[], tuple[nn.Module, dict]],
    *,
    retrain: bool = False,
    save: bool = False,
    folder: Path | None = None,
) -> nn.Module:
    """Load the bundled checkpoint ``name`` (``load_pretrained``) unless ``retrain``; else run ``train()``.

    ``train()`` returns ``(model, info)`` (the recipes of ``helpers.recipes`` train with
    ``helpers.train.fit``). With ``save=True`` the new weights and ``info`` (plus the
    measured training time) replace the bundled checkpoint and its sha256
    (``save_pretrained``; ``make checkpoints`` does this); a notebook's retrain leaves the
    bundled files alone. Notebook 01 shows both paths.
    """
    if not retrain:
        return load_pretrained(name, folder=folder)
    start = time.perf_counter()
    model, info = train()
    info = {**info, "train_seconds": round(time.perf_counter() - start, 1)}
    if save:
        save_pretrained(name, model, info, folder=folder)
    return model.eval()
