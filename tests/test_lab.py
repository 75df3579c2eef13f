"""`make lab` serves JupyterLab on 127.0.0.1 with notebook 00 reachable."""
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_notebook_00(tmp_path):
    port, token = free_port(), "smudge-test"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    proc = subprocess.Popen(
        ["make", "-s", "lab", f"PORT={port}", f"LAB_ARGS=--IdentityProvider.token={token}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline, status = time.time() + 90, None
        while time.time() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as r:
                    status = r.status
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                time.sleep(1)
        assert status == 200
        url = f"http://127.0.0.1:{port}/api/contents/00_start_here.ipynb?token={token}&content=0"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and b'"type": "notebook"' in r.read().replace(b'"type":"notebook"', b'"type": "notebook"')
        host_ip = socket.gethostbyname(socket.gethostname())
        if not host_ip.startswith("127."):  # listens on loopback only
            with pytest.raises(OSError):
                socket.create_connection((host_ip, port), timeout=2).close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
