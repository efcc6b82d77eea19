"""The JSON records a detonation leaves: what ``AtomicRun.to_dict()`` writes into each manifest and
into run.json, and what a replay reads back. Typed here, below every layer that writes or reads them."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast

#: A JSON object as read or written (records, state files, coverage tests): its shape is checked
#: where it is read (schemas, ``from_dict``), not by the type.
JsonObject = dict[str, Any]


class CommandEntry(TypedDict):
    """One command the run sent (``CommandRecord.to_dict()``): text and output already redacted."""

    phase: str
    command: str
    exit_code: int
    stdout: str
    stderr: str
    started: str
    ended: str
    duration_s: float
    pid: int | None
    audit_session: int | None
    timed_out: bool


class RunRecord(TypedDict):
    """One atomic's run. A run that never started (an error before the detonation, a recording
    without the atomic) has only the first four keys and no commands' details."""

    id: str
    status: str
    reason: str
    commands: list[CommandEntry]
    guid: NotRequired[str]
    name: NotRequired[str]
    target: NotRequired[str]
    correlation_id: NotRequired[str]
    started: NotRequired[str]
    ended: NotRequired[str]
    duration_s: NotRequired[float]
    exit_code: NotRequired[int | None]


def as_run_record(value: object) -> RunRecord | None:
    """``value`` (a manifest's ``atomic`` read back) as a run record: it needs a string ``id`` and
    ``status``; a missing ``reason`` or ``commands`` reads as empty."""
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not isinstance(value.get("status"), str):
        return None
    if not isinstance(value.get("commands", []), list) or not isinstance(value.get("reason", ""), str):
        return None
    return cast(RunRecord, {"reason": "", "commands": [], **value})
