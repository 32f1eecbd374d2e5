"""The first quick-start command: `portal demo` prepares the database and serves the portal."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_db
PORTAL = Path(sys.executable).with_name("portal")


def _env(tmp_path):
    env = dict(os.environ, PORTAL_INSTANCE_DIR=str(tmp_path / "instance"))
    env.pop("DATABASE_URL", None)
    return env


def test_demo_prepares_the_database_and_is_idempotent(tmp_path):
    for _ in range(2):
        result = subprocess.run(
            [str(PORTAL), "demo", "--no-serve"],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "fc_supervisor" in result.stdout and "Yibao@2026" in result.stdout
    assert (tmp_path / "instance" / "portal.db").exists()
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0


def test_demo_serves_the_login_page(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(PORTAL), "demo", "--port", str(port)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                    assert r.status == 200 and "登录" in r.read().decode()
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "the demo server did not start"
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=10)
