"""The preflight probe of targets the harness did not build."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from harness.errors import TargetError
from harness.run.preflight import probe_sensors
from harness.targets.base import Target, get_target


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
    (s,) = probe_sensors(cast(Target, _Broken()))
    assert s["name"] == "auditd" and not s["available"] and s["mandatory"] and "connection refused" in s["reason"]
    (s,) = probe_sensors(cast(Target, _Silent()))
    assert not s["available"] and "rc 127" in s["reason"]


def test_require_sensor_makes_it_mandatory_and_adds_an_unreported_one() -> None:
    from harness.run.preflight import require_sensors

    sensors = [{"name": "auditd", "available": True, "reason": "", "mandatory": True},
               {"name": "sysmon", "available": False, "reason": "not running", "mandatory": False}]
    out = {s["name"]: s for s in require_sensors(sensors, ["sysmon", "dns"])}
    assert out["sysmon"]["mandatory"] and out["sysmon"]["reason"] == "not running"
    assert out["dns"] == {"name": "dns", "available": False, "mandatory": True,
                          "reason": "required sensor dns (--require-sensor) was not reported by the target"}
    assert require_sensors(sensors, []) is sensors


def test_a_required_unavailable_sensor_is_error_not_a_skip() -> None:
    from harness.atomics.loader import load, repo_root
    from harness.run.preflight import require_sensors
    from harness.verdicts.judge import judge_signal, sensor_map
    from harness.verdicts.model import Verdict

    _technique, signals = load(repo_root() / "atomics" / "T1590.005" / "T1590.005.yaml")
    signal = next(s for e in signals.expectations.values() for s in e.signals if s.sensor == "sysmon")
    rows = [{"name": "sysmon", "available": False, "reason": "not running", "mandatory": False}]
    plain = judge_signal(signal, {}, [], [], sensor_map(rows), "EXECUTED", "", None)  # type: ignore[arg-type]
    required = judge_signal(signal, {}, [], [], sensor_map(require_sensors(rows, ["sysmon"])), "EXECUTED", "",
                            None)  # type: ignore[arg-type]
    assert plain.verdict == Verdict.SENSOR_UNAVAILABLE
    assert required.verdict == Verdict.ERROR and "mandatory sensor sysmon unavailable" in required.reason
