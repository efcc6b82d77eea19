from __future__ import annotations

import json
from pathlib import Path

from harness.telemetry.parsers import ParseStats, parse_file
from harness.telemetry.parsers.sysmon import parse


def test_real_recording_every_event(recording: Path) -> None:
    st = ParseStats("sysmon")
    events = list(parse_file("sysmon", recording / "sysmon.log", stats=st))
    assert (st.read, st.parsed, st.unparseable) == (350, 350, 0)
    counts: dict[int, int] = {}
    for e in events:
        counts[e.fields["EventID"]] = counts.get(e.fields["EventID"], 0) + 1
    assert counts == {1: 132, 3: 30, 4: 1, 5: 145, 11: 35, 16: 1, 23: 6}  # README's table
    assert [int(e.fields["System"]["EventRecordID"]) for e in events] == list(range(350))


def _one_line(data: Path, eid: int, needle: str = "") -> str:
    for line in (data / "sysmon-syslog.log").read_text(encoding="utf-8").split("\n"):
        if f"<EventID>{eid}</EventID>" in line and needle in line:
            return line
    raise AssertionError(eid)


def test_every_input_form_gives_the_same_event(data: Path) -> None:
    syslog = _one_line(data, 1, ">/usr/bin/nmap<")
    xml = syslog[syslog.index("<Event>") :]
    journald = json.dumps({"MESSAGE": xml, "SYSLOG_IDENTIFIER": "sysmon", "_PID": "4703"})
    journald_bytes = json.dumps({"MESSAGE": list(xml.encode()), "SYSLOG_IDENTIFIER": "sysmon"})
    sentinel = json.dumps(
        {
            "TimeGenerated": "2026-11-28T05:35:50Z",
            "Computer": "vm",
            "Facility": "user",
            "ProcessName": "sysmon",
            "SyslogMessage": xml,
        }
    )
    rfc5424 = "<14>1 2026-11-28T05:35:50.180Z vm sysmon 4703 - - " + xml
    out = list(parse([syslog, xml, journald, journald_bytes, sentinel, rfc5424]))
    assert len(out) == 6
    assert all(o.fields == out[0].fields for o in out)
    f = out[0].fields
    assert f["EventID"] == 1
    assert f["CommandLine"] == "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml"
    assert f["Image"] == "/usr/bin/nmap" and f["TerminalSessionId"] == "62"
    assert f["System"]["Computer"] == "vm" and f["System"]["Provider_Name"] == "Linux-Sysmon"


def test_bad_lines_counted(data: Path) -> None:
    good = _one_line(data, 3)
    st = ParseStats("sysmon")
    lines = [
        good,
        good[: len(good) // 2],
        "garbage",
        '{"MESSAGE": "no event"}',
        "{not json",
        good.replace("</Data>", "</Dat>", 1),
        "",
    ]
    out = list(parse(lines, file="x.log", stats=st))
    assert len(out) == 1 and out[0].fields["EventID"] == 3
    assert st.read == 6 and st.unparseable == 5
    assert {r for _f, _l, r in st.examples} >= {"truncated event (no </Event>)", "no Sysmon <Event> in line"}


def test_windows_namespaced_event_line() -> None:
    xml = (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="Microsoft-Windows-Sysmon"/><EventID>22</EventID>'
        '<TimeCreated SystemTime="2025-01-01T00:00:00.000Z"/><Computer>w</Computer></System>'
        '<EventData><Data Name="QueryName">api.shodan.io</Data>'
        '<Data Name="QueryResults">::ffff:198.51.100.10;</Data></EventData></Event>'
    )
    (rec,) = parse([xml])
    assert rec.fields["EventID"] == 22 and rec.fields["QueryName"] == "api.shodan.io"
    assert rec.time == 1735689600.0


def _sentinel_row(xml: str) -> str:
    """A Sentinel ``Syslog`` row as exported: every entity's ';' turned into a space."""
    mangled = xml
    for entity in ("&lt;", "&gt;", "&amp;", "&quot;", "&apos;"):
        mangled = mangled.replace(entity, entity[:-1] + " ")
    return json.dumps({"TimeGenerated": "2026-11-28T05:35:31Z", "Computer": "vm", "Facility": "user",
                       "ProcessName": "sysmon", "SyslogMessage": mangled})


def test_sentinel_entities_without_semicolon_parse_as_the_original(data: Path) -> None:
    # A real process-termination event of a fork-without-exec child: Image is "<unknown process>".
    syslog = _one_line(data, 5, "&lt;unknown process&gt;")
    xml = syslog[syslog.index("<Event>") :]
    row = _sentinel_row(xml)
    assert "&lt unknown process&gt " in row and "&lt;" not in row
    st = ParseStats("sysmon")
    original, sentinel = parse([syslog, row], stats=st)
    assert st.unparseable == 0
    assert sentinel.fields == original.fields
    assert sentinel.fields["Image"] == "<unknown process>"


def test_sentinel_row_of_a_plain_event_is_unchanged(data: Path) -> None:
    syslog = _one_line(data, 1, ">/usr/bin/nmap<")
    (a, b) = parse([syslog, _sentinel_row(syslog[syslog.index("<Event>") :])])
    assert a.fields == b.fields


def test_line_cut_by_syslog_size_limit_is_unparseable_not_fatal(data: Path) -> None:
    syslog = _one_line(data, 1, ">/usr/bin/nmap<")
    cut = syslog[:1024]  # rsyslog's default maximum message size
    st = ParseStats("sysmon")
    out = list(parse([cut, syslog, _sentinel_row(syslog[syslog.index("<Event>"):])[:900]], stats=st))
    assert len(out) == 1 and out[0].fields["EventID"] == 1
    assert st.read == 3 and st.unparseable == 2
    assert {r for _f, _l, r in st.examples} == {"truncated event (no </Event>)"}
