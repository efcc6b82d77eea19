"""Telemetry-first verdicts (harness.verdicts.coverage), with SigmaHQ's real Linux rules matching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.records import CommandEntry, RunRecord
from harness.rules.sigma import SigmaEngine
from harness.verdicts.coverage import Coverage, TestCoverage, judge_test, technique_of
from harness.views.events import SigmaEvent

ROOT = Path(__file__).resolve().parents[2]
SIGMAHQ_LINUX = ROOT / "tests" / "data" / "sigmahq" / "rules" / "linux"
LOCAL_ACCOUNTS = "b45e3d6f-42c6-47d8-a478-df6bd6cf534c"  # Local System Accounts Discovery - Linux


@pytest.fixture(scope="module")
def engine() -> SigmaEngine:
    return SigmaEngine.from_paths([SIGMAHQ_LINUX])


def _proc(line: int, image: str, cmd: str) -> SigmaEvent:
    return {"logsource": {"product": "linux", "service": None, "category": "process_creation"},
            "event": {"Image": image, "CommandLine": cmd, "User": "root"},
            "meta": {"source": "sysmon", "file": "sysmon.log", "line": line, "time": "2026-12-04T06:00:00.100Z"}}


def _cmd(phase: str, rc: int = 0, timed_out: bool = False, stderr: str = "") -> CommandEntry:
    return {"phase": phase, "command": "x", "exit_code": rc, "stdout": "", "stderr": stderr,
            "started": "2026-12-04T06:00:00Z", "ended": "2026-12-04T06:00:01Z", "duration_s": 1.0,
            "pid": 1, "audit_session": 2, "timed_out": timed_out}


def _run(status: str = "EXECUTED", reason: str = "", commands: list[CommandEntry] | None = None) -> RunRecord:
    return {"id": "T1087.001-1", "guid": "f8aab3dd-5990-4bf8-b8ab-2226c951696f",
            "name": "Enumerate all accounts (Local)", "status": status, "reason": reason,
            "commands": commands if commands is not None else [_cmd("detonate"), _cmd("cleanup")]}


def _judge(engine: SigmaEngine, events: list[SigmaEvent], **kw: Any) -> TestCoverage:
    kw.setdefault("telemetry", {"sysmon": len(events), "auditd": 4})
    return judge_test(kw.pop("run", _run()), technique="T1087.001", target="vagrant://default",
                      matches=engine.match_all(events), **kw)


def test_a_sigmahq_rule_matching_the_tests_events_detects_it(engine: SigmaEngine) -> None:
    events = [_proc(1, "/usr/bin/cat", "cat /etc/passwd"), _proc(2, "/usr/bin/id", "id")]
    cov = _judge(engine, events)
    assert cov.coverage is Coverage.DETECTED
    assert [h.rule_id for h in cov.detected_by] == [LOCAL_ACCOUNTS]
    assert cov.detected_by[0].title == "Local System Accounts Discovery - Linux"
    assert cov.detected_by[0].events[0]["CommandLine"] == "cat /etc/passwd"
    assert cov.summary == "detected by 1 rule"
    assert cov.cleanup == "ok"


def test_no_match_is_not_detected(engine: SigmaEngine) -> None:
    cov = _judge(engine, [_proc(1, "/usr/bin/true", "true")])
    assert cov.coverage is Coverage.NOT_DETECTED and cov.summary == "not detected"
    assert not cov.rules


def test_a_rule_that_fires_on_the_negative_control_does_not_count(engine: SigmaEngine) -> None:
    cov = _judge(engine, [_proc(1, "/usr/bin/cat", "cat /etc/passwd")], control_rules=frozenset({LOCAL_ACCOUNTS}))
    assert cov.coverage is Coverage.NOT_DETECTED
    assert cov.rules[0].on_control and "negative control" in cov.reason


def test_executed_without_attributed_events_is_an_error_never_not_detected(engine: SigmaEngine) -> None:
    assert _judge(engine, [], telemetry={"sysmon": 0, "auditd": 0}).coverage is Coverage.ERROR
    missing = _judge(engine, [], telemetry=None)
    assert missing.coverage is Coverage.ERROR and "no telemetry" in missing.reason


@pytest.mark.parametrize("status", ["PREREQ_MISSING", "EXECUTION_FAILED", "TIMED_OUT"])
def test_a_test_that_did_not_execute_says_how(engine: SigmaEngine, status: str) -> None:
    cov = _judge(engine, [], run=_run(status, reason="why"))
    assert cov.coverage is Coverage(status) and cov.reason == "why"


def test_a_failed_cleanup_is_recorded_apart_from_the_detection(engine: SigmaEngine) -> None:
    run = _run("ERROR", "cleanup exited 1: rm: cannot remove",
               [_cmd("detonate"), _cmd("cleanup", rc=1, stderr="rm: cannot remove '/x'")])
    cov = _judge(engine, [_proc(1, "/usr/bin/cat", "cat /etc/shadow")], run=run)
    assert cov.status == "EXECUTED" and cov.coverage is Coverage.DETECTED
    assert cov.cleanup == "cleanup exited 1: rm: cannot remove '/x'"
    # an error of the detonation itself stays an error
    failed = _judge(engine, [], run=_run("ERROR", "detonation failed: connection lost", [_cmd("detonate", rc=255)]))
    assert failed.coverage is Coverage.ERROR and "connection lost" in failed.reason


def test_not_run_and_round_trip(engine: SigmaEngine) -> None:
    cov = judge_test(_run("NOT_RUN", "x", []), technique="T1087.001", target="netns://rah", matches=[],
                     telemetry=None, not_run="upstream atomic T1087.001-1 is destructive and not run here")
    assert cov.coverage is Coverage.NOT_RUN and "destructive" in cov.summary
    detected = _judge(engine, [_proc(1, "/usr/bin/cat", "cat /etc/passwd")], timings={"total_s": 3.5})
    assert TestCoverage.from_dict(detected.to_dict()) == detected
    assert technique_of("T1003.008-12") == "T1003.008"
