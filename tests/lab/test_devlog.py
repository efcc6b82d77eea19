"""The /dev/log listener, run for real on a socket in a temporary directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness.lab.devlog import as_line, is_sysmon

REPO = Path(__file__).resolve().parents[2]
EVENT = "<Event><System><EventID>1</EventID></System></Event>"


def test_tag_detection() -> None:
    assert is_sysmon(f"<14>Dec  3 08:27:35 sysmon: {EVENT}".encode())
    assert is_sysmon(f"<14>Dec 13 08:27:35 sysmon[4711]: {EVENT}".encode())
    assert is_sysmon(f"<14>sysmon: {EVENT}".encode())
    assert not is_sysmon(b"<38>Dec  3 08:27:35 sshd[1]: Accepted publickey")
    assert not is_sysmon(b"<14>Dec  3 08:27:35 notsysmon: x")


def test_one_line_per_datagram() -> None:
    assert as_line(b"<14>sysmon: a\nb\x00") == b"<14>sysmon: a b\n"


def test_listener_sorts_datagrams_and_removes_its_socket(tmp_path: Path) -> None:
    sock_path = tmp_path / "log"
    out, other = tmp_path / "sysmon.log", tmp_path / "other.log"
    proc = subprocess.Popen([sys.executable, "-m", "harness.lab.devlog", str(sock_path), str(out), str(other)],
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 10
        while not sock_path.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        big = "x" * 20000  # Sysmon's events reach several kB
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(f"<14>Dec  3 08:27:35 sysmon: {EVENT}{big}".encode(), str(sock_path))
            s.sendto(b"<38>Dec  3 08:27:35 sshd[9]: hello", str(sock_path))
        deadline = time.monotonic() + 10
        while (not out.exists() or not out.read_bytes()) or (not other.exists() or not other.read_bytes()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert out.read_text().splitlines() == [f"<14>Dec  3 08:27:35 sysmon: {EVENT}{big}"]
        assert other.read_text() == "<38>Dec  3 08:27:35 sshd[9]: hello\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert not sock_path.exists()
