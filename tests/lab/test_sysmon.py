"""Sysmon on the embedded lab: the cases decided at `lab up` and recorded, without touching the host."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from harness.lab import sysmon
from harness.lab.state import LabState, proc_start_time
from harness.packages import sysmon as packages


@pytest.fixture()
def state(tmp_path: Path) -> LabState:
    return LabState(tmp_path / "state" / "state.json", "t")


def test_empty_cache_is_unavailable_naming_path_and_build_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, state: LabState
) -> None:
    monkeypatch.setenv("RECON_HARNESS_PACKAGE_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(sysmon, "host_sysmon", lambda: "")
    result = sysmon.setup(state, tmp_path)
    assert result.case == "unavailable"
    assert str(packages.build_dir(tmp_path / "empty-cache")) in result.reason
    assert packages.BUILD_COMMAND in result.reason and "never builds" in result.reason
    assert state.resources == []  # nothing was installed, so nothing to undo
    loaded = LabState.load(state.path.parent)
    assert loaded is not None and loaded.info["sysmon"]["case"] == "unavailable"
    assert sysmon.status(loaded, tmp_path / "sysmon.log") == (False, result.reason, False)


def test_host_sysmon_is_left_alone_and_recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                state: LabState) -> None:
    monkeypatch.setattr(sysmon, "host_sysmon", lambda: "package sysmonforlinux is installed")

    def no_install(*_a: object) -> None:
        raise AssertionError("must not install over the host's Sysmon")

    monkeypatch.setattr(sysmon, "_install", no_install)
    result = sysmon.setup(state, tmp_path)
    assert result.case == "host" and "neither reinstalls nor removes" in result.reason
    assert state.resources == [] and state.info["sysmon"]["case"] == "host"
    ok, why, mandatory = sysmon.status(state, tmp_path / "sysmon.log")
    assert (ok, mandatory) == (False, False) and "sysmonforlinux" in why


def test_probe_needs_the_nonce_event(tmp_path: Path) -> None:
    # Nothing writes this log: the probe must say so instead of passing on a binary's existence.
    log = tmp_path / "sysmon.log"
    log.write_text("<14>sysmon: <Event>old</Event>\n")
    why = sysmon.probe(log, timeout=0.3)
    assert "no Sysmon event for a probe command" in why


def test_undo_of_nothing_installed_removes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysmon, "SYSMON_BIN", Path("/nonexistent/sysmon"))
    monkeypatch.setattr(sysmon, "sysmon_pids", lambda: [])
    monkeypatch.setattr(sysmon, "dpkg_installed", lambda name: False)
    monkeypatch.setattr(sysmon, "footprint", lambda: ["/etc/systemd/system/sysmon.service"])
    monkeypatch.setattr(sysmon, "_run", lambda *a, **k: None)
    # The host's own service file was there before: it stays.
    done = sysmon.undo({"preexisting": ["/etc/systemd/system/sysmon.service"], "mounts": []})
    assert done == ["ldconfig"]


def test_a_lab_leftover_is_not_the_hosts_own_sysmon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A crash that lost the state dir: the marker outside it says the installed Sysmon is the lab's.
    marker = tmp_path / "marker.json"
    monkeypatch.setattr(sysmon, "MARKER", marker)
    monkeypatch.setattr(sysmon, "dpkg_installed", lambda name: True)
    assert sysmon.leftover() is None and sysmon.host_sysmon() == "package sysmonforlinux is installed"
    marker.write_text('{"preexisting": [], "mounts": ["/sys/kernel/tracing"], "packages": ["sysmonforlinux"]}')
    assert sysmon.host_sysmon() == ""
    assert sysmon.leftover() == {"preexisting": [], "mounts": ["/sys/kernel/tracing"], "packages": ["sysmonforlinux"]}
    marker.write_text("not json")
    assert sysmon.leftover() is None


def test_a_zombie_is_not_running() -> None:
    child = subprocess.Popen(["/bin/true"])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.02)  # exited but not reaped yet: a zombie, as a killed daemon that is not ours
    assert not sysmon._running(child.pid, proc_start_time(child.pid))
    child.wait()
    assert sysmon._running(os.getpid(), proc_start_time(os.getpid()))
