"""code-loader must not phone home from leapscope: no ~/.tensorleap/device_id, no socket, no exit table."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPT = """
import json, sys
sockets = []
def audit(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.sendmsg", "socket.gethostbyname"):
        sockets.append(event)  # (urllib3's import-time IPv6 probe binds ::1 but talks to no one)
sys.addaudithook(audit)
from leapscope import api
report = api.check(sys.argv[1], samples=1)
import code_loader
print(json.dumps({"valid": report.valid, "sockets": sockets, "hook": sys.excepthook is sys.__excepthook__}))
"""


@pytest.mark.slow
def test_no_device_id_no_socket_no_exit_table(decorator_onnx, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("TL_DISABLE_ANALYTICS", "IS_TENSORLEAP_PLATFORM")}
    env["HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(decorator_onnx)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["valid"]
    assert result["sockets"] == []
    assert result["hook"], "code-loader's sys.excepthook is still installed"
    assert not (home / ".tensorleap").exists()
    assert "tensorleap_integration_test" not in proc.stdout  # code-loader's status table did not print at exit
