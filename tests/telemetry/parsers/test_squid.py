"""Squid access logs: real lines written by Squid 5.7 (Debian 12) on loopback, in the native
format and in HARNESS_LOGFORMAT (tests/data/telemetry/squid-*.log), plus malformed lines."""

from __future__ import annotations

from pathlib import Path

from harness.telemetry.parsers import ParseStats, parse_file
from harness.telemetry.parsers.squid import HARNESS_LOGFORMAT, SQUID_CONF_LINES, parse


def test_native_format(data: Path) -> None:
    st = ParseStats("squid")
    recs = [r.fields for r in parse_file("squid", data / "squid-native.log", stats=st)]
    assert st.unparseable == 0 and len(recs) == 5
    first, _, connect, _, post = recs
    assert (first["method"], first["host"], first["status"], first["result_code"]) == (
        "GET",
        "127.0.0.1",
        404,
        "TCP_MISS",
    )
    # Squid's default strip_query_terms: the query (and any key in it) is never logged.
    assert first["url"] == "http://127.0.0.1:8099/rest/ip/198.51.100.130?"
    assert (connect["method"], connect["host"], connect["status"]) == ("CONNECT", "127.0.0.1", 503)
    assert connect["mime_type"] is None and connect["user"] is None
    assert post["method"] == "POST" and post["bytes"] == 631


def test_harness_format(data: Path) -> None:
    assert "%>rd" in HARNESS_LOGFORMAT and "%un" in HARNESS_LOGFORMAT and "{User-Agent}>h" in HARNESS_LOGFORMAT
    assert SQUID_CONF_LINES[0] == f"logformat harness {HARNESS_LOGFORMAT}"
    st = ParseStats("squid")
    recs = [r.fields for r in parse_file("squid", data / "squid-harness.log", stats=st)]
    assert st.unparseable == 0 and len(recs) == 5
    assert recs[0]["client_port"] == 39324 and recs[0]["user_agent"] == "curl/7.88.1" and recs[0]["referer"] is None
    assert recs[1]["host"] == "localhost" and recs[1]["referer"] == "http://example.test/"
    assert recs[3]["user_agent"] == 'python-requests/2.34.2 "q"'  # Squid's \" escape undone


def test_bad_lines() -> None:
    st = ParseStats("squid")
    assert list(parse(["short line", '1 2 "unterminated', "x" * 50, ""], file="a.log", stats=st)) == []
    assert st.read == 3 and st.unparseable == 3
