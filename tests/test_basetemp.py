"""tests/conftest.py: the suite's temporary directory is removed at the end of the session, and the
directory of a session killed with SIGKILL (no pytest_unconfigure) by the next session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.lab.state import proc_start_time

PREFIX = "pytest-recon-harness-"


def _own(d: Path, pid: int) -> None:
    d.mkdir()
    (d / ".owner").write_text(f"{pid} {proc_start_time(pid)}")


def test_this_sessions_directory_names_its_owner(request: pytest.FixtureRequest) -> None:
    base = Path(str(request.config.option.basetemp)).parent
    if not base.name.startswith(PREFIX):
        pytest.skip("--basetemp was given: the session directory is the caller's")
    assert (base / ".owner").read_text() == f"{os.getpid()} {proc_start_time(os.getpid())}"


def test_a_killed_sessions_directory_is_removed_and_no_other(
        tmp_path: Path, sweep_basetemps: Callable[[Path], list[Path]]) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stale = tmp_path / f"{PREFIX}killed"
    _own(stale, child.pid)
    (stale / "t").mkdir()
    os.kill(child.pid, signal.SIGKILL)  # pytest_unconfigure never runs after SIGKILL
    child.wait()
    live = tmp_path / f"{PREFIX}live"  # a running session's: this process owns it
    _own(live, os.getpid())
    unowned = tmp_path / f"{PREFIX}unowned"  # no owner file yet (a session just starting)
    unowned.mkdir()
    other = tmp_path / "pytest-of-root"  # not ours
    other.mkdir()
    assert sweep_basetemps(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and unowned.exists() and other.exists()
