from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.telemetry.parsers import Record
from harness.views.context import ViewContext
from harness.views.defender import defender_rows
from harness.views.events import DefenderRecord, DefenderRow

_KQL_PY: dict[str, type | tuple[type, ...]] = {"string": str, "long": int, "int": int, "datetime": str, "bool": bool,
                                              "dynamic": (list, dict)}


def _rows(rows: list[DefenderRecord], table: str) -> list[DefenderRow]:
    return [r["row"] for r in rows if r["table"] == table]


def test_process_events_from_auditd(audit_records: list[Record], lab_ctx: ViewContext) -> None:
    rows = defender_rows(audit_records, lab_ctx)
    nmap = [r for r in _rows(rows, "DeviceProcessEvents") if r["FileName"] == "nmap"]
    assert len(nmap) == 1
    r = nmap[0]
    assert r["ProcessCommandLine"] == "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml"
    assert r["FolderPath"] == "/usr/bin/nmap" and r["ActionType"] == "ProcessCreated"
    assert r["AccountName"] == "root" and r["DeviceName"] == "rec-lab"
    assert r["InitiatingProcessFileName"] == "sshd" and r["ProcessId"] == 4815
    assert r["Timestamp"] == "2026-11-28T05:35:50.176Z"
    assert "AccountName" not in _rows(rows, "DeviceNetworkEvents")[0]  # the table has no such column


def test_network_events_outcome_url_and_ip_type(audit_records: list[Record], lab_ctx: ViewContext) -> None:
    rows = _rows(defender_rows(audit_records, lab_ctx), "DeviceNetworkEvents")
    https = [r for r in rows if r["RemotePort"] == 443 and r["InitiatingProcessFileName"] != "nmap"]
    by_url = {r["RemoteUrl"]: r for r in https}
    assert set(by_url) == {"api.shodan.io", "whois.arin.net", "rdap.arin.net", "bgp.he.net", "www.example.com"}
    # curl's non-blocking connect returns EINPROGRESS; python's requests connect blocks.
    assert by_url["whois.arin.net"]["ActionType"] == "ConnectionAttempt"
    assert by_url["api.shodan.io"]["ActionType"] == "ConnectionSuccess"
    assert all(r["RemoteIPType"] == "Public" and r["Protocol"] == "Tcp" for r in https)
    assert (
        by_url["bgp.he.net"]["InitiatingProcessCommandLine"]
        == "curl -s https://bgp.he.net/AS64500 -o /tmp/atomic-bgp.html"
    )
    probes = [r for r in rows if r["InitiatingProcessFileName"] == "nmap" and r["RemoteIP"] != "198.51.100.53"]
    # 99 sendto by nmap: 94 carry a SOCKADDR in the sweep range, 5 are sends on its connected DNS socket.
    assert len(probes) == 94 and {r["ActionType"] for r in probes} == {"ConnectionRequest"}
    # Without the lab configuration the documentation range is not Public.
    plain = _rows(defender_rows(audit_records, ViewContext()), "DeviceNetworkEvents")
    assert {r["RemoteIPType"] for r in plain if r["RemotePort"] == 443} == {"Reserved"}


def test_dns_and_file_rows(audit_records: list[Record], lab_ctx: ViewContext) -> None:
    rows = defender_rows(audit_records, lab_ctx)
    dns = _rows(rows, "DeviceEvents")
    assert len(dns) == 16 and {r["ActionType"] for r in dns} == {"DnsQueryResponse"}
    fields = json.loads(dns[0]["AdditionalFields"])
    assert fields["DnsQueryString"] == "api.shodan.io" and fields["DnsQueryResult"][0]["Result"] == "198.51.100.10"
    files = _rows(rows, "DeviceFileEvents")
    created = {(r["FolderPath"], r["InitiatingProcessFileName"]) for r in files if r["ActionType"] == "FileCreated"}
    assert ("/tmp/atomic-nmap-sweep.xml", "nmap") in created


def test_sysmon_rows(sysmon_records: list[Record], lab_ctx: ViewContext) -> None:
    rows = defender_rows(sysmon_records, lab_ctx)
    net = _rows(rows, "DeviceNetworkEvents")
    curl = [r for r in net if r.get("InitiatingProcessFileName") == "curl"]
    assert {r["RemoteUrl"] for r in curl} == {"whois.arin.net", "rdap.arin.net", "bgp.he.net", "www.example.com"}
    assert {r["ActionType"] for r in curl} == {"ConnectionSuccess"}
    server = [r for r in net if r["ActionType"] == "InboundConnectionAccepted"]
    assert server  # the fake internet's side, kept apart by ActionType (attribution drops it)
    procs = _rows(rows, "DeviceProcessEvents")
    nmap = next(r for r in procs if r["FileName"] == "nmap")
    assert nmap["SHA256"] and nmap["InitiatingProcessFileName"] == "sshd"


def test_columns_and_types_follow_the_kql_schema(
    audit_records: list[Record], sysmon_records: list[Record], lab_ctx: ViewContext
) -> None:
    schema = pytest.importorskip("harness.rules.kql.schema")
    offenders = []
    for rows in (defender_rows(audit_records, lab_ctx), defender_rows(sysmon_records, lab_ctx)):
        for item in rows:
            cols = dict(schema.table_columns(item["table"], "defender"))
            for col, value in item["row"].items():
                if col not in cols:
                    offenders.append((item["table"], col, "unknown column"))
                elif not isinstance(value, _KQL_PY[cols[col]]) or (
                    cols[col] in ("long", "int") and isinstance(value, bool)
                ):
                    offenders.append((item["table"], col, f"{type(value).__name__} for {cols[col]}"))
    assert sorted(set(offenders)) == []


def test_file_events_of_a_shifted_sysmon_guid_name_their_process() -> None:
    """Real lab log (tests/data/telemetry/sysmon-guid-second-shift.md): theHarvester's report files
    are written under its ProcessGuid with the start second one off; the row still names the
    process that wrote them (the command line comes from its process creation)."""
    from harness.telemetry.parsers import parse_file
    from harness.views import defender_rows

    shift = Path(__file__).resolve().parents[1] / "data" / "telemetry" / "sysmon-guid-second-shift.log.gz"
    rows = _rows(defender_rows(parse_file("sysmon", shift)), "DeviceFileEvents")
    reports = [r for r in rows if r.get("FolderPath") in ("/tmp/atomic-harvester.xml", "/tmp/atomic-harvester.json")
               and r.get("ActionType") == "FileCreated"]
    assert len(reports) == 2
    assert all("theHarvester -d example.test" in str(r.get("InitiatingProcessCommandLine")) for r in reports)
