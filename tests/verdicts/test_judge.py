"""Judging, signal by signal: each verdict is reached from the evidence, never assumed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from harness.atomics.loader import load
from harness.atomics.model import Signal
from harness.rules.sigma import SigmaMatch
from harness.verdicts import (
    DetectionResult,
    DetectionSuite,
    KqlOutcome,
    SensorState,
    Verdict,
    failure_message,
    judge_atomic,
    judge_control,
    judge_signal,
)
from harness.views.events import DefenderRecord, SigmaEvent

ROOT = Path(__file__).resolve().parents[2]
TECHNIQUE = ROOT / "atomics" / "T1590.005" / "T1590.005.yaml"
AUDIT_RULE = "96107731-e2ba-4073-a578-b1ba2afc2bb8"
NMAP_RULE = "5af161fc-5087-4f30-9c93-315f7d8b18ad"
KQL = "detections/kql/T1590.005-ip-recon.kql"
SENSORS = {
    "auditd": SensorState("auditd", True, mandatory=True),
    "dns": SensorState("dns", True, mandatory=True),
    "sysmon": SensorState("sysmon", False, "not installed", mandatory=False),
}


@pytest.fixture(scope="module")
def nmap() -> dict[str, Signal]:
    technique, signals = load(TECHNIQUE)
    return {s.id: s for s in signals.for_test(technique.find("T1590.005-3")).signals}


def _execve(line: int, a0: str = "nmap", a1: str = "-sn") -> SigmaEvent:
    return {"logsource": {"product": "linux", "service": "auditd", "category": None},
            "event": {"type": "EXECVE", "a0": a0, "a1": a1, "a2": "198.51.100.128/28"},
            "meta": {"source": "auditd", "file": "audit.log", "line": line, "time": "2026-11-28T06:00:00.000Z"}}


def _proc(line: int, cmd: str = "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml") -> SigmaEvent:
    return {"logsource": {"product": "linux", "service": None, "category": "process_creation"},
            "event": {"Image": "/usr/bin/nmap", "CommandLine": cmd},
            "meta": {"source": "auditd", "file": "audit.log", "line": line, "time": "2026-11-28T06:00:00.100Z"}}


def _defender(line: int, cmd: str) -> DefenderRecord:
    return {"table": "DeviceProcessEvents", "row": {
        "Timestamp": "2026-11-28T06:00:00.100Z", "FileName": "nmap", "ProcessCommandLine": cmd,
        "AdditionalFields": json.dumps({"source": "auditd", "file": "audit.log", "line": line})}}


def _match(rule: str, index: int, event: SigmaEvent) -> SigmaMatch:
    return SigmaMatch(rule, "t", "low", index, event["event"])


def _result(matches: list[SigmaMatch], loaded: tuple[str, ...] = (AUDIT_RULE, NMAP_RULE),
            kql_rows: tuple[dict[str, Any], ...] = ()) -> DetectionResult:
    return DetectionResult(matches, dict.fromkeys(loaded, "t"), [], {KQL: KqlOutcome(KQL, KQL, kql_rows)})


ARGS = {"target_range": "198.51.100.128/28", "output_file": "/tmp/atomic-nmap-sweep.xml"}


def test_alerted_when_the_named_rule_matched_the_signals_own_event(nmap: dict[str, Signal]) -> None:
    events = [_execve(1)]
    v = judge_signal(nmap["nmap-execve"], ARGS, events, [], SENSORS, "EXECUTED", "",
                     _result([_match(AUDIT_RULE, 0, events[0])]))
    assert v.verdict is Verdict.ALERTED and v.sigma.verdict is Verdict.ALERTED
    assert v.kql.verdict is Verdict.NOT_JUDGED  # the signal names no KQL query
    assert v.sigma.rules[0].matches_on_signal == 1 and v.telemetry_count == 1


def test_rule_firing_on_another_event_is_not_an_alert_on_this_signal(nmap: dict[str, Signal]) -> None:
    events = [_execve(1), _execve(2, a0="curl", a1="-s")]
    v = judge_signal(nmap["nmap-execve"], ARGS, events, [], SENSORS, "EXECUTED", "",
                     _result([_match(AUDIT_RULE, 1, events[1])]))
    assert v.verdict is Verdict.TELEMETRY_ONLY
    assert v.sigma.rules[0].matches_total == 1 and v.sigma.rules[0].matches_on_signal == 0
    assert "did not match the signal" in v.reason


def test_rule_not_loaded_is_telemetry_only_and_says_so(nmap: dict[str, Signal]) -> None:
    events = [_execve(1)]
    v = judge_signal(nmap["nmap-execve"], ARGS, events, [], SENSORS, "EXECUTED", "", _result([], loaded=()))
    assert v.verdict is Verdict.TELEMETRY_ONLY and "not loaded" in v.reason


def test_no_telemetry_names_what_was_seen(nmap: dict[str, Signal]) -> None:
    events = [_execve(1, a0="curl", a1="-s")]
    v = judge_signal(nmap["nmap-execve"], ARGS, events, [], SENSORS, "EXECUTED", "", _result([]))
    assert v.verdict is Verdict.NO_TELEMETRY
    assert v.seen == {"auditd": 1} and v.examples  # the near event is shown
    assert "0 matching auditd event(s), need 1" in v.reason


def test_min_count_is_enforced(nmap: dict[str, Signal]) -> None:
    sweep = nmap["nmap-icmp-sweep"]
    one: list[SigmaEvent] = [{"logsource": {"product": "linux", "service": "nflog", "category": "firewall"},
                              "event": {"protocol": "icmp", "icmp_type": 8, "dst_ip": "198.51.100.129"},
                              "meta": {"source": "nflog", "file": "nflog.log", "line": 1, "time": None}}]
    sensors = {**SENSORS, "firewall": SensorState("firewall", True, mandatory=True)}
    v = judge_signal(sweep, ARGS, one, [], sensors, "EXECUTED", "", _result([]))
    assert v.verdict is Verdict.NO_TELEMETRY and v.telemetry_count == 1 and v.min_count == 2


def test_optional_sensor_absent_is_skipped_loudly_mandatory_is_an_error(nmap: dict[str, Signal]) -> None:
    v = judge_signal(nmap["nmap-process"], ARGS, [], [], SENSORS, "EXECUTED", "", _result([]))
    assert v.verdict is Verdict.SENSOR_UNAVAILABLE and "not installed" in v.reason
    down = {**SENSORS, "auditd": SensorState("auditd", False, "0/3 harness rules live", mandatory=True)}
    v = judge_signal(nmap["nmap-execve"], ARGS, [_execve(1)], [], down, "EXECUTED", "", _result([]))
    assert v.verdict is Verdict.ERROR and "mandatory" in v.reason
    # auditd is mandatory everywhere, even when a target does not flag it so
    down = {**SENSORS, "auditd": SensorState("auditd", False, "not running", mandatory=False)}
    v = judge_signal(nmap["nmap-execve"], ARGS, [_execve(1)], [], down, "EXECUTED", "", _result([]))
    assert v.verdict is Verdict.ERROR
    dns_down = {**SENSORS, "dns": SensorState("dns", False, "dnsmasq is not running", mandatory=True)}
    v = judge_signal(nmap["nmap-ptr-queries"], ARGS, [], [], dns_down, "EXECUTED", "", _result([]))
    assert v.verdict is Verdict.ERROR


def test_a_signal_enriched_by_a_missing_sensor_cannot_be_judged() -> None:
    """arin-https-connection-auditd matches DestinationHostname, which the view fills from the
    resolver's answers: without the resolver log it is SENSOR_UNAVAILABLE, not NO_TELEMETRY."""
    technique, signals = load(TECHNIQUE)
    arin = {s.id: s for s in signals.for_test(technique.find("T1590.005-2")).signals}
    signal = arin["arin-https-connection-auditd"]
    assert signal.sensor == "auditd" and signal.enriched_by == ("dns",)
    no_dns = {**SENSORS, "dns": SensorState("dns", False, "no dnsmasq with log-queries")}
    v = judge_signal(signal, {}, [], [], no_dns, "EXECUTED", "", _result([]))
    assert v.verdict is Verdict.SENSOR_UNAVAILABLE and "sensor dns unavailable" in v.reason
    assert "no dnsmasq with log-queries" in v.reason
    v = judge_signal(signal, {}, [], [], {k: x for k, x in SENSORS.items() if k != "dns"}, "EXECUTED", "",
                     _result([]))
    assert v.verdict is Verdict.SENSOR_UNAVAILABLE and "reported no status" in v.reason
    v = judge_signal(signal, {}, [], [], SENSORS, "EXECUTED", "", _result([]))  # with dns: judged on events
    assert v.verdict is Verdict.NO_TELEMETRY


def test_run_status_decides_before_telemetry(nmap: dict[str, Signal]) -> None:
    events = [_execve(1)]
    res = _result([_match(AUDIT_RULE, 0, events[0])])
    sig = nmap["nmap-execve"]
    for status, expected in (("PREREQ_MISSING", Verdict.PREREQ_MISSING), ("EXECUTION_FAILED", Verdict.EXECUTION_FAILED),
                             ("TIMED_OUT", Verdict.EXECUTION_FAILED), ("ERROR", Verdict.ERROR)):
        assert judge_signal(sig, ARGS, events, [], SENSORS, status, "why", res).verdict is expected, status


def test_kql_row_must_derive_from_the_signals_telemetry(nmap: dict[str, Signal]) -> None:
    sig = nmap["nmap-process-auditd"]
    cmd = "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml"
    events = [_proc(7, cmd)]
    defender = [_defender(7, cmd)]
    row = {"Timestamp": "2026-11-28T06:00:00.100Z", "InitiatingProcessCommandLine": cmd,
           "DetectionBranch": "OSINTToolOnEndpoint"}
    sigma = [_match(NMAP_RULE, 0, events[0])]
    v = judge_signal(sig, ARGS, events, defender, SENSORS, "EXECUTED", "", _result(sigma, kql_rows=(row,)))
    assert v.kql.verdict is Verdict.ALERTED and v.verdict is Verdict.ALERTED
    # same branch, but a row from another process at another time: not this signal's alert
    other = {**row, "Timestamp": "2026-11-28T05:00:00.000Z", "InitiatingProcessCommandLine": "nmap -p 22 host"}
    v = judge_signal(sig, ARGS, events, defender, SENSORS, "EXECUTED", "", _result(sigma, kql_rows=(other,)))
    assert v.kql.verdict is Verdict.TELEMETRY_ONLY and v.sigma.verdict is Verdict.ALERTED
    assert v.verdict is Verdict.TELEMETRY_ONLY
    # same instant, but it shares only the account with the signal's process: another process's row
    same_time = {**row, "InitiatingProcessCommandLine": "sh -c nmap -sn 198.51.100.128/28", "AccountName": "root"}
    rows_with_account: list[DefenderRecord] = [
        {"table": d["table"], "row": {**d["row"], "AccountName": "root"}} for d in defender]
    v = judge_signal(sig, ARGS, events, rows_with_account, SENSORS, "EXECUTED", "",
                     _result(sigma, kql_rows=(same_time,)))
    assert v.kql.verdict is Verdict.TELEMETRY_ONLY
    # the right row under another branch name does not count either
    wrong = {**row, "DetectionBranch": "EndpointIPIntelLookup"}
    v = judge_signal(sig, ARGS, events, defender, SENSORS, "EXECUTED", "", _result(sigma, kql_rows=(wrong,)))
    assert v.kql.verdict is Verdict.TELEMETRY_ONLY


def test_broken_query_is_telemetry_only_with_the_error(nmap: dict[str, Signal]) -> None:
    sig = nmap["nmap-process-auditd"]
    events = [_proc(7)]
    res = _result([_match(NMAP_RULE, 0, events[0])])
    res.kql[KQL] = KqlOutcome(KQL, KQL, error="x.kql:3:5: Failed to resolve scalar expression named 'Nope'")
    v = judge_signal(sig, ARGS, events, [], SENSORS, "EXECUTED", "", res)
    assert v.kql.verdict is Verdict.TELEMETRY_ONLY and "Failed to resolve" in v.kql.rules[0].title


def test_atomic_verdict_and_failure_message(nmap: dict[str, Signal]) -> None:
    events = [_execve(1), _proc(2)]
    res = _result([_match(AUDIT_RULE, 0, events[0])])
    signals = [nmap["nmap-execve"], nmap["nmap-process-auditd"], nmap["nmap-process"]]
    av = judge_atomic("T1590.005-3", "nmap", "netns://rah", signals, ARGS, events, [], SENSORS.values(),
                      "EXECUTED", "", res)
    assert av.verdict is Verdict.TELEMETRY_ONLY
    msg = failure_message(av)
    assert "nmap-process-auditd" in msg and "TELEMETRY_ONLY" in msg
    assert f"sigma {NMAP_RULE} (loaded): 0 match(es)" in msg  # which rules ran, with counts
    assert "events by source: {'auditd': 2}" in msg  # what telemetry was seen
    assert "skipped (sensor unavailable)" in msg  # the Sysmon signal is reported, not hidden
    ok = judge_atomic("T1590.005-3", "nmap", "x", [nmap["nmap-execve"]], ARGS, events, [], SENSORS.values(),
                      "EXECUTED", "", res)
    assert ok.verdict is Verdict.ALERTED
    assert judge_atomic("x", "x", "x", [], ARGS, events, [], [], "EXECUTED", "", res).verdict is Verdict.ERROR


def test_negative_control_false_positive_and_clean() -> None:
    events = [_execve(1, a0="curl", a1="-s")]
    fp = judge_control("t", events, "EXECUTED", "", _result([_match(AUDIT_RULE, 0, events[0])]))
    assert fp.verdict is Verdict.FALSE_POSITIVE and AUDIT_RULE in fp.reason
    assert judge_control("t", events, "EXECUTED", "", _result([])).verdict is Verdict.CLEAN
    assert judge_control("t", [], "EXECUTED", "", _result([])).verdict is Verdict.ERROR
    assert judge_control("t", events, "EXECUTION_FAILED", "rc 6", _result([])).verdict is Verdict.ERROR


def test_real_engines_on_synthetic_events(nmap: dict[str, Signal]) -> None:
    """The real Sigma engine and KQL engine over a tiny detonation, through DetectionSuite."""
    cmd = "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml"
    events = [_execve(1, "nmap", "-sn"), _proc(2, cmd)]
    defender = [_defender(2, cmd)]
    suite = DetectionSuite(ROOT / "detections")
    now = dt.datetime(2026, 11, 28, 7, tzinfo=dt.UTC)
    res = suite.evaluate(events, defender, now, {KQL})
    v = judge_atomic("T1590.005-3", "nmap", "x", [nmap["nmap-execve"], nmap["nmap-process-auditd"]], ARGS,
                     events, defender, SENSORS.values(), "EXECUTED", "", res)
    assert [s.verdict for s in v.signals] == [Verdict.ALERTED, Verdict.ALERTED], failure_message(v, True)
    # a day later the query's ago(24h) excludes the row: the KQL half no longer alerts
    res = suite.evaluate(events, defender, now + dt.timedelta(days=2), {KQL})
    sv = judge_signal(nmap["nmap-process-auditd"], ARGS, events, defender, SENSORS, "EXECUTED", "", res)
    assert sv.sigma.verdict is Verdict.ALERTED and sv.kql.verdict is Verdict.TELEMETRY_ONLY
