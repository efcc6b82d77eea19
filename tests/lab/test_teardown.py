"""Teardown helpers: processes end (and are waited for), pending cleanups run, other kinds undo."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.lab import teardown
from harness.lab.state import LabState, Resource, proc_start_time

IGNORES_TERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('ready', flush=True); time.sleep(60)")


def _start(code: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    return proc


def test_terminate_returns_only_once_a_process_ignoring_sigterm_has_exited() -> None:
    proc = _start(IGNORES_TERM)
    t0 = time.monotonic()
    out = teardown.terminate({proc.pid: "stubborn"}, grace_s=0.5, kill_wait_s=5)
    assert time.monotonic() - t0 >= 0.5
    assert out.ended == (f"process stubborn (pid {proc.pid})",) and out.survivors == ()
    assert proc_start_time(proc.pid) is None  # gone (reaped), not merely signalled
    proc.wait(timeout=1)


def test_terminate_reports_a_survivor_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    # Error path: a process that outlives SIGKILL (stuck in the kernel). Signals are swallowed here
    # so the real process stands in for one; the wait must end and name it.
    proc = _start(IGNORES_TERM)
    try:
        monkeypatch.setattr("harness.lab.teardown.os.kill", lambda pid, sig: None)
        t0 = time.monotonic()
        out = teardown.terminate({proc.pid: "stuck"}, grace_s=0.2, kill_wait_s=0.5)
        assert time.monotonic() - t0 < 3
        assert out.ended == ()
        assert out.survivors == (f"process stuck (pid {proc.pid}) still running 0.5s after SIGKILL",)
    finally:
        monkeypatch.undo()
        proc.kill()
        proc.wait()


def test_zombie_counts_as_exited() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.5)  # exited, not reaped yet: a zombie
    assert proc_start_time(proc.pid) is None
    proc.wait()


def _sh(command: str, shell: str) -> tuple[int, str]:
    res = subprocess.run([shell, "-c", command], capture_output=True, text=True)
    return res.returncode, res.stdout + res.stderr


def test_pending_cleanups_run_newest_first_and_failures_stay(tmp_path: Path) -> None:
    out = tmp_path / "atomic-out"
    out.mkdir()
    (out / "api_key").write_text("secret")
    scratch = tmp_path / ".harness-cid"
    scratch.mkdir()
    state = LabState.open(tmp_path / "s", "lab")
    state.record("target_path", str(scratch), target="local://")
    state.record("atomic_cleanup", "T-ok", command=f"rm -f {out}/api_key; rmdir {out}", shell="sh")
    state.record("atomic_cleanup", "T-bad", command="exit 3", shell="sh")
    done, errors = teardown.undo_target_entries(state, _sh)
    assert not out.exists() and not scratch.exists()
    assert done == ["pending cleanup of T-ok ran on the target (detonated, never cleaned up)",
                    f"{scratch} on the target"]
    assert len(errors) == 1 and "T-bad exited 3" in errors[0]
    assert [r.name for r in LabState.load(tmp_path / "s").resources] == ["T-bad"]  # type: ignore[union-attr]


def test_target_path_refuses_top_level_directories() -> None:
    for path in ("/", "/tmp", "relative"):
        try:
            teardown.undo_on_target(Resource("target_path", path), _sh)
        except OSError as exc:
            assert "refusing" in str(exc)
        else:
            raise AssertionError(f"{path} was not refused")


def test_registered_kinds_are_undone(tmp_path: Path) -> None:
    seen: list[str] = []

    @teardown.undo_handler("test_kind")
    def _undo(res: Resource) -> str:
        seen.append(res.name)
        return f"undid {res.name}"

    assert teardown.undo(Resource("test_kind", "x")) == "undid x" and seen == ["x"]
    d = tmp_path / "recon-harness-telemetry-1"
    d.mkdir()
    assert teardown.undo(Resource("tempdir", str(d))) == f"temp dir {d}" and not d.exists()
    assert teardown.undo(Resource("unknown_kind", "y")) is None
