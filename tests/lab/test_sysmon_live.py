"""Sysmon for Linux on the embedded lab for real: installed from the offline package cache at `lab up`,
proven live by a probe event, mandatory, and removed completely at `lab down`, also when it died."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.lab import sysmon
from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab
from harness.lab.hoststate import snapshot
from harness.lab.state import LabState
from harness.packages import sysmon as packages

pytestmark = pytest.mark.lab
CFG = load_lab_config()


@pytest.fixture
def lab() -> Iterator[Any]:
    if packages.find_packages() is None:
        pytest.skip(packages.missing_reason())
    if sysmon.host_sysmon():
        pytest.skip(f"this host runs its own Sysmon ({sysmon.host_sysmon()}): the lab leaves it alone")
    EmbeddedLab(CFG).down()
    before = snapshot(CFG)
    lab = EmbeddedLab(CFG)
    yield lab
    lab.down()
    leftover = before.diff(snapshot(CFG))
    assert not leftover, "Sysmon or the lab left state behind:\n" + "\n".join(leftover)
    assert not sysmon.host_sysmon() and not sysmon.sysmon_pids()


def test_installed_live_mandatory_and_a_dead_daemon_is_unavailable(lab: EmbeddedLab) -> None:
    lab.up(provision=False)
    state = LabState.load(lab.state_dir)
    assert state is not None and state.info["sysmon"]["case"] == "installed"
    order = [(r.kind, r.name) for r in state.resources]
    # Recorded before anything it undoes was made: the listener's socket, its process, the daemon.
    assert order.index(("sysmon_install", "sysmon")) < order.index(("file", "/dev/log")) \
        < order.index(("process", "sysmon-devlog")) < order.index(("process", "sysmon"))
    live = {s.name: s for s in lab.sensors()}["sysmon"]
    assert live.available and live.mandatory, live
    # The log holds Sysmon's own events only, one XML event per line.
    lines = (lab.sysmon_log).read_text().splitlines()
    assert lines and all(" sysmon: <Event>" in line for line in lines)
    daemon = next(r for r in state.resources if r.kind == "process" and r.name == "sysmon")
    os.kill(int(daemon.data["pid"]), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while sysmon.sysmon_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    dead = {s.name: s for s in lab.sensors()}["sysmon"]
    # Unavailable and mandatory, so its signals are ERROR: by the pid check, or by the probe when
    # the killed daemon's pid has not yet gone from /proc.
    assert not dead.available and dead.mandatory
    assert "is not running" in dead.reason or "no Sysmon event for a probe command" in dead.reason
