"""Telemetry-first verdicts: which rules of a rule set saw one test that carries no expectations.

An upstream Atomic Red Team test has no signals sidecar, so nothing says what it should trigger.
It is judged by what happened instead: did it run (EXECUTED, PREREQ_MISSING, EXECUTION_FAILED,
TIMED_OUT), which telemetry was attributed to it, and which rules of the rule set matched those
events. The result is DETECTED (by N rules) or NOT_DETECTED; a test that did not run says why.

A rule that also matched the negative control (benign activity on the same target) is kept in the
record but does not make the test DETECTED: it fires on the harness's own activity, not the test's.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from harness.records import JsonObject, RunRecord
from harness.rules.sigma import SigmaMatch

#: Matched events kept per rule in the record (the whole view is in the detonation's directory).
EVENTS_PER_RULE = 3


class Coverage(enum.StrEnum):
    DETECTED = "DETECTED"  # executed, and at least one rule (not firing on the control) matched its events
    NOT_DETECTED = "NOT_DETECTED"  # executed, telemetry judged, no rule of the set matched
    PREREQ_MISSING = "PREREQ_MISSING"  # a prerequisite is missing and could not be fetched in scope
    EXECUTION_FAILED = "EXECUTION_FAILED"  # the test's command exited non-zero
    TIMED_OUT = "TIMED_OUT"  # the test's command hung; its process tree was killed
    NOT_RUN = "NOT_RUN"  # not applicable here or refused (not disposable, out of scope): the reason says
    ERROR = "ERROR"  # the harness, target or a sensor failed: nothing is concluded about the rules


#: The outcomes that say something about the rules (the test ran and its telemetry was judged).
JUDGED = frozenset({Coverage.DETECTED, Coverage.NOT_DETECTED})


@dataclass(frozen=True)
class RuleHit:
    """One rule that matched a test's events: how often, and the first few events."""

    rule_id: str
    title: str
    level: str | None
    matches: int
    events: tuple[JsonObject, ...] = ()
    on_control: bool = False  # also matched the negative control: background, not this test

    def to_dict(self) -> JsonObject:
        return {"rule_id": self.rule_id, "title": self.title, "level": self.level, "matches": self.matches,
                "on_control": self.on_control, "events": [dict(e) for e in self.events]}

    @classmethod
    def from_dict(cls, d: JsonObject) -> RuleHit:
        return cls(str(d["rule_id"]), str(d.get("title", "")), d.get("level"), int(d.get("matches", 0)),
                   tuple(d.get("events") or ()), bool(d.get("on_control", False)))


@dataclass(frozen=True)
class TestCoverage:
    """One upstream test on one target: whether it ran, its telemetry, and the rules that saw it."""

    __test__ = False  # not a pytest test class

    test_id: str
    guid: str
    technique: str
    name: str
    target: str
    status: str  # the run's status (harness.execution.runner.Status), or NOT_RUN
    coverage: Coverage
    reason: str = ""
    telemetry: Mapping[str, int] = field(default_factory=dict)  # attributed events per source
    rules: tuple[RuleHit, ...] = ()
    cleanup: str = ""  # "ok", "none" (the test has no cleanup), or what went wrong
    timings: Mapping[str, float] = field(default_factory=dict)
    directory: str | None = None  # the detonation's telemetry layout, when recorded

    @property
    def detected_by(self) -> tuple[RuleHit, ...]:
        """The rules that count: matched this test's events and not the negative control's."""
        return tuple(r for r in self.rules if not r.on_control)

    @property
    def summary(self) -> str:
        if self.coverage is Coverage.DETECTED:
            n = len(self.detected_by)
            return f"detected by {n} rule{'s' if n != 1 else ''}"
        if self.coverage is Coverage.NOT_DETECTED:
            return "not detected"
        return f"{self.coverage}: {self.reason}" if self.reason else str(self.coverage)

    def to_dict(self) -> JsonObject:
        return {
            "test_id": self.test_id, "guid": self.guid, "technique": self.technique, "name": self.name,
            "target": self.target, "status": self.status, "coverage": str(self.coverage),
            "summary": self.summary, "reason": self.reason, "telemetry": dict(self.telemetry),
            "rules": [r.to_dict() for r in self.rules], "cleanup": self.cleanup,
            "timings": dict(self.timings), "directory": self.directory,
        }

    @classmethod
    def from_dict(cls, d: JsonObject) -> TestCoverage:
        return cls(
            test_id=str(d["test_id"]), guid=str(d.get("guid", "")), technique=str(d.get("technique", "")),
            name=str(d.get("name", "")), target=str(d.get("target", "")), status=str(d.get("status", "")),
            coverage=Coverage(str(d["coverage"])), reason=str(d.get("reason", "")),
            telemetry={str(k): int(v) for k, v in (d.get("telemetry") or {}).items()},
            rules=tuple(RuleHit.from_dict(r) for r in d.get("rules") or ()), cleanup=str(d.get("cleanup", "")),
            timings={str(k): float(v) for k, v in (d.get("timings") or {}).items()},
            directory=d.get("directory"),
        )


def technique_of(test_id: str) -> str:
    """``T1003.008`` of ``T1003.008-1``."""
    return test_id.rpartition("-")[0] or test_id


def cleanup_outcome(run: RunRecord) -> str:
    """How the test's cleanup went, from the commands the run sent."""
    cleanups = [c for c in run.get("commands", []) if c.get("phase") == "cleanup"]
    if not cleanups:
        return "none"
    bad = [c for c in cleanups if c.get("exit_code") != 0 or c.get("timed_out")]
    if bad:
        c = bad[0]
        tail = (c.get("stderr") or c.get("stdout") or "").strip().splitlines()[-1:]
        return f"cleanup exited {c.get('exit_code')}" + (f": {tail[0][:200]}" if tail else "")
    reason = run.get("reason", "")
    if "cleanup left" in reason:  # the runner checked what the cleanup should have removed
        return reason[reason.index("cleanup left"):]
    return "ok"


def detonation_status(run: RunRecord) -> str:
    """The run's status, with a cleanup problem set apart: a test whose command ran and exited 0 but
    whose cleanup failed still EXECUTED (the cleanup's outcome is recorded on its own)."""
    status = run["status"]
    if status == "ERROR":
        det = [c for c in run.get("commands", []) if c.get("phase") == "detonate"]
        if det and all(c.get("exit_code") == 0 and not c.get("timed_out") for c in det) and \
                run.get("reason", "").lstrip("; ").startswith("cleanup"):
            return "EXECUTED"
    return status


def rule_hits(matches: Sequence[SigmaMatch], control_rules: frozenset[str] = frozenset(),
              per_rule: int = EVENTS_PER_RULE) -> tuple[RuleHit, ...]:
    """The rules among ``matches``, most matches first, each with its first events."""
    by_rule: dict[str, list[SigmaMatch]] = {}
    for m in matches:
        by_rule.setdefault(m.rule_id, []).append(m)
    hits = [
        RuleHit(rid, ms[0].title, ms[0].level, len(ms), tuple(dict(m.event) for m in ms[:per_rule]),
                rid in control_rules)
        for rid, ms in by_rule.items()
    ]
    return tuple(sorted(hits, key=lambda h: (-h.matches, h.title, h.rule_id)))


def judge_test(
    run: RunRecord,
    *,
    technique: str,
    target: str,
    matches: Sequence[SigmaMatch],
    telemetry: Mapping[str, int] | None,
    control_rules: frozenset[str] = frozenset(),
    not_run: str | None = None,
    timings: Mapping[str, float] | None = None,
    directory: str | None = None,
) -> TestCoverage:
    """The coverage of one test from its run record, the telemetry attributed to it (``None``: not
    collected) and the rule set's matches on that telemetry. ``not_run`` is the refusal's reason."""
    base = TestCoverage(test_id=run["id"], guid=run.get("guid", ""), technique=technique, name=run.get("name", ""),
                        target=target, status="NOT_RUN", coverage=Coverage.NOT_RUN, timings=dict(timings or {}),
                        directory=directory)
    if not_run is not None:
        return replace(base, reason=not_run)
    status = detonation_status(run)
    counts = dict(telemetry or {})
    hits = rule_hits(matches, control_rules)
    common = replace(base, status=status, telemetry=counts, rules=hits, cleanup=cleanup_outcome(run))
    if status in ("PREREQ_MISSING", "EXECUTION_FAILED", "TIMED_OUT"):
        return replace(common, coverage=Coverage(status), reason=run.get("reason", ""))
    if status != "EXECUTED":
        return replace(common, coverage=Coverage.ERROR, reason=run.get("reason", "") or status)
    if telemetry is None:
        return replace(common, coverage=Coverage.ERROR,
                       reason="the test ran but no telemetry was collected: nothing is concluded")
    if not any(counts.values()):
        return replace(common, coverage=Coverage.ERROR,
                       reason="the test ran but no event was attributed to it: a sensor is missing "
                              "or attribution failed, so 'not detected' would be unfounded")
    if any(not h.on_control for h in hits):
        return replace(common, coverage=Coverage.DETECTED)
    why = "no rule of the set matched its events"
    if hits:
        why += f" ({len(hits)} rule(s) matched, all of them on the negative control too)"
    return replace(common, coverage=Coverage.NOT_DETECTED, reason=why)
