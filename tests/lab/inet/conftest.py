"""Fixtures: a lab PKI and the simulated-internet server on loopback ephemeral ports.

The server runs as the lab runs it (``python -m harness.lab.inet`` in a subprocess, certificates
from harness.lab.pki), except that it serves every virtual host on one loopback port instead of
one socket per service IP: this machine has no lab namespace. Clients reach the lab names through
a resolver override limited to those names (``--resolve`` for curl, a getaddrinfo wrapper for
Python clients); everything else resolves normally and no packet leaves loopback.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.lab.config import load_lab_config
from harness.lab.pki import LabPKI, create_lab_pki, service_leaf_specs

REPO = Path(__file__).resolve().parents[3]
LAB_NAMES = tuple(h.lower() for s in load_lab_config().services for h in s.hosts)

_SITECUSTOMIZE = """
import os, socket
_names = {n for n in os.environ.get("LAB_TEST_RESOLVE", "").split(",") if n}
_orig = socket.getaddrinfo
def _lab_getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and host.lower().rstrip(".") in _names:
        host = "127.0.0.1"
    return _orig(host, *args, **kwargs)
socket.getaddrinfo = _lab_getaddrinfo
"""


@dataclass
class InetServer:
    proc: subprocess.Popen[str]
    https_port: int
    http_port: int
    log: Path
    ca: Path
    start: dict[str, Any]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The first log record matching ``pred``; the server writes it right after replying."""
        deadline = time.monotonic() + timeout
        while True:
            for rec in self.records():
                if pred(rec):
                    return rec
            if time.monotonic() > deadline:
                raise AssertionError(f"no log record matched within {timeout}s; log:\n{self.log.read_text()}")
            time.sleep(0.02)

    def url(self, host: str, path: str, tls: bool = True) -> str:
        return f"{'https' if tls else 'http'}://{host}:{self.https_port if tls else self.http_port}{path}"


def start_server(args: list[str], log: Path, timeout: float = 10.0) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start ``python -m harness.lab.inet ARGS`` and return it with its start record (stdout line 1)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.lab.inet", "--log", str(log), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        raise AssertionError(f"inet server did not start (rc={proc.returncode}): {err}")
    return proc, json.loads(line)


def stop_server(proc: subprocess.Popen[str]) -> int:
    proc.terminate()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        raise


@pytest.fixture(scope="session")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPKI:
    return create_lab_pki(tmp_path_factory.mktemp("pki"), service_leaf_specs(load_lab_config().services))


@pytest.fixture(scope="session")
def inet(lab_pki: LabPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InetServer]:
    log = tmp_path_factory.mktemp("inet") / "inet.jsonl"
    proc, start = start_server(
        ["--cert-dir", str(lab_pki.directory), "--listen", "127.0.0.1:0", "--listen-http", "127.0.0.1:0"], log
    )
    ports = {entry["tls"]: entry["port"] for entry in start["listening"]}
    try:
        yield InetServer(proc, ports[True], ports[False], log, lab_pki.ca_cert, start)
    finally:
        stop_server(proc)


@pytest.fixture
def lab_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve the lab's service names to 127.0.0.1 in this process (requests, shodan library)."""
    orig = socket.getaddrinfo

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.lower().rstrip(".") in LAB_NAMES:
            host = "127.0.0.1"
        return orig(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.fixture(scope="session")
def client_env(tmp_path_factory: pytest.TempPathFactory, lab_pki: LabPKI) -> Callable[[Path], dict[str, str]]:
    """Environment for a real client subprocess: lab names resolve to loopback (sitecustomize),
    the lab CA is the only trust anchor, no proxy, and HOME is the test's own directory."""
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)

    def make(home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("SHODAN")}
        env.update(
            HOME=str(home),
            PYTHONPATH=str(site),
            LAB_TEST_RESOLVE=",".join(LAB_NAMES),
            REQUESTS_CA_BUNDLE=str(lab_pki.ca_cert),
            CURL_CA_BUNDLE=str(lab_pki.ca_cert),
        )
        return env

    return make
