from __future__ import annotations

from pathlib import Path

from harness.telemetry.parsers import ParseStats, iso_utc, parse_iso
from harness.telemetry.parsers.base import MAX_EXAMPLES, MAX_LINE_CHARS, open_lines


def test_open_lines_bounds_and_decoding(tmp_path: Path) -> None:
    p = tmp_path / "x.log"
    huge = "A" * (MAX_LINE_CHARS * 2 + 10)
    p.write_bytes(b"first\r\n" + huge.encode() + b"\nbad \xff byte\nlast")
    lines = list(open_lines(p, block=4096))
    assert lines[0] == "first"
    assert lines[1] == "A" * MAX_LINE_CHARS  # cut, and the rest of it skipped
    assert lines[2] == "bad \ufffd byte"
    assert lines[3] == "last" and len(lines) == 4


def test_open_lines_keeps_group_separator(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    p.write_text("type=X msg=audit(1.0:1): a=1\x1dA=2\nnext\n", encoding="utf-8")
    assert list(open_lines(p)) == ["type=X msg=audit(1.0:1): a=1\x1dA=2", "next"]


def test_stats_examples_are_bounded() -> None:
    st = ParseStats("x")
    for i in range(20):
        st.bad("f", i, "why")
    assert st.unparseable == 20 and len(st.examples) == MAX_EXAMPLES
    assert "... and 15 more" in st.summary()


def test_time_helpers() -> None:
    assert parse_iso("2026-11-28T05:35:31.423684000Z") == 1795844131.423684
    assert parse_iso("2026-11-28 05:35:31.423") == 1795844131.423
    assert parse_iso("nonsense") is None
    assert iso_utc(1795844150.1759) == "2026-11-28T05:35:50.176Z"
    assert iso_utc(None) is None
