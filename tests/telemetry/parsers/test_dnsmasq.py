from __future__ import annotations

from pathlib import Path

from harness.telemetry.parsers import ParseStats, parse_file
from harness.telemetry.parsers.dnsmasq import parse


def test_real_query_log(data: Path) -> None:
    st = ParseStats("dnsmasq")
    recs = list(parse_file("dnsmasq", data / "dnsmasq.log", stats=st, year=2026))
    assert st.unparseable == 0 and st.parsed == 37
    queries = [r.fields for r in recs if r.fields["action"] == "query"]
    assert len(queries) == 16  # README: 16 queries
    first = queries[0]
    assert (first["serial"], first["qtype"], first["name"], first["client_ip"], first["client_port"]) == (
        1,
        "A",
        "api.shodan.io",
        "198.51.100.250",
        60623,
    )
    answers = [r.fields for r in recs if r.fields["action"] == "config"]
    assert answers[0]["answer"] == "198.51.100.10"
    assert recs[4].iso_time() == "2026-11-28T05:35:38.000Z"
    assert {
        r.fields["answer"] for r in recs if r.fields.get("name") == "whois.arin.net" and r.fields["action"] == "config"
    } == {"198.51.100.20", "NODATA-IPv6"}


def test_plain_log_queries_and_garbage() -> None:
    st = ParseStats("dnsmasq")
    lines = [
        "Nov 28 05:35:38 dnsmasq[1]: query[A] example.com from 10.0.0.2",
        "Nov 28 05:35:38 dnsmasq[1]: forwarded example.com to 1.1.1.1",
        "Nov 28 05:35:38 dnsmasq[1]: reply example.com is 93.184.216.34",
        "Nov 99 05:35:38 dnsmasq[1]: query[A] x from y",
        "garbage",
        "Nov 28 05:35:38 sshd[1]: not dnsmasq",
    ]
    recs = list(parse(lines, stats=st, year=2026))
    assert [r.fields["action"] for r in recs] == ["query", "forwarded", "reply"]
    assert recs[0].fields["client_ip"] == "10.0.0.2" and recs[0].fields["serial"] is None
    assert st.unparseable == 3
