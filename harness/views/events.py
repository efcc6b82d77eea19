"""The shapes the views hand on: to the engines, the verdicts and the evidence files.

A Sigma event (one line of ``sigma.jsonl``) is ``{"logsource", "event", "meta"}``; a Defender
record (one line of ``defender.jsonl``) is ``{"table", "row"}``. The envelopes are fixed and typed
here. What they carry is not: an event's fields are whatever its source logged (a Sysmon
``<Data>``, an audit record's keys, decoded), and a row's columns are its table's (the schemas are
in ``harness.rules.kql.schema``), so those two maps stay ``dict[str, Any]``: arbitrary JSON.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast

#: An event's Sigma fields (field name -> JSON value), as its source logged them.
Fields = dict[str, Any]
#: A Defender row (column -> JSON value); the columns are its table's.
DefenderRow = dict[str, Any]


class LogSource(TypedDict):
    """Sigma's logsource triple; None where the source has no such part."""

    product: str | None
    service: str | None
    category: str | None


class EventMeta(TypedDict):
    """Where an event came from: the source, the raw file and line, the record's instant (ISO UTC)."""

    source: str
    file: str
    line: int
    time: str | None


class SigmaEvent(TypedDict):
    logsource: LogSource
    event: Fields
    meta: NotRequired[EventMeta]  # absent when the view is asked for events only (sigma scan)


class DefenderRecord(TypedDict):
    table: str
    row: DefenderRow


def as_sigma_event(value: object) -> SigmaEvent | None:
    """``value`` (a ``sigma.jsonl`` line read back) when it has a Sigma event's envelope."""
    if (isinstance(value, dict) and isinstance(value.get("logsource"), dict) and isinstance(value.get("event"), dict)
            and isinstance(value.get("meta", {}), dict)):
        return cast(SigmaEvent, value)
    return None


def as_defender_record(value: object) -> DefenderRecord | None:
    """``value`` (a ``defender.jsonl`` line read back) when it is ``{"table": str, "row": {...}}``."""
    if isinstance(value, dict) and isinstance(value.get("table"), str) and isinstance(value.get("row"), dict):
        return cast(DefenderRecord, value)
    return None
