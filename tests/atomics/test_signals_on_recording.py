"""The shipped match specs, evaluated on the real recorded lab run through the real parsers and view.

tests/data/recordings/sysmon-linux-lab-2026-11-28 holds four of the five atomics (no
theHarvester), recorded with Sysmon for Linux, auditd, the lab resolver and the simulated internet
(no proxy, no NFLOG). Each atomic's events are those timed inside its window in the manifest.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.atomics.loader import load
from harness.atomics.model import Signal
from harness.telemetry.parsers import Record, parse_file
from harness.views.events import SigmaEvent
from harness.views.sigma import sigma_events

REPO = Path(__file__).resolve().parents[2]
RECORDING = REPO / "tests" / "data" / "recordings" / "sysmon-linux-lab-2026-11-28"
KQL_QUERY = "detections/kql/T1590.005-ip-recon.kql"
RECORDED_SOURCES = {"sysmon", "auditd", "dns", "inet"}
ATOMICS = {
    "a_shodan_cli": "T1590.005-1",
    "b_arin_whois_rdap": "T1590.005-2",
    "c_nmap_ping_sweep": "T1590.005-3",
    "d_bgp_he_asn": "T1590.005-5",
}
#: The recording ran `shodan init` with HOME=/opt/labrec/labhome.
ARGS = {"T1590.005-1": {"shodan_home": "/opt/labrec/labhome"}}
#: The recorded ARIN atomic predates this file: one Whois-RWS call (XML to a file) and RDAP to
#: stdout, where T1590.005-2 makes JSON + XML + RDAP calls into three files. These signals count
#: more events than that run made, so they must be absent there.
NOT_IN_RECORDING = {
    "arin-curl-process": "1 of 2 whois.arin.net calls recorded",
    "arin-execve": "2 of 3 curl runs recorded",
    "arin-https-connection": "2 of 3 connections recorded",
    "arin-output-files": "1 of 3 output files recorded",
    "arin-curl-process-auditd": "1 of 2 whois.arin.net calls recorded",
    "arin-https-connection-auditd": "2 of 3 connections recorded",
    "arin-output-files-auditd": "1 of 3 output files recorded",
    "arin-rest-request": "1 of 2 /rest/ip requests recorded",
}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return [
        *parse_file("sysmon", RECORDING / "sysmon.log"),
        *parse_file("auditd", RECORDING / "audit.log"),
        *parse_file("dnsmasq", RECORDING / "dnsmasq.log", year=2026),
        *parse_file("inet", RECORDING / "fakeinet.jsonl"),
    ]


@pytest.fixture(scope="module")
def view(records: list[Record]) -> list[SigmaEvent]:
    return sigma_events(records)


@pytest.fixture(scope="module")
def kql_rows(records: list[Record]) -> list[dict[str, Any]]:
    """The KQL query's output over the whole recorded run (rows are attributed to atomics by time)."""
    from harness.rules.kql.engine import KqlEngine
    from harness.views.defender import defender_rows

    tables: dict[str, list[dict[str, Any]]] = {"DeviceProcessEvents": [], "DeviceNetworkEvents": []}
    for line in defender_rows(records):
        if line["table"] in tables:
            tables[line["table"]].append(line["row"])
    engine = KqlEngine()
    for table, rows in tables.items():
        engine.load_rows(table, rows)
    text = (REPO / KQL_QUERY).read_text(encoding="utf-8")
    # The query looks back 24h from now(): pin now() to just after the recording.
    return list(engine.run(text, KQL_QUERY, now=_utc("2026-11-28T06:00:00Z")).records())


def _window(view: list[dict[str, Any]], atomic: str) -> list[dict[str, Any]]:
    manifest = json.loads((RECORDING / "manifest.json").read_text(encoding="utf-8"))
    entry = next(a for a in manifest["atomics"] if a["atomic"] == atomic)
    # dnsmasq logs whole seconds: widen the window by one second on each side.
    start = _utc(entry["start_utc"]) - timedelta(seconds=1)
    end = _utc(entry["end_utc"]) + timedelta(seconds=1)
    return [e for e in view if "time" in e.get("meta", {}) and start <= _utc(e["meta"]["time"]) <= end]


def _count(signal: Signal, events: list[dict[str, Any]], args: dict[str, str]) -> int:
    return sum(1 for e in events if e["meta"]["source"] in signal.record_sources and signal.match.matches(e, args))


def _cases() -> list[tuple[str, str]]:
    technique_path = Path(__file__).resolve().parents[2] / "atomics" / "T1590.005" / "T1590.005.yaml"
    technique, signals = load(technique_path)
    cases = []
    for atomic, test_id in ATOMICS.items():
        for s in signals.for_test(technique.find(test_id)).signals:
            if s.source in RECORDED_SOURCES and s.applies_to("transparent"):
                cases.append((atomic, s.id))
    return cases


@pytest.mark.parametrize(("atomic", "signal_id"), _cases())
def test_signal_on_recorded_run(atomic: str, signal_id: str, view: list[dict[str, Any]], technique_path: Path) -> None:
    technique, signals = load(technique_path)
    test = technique.find(ATOMICS[atomic])
    signal = next(s for s in signals.for_test(test).signals if s.id == signal_id)
    events = _window(view, atomic)
    count = _count(signal, events, test.arguments(ARGS.get(test.id)))
    if signal_id in NOT_IN_RECORDING:
        assert 0 < count < signal.match.min_count, NOT_IN_RECORDING[signal_id]
    else:
        assert count >= signal.match.min_count, f"{signal_id}: {count} matching events, need {signal.match.min_count}"


def test_signals_do_not_match_the_negative_control(view: list[dict[str, Any]], technique_path: Path) -> None:
    # curl https://www.example.com/ then ls /tmp: no process, DNS, connection, file or request signal of a
    # lookup test may be present there (only the generic "curl ran" EXECVE signals are not specific).
    technique, signals = load(technique_path)
    events = _window(view, "n_negative_control")
    assert events, "negative-control window is empty"
    generic = {"arin-execve", "bgp-execve"}
    for test in technique.atomic_tests:
        for s in signals.for_test(test).signals:
            if s.id in generic or s.source not in RECORDED_SOURCES:
                continue
            assert _count(s, events, test.arguments(ARGS.get(test.id))) == 0, s.id


def test_expected_sigma_rules_fire_on_the_recorded_signals(view: list[dict[str, Any]], technique_path: Path) -> None:
    # Cross-check of the sidecar against detections/sigma: on the recorded run, every Sigma rule a
    # signal expects fires on at least one of the events that make that signal present.
    from harness.rules.sigma.engine import SigmaEngine

    engine = SigmaEngine.from_paths([str(technique_path.parents[2] / "detections" / "sigma")])
    technique, signals = load(technique_path)
    missing: list[str] = []
    checked = 0
    for atomic, test_id in ATOMICS.items():
        test = technique.find(test_id)
        args = test.arguments(ARGS.get(test.id))
        events = _window(view, atomic)
        matches = engine.match_all(events)
        for s in signals.for_test(test).signals:
            if s.source not in RECORDED_SOURCES or not s.applies_to("transparent"):
                continue
            present = {
                i for i, e in enumerate(events) if e["meta"]["source"] in s.record_sources and s.match.matches(e, args)
            }
            fired = {m.rule_id for m in matches if m.index in present}
            checked += len(s.detections.sigma)
            missing += [f"{s.id}: {rule}" for rule in s.detections.sigma if rule not in fired]
    assert checked >= 20
    assert not missing, "expected rules that did not fire:\n" + "\n".join(missing)


@pytest.mark.parametrize("atomic", [*ATOMICS, "n_negative_control"])
def test_expected_kql_branches_are_what_the_query_returns(
    atomic: str, technique_path: Path, kql_rows: list[dict[str, Any]]
) -> None:
    # Cross-check of the sidecar against detections/kql: over the recorded run's Defender view, the
    # rows timed inside each atomic's window carry exactly the DetectionBranch values it expects.
    technique, signals = load(technique_path)
    queries = {k.query for e in signals.expectations.values() for s in e.signals for k in s.detections.kql}
    assert queries == {KQL_QUERY}
    want: set[str] = set()
    if atomic in ATOMICS:
        test = technique.find(ATOMICS[atomic])
        want = {k.branch for s in signals.for_test(test).for_mode("transparent") for k in s.detections.kql}
    manifest = json.loads((RECORDING / "manifest.json").read_text(encoding="utf-8"))
    entry = next(a for a in manifest["atomics"] if a["atomic"] == atomic)
    start = _utc(entry["start_utc"]) - timedelta(seconds=1)
    end = _utc(entry["end_utc"]) + timedelta(seconds=1)
    got = {row["DetectionBranch"] for row in kql_rows if start <= _utc(row["Timestamp"]) <= end}
    assert got == want
