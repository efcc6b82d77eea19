"""Log taps: mark a log file before a detonation, read what was appended after it."""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.collection import Shell
from harness.errors import TelemetryError

MAX_SLICE = 512 * 1024 * 1024  # never hold more than this of one log in memory
T = TypeVar("T", bound=Any)


@dataclass(frozen=True)
class Mark:
    """Where a log stood before a detonation: the file (inode) and its size; for the journal, the
    cursor of its newest entry (and the time, for a journal that was empty)."""

    inode: int
    offset: int
    cursor: str = ""
    since: float = 0.0


#: A tap whose path is ``journald:IDENT`` reads the systemd journal's entries of that syslog
#: identifier (``journalctl -t IDENT -o json``: one JSON object per entry, its MESSAGE the text).
JOURNAL = "journald:"


#: How many numbered rotations (``path.1`` ... ``path.9``) are searched for a marked file.
MAX_ROTATIONS = 9

# The same algorithm as _read_local, for logs on a target: the marked file (found by inode among
# path.1..path.9 when it was rotated away) from the offset, newer rotations whole, then the
# current file. The first output line says how the slice was cut: "same", "rotated" (found) or
# "lost" (rotated and not found: only the current file), or "truncated".
_REMOTE_READ = r"""
p=$1; ino=$2; off=$3; cap=$4
if [ "$ino" = 0 ]; then echo same; [ -e "$p" ] && head -c "$cap" "$p"; exit 0; fi
cur=$(stat -c %i "$p" 2>/dev/null || echo 0)
if [ "$cur" = "$ino" ]; then
  size=$(stat -c %s "$p")
  if [ "$size" -lt "$off" ]; then echo truncated; head -c "$size" "$p"; exit 0; fi
  echo same; tail -c +$((off + 1)) "$p" | head -c $((size - off)); exit 0
fi
found=
for n in 9 8 7 6 5 4 3 2 1; do
  f="$p.$n"; [ -e "$f" ] || continue
  if [ -z "$found" ] && [ "$(stat -c %i "$f")" = "$ino" ]; then found=$n; fi
done
if [ -z "$found" ]; then echo lost; [ -e "$p" ] && head -c "$cap" "$p"; exit 0; fi
echo rotated
{
  tail -c +$((off + 1)) "$p.$found"
  n=$((found - 1)); while [ "$n" -ge 1 ]; do cat "$p.$n"; n=$((n - 1)); done
  [ -e "$p" ] && cat "$p"
} | head -c "$cap"
"""


_JOURNAL_RC = "@@recon-harness journalctl-rc="


@dataclass(frozen=True)
class LogTap:
    """One telemetry source: a log file on the host (``target`` None) or on a target.

    A slice follows the log across rotations during the detonation (auditd's
    ``max_log_file_action = ROTATE`` renames ``audit.log`` to ``audit.log.1``): the marked file
    is found again by inode among ``path.1``...``path.9`` and read from the mark, then every newer
    file. When it cannot be found the slice holds only the current file and says so.
    """

    source: str  # parser format: auditd, dnsmasq, squid, nflog, inet, sysmon
    path: str
    sensor: str  # auditd, dns, proxy, firewall, inet, sysmon
    target: Shell | None = None

    def _journal_shell(self, command: str, timeout: float) -> str:
        if self.target is None:  # journal taps are planned for targets only (execution.host_sensors)
            raise TelemetryError(f"{self.path}: a journal tap needs a target to run journalctl on")
        return self.target.run(command, timeout=timeout).stdout

    def mark(self) -> Mark:
        if self.path.startswith(JOURNAL):
            # the newest entry's cursor (any identifier): what comes after it is the detonation's; for
            # an empty journal the target's own clock, which --since is read against
            out = self._journal_shell(
                "echo \"cursor=$(journalctl -q -n 1 --show-cursor -o cat 2>/dev/null | sed -n 's/^-- cursor: //p' "
                "| tail -n 1)\"; echo \"now=$(date +%s)\"", 30)
            kv = dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)
            now = kv.get("now", "").strip()
            return Mark(0, 0, kv.get("cursor", "").strip(), float(now) if now.isdigit() else time.time())
        if self.target is None:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                return Mark(0, 0)
            return Mark(st.st_ino, st.st_size)
        res = self.target.run(f"stat -c '%i %s' {shlex.quote(self.path)} 2>/dev/null || echo '0 0'", timeout=30)
        inode, _, size = res.stdout.strip().partition(" ")
        return Mark(int(inode or 0), int(size or 0))

    def read(self, mark: Mark) -> bytes:
        """What was written since ``mark`` (see the class doc for rotations)."""
        return self.read_slice(mark)[0]

    def read_slice(self, mark: Mark) -> tuple[bytes, str | None]:
        """What was written since ``mark``, and a warning when part of it may be missing."""
        if self.path.startswith(JOURNAL):
            return self._read_journal(mark)
        if self.target is None:
            return self._read_local(mark)
        args = f"{shlex.quote(self.path)} {mark.inode} {mark.offset} {MAX_SLICE + 1}"
        out = self.target.run(f"sh -c {shlex.quote(_REMOTE_READ)} tap {args}", timeout=120).stdout
        how, _, data = out.partition("\n")
        blob = data.encode("utf-8", "surrogateescape")
        if len(blob) > MAX_SLICE:
            raise TelemetryError(f"{self.path}: more than {MAX_SLICE} bytes appended")
        return blob, self._warning(how.strip())

    def _read_journal(self, mark: Mark) -> tuple[bytes, str | None]:
        ident = self.path[len(JOURNAL):]
        after = f"--after-cursor={shlex.quote(mark.cursor)}" if mark.cursor else f"--since=@{int(mark.since)}"
        # journalctl's own exit status, as the last line (a pipeline's would be head's)
        out = self._journal_shell(f"{{ journalctl -q -o json -t {shlex.quote(ident)} {after}; "
                                  f"echo \"{_JOURNAL_RC}$?\"; }} | head -c {MAX_SLICE + 64}", 120)
        blob = out.encode("utf-8", "surrogateescape")
        data, sep, rc = blob.rstrip(b"\n").rpartition(_JOURNAL_RC.encode())
        if not sep or len(data) > MAX_SLICE:
            raise TelemetryError(f"the journal ({ident}): more than {MAX_SLICE} bytes since the mark")
        code = rc.decode(errors="replace").strip()
        return data, None if code == "0" else f"journalctl exited {code}: the journal's entries may be incomplete"

    def _warning(self, how: str) -> str | None:
        if how == "lost":
            return (
                f"{self.path} was rotated during the detonation and the rotated file was not found: "
                "earlier records are missing"
            )
        if how == "truncated":
            return f"{self.path} was truncated during the detonation: records written before are missing"
        return None

    def _read_local(self, mark: Mark) -> tuple[bytes, str | None]:
        try:
            st: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if mark.inode == 0 and st is None:  # no log before, none now
            return b"", None
        if st is not None and (st.st_ino == mark.inode or mark.inode == 0):
            offset = mark.offset if mark.inode else 0
            if st.st_size < offset:
                return self._read_range(self.path, 0, st.st_size), self._warning("truncated")
            return self._read_range(self.path, offset, st.st_size), None
        # Rotated: the marked file under a numbered name, then newer rotations, then the log.
        found = None
        for n in range(MAX_ROTATIONS, 0, -1):
            try:
                if os.stat(f"{self.path}.{n}").st_ino == mark.inode:
                    found = n
                    break
            except FileNotFoundError:
                continue
        parts: list[bytes] = []
        if found is not None:
            parts.append(self._read_range(f"{self.path}.{found}", mark.offset, None))
            parts.extend(self._read_range(f"{self.path}.{n}", 0, None) for n in range(found - 1, 0, -1))
        if st is not None:
            parts.append(self._read_range(self.path, 0, st.st_size))
        data = b"".join(parts)
        if len(data) > MAX_SLICE:
            raise TelemetryError(f"{self.path}: {len(data)} bytes appended, more than {MAX_SLICE}")
        return data, None if found is not None else self._warning("lost")

    @staticmethod
    def _read_range(path: str, start: int, end: int | None) -> bytes:
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size if end is None else end
                if size - start > MAX_SLICE:
                    raise TelemetryError(f"{path}: {size - start} bytes appended, more than {MAX_SLICE}")
                fh.seek(start)
                return fh.read(max(0, size - start))
        except FileNotFoundError:
            return b""

    def last_write(self) -> float | None:
        """When the log was last written (its mtime), for a log on this host; None on a target or
        when there is no log."""
        if self.target is not None:
            return None
        try:
            return os.stat(self.path).st_mtime
        except FileNotFoundError:
            return None

    def wait_for(self, mark: Mark, needle: bytes, timeout: float = 5.0) -> tuple[bytes, str | None]:
        """Read until ``needle`` shows up (a sync marker) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        data, warning = self.read_slice(mark)
        while needle not in data and time.monotonic() < deadline:
            time.sleep(0.05)
            data, warning = self.read_slice(mark)
        return data, warning


def settle_all(reads: Sequence[Callable[[], T]], quiet_s: float = 0.3, timeout: float = 3.0,
               size: Callable[[T], int] = len,
               written: Sequence[Callable[[], float | None]] | None = None) -> list[T]:
    """Read every log until none has grown for ``quiet_s``, in one window for all of them (waiting
    for each log on its own made the windows add up: about 1.2 s per detonation for four logs).

    ``written`` gives a log's last write time (epoch seconds; its mtime) where it can be known, read
    after the log itself: a log last written ``quiet_s`` ago is quiet now, without watching it for
    that long. Without it (logs on a target), growth is observed, every 20 ms.
    """
    deadline = time.monotonic() + timeout

    def last_writes() -> list[float | None]:
        return [w() for w in written] if written is not None else [None] * len(reads)

    data = [read() for read in reads]
    seen = time.time()
    changed = [m if m is not None else seen for m in last_writes()]
    while time.monotonic() < deadline and time.time() - max(changed, default=0.0) < quiet_s:
        time.sleep(0.02)
        new = [read() for read in reads]
        now = time.time()
        for i, m in enumerate(last_writes()):
            if size(new[i]) != size(data[i]):
                data[i], changed[i] = new[i], (now if m is None else m)
            elif m is not None:
                changed[i] = m
    return data
