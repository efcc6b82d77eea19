"""The lab VM's Sysmon row (harness.lab.vm_internet.sysmon_row, run inside the VM): what provisioning
recorded, then proven live. Here on this host, where no `sysmon` process runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.lab import vm_internet


def test_unavailable_keeps_provisionings_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status = tmp_path / "sysmon-status"
    status.write_text("unavailable: Sysmon for Linux is not in the box (reason)\n")
    monkeypatch.setattr(vm_internet, "SYSMON_STATUS", status)
    assert vm_internet.sysmon_row() == {"name": "sysmon", "available": False, "mandatory": False,
                                        "reason": "Sysmon for Linux is not in the box (reason)"}


def test_installed_but_not_running_is_a_mandatory_sensor_down(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    status = tmp_path / "sysmon-status"
    status.write_text("installed: sysmonforlinux 0.0.0+git6a335d5 (built from upstream source, baked into the box)\n")
    monkeypatch.setattr(vm_internet, "SYSMON_STATUS", status)
    monkeypatch.setattr(vm_internet, "_comm", lambda proc: "not-sysmon")
    row = vm_internet.sysmon_row()
    assert row == {"name": "sysmon", "available": False, "mandatory": True,
                   "reason": "Sysmon for Linux is installed but not running"}


def test_no_status_means_not_provisioned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vm_internet, "SYSMON_STATUS", tmp_path / "absent")
    row = vm_internet.sysmon_row()
    assert not row["available"] and "not provisioned" in row["reason"]
