"""Streaming telemetry parsers, one module per format.

Every parser yields :class:`Record` objects lazily and counts what it could not parse in a
:class:`ParseStats`; bad input is never fatal. Use :func:`parse_file` to parse a file by
format name, or a module's ``parse(lines, file=..., stats=...)`` for an iterable of lines.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from harness.collection import Source
from harness.errors import TelemetryError
from harness.telemetry.inputs import check_input
from harness.telemetry.parsers.base import ParseStats, Record, iso_utc, open_lines, parse_iso

__all__ = ["FORMATS", "READERS", "ParseStats", "Record", "iso_utc", "open_lines", "parse_file", "parse_iso"]


class FileReader(Protocol):
    """A parser module's ``read_file``: the records of one file (``year`` for formats without one)."""

    def __call__(self, path: Path, *, file: str, stats: ParseStats, year: int | None = None) -> Iterator[Record]: ...


#: format -> the module whose ``read_file`` parses it; imported only when a file of that format is read
#: (the EVTX library, for one, stays unloaded otherwise).
READERS: dict[Source, str] = {
    Source.AUDITD: "harness.telemetry.parsers.auditd",
    Source.SYSMON: "harness.telemetry.parsers.sysmon",
    Source.EVTX: "harness.telemetry.parsers.evtx",
    Source.DNSMASQ: "harness.telemetry.parsers.dnsmasq",
    Source.SQUID: "harness.telemetry.parsers.squid",
    Source.NFLOG: "harness.telemetry.parsers.nflog",
    Source.INET: "harness.telemetry.parsers.inet",
}

#: Format names accepted by :func:`parse_file` (and ``harness parse --format``).
FORMATS: tuple[str, ...] = tuple(s.value for s in READERS)


def reader(fmt: str) -> FileReader:
    """The ``read_file`` of format ``fmt`` (raises :class:`TelemetryError` for an unknown format)."""
    if fmt not in FORMATS:
        raise TelemetryError(f"unknown telemetry format {fmt!r} (known: {', '.join(FORMATS)})")
    fn: FileReader = importlib.import_module(READERS[Source(fmt)]).read_file
    return fn


def parse_file(
    fmt: str, path: str | Path, *, stats: ParseStats | None = None, year: int | None = None
) -> Iterator[Record]:
    """Stream the records of one file in format ``fmt`` (see :data:`FORMATS`).

    ``year`` is for formats whose timestamps lack one (dnsmasq); it defaults to the year
    of the file's modification time. Raises :class:`TelemetryError` for an unknown format
    or a file that cannot be opened; everything after that is counted, not raised.
    """
    read = reader(fmt)
    check_input(path)  # a file (gzip or plain) or "-" for standard input
    p = Path(path)
    return read(p, file=str(p), stats=stats if stats is not None else ParseStats(fmt), year=year)
