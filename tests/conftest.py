"""Shared fixtures: the bundled test split, the bundled "cnn" model, a copy of data/.

Everything here is offline and CPU-only (two threads, so the suite stays quick).
"""
from __future__ import annotations

import shutil

import pytest
import torch

from helpers.integrity import data_dir

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def test_split() -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled test split (2,000 images). Do not modify in place."""
    from helpers.data import load_dataset

    return load_dataset("mnist", "test", source="bundled", verbose=False)


@pytest.fixture(scope="session")
def cnn() -> torch.nn.Module:
    """The bundled baseline CNN, eval mode. Do not train or modify it."""
    from helpers.models import load_pretrained

    return load_pretrained("cnn")


@pytest.fixture
def data_copy(tmp_path):
    """A fresh copy of the bundled data folder (SHA256SUMS, mnist/, checkpoints/) in tmp."""
    dest = tmp_path / "data"
    shutil.copytree(data_dir(), dest)
    return dest


@pytest.fixture
def flip_byte():
    """A function that flips every bit of one byte of a file (its middle byte by default)."""

    def flip(path, offset: int | None = None) -> None:
        blob = bytearray(path.read_bytes())
        blob[len(blob) // 2 if offset is None else offset] ^= 0xFF
        path.write_bytes(bytes(blob))

    return flip
