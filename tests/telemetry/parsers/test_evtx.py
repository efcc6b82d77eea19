from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.telemetry.parsers import ParseStats, parse_file
from harness.telemetry.parsers.evtx import fields_from_json

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "sigmahq" / "regression-samples"
EVTX = sorted(SAMPLES.rglob("*.evtx"))


@pytest.mark.parametrize("path", EVTX, ids=lambda p: p.parent.name)
def test_evtx_matches_the_json_export(path: Path) -> None:
    st = ParseStats("evtx")
    records = list(parse_file("evtx", path, stats=st))
    assert st.unparseable == 0 and len(records) == st.parsed >= 1
    export = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    expected = fields_from_json(export)
    assert records[0].fields == expected
    data = export["Event"]["EventData"]
    for key, value in data.items():
        assert records[0].fields[key] == value
    assert records[0].time is not None


def test_exported_xml_and_corrupt_files(tmp_path: Path) -> None:
    xml = tmp_path / "export.xml"
    event = (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="Microsoft-Windows-Sysmon"/><EventID>{eid}</EventID>'
        '<TimeCreated SystemTime="2025-01-01T00:00:00.000Z"/></System><EventData>'
        '<Data Name="Image">C:\\Windows\\System32\\curl.exe</Data></EventData></Event>'
    )
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<Events>\n'
        + event.format(eid=1)
        + "\n"
        + event.format(eid=3)
        + "\n</Events>\n",
        encoding="utf-8",
    )
    recs = list(parse_file("evtx", xml))
    assert [r.fields["EventID"] for r in recs] == [1, 3]
    assert recs[0].fields["Image"] == "C:\\Windows\\System32\\curl.exe"
    bad = tmp_path / "bad.xml"
    bad.write_text(event.format(eid=1) + "<Event><System>", encoding="utf-8")
    st = ParseStats("evtx")
    recs = list(parse_file("evtx", bad, stats=st))
    assert len(recs) == 1 and st.unparseable == 1
    corrupt = tmp_path / "corrupt.evtx"
    corrupt.write_bytes(b"ElfFile\x00" + b"\xff" * 5000)
    st = ParseStats("evtx")
    assert list(parse_file("evtx", corrupt, stats=st)) == []
    assert st.unparseable >= 1
