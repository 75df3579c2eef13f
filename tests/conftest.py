"""Shared fixtures: the bundled test split, the bundled "cnn" model, a copy of data/.

Everything here is offline and CPU-only; sockets are blocked so that no test can
reach the network by accident (e.g. a torchvision download).
"""
from __future__ import annotations

import shutil
import socket

import pytest
import torch

from helpers.integrity import data_dir

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Fail any connection beyond loopback, and keep torchvision's default root out of ~/.cache."""

    real_connect, real_create = socket.socket.connect, socket.create_connection

    def loopback(address) -> bool:
        host = address[0] if isinstance(address, tuple) else address
        return isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1"))

    def connect(self, address, *args, **kwargs):
        if self.family == socket.AF_UNIX or loopback(address):
            return real_connect(self, address, *args, **kwargs)
        raise OSError("network access is disabled in the tests")

    def create_connection(address, *args, **kwargs):
        if loopback(address):
            return real_create(address, *args, **kwargs)
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setenv("SMUDGE_TORCHVISION_ROOT", str(tmp_path / "torchvision-root"))


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
