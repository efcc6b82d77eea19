"""The crash-test phase hook: a no-op unless asked, then SIGKILL of the whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness.crashpoint import PHASES, crash_point
from harness.lab.state import proc_start_time

CHILD = """
import subprocess, sys, time
from harness.crashpoint import crash_point
helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
print(helper.pid, flush=True)
crash_point("prereq")
crash_point("judging")
print("judged once", flush=True)
crash_point("judging")
time.sleep(1)
print("survived", flush=True)
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD], env={**os.environ, **env}, capture_output=True, text=True,
                          start_new_session=True, timeout=60)


def test_unset_or_other_phase_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECON_HARNESS_CRASH_AT", raising=False)
    crash_point("judging")  # still alive
    proc = _run({"RECON_HARNESS_CRASH_AT": "evidence"})
    assert proc.returncode == 0 and "survived" in proc.stdout
    os.kill(int(proc.stdout.split()[0]), signal.SIGKILL)


@pytest.mark.parametrize("delay", ["", "0.5"])
def test_named_phase_kills_the_whole_process_group(delay: str) -> None:
    proc = _run({"RECON_HARNESS_CRASH_AT": "judging", "RECON_HARNESS_CRASH_DELAY": delay})
    assert proc.returncode == -signal.SIGKILL and "survived" not in proc.stdout
    helper = int(proc.stdout.split()[0])
    # The helper was in the same process group: it is gone too (a zombie awaiting its reaper counts).
    deadline = time.monotonic() + 5
    while proc_start_time(helper) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc_start_time(helper) is None


def test_nth_occurrence() -> None:
    proc = _run({"RECON_HARNESS_CRASH_AT": "judging#2"})
    assert proc.returncode == -signal.SIGKILL and "judged once" in proc.stdout and "survived" not in proc.stdout


def test_phases_are_the_issue_list() -> None:
    assert PHASES == ("lab_up", "preflight", "prereq", "get_prereq", "detonate", "cleanup", "telemetry",
                      "judging", "evidence")
