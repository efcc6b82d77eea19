import os
import threading
import time
from pathlib import Path

import pytest

from harness.targets.local import LocalTarget
from harness.telemetry.collectors.files import LogTap, Mark, settle_all

# Every tap test runs on a host file and through a target (the shell script run over SSH),
# here the local target.
TARGETS = [None, LocalTarget()]


def _tap(log: Path, target: object, source: str = "auditd") -> LogTap:
    return LogTap(source, str(log), "sensor", target)  # type: ignore[arg-type]


def _rotate(log: Path, keep: int = 9) -> None:
    """auditd's ROTATE: log.N -> log.N+1 ..., log -> log.1, then a new log."""
    for n in range(keep - 1, 0, -1):
        if Path(f"{log}.{n}").exists():
            os.rename(f"{log}.{n}", f"{log}.{n + 1}")
    os.rename(log, f"{log}.1")
    log.write_text("")


@pytest.mark.parametrize("target", TARGETS)
def test_tap_reads_only_what_was_appended(tmp_path: Path, target: object) -> None:
    log = tmp_path / "x.log"
    log.write_text("old 1\nold 2\n")
    tap = _tap(log, target)
    mark = tap.mark()
    assert mark.offset == 12 and mark.inode == log.stat().st_ino
    with log.open("a") as fh:
        fh.write("new 1\n")
    assert tap.read_slice(mark) == (b"new 1\n", None)


@pytest.mark.parametrize("target", TARGETS)
def test_rotation_during_the_detonation_loses_nothing(tmp_path: Path, target: object) -> None:
    log = tmp_path / "audit.log"
    log.write_text("before\n")
    tap = _tap(log, target)
    mark = tap.mark()
    with log.open("a") as fh:
        fh.write("execve nmap\n")  # written before the rotation: must not be lost
    _rotate(log)
    with log.open("a") as fh:
        fh.write("sendto 1\n")
    assert tap.read_slice(mark) == (b"execve nmap\nsendto 1\n", None)
    _rotate(log)  # twice: the marked file is now audit.log.2
    with log.open("a") as fh:
        fh.write("sendto 2\n")
    assert tap.read_slice(mark) == (b"execve nmap\nsendto 1\nsendto 2\n", None)


@pytest.mark.parametrize("target", TARGETS)
def test_a_rotated_file_that_is_gone_is_reported(tmp_path: Path, target: object) -> None:
    log = tmp_path / "audit.log"
    log.write_text("before\n")
    tap = _tap(log, target)
    mark = tap.mark()
    os.rename(log, tmp_path / "elsewhere.log")
    log.write_text("after\n")
    data, warning = tap.read_slice(mark)
    assert data == b"after\n" and warning is not None and "earlier records are missing" in warning


@pytest.mark.parametrize("target", TARGETS)
def test_truncated_log_is_read_from_the_start_and_reported(tmp_path: Path, target: object) -> None:
    log = tmp_path / "x.log"
    log.write_text("a long line before truncation\n")
    tap = _tap(log, target, "squid")
    mark = tap.mark()
    log.write_text("after\n")  # same file, truncated and rewritten: smaller than the mark
    data, warning = tap.read_slice(mark)
    assert data == b"after\n" and warning is not None and "truncated" in warning


@pytest.mark.parametrize("target", TARGETS)
def test_missing_log_is_empty_not_an_error(tmp_path: Path, target: object) -> None:
    log = tmp_path / "absent"
    tap = _tap(log, target, "nflog")
    mark = tap.mark()
    assert mark == Mark(0, 0) and tap.read_slice(mark) == (b"", None)
    log.write_text("created during the detonation\n")
    assert tap.read_slice(mark) == (b"created during the detonation\n", None)


def test_wait_for_marker_and_settle(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("type=USER msg=audit(1.0:1): msg='recon-harness sync abc'\n")
    tap = LogTap("auditd", str(log), "auditd")
    start = Mark(log.stat().st_ino, 0)
    assert b"sync abc" in tap.wait_for(start, b"sync abc", timeout=1)[0]
    data, _ = tap.wait_for(start, b"never there", timeout=0.2)
    assert b"sync abc" in data  # returns what is there once the timeout passes
    assert settle_all([lambda: b"stable"], quiet_s=0.05, timeout=1) == [b"stable"]


def test_settle_all_waits_for_every_log_in_one_quiet_window(tmp_path: Path) -> None:
    """A log that grows late, while another is already quiet, is still read whole; the window is
    shared, so two quiet logs cost one window, not two."""
    early, late = tmp_path / "dns.log", tmp_path / "squid.log"
    early.write_text("query\n")
    late.write_text("")

    def write_late() -> None:
        for i in range(3):
            time.sleep(0.1)
            with late.open("a") as fh:
                fh.write(f"request {i}\n")

    writer = threading.Thread(target=write_late)
    writer.start()
    got = settle_all([early.read_bytes, late.read_bytes], quiet_s=0.25, timeout=3)
    writer.join()
    assert got == [b"query\n", b"request 0\nrequest 1\nrequest 2\n"]
    t0 = time.monotonic()
    assert settle_all([early.read_bytes, late.read_bytes], quiet_s=0.2, timeout=3) == got
    assert time.monotonic() - t0 < 0.4  # one shared window (0.2 s), not one per log
    t0 = time.monotonic()
    assert settle_all([lambda: b"x" * int(time.monotonic() * 20)], quiet_s=0.2, timeout=0.5)
    assert time.monotonic() - t0 < 0.9  # a log that never stops growing ends at the timeout


def test_settle_all_trusts_a_local_logs_mtime(tmp_path: Path) -> None:
    """A local log last written long enough ago is quiet at once; one written just now is watched
    until the window since that write has passed; a tap on a target has no mtime to trust."""
    old, fresh = tmp_path / "old.log", tmp_path / "fresh.log"
    old.write_text("a\n")
    fresh.write_text("b\n")
    os.utime(old, (time.time() - 5, time.time() - 5))
    taps = [LogTap("dnsmasq", str(old), "dns"), LogTap("squid", str(fresh), "proxy")]
    marks = [Mark(0, 0), Mark(0, 0)]
    t0 = time.monotonic()
    got = settle_all([lambda: taps[0].read_slice(marks[0])], quiet_s=0.3, size=lambda x: len(x[0]),
                     written=[taps[0].last_write])
    assert got == [(b"a\n", None)] and time.monotonic() - t0 < 0.15
    t0 = time.monotonic()
    reads = [lambda: taps[0].read_slice(marks[0]), lambda: taps[1].read_slice(marks[1])]
    got = settle_all(reads, quiet_s=0.3, size=lambda x: len(x[0]), written=[t.last_write for t in taps])
    assert got == [(b"a\n", None), (b"b\n", None)] and 0.2 <= time.monotonic() - t0 < 0.6
    assert LogTap("squid", str(fresh), "proxy", LocalTarget()).last_write() is None
    assert LogTap("squid", str(tmp_path / "absent.log"), "proxy").last_write() is None


class _JournalHost:
    """This machine as a target whose `journalctl` is a script (there is no journal here): it logs
    its arguments, answers --show-cursor with CURSOR (if any), prints ENTRIES and exits with RC."""

    def __init__(self, tmp: Path, cursor: str, entries: str, rc: int) -> None:
        self.bin, self.calls = tmp / "bin", tmp / "calls"
        self.bin.mkdir()
        script = self.bin / "journalctl"
        script.write_text(
            "#!/bin/sh\n"
            f'echo "$*" >> {self.calls}\n'
            'case "$*" in *--show-cursor*) '
            + (f"echo 'last entry'; echo '-- cursor: {cursor}'" if cursor else ":") + "; exit 0;; esac\n"
            f"printf '%s' '{entries}'\n"
            f"exit {rc}\n")
        script.chmod(0o755)

    def run(self, command: str, *, timeout: float | None = None) -> object:
        return LocalTarget().run(f"PATH={self.bin}:$PATH\n{command}", timeout=timeout)


def test_journal_tap_reads_after_the_cursor(tmp_path: Path) -> None:
    entries = '{"MESSAGE": "one"}\n{"MESSAGE": "two"}\n'
    host = _JournalHost(tmp_path, "s=ab;i=5", entries, 0)
    tap = LogTap("sysmon", "journald:sysmon", "sysmon", host)  # type: ignore[arg-type]
    mark = tap.mark()
    assert mark.cursor == "s=ab;i=5"
    assert tap.read_slice(mark) == (entries.encode(), None)
    assert "-q -o json -t sysmon --after-cursor=s=ab;i=5" in host.calls.read_text()


def test_journal_tap_reports_journalctl_failing(tmp_path: Path) -> None:
    """The pipeline's status was head's: a journalctl that failed (a stale cursor, no permission)
    gave an empty slice and no warning."""
    host = _JournalHost(tmp_path, "s=ab;i=5", "", 1)
    tap = LogTap("sysmon", "journald:sysmon", "sysmon", host)  # type: ignore[arg-type]
    data, warning = tap.read_slice(tap.mark())
    assert data == b"" and warning == "journalctl exited 1: the journal's entries may be incomplete"


def test_an_empty_journal_is_read_since_the_targets_own_clock(tmp_path: Path) -> None:
    host = _JournalHost(tmp_path, "", "", 0)
    tap = LogTap("sysmon", "journald:sysmon", "sysmon", host)  # type: ignore[arg-type]
    before = int(time.time())
    mark = tap.mark()
    assert mark.cursor == "" and before - 1 <= mark.since <= time.time() + 1
    assert tap.read_slice(mark) == (b"", None)
    assert f"--since=@{int(mark.since)}" in host.calls.read_text()


def test_a_journal_slice_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.errors import TelemetryError
    from harness.telemetry.collectors import files

    monkeypatch.setattr(files, "MAX_SLICE", 10)
    host = _JournalHost(tmp_path, "s=ab;i=5", '{"MESSAGE": "more than ten bytes"}\n', 0)
    tap = LogTap("sysmon", "journald:sysmon", "sysmon", host)  # type: ignore[arg-type]
    with pytest.raises(TelemetryError, match="more than 10 bytes"):
        tap.read_slice(tap.mark())
