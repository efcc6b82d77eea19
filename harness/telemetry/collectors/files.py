"""Log taps: mark a log file before a detonation, read what was appended after it."""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import TelemetryError
from harness.targets.base import Target

MAX_SLICE = 512 * 1024 * 1024  # never hold more than this of one log in memory


@dataclass(frozen=True)
class LogTap:
    """One telemetry source: a log file on the host (``target`` None) or on a target."""

    source: str  # parser format: auditd, dnsmasq, squid, nflog, inet, sysmon
    path: str
    sensor: str  # auditd, dns, proxy, firewall, inet, sysmon
    target: Target | None = None

    def _size(self) -> int:
        if self.target is None:
            try:
                return os.stat(self.path).st_size
            except FileNotFoundError:
                return 0
        res = self.target.run(f"stat -c %s {shlex.quote(self.path)} 2>/dev/null || echo 0", timeout=30)
        return int(res.stdout.strip() or 0)

    def mark(self) -> int:
        return self._size()

    def read(self, offset: int) -> bytes:
        """What was appended since ``offset`` (from the start if the file was rotated)."""
        size = self._size()
        if size < offset:  # rotated or truncated
            offset = 0
        if size - offset > MAX_SLICE:
            raise TelemetryError(f"{self.path}: {size - offset} bytes appended, more than {MAX_SLICE}")
        if self.target is None:
            try:
                with open(self.path, "rb") as fh:
                    fh.seek(offset)
                    return fh.read(size - offset)
            except FileNotFoundError:
                return b""
        res = self.target.run(f"tail -c +{offset + 1} {shlex.quote(self.path)} | head -c {size - offset}", timeout=120)
        return res.stdout.encode()

    def wait_for(self, offset: int, needle: bytes, timeout: float = 5.0) -> bytes:
        """Read until ``needle`` shows up (a sync marker) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        data = self.read(offset)
        while needle not in data and time.monotonic() < deadline:
            time.sleep(0.05)
            data = self.read(offset)
        return data


def settle(read: Callable[[], bytes], quiet_s: float = 0.3, timeout: float = 3.0) -> bytes:
    """Read until the data stops growing for ``quiet_s`` (logs written asynchronously)."""
    deadline = time.monotonic() + timeout
    data = read()
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        new = read()
        if len(new) != len(data):
            data, last_change = new, time.monotonic()
        elif time.monotonic() - last_change >= quiet_s:
            break
    return data
