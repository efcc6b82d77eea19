"""Streaming parser for Sysmon events (Sysmon for Linux and Windows Sysmon XML).

One ``<Event>`` per input line, in any of the forms Sysmon for Linux telemetry is found in;
the form is detected per line:

* bare XML (``<Event>...</Event>``, with or without the Windows event namespace);
* behind a syslog prefix (``<14>Nov 28 05:35:31 sysmon: <Event>...``, RFC 5424, or a
  ``host sysmon[pid]:`` header);
* journald JSON (``journalctl -o json``: the XML is in ``MESSAGE``, a string or a byte list);
* rows of Microsoft Sentinel's ``Syslog`` table as JSON (the XML is in ``SyslogMessage``; its
  entities may have lost their ``;``, which is restored).

A line cut short (syslog's size limit) is counted as unparseable, never fatal.

Each event becomes a :class:`Record` whose ``fields`` are ``EventID`` (int), every
``<EventData><Data Name=...>`` as its own key (text, ``-`` kept as Sysmon wrote it), and
``System``: the header (Provider_Name, Computer, Channel, EventRecordID, TimeCreated,
ProcessID, ThreadID, UserID, ...). Events with unnamed ``<Data>`` keep them in ``Data`` (a
list); ``<UserData>`` children are flattened.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.collection import Source
from harness.telemetry.parsers.base import ParseStats, Record, open_lines, parse_iso

SOURCE = Source.SYSMON.value
#: Microsoft Sentinel's ``Syslog`` table stores Sysmon's XML with each entity's ``;`` turned into a
#: space (``&lt unknown process&gt ``). Valid XML never has ``&lt`` without its ``;``, so the repair
#: is tried only on a line that does not parse as it is.
_SPACED_ENTITY = re.compile(r"&(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+) ")


def repair_entities(xml: str) -> str:
    """Restore the ``;`` of entities whose ``;`` became a space (Sentinel's ``Syslog`` rows)."""
    return _SPACED_ENTITY.sub(r"&\1;", xml)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2] if tag[:1] == "{" else tag


def event_from_element(root: ET.Element) -> dict[str, Any]:
    """Turn an ``<Event>`` element into the flat field dict described in the module doc."""
    system: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    unnamed: list[str] = []
    for section in root:
        name = _local(section.tag)
        if name == "System":
            for child in section:
                cname = _local(child.tag)
                if cname == "Provider":
                    system["Provider_Name"] = child.get("Name")
                    if child.get("Guid") is not None:
                        system["Provider_Guid"] = child.get("Guid")
                elif cname == "TimeCreated":
                    system["TimeCreated"] = child.get("SystemTime")
                elif cname in ("Execution", "Security", "Correlation"):
                    for k, v in child.attrib.items():
                        system["UserID" if k in ("UserId", "UserID") else k] = v
                else:
                    system[cname] = (child.text or "").strip()
        elif name == "EventData":
            for data in section:
                dname = data.get("Name")
                text = data.text if data.text is not None else ""
                if dname is None:
                    unnamed.append(text)
                else:
                    fields[dname] = text
        elif name == "UserData":
            for holder in section:
                for child in holder:
                    fields[_local(child.tag)] = child.text or ""
    raw_id = system.get("EventID", "")
    try:
        event_id: int | str = int(raw_id)
    except (TypeError, ValueError):
        event_id = raw_id
    out: dict[str, Any] = {"EventID": event_id}
    out.update(fields)
    if unnamed:
        out["Data"] = unnamed
    out["System"] = system
    return out


def event_time(fields: dict[str, Any]) -> float | None:
    """UTC time of a Sysmon event: ``System.TimeCreated``, else ``UtcTime``."""
    system = fields.get("System") or {}
    for text in (system.get("TimeCreated"), fields.get("UtcTime")):
        if isinstance(text, str):
            ts = parse_iso(text)
            if ts is not None:
                return ts
    return None


def _xml_of_line(line: str) -> str | None:
    """Find the event XML inside one line of any supported form (``None``: no event)."""
    s = line.lstrip()
    if s[:1] == "{":
        try:
            obj = json.loads(s)
        except ValueError:
            # A JSON row cut short keeps its event's start: report it as a truncated event.
            return s[s.find("<Event") :] if "<Event" in s else None
        if not isinstance(obj, dict):
            return None
        for key in ("SyslogMessage", "MESSAGE", "message", "Message"):
            msg = obj.get(key)
            if isinstance(msg, list):  # journald: non-UTF-8 messages are byte arrays
                try:
                    msg = bytes(msg).decode("utf-8", "replace")
                except (TypeError, ValueError):
                    return None
            if isinstance(msg, str) and "<Event" in msg:
                return msg[msg.find("<Event") :]
        return None
    start = s.find("<Event")
    if start < 0 or s.startswith("<Events", start):
        start = s.find("<Event>") if "<Event>" in s else s.find("<Event ")
        if start < 0:
            return None
    return s[start:]


_GUID = re.compile(r"\{([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}")


def guid_neighbours(guid: str) -> tuple[str, ...]:
    """The same Sysmon for Linux ProcessGuid with its seconds one less and one more.

    Sysmon builds a process GUID from the machine id, the process start time in whole seconds
    (bytes 4-7, little-endian: the second and third groups) and a process key
    (SysmonCommon/eventsCommon.cpp, GenerateUniqueId). The process-creation event takes the start
    time from eBPF; a later event of a process its cache does not hold recomputes it from
    /proc/PID/stat, in clock ticks plus an estimate of the boot time (SysmonForLinux/linuxHelpers.cpp,
    GetProcessInfo), which can fall in the previous or next second: seen in the lab, theHarvester's
    file events carried {...-598c-6b12-...} while its process creation said {...-598d-6b12-...}.
    Empty for a value that is not a GUID."""
    m = _GUID.fullmatch(guid.strip())
    if m is None:
        return ()
    machine, low, high, rest = (g.lower() for g in m.groups())
    seconds = int(high + low, 16)
    out = []
    for s in (seconds - 1, seconds + 1):
        if 0 <= s <= 0xFFFFFFFF:
            out.append(f"{{{machine}-{s & 0xFFFF:04x}-{s >> 16:04x}-{rest}}}")
    return tuple(out)


def parse(lines: Iterable[str], *, file: str = "-", stats: ParseStats | None = None) -> Iterator[Record]:
    """Stream Sysmon events from lines in any of the supported forms."""
    st = stats if stats is not None else ParseStats(SOURCE)
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        st.read += 1
        xml = _xml_of_line(line)
        if xml is None:
            st.bad(file, n, "no Sysmon <Event> in line")
            continue
        end = xml.rfind("</Event>")
        if end < 0:
            st.bad(file, n, "truncated event (no </Event>)")
            continue
        try:
            root = ET.fromstring(xml[: end + 8])
        except ET.ParseError as exc:
            try:
                root = ET.fromstring(repair_entities(xml[: end + 8]))
            except ET.ParseError:
                st.bad(file, n, f"invalid XML: {exc}")
                continue
        fields = event_from_element(root)
        st.parsed += 1
        yield Record(SOURCE, fields, file, n, event_time(fields))


def read_file(path: Path, *, file: str, stats: ParseStats, year: int | None = None) -> Iterator[Record]:
    """:func:`parse` of a file's lines (the parser registry's entry point; ``year`` is not needed)."""
    return parse(open_lines(path), file=file, stats=stats)
