"""Verdicts: what the harness concludes about each expected signal of each detonation.

Sigma and KQL are judged separately (:class:`EngineVerdict`); a signal's overall verdict is the
worse of the two. The verdict vocabulary is the product's contract with its users and auditors.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Verdict(enum.StrEnum):
    ALERTED = "ALERTED"  # telemetry present and every detection the expectation names fired on it
    OBSERVED = "OBSERVED"  # telemetry present; the expectation names no detection (telemetry-only signal)
    TELEMETRY_ONLY = "TELEMETRY_ONLY"  # telemetry present, a named detection did not fire on it
    NO_TELEMETRY = "NO_TELEMETRY"  # the sensor is there, the expected telemetry is not
    SENSOR_UNAVAILABLE = "SENSOR_UNAVAILABLE"  # optional sensor absent on the target: skipped, reported
    PREREQ_MISSING = "PREREQ_MISSING"  # the atomic's prerequisite is missing: skipped with its reason
    EXECUTION_FAILED = "EXECUTION_FAILED"  # the detonation exited non-zero or timed out
    ERROR = "ERROR"  # lab, infrastructure, mandatory sensor or engine failure
    NOT_JUDGED = "NOT_JUDGED"  # engine verdict only: the expectation names no detection of this engine
    FALSE_POSITIVE = "FALSE_POSITIVE"  # negative control only: a detection fired on benign activity
    CLEAN = "CLEAN"  # negative control only: no detection fired


#: Verdicts that make a test pass.
PASSING = frozenset({Verdict.ALERTED, Verdict.OBSERVED, Verdict.CLEAN, Verdict.NOT_JUDGED})
#: Verdicts that make a test skip (with the reason), never pass silently.
SKIPPING = frozenset({Verdict.SENSOR_UNAVAILABLE, Verdict.PREREQ_MISSING})
#: Order of badness when combining verdicts (later is worse).
_RANK = [
    Verdict.NOT_JUDGED, Verdict.CLEAN, Verdict.ALERTED, Verdict.OBSERVED, Verdict.SENSOR_UNAVAILABLE,
    Verdict.PREREQ_MISSING, Verdict.TELEMETRY_ONLY, Verdict.NO_TELEMETRY, Verdict.FALSE_POSITIVE,
    Verdict.EXECUTION_FAILED, Verdict.ERROR,
]


def worst(*verdicts: Verdict) -> Verdict:
    """The worst of ``verdicts`` (NOT_JUDGED when none)."""
    return max(verdicts, key=_RANK.index, default=Verdict.NOT_JUDGED)


@dataclass(frozen=True)
class RuleResult:
    """One named detection as judged on one signal: how often it matched the detonation at all and
    how often on the signal's own telemetry."""

    rule: str  # Sigma rule id or "<query file>#<DetectionBranch>"
    title: str
    loaded: bool
    matches_total: int
    matches_on_signal: int
    events: tuple[dict[str, Any], ...] = ()  # matched events (Sigma) / result rows (KQL) on the signal, capped

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": self.title,
            "loaded": self.loaded,
            "matches_total": self.matches_total,
            "matches_on_signal": self.matches_on_signal,
            "events": list(self.events),
        }


@dataclass(frozen=True)
class EngineVerdict:
    engine: str  # sigma | kql
    verdict: Verdict
    rules: tuple[RuleResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "verdict": str(self.verdict), "rules": [r.to_dict() for r in self.rules]}


@dataclass(frozen=True)
class SignalVerdict:
    """One expected signal's verdict, with the evidence that decided it."""

    signal_id: str
    description: str
    source: str
    sensor: str
    verdict: Verdict
    sigma: EngineVerdict
    kql: EngineVerdict
    telemetry_count: int
    min_count: int
    reason: str = ""
    seen: dict[str, int] = field(default_factory=dict)  # events per meta.source in the detonation
    examples: tuple[dict[str, Any], ...] = ()  # a few matching events (or near ones when none matched)

    @property
    def passed(self) -> bool:
        return self.verdict in PASSING

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.signal_id,
            "description": self.description,
            "source": self.source,
            "sensor": self.sensor,
            "verdict": str(self.verdict),
            "reason": self.reason,
            "telemetry": {"matching_events": self.telemetry_count, "min_count": self.min_count,
                          "events_by_source": dict(self.seen)},
            "sigma": self.sigma.to_dict(),
            "kql": self.kql.to_dict(),
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class AtomicVerdict:
    """All signal verdicts of one atomic on one target, and the atomic's own outcome."""

    atomic_id: str
    name: str
    target: str
    run_status: str
    run_reason: str
    verdict: Verdict
    signals: tuple[SignalVerdict, ...]
    rules_ran: dict[str, dict[str, int]] = field(default_factory=dict)  # engine -> rule -> matches
    engine_errors: tuple[str, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "atomic_id": self.atomic_id,
            "name": self.name,
            "target": self.target,
            "run_status": self.run_status,
            "run_reason": self.run_reason,
            "verdict": str(self.verdict),
            "reason": self.reason,
            "signals": [s.to_dict() for s in self.signals],
            "rules_ran": {k: dict(v) for k, v in self.rules_ran.items()},
            "engine_errors": list(self.engine_errors),
        }
