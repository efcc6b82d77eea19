"""The common shapes every parser streams: :class:`Record` and :class:`ParseStats`."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

from harness.telemetry.inputs import open_binary

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


_ISO_SECOND: dict[int, str] = {}
_MAX_EPOCH = 253402300800.0  # 10000-01-01: beyond it datetime cannot represent the time


def iso_utc(ts: float | None) -> str | None:
    """UTC epoch seconds -> ``2026-11-28T05:35:50.134Z`` (milliseconds)."""
    if ts is None or not (0.0 <= ts < _MAX_EPOCH):  # also rejects NaN
        return None
    ms = round(ts * 1000)
    sec, milli = divmod(ms, 1000)
    head = _ISO_SECOND.get(sec)
    if head is None:
        if len(_ISO_SECOND) > 4096:  # bounded cache of formatted seconds
            _ISO_SECOND.clear()
        head = _ISO_SECOND[sec] = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{head}{milli:03d}Z"


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


def open_lines(path: str | Path, block: int = 1 << 20) -> Iterator[str]:
    """Stream a text file's lines without their line ends (``\\n`` separated: auditd's
    ``\\x1d`` and other control characters stay inside lines); undecodable bytes are
    replaced; a line longer than :data:`MAX_LINE_CHARS` is cut there (the rest of it is
    skipped), so memory stays bounded whatever the file holds. Trailing ``\\r`` are removed
    from every line (after the cut). The auditd C reader (``auditd.parse_path``) gives the
    same lines."""
    # Lines are handed out a block at a time through chain (no Python frame per line: this
    # feeds the 1 GB audit benchmark); the file is opened on the first next(), as before.
    return chain.from_iterable(_line_blocks(path, block))


def _line_blocks(path: str | Path, block: int) -> Iterator[list[str]]:
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    with open_binary(path) as raw:  # gzip or plain, a file or "-" (stdin)
        tail = ""
        skipping = False
        while True:
            chunk = raw.read(block)
            text = decoder.decode(chunk, final=not chunk)
            if not text and not chunk:
                break
            whole = tail + text
            parts = whole.split("\n")
            tail = parts.pop()
            if parts:
                if skipping:
                    skipping = False  # end of an over-long line already yielded (cut)
                    del parts[0]
                if "\r" in whole or len(whole) > MAX_LINE_CHARS:
                    cut = MAX_LINE_CHARS
                    parts = [p[:cut].rstrip("\r") if len(p) > cut else p.rstrip("\r") for p in parts]
                if parts:
                    yield parts
            if len(tail) > MAX_LINE_CHARS:
                if not skipping:
                    yield [tail[:MAX_LINE_CHARS].rstrip("\r")]
                skipping = True
                tail = ""
        if tail and not skipping:
            yield [tail.rstrip("\r")]


def numbered(lines: Iterable[str], start: int = 1) -> Iterator[tuple[int, str]]:
    """``enumerate`` with line ends stripped (accepts lines with or without them)."""
    for n, line in enumerate(lines, start):
        yield n, line.rstrip("\r\n")


def json_objects(lines: Iterable[str], file: str, st: ParseStats) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each JSON-object line; blank lines skipped, bad ones counted."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        st.read += 1
        try:
            obj = json.loads(line)
        except ValueError as exc:
            st.bad(file, n, f"invalid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            st.bad(file, n, "not a JSON object")
            continue
        yield n, obj
