from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.telemetry.attribution import Detonation, attribute
from harness.telemetry.parsers import ParseStats, Record, parse_file, parse_iso

SOURCES = [("auditd", "audit.log"), ("sysmon", "sysmon.log"), ("dnsmasq", "dnsmasq.log"), ("inet", "fakeinet.jsonl")]


@pytest.fixture(scope="module")
def parsed(recording: Path) -> tuple[list[Record], dict[str, ParseStats], dict[str, Any]]:
    stats = {s: ParseStats(s) for s, _ in SOURCES}
    recs = [r for s, f in SOURCES for r in parse_file(s, recording / f, stats=stats[s], year=2026)]
    manifest = json.loads((recording / "manifest.json").read_text(encoding="utf-8"))
    return recs, stats, {a["atomic"]: a for a in manifest["atomics"]}


def _det(atomic: dict[str, Any]) -> Detonation:
    return Detonation(
        start=parse_iso(atomic["start_utc"]),
        end=parse_iso(atomic["end_utc"]),
        sessions=frozenset({atomic["harness_ident"]["ses"]}),
        client_addresses=frozenset({"198.51.100.250"}),
    )


# README "Counts": audit events by ses; Sysmon lineage minus the 2 SSH-transport events of the
# session's sshd (it starts before the session id is set); DNS queries x2 lines (query + answer);
# HTTP requests + their TLS SNI records.
EXPECTED = {
    "a_shodan_cli": {"auditd": 37, "sysmon": 18, "dnsmasq": 6, "inet": 6},
    "b_arin_whois_rdap": {"auditd": 38, "sysmon": 15, "dnsmasq": 8, "inet": 4},
    "c_nmap_ping_sweep": {"auditd": 114, "sysmon": 8, "dnsmasq": 10, "inet": 0},
    "d_bgp_he_asn": {"auditd": 23, "sysmon": 10, "dnsmasq": 4, "inet": 2},
    "n_negative_control": {"auditd": 26, "sysmon": 12, "dnsmasq": 4, "inet": 2},
    "z_cleanup": {"auditd": 20, "sysmon": 14, "dnsmasq": 0, "inet": 0},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_atomic_gets_exactly_its_telemetry(parsed: Any, name: str) -> None:
    recs, stats, atomics = parsed
    res = attribute(recs, _det(atomics[name]), stats)
    kept = {src: c.kept for src, c in res.counts.items()}
    assert kept == EXPECTED[name]
    for src, c in res.counts.items():
        assert c.kept + c.dropped_unrelated == c.records
        assert c.read == stats[src].read and c.unparseable == 0
    # Nothing of another session leaks in.
    ses = atomics[name]["harness_ident"]["ses"]
    for rec in res.kept:
        if rec.source == "auditd":
            assert {r.get("ses") for r in rec.fields["records"] if "ses" in r} <= {ses}
        if rec.source == "sysmon" and rec.fields["EventID"] == 1:
            # Children of session processes may carry no session (unset) but never another one.
            assert rec.fields["TerminalSessionId"] in (ses, "4294967295")


def test_nmap_sweep_keeps_all_probes_and_the_command(parsed: Any) -> None:
    recs, stats, atomics = parsed
    res = attribute(recs, _det(atomics["c_nmap_ping_sweep"]), stats)
    sendto = [
        r
        for r in res.kept
        if r.source == "auditd"
        and any(x.get("SYSCALL") == "sendto" and x.get("comm") == "nmap" for x in r.fields["records"])
    ]
    # 107 sendto in session 62 (README), 8 of them by the session's sshd: 99 probes by nmap.
    assert len(sendto) == 99
    cmd = [r.fields["CommandLine"] for r in res.kept if r.source == "sysmon" and r.fields["EventID"] == 1]
    assert "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml" in cmd


def test_process_tree_and_time_window_fallback(parsed: Any) -> None:
    recs, _stats, atomics = parsed
    a = atomics["d_bgp_he_asn"]
    shell = int(a["harness_ident"]["shell_pid"])
    sshd = int(a["harness_ident"]["sshd_pid"])
    by_tree = attribute(recs, Detonation(root_pids=frozenset({sshd})))
    assert by_tree.method["auditd"] == "session/process tree"
    assert by_tree.counts["auditd"].kept >= 20
    assert shell not in (sshd,)
    window = attribute(recs, Detonation(start=parse_iso(a["start_utc"]), end=parse_iso(a["end_utc"])))
    assert window.method["auditd"] == "time window"
    assert 0 < window.counts["auditd"].kept < window.counts["auditd"].records


def test_requests_through_the_proxy_are_attributed_by_x_forwarded_for() -> None:
    from harness.telemetry.attribution import Detonation, attribute
    from harness.telemetry.parsers.base import Record

    rec = Record(source="inet", fields={"client_ip": "198.51.100.249", "x_forwarded_for": "198.51.100.250",
                                         "event": "http", "kind": "http"}, file="inet.jsonl", line=1, time=10.0)
    other = Record(source="inet", fields={"client_ip": "198.51.100.249", "x_forwarded_for": "198.51.100.7",
                                           "event": "http", "kind": "http"}, file="inet.jsonl", line=2, time=10.0)
    det = Detonation(start=9.0, end=11.0, client_addresses=frozenset({"198.51.100.250"}))
    result = attribute([rec, other], det)
    assert result.kept == [rec]


SHIFT = Path(__file__).resolve().parents[1] / "data" / "telemetry" / "sysmon-guid-second-shift.log.gz"
HARVESTER_GUIDS = ("{3d1219c7-598d-6b12-55a1-d58023560000}", "{3d1219c7-598c-6b12-55a1-d58023560000}")


def test_a_sysmon_guid_one_second_off_stays_in_the_lineage() -> None:
    """Real lab log: theHarvester's later events carry its ProcessGuid with the start second one less
    (Sysmon recomputes it from /proc): they are the same process (same pid), and are kept."""
    records = list(parse_file("sysmon", SHIFT))
    python = [r for r in records if r.fields.get("ProcessId") == "8728"]
    assert {r.fields.get("ProcessGuid") for r in python} == set(HARVESTER_GUIDS)
    det = Detonation(sessions=frozenset({"3883"}), root_pids=frozenset({8726, 8752, 8755}))
    kept = attribute(records, det).kept
    assert all(r in kept for r in python)
    reports = [r.fields.get("TargetFilename") for r in kept if str(r.fields.get("EventID")) == "11"]
    assert {"/tmp/atomic-harvester.xml", "/tmp/atomic-harvester.json"} <= set(reports)
    # the simulated internet's server, outside the detonation, stays out (a shifted GUID of another
    # pid: test_a_shifted_guid_of_another_pid_is_not_the_same_process)
    assert not any(r.fields.get("ProcessId") == "8174" for r in kept)


def test_a_shifted_guid_of_another_pid_is_not_the_same_process() -> None:
    head = '<14>Dec  4 06:11:25 sysmon: <Event><System><Provider Name="Linux-Sysmon"/><EventID>{eid}</EventID>' \
           '<TimeCreated SystemTime="2026-12-04T06:11:25.000000000Z"/><Computer>vm</Computer></System><EventData>'
    create = head.format(eid=1) + ('<Data Name="ProcessGuid">{3d1219c7-598d-6b12-55a1-d58023560000}</Data>'
                                   '<Data Name="ProcessId">8728</Data>'
                                   '<Data Name="ParentProcessId">8726</Data><Data Name="TerminalSessionId">3883</Data>'
                                   '</EventData></Event>')
    other = head.format(eid=11) + ('<Data Name="ProcessGuid">{3d1219c7-598c-6b12-55a1-d58023560000}</Data>'
                                   '<Data Name="ProcessId">9999</Data><Data Name="TargetFilename">/tmp/x</Data>'
                                   '</EventData></Event>')
    from harness.telemetry.parsers.sysmon import parse

    records = list(parse([create, other]))
    assert len(records) == 2
    kept = attribute(records, Detonation(sessions=frozenset({"3883"}))).kept
    assert [r.fields.get("EventID") for r in kept] == [1]
