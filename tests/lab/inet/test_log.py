"""The request log's redaction and record shape."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from harness.lab.inet.log import RequestLog, redact_query
from harness.telemetry.parsers import inet as inet_parser


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("key=SECRET", "key=<redacted>"),
        (
            "query=net%3A198.51.100.128%2F28&minify=False&key=SECRET",
            "query=net%3A198.51.100.128%2F28&minify=False&key=<redacted>",
        ),
        ("KEY=SECRET&Api_Key=S2&token=S3&keyword=ok", "KEY=<redacted>&Api_Key=<redacted>&token=<redacted>&keyword=ok"),
        ("%6Bey=SECRET", "%6Bey=<redacted>"),  # percent-encoded name is still the key
        ("key", "key"),
        ("a=1&&b=2", "a=1&&b=2"),
    ],
)
def test_redact_query(raw: str, expected: str) -> None:
    assert redact_query(raw) == expected
    assert "SECRET" not in redact_query(raw)


def test_records_are_one_json_object_per_line_across_threads(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "x.jsonl")

    def burst(n: int) -> None:
        for i in range(200):
            log.write("http", host="h", path=f"/{n}/{i}", query="", status=200)

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    lines = (tmp_path / "x.jsonl").read_text().splitlines()
    assert len(lines) == 800
    recs = [json.loads(line) for line in lines]
    assert all(r["kind"] == r["event"] == "http" and r["utc"] == r["time"] and r["time"].endswith("Z") for r in recs)
    # µs precision ISO 8601
    assert len(recs[0]["time"]) == len("2026-11-28T05:35:38.220113Z")


def test_telemetry_parser_reads_live_and_recorded_logs(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "live.jsonl")
    log.write(
        "http",
        host="api.shodan.io",
        path="/api-info",
        query="key=<redacted>",
        status=200,
        ua="python-requests/2",
        user_agent="python-requests/2",
        client="198.51.100.250",
        client_ip="198.51.100.250",
    )
    log.close()
    recorded = Path(__file__).resolve().parents[2] / "data/recordings/sysmon-linux-lab-2026-11-28/fakeinet.jsonl"
    for path in (tmp_path / "live.jsonl", recorded):
        recs = list(inet_parser.parse(path.read_text().splitlines(), file=str(path)))
        http = [r for r in recs if r.fields["kind"] == "http"]
        assert http and all(r.fields["user_agent"] and r.fields["client_ip"] and r.time for r in http)
