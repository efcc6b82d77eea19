"""Windows event logs: EVTX files (through the ``evtx`` package, pyevtx-rs) and Event
Viewer / ``wevtutil qe /f:xml`` XML exports.

Records have the same ``fields`` shape as :mod:`harness.telemetry.parsers.sysmon`
(``EventID``, the EventData fields, ``System``), with source ``evtx``. Data values keep the
JSON types the EVTX decoder gives (integers for ``ProcessId``...), as in the JSON export
SigmaHQ's regression data ships with.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.collection import Source
from harness.telemetry.inputs import local_path
from harness.telemetry.parsers.base import ParseStats, Record
from harness.telemetry.parsers.sysmon import event_from_element, event_time

SOURCE = Source.EVTX.value


def _text(value: Any) -> Any:
    if isinstance(value, dict):
        if "#text" in value:
            return value["#text"]
        return None
    return value


def fields_from_json(event: dict[str, Any]) -> dict[str, Any]:
    """Convert one EVTX JSON event (``{"Event": {"System":..., "EventData":...}}``)."""
    body = event.get("Event", event)
    system_in = body.get("System") or {}
    system: dict[str, Any] = {}
    for key, value in system_in.items():
        if key == "Provider" and isinstance(value, dict):
            attrs = value.get("#attributes") or {}
            system["Provider_Name"] = attrs.get("Name")
            if "Guid" in attrs:
                system["Provider_Guid"] = attrs["Guid"]
        elif key == "TimeCreated" and isinstance(value, dict):
            system["TimeCreated"] = (value.get("#attributes") or {}).get("SystemTime")
        elif key in ("Execution", "Security", "Correlation"):
            if isinstance(value, dict):
                for k, v in (value.get("#attributes") or {}).items():
                    system["UserID" if k in ("UserId", "UserID") else k] = v
        else:
            system[key] = _text(value)
    out: dict[str, Any] = {"EventID": system.get("EventID")}
    data = body.get("EventData")
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "#attributes":
                continue
            if key == "Data" and not isinstance(value, (str, int, float)):
                out["Data"] = value if isinstance(value, list) else [value]
            elif isinstance(value, str):
                # Windows pads some strings (ParentCommandLine) with a trailing blank; SigmaHQ's
                # exported JSON (what its rules are tested on) has them trimmed: match it.
                out[key] = value.rstrip()
            else:
                out[key] = value
    user = body.get("UserData")
    if isinstance(user, dict):
        for holder in user.values():
            if isinstance(holder, dict):
                for key, value in holder.items():
                    if key != "#attributes":
                        out[key] = value
    out["System"] = system
    return out


def parse_evtx(path: str | Path, *, stats: ParseStats | None = None, file: str | None = None) -> Iterator[Record]:
    """Stream the records of an EVTX file (corrupt chunks/records are counted, not fatal)."""
    st = stats if stats is not None else ParseStats(SOURCE)
    try:
        import evtx  # local import: a runtime dependency only this format needs
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        from harness.errors import TelemetryError

        raise TelemetryError("the 'evtx' package is required to read EVTX files") from exc
    name = str(path) if file is None else file
    try:
        parser = evtx.PyEvtxParser(str(path))
    except (OSError, RuntimeError) as exc:
        st.read += 1
        st.bad(name, 0, f"not a readable EVTX file: {exc}")
        return
    records = parser.records_json()
    index = 0
    while True:
        try:
            item = next(records)
        except StopIteration:
            return
        except (RuntimeError, OSError, ValueError) as exc:
            index += 1
            st.read += 1
            st.bad(name, index, f"corrupt EVTX record: {exc}")
            continue
        index += 1
        st.read += 1
        rec: dict[str, Any] = item if isinstance(item, dict) else {}
        number = int(rec.get("event_record_id") or index)
        try:
            fields = fields_from_json(json.loads(rec["data"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            st.bad(name, number, f"undecodable EVTX record: {exc}")
            continue
        st.parsed += 1
        yield Record(SOURCE, fields, name, number, event_time(fields))


def parse_xml_export(
    path: str | Path, *, stats: ParseStats | None = None, file: str | None = None
) -> Iterator[Record]:
    """Stream ``<Event>`` elements from an exported XML file (``<Events>`` wrapper or not,
    one or many lines), with bounded memory (each element is cleared once read)."""
    st = stats if stats is not None else ParseStats(SOURCE)
    name = str(path) if file is None else file
    count = 0
    try:
        # A wrapper root is needed when the export is a bare sequence of <Event>s.
        for _event, elem in _iter_events(Path(path)):
            count += 1
            st.read += 1
            fields = event_from_element(elem)
            elem.clear()
            st.parsed += 1
            yield Record(SOURCE, fields, name, count, event_time(fields))
    except ET.ParseError as exc:
        st.read += 1
        line = exc.position[0] if hasattr(exc, "position") else 0
        st.bad(name, line, f"invalid XML, stopped here: {exc}")


def _iter_events(path: Path) -> Iterator[tuple[str, ET.Element]]:
    class _Wrapped:
        """File-like that surrounds the content with a synthetic root element."""

        def __init__(self) -> None:
            self._parts: Iterator[bytes] = self._gen()

        def _gen(self) -> Iterator[bytes]:
            yield b"<HarnessRoot>"
            with open(path, "rb") as fh:
                head = fh.read(64 * 1024)
                # Drop an XML declaration: it is not allowed inside the wrapper.
                if head.lstrip().startswith(b"<?xml"):
                    head = head[head.find(b"?>") + 2 :]
                while head:
                    yield head
                    head = fh.read(64 * 1024)
            yield b"</HarnessRoot>"

        def read(self, _size: int = -1) -> bytes:
            return next(self._parts, b"")

    for event, elem in ET.iterparse(_Wrapped(), events=("end",)):
        if _local_tag(elem.tag) == "Event":
            yield event, elem


def _local_tag(tag: str) -> str:
    return tag.rpartition("}")[2]


def parse(path: str | Path, *, stats: ParseStats | None = None, file: str | None = None) -> Iterator[Record]:
    """EVTX or exported XML, chosen by content (EVTX files start with ``ElfFile``); records name
    ``file`` (default: ``path``)."""
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"ElfFile"):
        return parse_evtx(path, stats=stats, file=file)
    return parse_xml_export(path, stats=stats, file=file)


def read_file(path: Path, *, file: str, stats: ParseStats, year: int | None = None) -> Iterator[Record]:
    """The parser registry's entry point. The EVTX library reads a file by name: standard input or a
    .gz go through a temporary copy, while records keep naming the input."""
    with local_path(str(path), decompress=True, suffix=".evtx") as real:
        yield from parse(real, stats=stats, file=file)
