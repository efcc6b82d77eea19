"""TelemetrySession (harness/execution/collect.py) without a lab: slices across log rotation."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.collection import SensorStatus
from harness.execution.collect import TelemetrySession
from harness.execution.runner import AtomicRun, CommandRecord, Phase, Status
from harness.telemetry.collectors.files import LogTap
from harness.views.context import ViewContext

LINE = "type=SYSCALL msg=audit({t}:{n}): arch=c000003e syscall=59 success=yes exit=0 pid=4242 ppid=1 ses=7 comm=\"x\"\n"


def _run() -> AtomicRun:
    now = time.time_ns()
    cmd = CommandRecord("x", 0, "", "", now, now, 4242, 7, False, phase=Phase.DETONATE)
    return AtomicRun("T0-1", "guid", "x", "local://", "cid", Status.EXECUTED, "", now, now, 0, (cmd,))


def _session(tmp: Path) -> tuple[TelemetrySession, Path, Path]:
    audit, dns = tmp / "audit.log", tmp / "dnsmasq.log"
    audit.write_text(LINE.format(t=1.0, n=1))
    dns.write_text("")
    taps = [LogTap("auditd", str(audit), "auditd"), LogTap("dnsmasq", str(dns), "dns")]
    sensors = [SensorStatus("auditd", True, mandatory=True), SensorStatus("dns", True)]
    return TelemetrySession(taps, sensors, ViewContext()), audit, dns


def test_rotation_is_followed_and_sensors_stay_available(tmp_path: Path) -> None:
    session, audit, _ = _session(tmp_path)
    marks = session.begin()
    with audit.open("a") as fh:
        fh.write(LINE.format(t=2.0, n=2))
    os.rename(audit, f"{audit}.1")  # auditd's ROTATE
    audit.write_text(LINE.format(t=3.0, n=3))
    tel = session.finish(_run(), marks, tmp_path / "out")
    raw = (tmp_path / "out" / "raw" / "auditd.log").read_text()
    assert "audit(2.0:2)" in raw and "audit(3.0:3)" in raw and "audit(1.0:1)" not in raw
    assert all(s.available for s in tel.sensors)


def test_a_lost_slice_makes_its_sensor_unavailable_for_the_detonation(tmp_path: Path) -> None:
    session, audit, _ = _session(tmp_path)
    marks = session.begin()
    with audit.open("a") as fh:
        fh.write(LINE.format(t=2.0, n=2))
    os.rename(audit, tmp_path / "archived.log")  # rotated away where the tap cannot find it
    audit.write_text(LINE.format(t=3.0, n=3))
    tel = session.finish(_run(), marks, tmp_path / "out")
    state = {s.name: s for s in tel.sensors}
    assert not state["auditd"].available and state["auditd"].mandatory
    assert "incomplete log slice" in state["auditd"].reason and "earlier records are missing" in state["auditd"].reason
    assert state["dns"].available  # only the sensor whose slice is incomplete
    assert all(s.available for s in session.sensors)  # the session's own states are untouched


def test_a_sensor_that_died_during_the_detonation_is_unavailable_for_it(tmp_path: Path) -> None:
    session, _audit, _ = _session(tmp_path)
    session.sensors.append(SensorStatus("sysmon", True, mandatory=True))
    session.recheck = lambda: [SensorStatus("sysmon", False, "process sysmon (pid 9) is not running", True)]
    marks = session.begin()
    tel = session.finish(_run(), marks, tmp_path / "out")
    state = {s.name: s for s in tel.sensors}
    assert not state["sysmon"].available and state["sysmon"].mandatory
    assert state["sysmon"].reason == "not live after the detonation: process sysmon (pid 9) is not running"
    assert state["auditd"].available and state["dns"].available


def test_the_detonation_window_follows_the_measured_target_clock(tmp_path: Path) -> None:
    from harness.targets.clock import ClockOffset

    session, _, _ = _session(tmp_path)
    plain = session._detonation(_run())
    assert plain.clock_offset_s == 0.0 and plain.slack_s == 1.5
    session.clock = ClockOffset(offset_s=30.0, uncertainty_s=0.25, samples=3)
    shifted = session._detonation(_run())
    assert shifted.clock_offset_s == 30.0 and shifted.slack_s == 1.75  # widened by the uncertainty
    assert shifted.start is not None and shifted.in_window(shifted.start + 30.0)
    assert plain.in_window(shifted.start) and not shifted.in_window(shifted.start)  # 30 s early on the host


def test_the_sysmon_slice_waits_for_the_sync_markers_process(tmp_path: Path) -> None:
    """Sysmon writes late (per-CPU buffers, then syslog): its slice ends at the marker that the audit
    sync's auditctl process leaves in it, not when the log looks quiet for a moment."""
    import threading

    audit, sysmon = tmp_path / "audit.log", tmp_path / "sysmon.log"
    audit.write_text("")
    sysmon.write_text("")

    def sync(marker: str) -> None:
        with audit.open("a") as fh:
            fh.write(f'type=USER msg=audit(5.0:9): msg="{marker}"\n')

        def late() -> None:  # the detonation's last event and the marker, a second after the sync
            time.sleep(1.0)
            with sysmon.open("a") as fh:
                fh.write("<Event>late file event</Event>\n")
                fh.write(f"<Event>auditctl -m {marker}</Event>\n")
        threading.Thread(target=late, daemon=True).start()

    taps = [LogTap("auditd", str(audit), "auditd"), LogTap("sysmon", str(sysmon), "sysmon")]
    sensors = [SensorStatus("auditd", True, mandatory=True), SensorStatus("sysmon", True)]
    session = TelemetrySession(taps, sensors, ViewContext(), audit_sync=sync, sysmon_sees_sync=True)
    marks = session.begin()
    session.finish(_run(), marks, tmp_path / "out")
    raw = (tmp_path / "out" / "raw").iterdir()
    sysmon_raw = next(p for p in raw if p.name.startswith("sysmon")).read_text()
    assert "late file event" in sysmon_raw and "recon-harness sync cid" in sysmon_raw
