"""Shared fixtures: the bundled test split, the bundled "cnn" model, a copy of data/,
and `make lab` on a free loopback port.

Everything here is offline and CPU-only (two threads; one per worker when `make test` runs two).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from helpers.integrity import data_dir

torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)  # under `make test` two workers share two cores


@pytest.fixture(scope="session")
def test_split() -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled test split (the standard 10,000 digits). Do not modify in place."""
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


@dataclass
class Lab:
    """A running `make lab`: its URL (``http://127.0.0.1:PORT``), token, process, its user
    settings folder (JupyterLab reads it on every page load), and the HTTP status of ``/lab``
    once it answered (None if it never did)."""

    url: str
    port: int
    token: str
    proc: subprocess.Popen
    settings_dir: Path
    status: int | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def start_lab(tmp_path):
    """A function that runs `make lab` (extra JupyterLab flags as arguments) on a free port
    of 127.0.0.1 with a token, Jupyter's runtime, config, settings and workspace folders in
    tmp (a clean, private JupyterLab), waits up to ``timeout`` s for ``/lab`` to answer, and
    returns a `Lab`. Every server it started is stopped (process group, SIGTERM) at teardown.
    """
    started = []
    root = Path(__file__).resolve().parents[1]

    def start(*lab_args: str, timeout: float = 90) -> Lab:
        port, token = free_port(), "smudge-test"
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
               "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces")}
        args = " ".join((f"--IdentityProvider.token={token}",) + lab_args)
        log = tmp_path / f"lab-{port}.log"  # a file, not a pipe: a long-running server must never block on its output
        with log.open("wb") as out:
            proc = subprocess.Popen(["make", "-s", "lab", f"PORT={port}", f"LAB_ARGS={args}"],
                                    cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        started.append(proc)
        lab = Lab(f"http://127.0.0.1:{port}", port, token, proc, Path(env["JUPYTERLAB_SETTINGS_DIR"]))
        deadline = time.time() + timeout
        while time.time() < deadline and lab.status is None:
            try:
                with urllib.request.urlopen(f"{lab.url}/lab?token={token}", timeout=5) as r:
                    lab.status = r.status
            except OSError:
                assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
                time.sleep(1)
        return lab

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
