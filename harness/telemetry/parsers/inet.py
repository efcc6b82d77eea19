"""The simulated internet's request log (``fakeinet`` JSON lines).

Each line is one object with ``kind``: ``start``, ``tls_sni`` (a TLS ClientHello's SNI) or
``http`` (one request: ``host``, ``method``, ``path``, ``query``, ``status``, ``ua``/
``user_agent``, ``accept``, ``server_ip``, ``client``/``client_ip``, ``client_port``,
``tls``). Time is ``ts`` (epoch seconds), else ``time``/``utc`` (ISO 8601). Lines without
``kind`` are accepted when they look like requests (have ``host`` or ``path``). Fields are
kept as written; ``client_ip`` and ``user_agent`` are filled from the older names
``client``/``ua`` so consumers can use one spelling.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.collection import Source
from harness.telemetry.parsers.base import ParseStats, Record, json_objects, open_lines, parse_iso

SOURCE = Source.INET.value


def _time(obj: dict[str, Any]) -> float | None:
    ts = obj.get("ts")
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        return float(ts)
    for key in ("time", "utc", "timestamp"):
        value = obj.get(key)
        if isinstance(value, str):
            parsed = parse_iso(value)
            if parsed is not None:
                return parsed
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def parse(lines: Iterable[str], *, file: str = "-", stats: ParseStats | None = None) -> Iterator[Record]:
    """Stream simulated-internet log records."""
    st = stats if stats is not None else ParseStats(SOURCE)
    for n, obj in json_objects(lines, file, st):
        if "kind" not in obj:
            if "host" in obj or "path" in obj:
                obj["kind"] = "http"
            else:
                st.bad(file, n, "no 'kind' and not a request (no host/path)")
                continue
        if "client_ip" not in obj and "client" in obj:
            obj["client_ip"] = obj["client"]
        if "user_agent" not in obj and "ua" in obj:
            obj["user_agent"] = obj["ua"]
        st.parsed += 1
        yield Record(SOURCE, obj, file, n, _time(obj))


def read_file(path: Path, *, file: str, stats: ParseStats, year: int | None = None) -> Iterator[Record]:
    """:func:`parse` of a file's lines (the parser registry's entry point; ``year`` is not needed)."""
    return parse(open_lines(path), file=file, stats=stats)
