from __future__ import annotations

from harness.telemetry.parsers import ParseStats
from harness.telemetry.parsers.squid import HARNESS_LOGFORMAT, parse

# Native lines in Squid's documented `squid` logformat (%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un
# %Sh/%<a %mt).
NATIVE = [
    "1795844138.220    312 198.51.100.250 TCP_TUNNEL/200 5120 CONNECT api.shodan.io:443 - HIER_DIRECT/198.51.100.10 -",
    "1795844155.900     41 198.51.100.250 TCP_MISS/200 1893 GET http://bgp.he.net/AS64500 alice "
    "HIER_DIRECT/198.51.100.30 text/html",
]


def test_native_format() -> None:
    recs = list(parse(NATIVE))
    a, b = (r.fields for r in recs)
    assert (a["method"], a["host"], a["status"], a["result_code"]) == ("CONNECT", "api.shodan.io", 200, "TCP_TUNNEL")
    assert a["user"] is None and a["server_ip"] == "198.51.100.10"
    assert (b["host"], b["user"], b["mime_type"], b["bytes"]) == ("bgp.he.net", "alice", "text/html", 1893)
    assert recs[0].time == 1795844138.22


def test_harness_format_and_bad_lines() -> None:
    assert "%>rd" in HARNESS_LOGFORMAT and "%un" in HARNESS_LOGFORMAT and "{User-Agent}>h" in HARNESS_LOGFORMAT
    line = (
        "1795844144.980    120 198.51.100.250 51234 TCP_MISS/200 2048 GET "
        '"http://whois.arin.net/rest/ip/198.51.100.130?x=1" whois.arin.net - HIER_DIRECT/198.51.100.20 '
        'application/xml "curl/7.88.1" "-"'
    )
    st = ParseStats("squid")
    recs = list(parse([line, "short line", '1 2 "unterminated', "x" * 50], stats=st))
    assert len(recs) == 1
    f = recs[0].fields
    assert f["host"] == "whois.arin.net" and f["user_agent"] == "curl/7.88.1" and f["referer"] is None
    assert f["client_port"] == 51234 and f["url"].endswith("?x=1")
    assert st.unparseable == 3
