"""The common shapes every parser streams: :class:`Record` and :class:`ParseStats`."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: How many unparseable-line examples a :class:`ParseStats` keeps (the count is always exact).
MAX_EXAMPLES = 5
#: Lines longer than this are cut before parsing: a corrupt file must not exhaust memory.
MAX_LINE_CHARS = 1 << 20


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed record (or, for auditd, one event grouped by serial).

    ``fields`` holds the source's own field names (the raw view). ``time`` is UTC seconds
    since the epoch (``None`` when the source carries no usable timestamp). ``line`` is the
    1-based line of the record's first input line (for EVTX: the record number).
    """

    source: str
    fields: dict[str, Any]
    file: str
    line: int
    time: float | None

    def iso_time(self) -> str | None:
        """``time`` as ISO 8601 UTC with milliseconds and a ``Z`` suffix."""
        return iso_utc(self.time)

    def to_raw(self) -> dict[str, Any]:
        """The raw view: the record's own fields plus where it came from."""
        return {
            "source": self.source,
            "fields": self.fields,
            "meta": {"file": self.file, "line": self.line, "time": self.iso_time()},
        }


@dataclass(slots=True)
class ParseStats:
    """Counts for one source: lines (or records) read, records produced, lines unparseable.

    ``examples`` keeps the first :data:`MAX_EXAMPLES` problems as ``(file, line, reason)``.
    """

    source: str
    read: int = 0
    parsed: int = 0
    unparseable: int = 0
    truncated: int = 0  # records kept with their cut-off last field dropped
    examples: list[tuple[str, int, str]] = field(default_factory=list)

    def bad(self, file: str, line: int, reason: str) -> None:
        """Count one unparseable line and keep it as an example if there is room."""
        self.unparseable += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((file, line, reason))

    def merge(self, other: ParseStats) -> None:
        """Add another stats object's counts (same source) into this one."""
        self.read += other.read
        self.parsed += other.parsed
        self.unparseable += other.unparseable
        self.truncated += other.truncated
        room = MAX_EXAMPLES - len(self.examples)
        if room > 0:
            self.examples.extend(other.examples[:room])

    def summary(self) -> str:
        """One line plus one line per kept example, for stderr."""
        head = f"{self.source}: read {self.read}, parsed {self.parsed}, unparseable {self.unparseable}"
        if self.truncated:
            head += f", truncated {self.truncated}"
        lines = [head]
        lines.extend(f"  {f}:{n}: {reason}" for f, n, reason in self.examples)
        if self.unparseable > len(self.examples):
            lines.append(f"  ... and {self.unparseable - len(self.examples)} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for manifests)."""
        return {
            "source": self.source,
            "read": self.read,
            "parsed": self.parsed,
            "unparseable": self.unparseable,
            "truncated": self.truncated,
            "examples": [{"file": f, "line": n, "reason": r} for f, n, r in self.examples],
        }


def iso_utc(ts: float | None) -> str | None:
    """UTC epoch seconds -> ``2026-11-28T05:35:50.134Z`` (milliseconds)."""
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> float | None:
    """Parse an ISO 8601 / Sysmon UTC timestamp (``2026-11-28 05:35:31.423`` or with ``T``/``Z``,
    up to nanoseconds) into epoch seconds; ``None`` when it is not one."""
    t = text.strip()
    if not t:
        return None
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    # Python accepts at most 6 fractional digits: cut nanoseconds.
    dot = t.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(t) and t[end].isdigit():
            end += 1
        frac = t[dot + 1 : end][:6]
        t = t[: dot + 1] + frac + t[end:] if frac else t[:dot] + t[end:]
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def open_lines(path: str | Path) -> Iterator[str]:
    """Stream a text file's lines without their line ends; undecodable bytes are replaced,
    over-long lines cut at :data:`MAX_LINE_CHARS` (never the whole file in memory)."""
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        while True:
            line = text.readline(MAX_LINE_CHARS)
            if not line:
                return
            if not line.endswith("\n") and len(line) >= MAX_LINE_CHARS:
                # Drain the rest of the over-long line so the next read starts on a new one.
                while True:
                    rest = text.readline(MAX_LINE_CHARS)
                    if not rest or rest.endswith("\n"):
                        break
            yield line.rstrip("\r\n")


def numbered(lines: Iterable[str], start: int = 1) -> Iterator[tuple[int, str]]:
    """``enumerate`` with line ends stripped (accepts lines with or without them)."""
    for n, line in enumerate(lines, start):
        yield n, line.rstrip("\r\n")
