from __future__ import annotations

from pathlib import Path

from harness.telemetry.parsers import ParseStats, parse_file
from harness.telemetry.parsers.inet import parse


def test_real_log(recording: Path) -> None:
    st = ParseStats("inet")
    recs = list(parse_file("inet", recording / "fakeinet.jsonl", stats=st))
    assert st.unparseable == 0 and st.parsed == 15
    http = [r.fields for r in recs if r.fields["kind"] == "http"]
    assert {h["host"] for h in http} >= {"api.shodan.io", "whois.arin.net", "bgp.he.net"}
    assert http[0]["client_ip"] == "198.51.100.250" and http[0]["user_agent"].startswith("python-requests/")
    assert recs[1].fields["sni"] == "api.shodan.io" and recs[1].time == 1795844138.217


def test_newer_field_names_and_bad_lines() -> None:
    st = ParseStats("inet")
    lines = [
        '{"time": "2026-11-28T05:35:38.220Z", "host": "bgp.he.net", "path": "/AS64500", "query": "",'
        ' "method": "GET", "status": 200, "sni": "bgp.he.net", "user_agent": "curl/7.88.1",'
        ' "client_ip": "198.51.100.250", "client_port": 40000, "server_ip": "198.51.100.30"}',
        "{broken",
        "[1, 2]",
        '{"foo": 1}',
    ]
    recs = list(parse(lines, stats=st))
    assert len(recs) == 1 and recs[0].fields["kind"] == "http"
    assert recs[0].iso_time() == "2026-11-28T05:35:38.220Z"
    assert st.unparseable == 3
