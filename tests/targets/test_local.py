import time
from pathlib import Path

from harness.targets import get_target


def test_run_reports_rc_output_times_and_pid() -> None:
    t = get_target("local://")
    before = time.time_ns()
    r = t.run("echo out; echo err >&2; exit 3")
    assert r.rc == 3 and r.stdout == "out\n" and r.stderr == "err\n"
    assert before <= r.started_ns <= r.ended_ns <= time.time_ns()
    assert r.pid and r.pid > 1
    assert r.failed and not r.succeeded


def test_environment_arrives_through_stdin_not_argv() -> None:
    t = get_target("local://")
    r = t.run('echo "$SECRET_V"; cat /proc/$$/cmdline | tr "\\0" " "', env={"SECRET_V": "s3cr3t value"})
    first, cmdline = r.stdout.splitlines()[0], r.stdout.splitlines()[1]
    assert first == "s3cr3t value"
    assert "s3cr3t" not in cmdline


def test_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    t = get_target("local://")
    marker = tmp_path / "child-alive"
    r = t.run(f"(sleep 2; touch {marker}) & sleep 30", timeout=0.5)
    assert r.timed_out and r.rc != 0 and r.duration_s < 5
    time.sleep(2.5)
    assert not marker.exists(), "a background child survived the timeout"


def test_files_roundtrip(tmp_path: Path) -> None:
    t = get_target("local://")
    p = tmp_path / "d" / "f"
    t.write_file(str(p), b"data", 0o640)
    assert t.read_file(str(p)) == b"data"
    assert (p.stat().st_mode & 0o777) == 0o640
    t.remove_file(str(p))
    t.remove_file(str(p))  # missing is fine
    t.remove_file(str(p.parent))  # empty directory
    assert not p.parent.exists()
