"""The validation run's records: one atomic's outcome, and the time helpers every front end shares."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.records import RunRecord

if TYPE_CHECKING:
    from harness.verdicts import AtomicVerdict


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()


def parse_now(text: str) -> dt.datetime:
    """``--now``: an ISO 8601 time (UTC when it names no zone)."""
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"--now expects an ISO 8601 time such as 2026-11-28T06:00:00Z, got {text!r}") from exc
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


@dataclass
class AtomicOutcome:
    """Everything known about one atomic of the run."""

    atomic_id: str
    name: str
    guid: str
    verdict: AtomicVerdict
    run: RunRecord
    args: dict[str, str]
    telemetry: dict[str, Any]
    sigma_hits: list[dict[str, Any]]
    kql_rows: dict[str, list[dict[str, Any]]]
    excerpts: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    kql_now: str | None = None  # the reference time KQL's now()/ago() were pinned to
