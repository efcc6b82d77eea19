"""Streaming telemetry parsers, one module per format.

Every parser yields :class:`Record` objects lazily and counts what it could not parse in a
:class:`ParseStats`; bad input is never fatal. Use :func:`parse_file` to parse a file by
format name, or a module's ``parse(lines, file=..., stats=...)`` for an iterable of lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import TelemetryError
from harness.telemetry.inputs import check_input, is_stdin, local_path
from harness.telemetry.parsers import auditd, dnsmasq, evtx, inet, nflog, squid, sysmon
from harness.telemetry.parsers.base import ParseStats, Record, iso_utc, open_lines, parse_iso

__all__ = ["FORMATS", "ParseStats", "Record", "iso_utc", "open_lines", "parse_file", "parse_iso"]

#: Format names accepted by :func:`parse_file` (and ``harness parse --format``).
FORMATS: tuple[str, ...] = ("auditd", "sysmon", "evtx", "dnsmasq", "squid", "nflog", "inet")


def _file_year(path: Path) -> int:
    try:
        if is_stdin(path):
            raise OSError("standard input has no modification time")
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).year
    except OSError:
        return datetime.now(UTC).year


def _evtx(name: str, st: ParseStats) -> Iterator[Record]:
    # The EVTX library reads a file by name: standard input or a .gz go through a temporary copy,
    # while records keep naming the input.
    with local_path(name, decompress=True, suffix=".evtx") as real:
        yield from evtx.parse(real, stats=st, file=name)


def parse_file(
    fmt: str, path: str | Path, *, stats: ParseStats | None = None, year: int | None = None
) -> Iterator[Record]:
    """Stream the records of one file in format ``fmt`` (see :data:`FORMATS`).

    ``year`` is for formats whose timestamps lack one (dnsmasq); it defaults to the year
    of the file's modification time. Raises :class:`TelemetryError` for an unknown format
    or a file that cannot be opened; everything after that is counted, not raised.
    """
    p = Path(path)
    if fmt not in FORMATS:
        raise TelemetryError(f"unknown telemetry format {fmt!r} (known: {', '.join(FORMATS)})")
    check_input(path)  # a file (gzip or plain) or "-" for standard input
    st = stats if stats is not None else ParseStats(fmt)
    name = str(p)
    if fmt == "evtx":
        return _evtx(name, st)
    if fmt == "dnsmasq":
        return dnsmasq.parse(open_lines(p), file=name, stats=st, year=year or _file_year(p))
    if fmt == "auditd":  # the C loop reads the file itself when built
        return auditd.parse_path(p, file=name, stats=st)
    line_parsers: dict[str, Callable[..., Iterator[Record]]] = {
        "sysmon": sysmon.parse,
        "squid": squid.parse,
        "nflog": nflog.parse,
        "inet": inet.parse,
    }
    return line_parsers[fmt](open_lines(p), file=name, stats=st)
