from __future__ import annotations

import codecs
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.telemetry.parsers import ParseStats, base, iso_utc, parse_iso
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


def _reference_lines(path: Path, block: int, limit: int) -> Iterator[str]:
    """open_lines as first written (one yield per line; a cut line loses its trailing CRs
    whether or not it crossed a block edge): the spec the block version keeps."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    with open(path, "rb") as raw:
        tail, skipping = "", False
        while True:
            chunk = raw.read(block)
            text = decoder.decode(chunk, final=not chunk)
            if not text and not chunk:
                break
            parts = (tail + text).split("\n")
            tail = parts.pop()
            for part in parts:
                if skipping:
                    skipping = False
                    continue
                yield part[:limit].rstrip("\r") if len(part) > limit else part.rstrip("\r")
            if len(tail) > limit:
                if not skipping:
                    yield tail[:limit].rstrip("\r")
                skipping = True
                tail = ""
        if tail and not skipping:
            yield tail.rstrip("\r")


def test_open_lines_matches_the_line_by_line_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random files (CR, LF, invalid UTF-8, over-long lines across block edges) read the same."""
    monkeypatch.setattr(base, "MAX_LINE_CHARS", 13)
    rng = random.Random(7)
    pieces = [b"\n", b"\r", b"\r\n", b"a", b"bcd", b"\xff", b"\xc3", b"\xa9", b"\xe2\x82\xac", b"x" * 20, b"\x1d"]
    p = tmp_path / "r.log"
    for i in range(400):
        p.write_bytes(b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 60))))
        for block in (1, 3, 7, 64):
            assert list(open_lines(p, block=block)) == list(_reference_lines(p, block, 13)), (i, block)


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
