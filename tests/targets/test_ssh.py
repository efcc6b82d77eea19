"""SSH target errors: one clear line (host, port, what failed); local inputs checked before any
connection; no paramiko traceback on stderr."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import TargetError
from harness.targets import get_target
from harness.targets.ssh import SSHTarget

REPO = Path(__file__).resolve().parents[2]


class _Listener:
    """A loopback TCP server that counts connections and answers each with ``reply`` (not an SSH
    banner), then closes: a host that refuses the SSH handshake."""

    def __init__(self, reply: bytes) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.reply = reply
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.sendall(self.reply)


@pytest.fixture
def no_banner() -> Iterator[_Listener]:
    srv = _Listener(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    yield srv
    srv.sock.close()


def test_missing_identity_file_fails_before_connecting(no_banner: _Listener) -> None:
    url = f"ssh://root@127.0.0.1:{no_banner.port}?identity_file=/nonexistent/key"
    with pytest.raises(TargetError) as info:
        get_target(url)
    assert str(info.value) == f"ssh root@127.0.0.1:{no_banner.port}: identity_file /nonexistent/key: no such file"
    assert no_banner.accepted == 0


def test_unreadable_known_hosts_fails_before_connecting(no_banner: _Listener, tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"known_hosts .*: is a directory, not a file$"):
        SSHTarget("127.0.0.1", port=no_banner.port, known_hosts=str(tmp_path))
    missing = tmp_path / "nope"
    with pytest.raises(TargetError) as info:
        SSHTarget("127.0.0.1", port=no_banner.port, known_hosts=str(missing))
    assert str(info.value) == f"ssh root@127.0.0.1:{no_banner.port}: known_hosts {missing}: no such file"
    assert no_banner.accepted == 0


def test_bad_connect_timeout_is_a_url_error() -> None:
    with pytest.raises(TargetError, match="connect_timeout must be a positive number of seconds, got 'soon'"):
        get_target("ssh://root@127.0.0.1?connect_timeout=soon")


def _harness_run(url: str) -> subprocess.CompletedProcess[str]:
    # A real host needs a declared scope; the unreachable target's atomic is then ERROR with the reason.
    scope = str(REPO / "tests" / "data" / "scope" / "lab-hosts.toml")
    return subprocess.run([sys.executable, "-m", "harness.cli", "run", "T1590.005-3", "--target", url,
                           "--scope", scope], cwd=REPO, capture_output=True, text=True, timeout=60)


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    (line,) = proc.stdout.splitlines()
    assert line.startswith("T1590.005-3   ERROR"), line
    return line.partition(f"target {_URL_PREFIX}")[2]


_URL_PREFIX = "ssh://root@127.0.0.1:"


def test_host_refusing_the_banner_is_one_line(no_banner: _Listener) -> None:
    proc = _harness_run(f"ssh://root@127.0.0.1:{no_banner.port}?accept_unknown_host_key=true&connect_timeout=3")
    reason = _error_line(proc)
    assert f": ssh root@127.0.0.1:{no_banner.port}: cannot connect: Error reading SSH protocol banner" in reason
    assert no_banner.accepted >= 1


def test_refused_port_is_one_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again below: nothing listens there
    proc = _harness_run(f"ssh://root@127.0.0.1:{port}?connect_timeout=3")
    assert _error_line(proc).endswith(f": ssh root@127.0.0.1:{port}: cannot connect: connection refused")


class _WedgedChannel:
    """A channel whose read is interrupted by Ctrl-C, as when SIGINT lands inside paramiko."""

    closed = False

    def exec_command(self, command: str) -> None: ...
    def sendall(self, data: bytes) -> None: ...
    def shutdown_write(self) -> None: ...
    def recv_ready(self) -> bool:
        raise KeyboardInterrupt
    def recv_stderr_ready(self) -> bool:
        return False
    def close(self) -> None:
        self.closed = True


class _Transport:
    def is_active(self) -> bool:
        return True
    def open_session(self, timeout: float | None = None) -> _WedgedChannel:
        return _WedgedChannel()


class _Client:
    closed = False

    def get_transport(self) -> _Transport:
        return _Transport()
    def close(self) -> None:
        self.closed = True


def test_ctrl_c_inside_paramiko_kills_over_a_new_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI run hung for 60 s after Ctrl-C: the kill and the cleanup went over the connection the
    interrupt had left mid-read. Now that connection is dropped first (error path: fakes only)."""
    target = get_target("ssh://root@127.0.0.1:1?accept_unknown_host_key=true")
    assert isinstance(target, SSHTarget)
    wedged = _Client()
    target._client = wedged  # type: ignore[assignment]
    seen: list[object] = []
    monkeypatch.setattr(SSHTarget, "_marker_pid", staticmethod(lambda chan, err, wait_s=1.0: 4242))
    monkeypatch.setattr(SSHTarget, "_kill_tree", lambda self, pid: seen.append((pid, self._client)))
    with pytest.raises(KeyboardInterrupt):
        target.run("sleep 30")
    assert seen == [(4242, None)] and wedged.closed  # killed after the wedged connection was dropped
