"""`make lab` serves JupyterLab on 127.0.0.1 with notebook 00 reachable."""
import shutil
import socket
import urllib.request

import pytest


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_notebook_00(start_lab):
    lab = start_lab()
    assert lab.status == 200
    url = f"{lab.url}/api/contents/00_start_here.ipynb?token={lab.token}&content=0"
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200 and b'"type": "notebook"' in r.read().replace(b'"type":"notebook"', b'"type": "notebook"')
    host_ip = socket.gethostbyname(socket.gethostname())
    if not host_ip.startswith("127."):  # listens on loopback only
        with pytest.raises(OSError):
            socket.create_connection((host_ip, lab.port), timeout=2).close()
