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
        assert "bh_staff" in result.stdout  # the other side of a shared duplicate case
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


def test_the_sample_insured_extract_holds_people_insured_twice(tmp_path):
    """Three people of the register hold two normal records (重复参保): one also in Binhai (the
    neighbouring county, whose staff has a demo account), one across schemes with the employee
    record held for years, one student also insured at the school's place; with the columns
    the keep-rules read."""
    from openpyxl import load_workbook

    from portal.demo import DEMO_ACCOUNTS
    from portal.demo_samples import write_samples

    insured = write_samples(tmp_path, people=200)[1]
    rows = list(load_workbook(insured).active.iter_rows(values_only=True))
    header, body = list(rows[0]), rows[1:]
    for column in ("人员类别", "单位名称", "就业地/学籍地", "连续参保月数", "享受待遇"):
        assert column in header
    by_id: dict[str, list[dict]] = {}
    for row in body:
        by_id.setdefault(row[1], []).append(dict(zip(header, row, strict=True)))
    twice = {number: records for number, records in by_id.items() if len(records) > 1}
    assert len(twice) == 3 and len(body) == 163
    places = sorted(
        (r["险种类型"][:2], r["参保地"], r["人员类别"] or "") for rs in twice.values() for r in rs
    )
    assert places == [
        ("城乡", "320902", "学生"),
        ("城乡", "320922", "城乡居民"),
        ("城乡", "320923", ""),
        ("城乡", "320923", ""),
        ("城乡", "320923", "学生"),
        ("职工", "320923", "在职"),
    ]
    records = [r for rs in twice.values() for r in rs]
    assert all(r["参保状态"] == "正常" and r["终止日期"] is None for r in records)
    (employee,) = [r for rs in twice.values() for r in rs if r["险种类型"].startswith("职工")]
    assert employee["连续参保月数"] >= 12 and employee["享受待遇"] == "是"
    (school,) = [r for rs in twice.values() for r in rs if r["参保地"] == "320902"]
    assert school["单位名称"] and school["就业地/学籍地"] == "320902"
    assert any(a.region_code == "320922000000" for a in DEMO_ACCOUNTS)
