"""The preflight probe of targets the harness did not build."""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import TargetError
from harness.plugin.preflight import probe_sensors
from harness.targets.base import get_target


def test_probe_on_this_host_reports_every_sensor_with_auditd_mandatory() -> None:
    sensors = {s["name"]: s for s in probe_sensors(get_target("local://"))}
    assert set(sensors) == {"auditd", "sysmon", "dns", "proxy", "firewall", "inet"}
    assert sensors["auditd"]["mandatory"] and not sensors["sysmon"]["mandatory"]
    assert sensors["inet"]["available"] is False and sensors["inet"]["reason"]
    for s in sensors.values():
        assert s["available"] or s["reason"], s  # an absent sensor always says why


@dataclass
class _Res:
    rc: int
    stdout: str
    stderr: str


class _Broken:
    def run(self, command: str, timeout: float = 0) -> _Res:
        raise TargetError("ssh: connection refused")


class _Silent:
    def run(self, command: str, timeout: float = 0) -> _Res:
        return _Res(127, "", "sh: not found")


def test_probe_failure_is_a_missing_mandatory_auditd() -> None:
    (s,) = probe_sensors(_Broken())
    assert s["name"] == "auditd" and not s["available"] and s["mandatory"] and "connection refused" in s["reason"]
    (s,) = probe_sensors(_Silent())
    assert not s["available"] and "rc 127" in s["reason"]
