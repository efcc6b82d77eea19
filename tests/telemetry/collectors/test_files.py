import os
from pathlib import Path

import pytest

from harness.targets.local import LocalTarget
from harness.telemetry.collectors.files import LogTap, Mark, settle

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
    assert settle(lambda: b"stable", quiet_s=0.05, timeout=1) == b"stable"
