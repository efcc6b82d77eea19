"""NFLOG packets as written by ulogd2's JSON output plugin (one JSON object per line).

Fields are kept under ulogd's own names (``timestamp``, ``oob.prefix``, ``oob.in``,
``src_ip``, ``dest_ip``, ``ip.protocol``, ``src_port``, ``dest_port``, ``icmp.type``, ...).
The record time is ``timestamp`` (ISO 8601; ulogd writes local time with an offset or UTC)
or ``oob.time.sec``/``oob.time.usec``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.collection import Source
from harness.telemetry.parsers.base import ParseStats, Record, json_objects, open_lines, parse_iso

SOURCE = Source.NFLOG.value


def _time(obj: dict[str, Any]) -> float | None:
    ts = obj.get("timestamp")
    if isinstance(ts, str):
        value = parse_iso(ts)
        if value is not None:
            return value
    sec = obj.get("oob.time.sec")
    if isinstance(sec, (int, float)):
        usec = obj.get("oob.time.usec")
        return float(sec) + (float(usec) / 1e6 if isinstance(usec, (int, float)) else 0.0)
    return None


def parse(lines: Iterable[str], *, file: str = "-", stats: ParseStats | None = None) -> Iterator[Record]:
    """Stream ulogd2 JSON packet records."""
    st = stats if stats is not None else ParseStats(SOURCE)
    for n, obj in json_objects(lines, file, st):
        if not ("src_ip" in obj or "dest_ip" in obj or "oob.prefix" in obj):
            st.bad(file, n, "not a ulogd2 packet record (no src_ip/dest_ip/oob.prefix)")
            continue
        st.parsed += 1
        yield Record(SOURCE, obj, file, n, _time(obj))


def read_file(path: Path, *, file: str, stats: ParseStats, year: int | None = None) -> Iterator[Record]:
    """:func:`parse` of a file's lines (the parser registry's entry point; ``year`` is not needed)."""
    return parse(open_lines(path), file=file, stats=stats)
