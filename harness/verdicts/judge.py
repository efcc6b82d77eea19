"""Judging: pure functions from one detonation's expectations, telemetry, sensors and detection
results to per-signal verdicts, Sigma and KQL separately.

Telemetry present
    at least ``min_count`` Sigma-view events whose ``meta.source`` is one of the signal's record
    sources satisfy its Match.
Sigma fired on the signal
    the named rule matched at least one of those events (a correlation: joined one of them).
KQL fired on the signal
    the named query returned a row with the named ``DetectionBranch`` derived from that telemetry:
    same Timestamp as a Defender row built from one of those events (same source and line) and
    carrying one of that row's own identifying values (its command line, image, remote address or
    URL; never only an account name or a port).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.atomics.model import NEGATIVE_CONTROL_ID, Signal
from harness.collection import SensorStatus
from harness.verdicts.detect import DetectionResult, KqlOutcome
from harness.verdicts.model import (
    PASSING,
    AtomicVerdict,
    EngineVerdict,
    RuleResult,
    SignalVerdict,
    Verdict,
    worst,
)
from harness.views.events import DefenderRecord, DefenderRow, SigmaEvent

MAX_EXAMPLES = 3
#: Columns that identify what a Defender row is about (the process, the file, the remote end);
#: account names, ports and device names are shared by too many rows to tell them apart.
_IDENTIFYING = {"ProcessCommandLine", "FileName", "FolderPath", "SHA256", "RemoteIP", "RemoteUrl"}


@dataclass(frozen=True)
class SensorState:
    """A sensor as the preflight probe found it (``SensorStatus`` or a manifest's dict)."""

    name: str
    available: bool
    reason: str = ""
    mandatory: bool = False

    @classmethod
    def of(cls, value: SensorStatus | SensorState | Mapping[str, Any]) -> SensorState:
        if isinstance(value, Mapping):
            return cls(str(value["name"]), bool(value["available"]), str(value.get("reason") or ""),
                       bool(value.get("mandatory")))
        return cls(str(value.name), bool(value.available), str(value.reason), bool(value.mandatory))


def sensor_map(sensors: Iterable[SensorStatus | SensorState | Mapping[str, Any]]) -> dict[str, SensorState]:
    out = {}
    for s in sensors:
        st = SensorState.of(s)
        out[st.name] = st
    return out


def _meta_key(line: SigmaEvent) -> tuple[str, int] | None:
    meta = line.get("meta")
    if not isinstance(meta, Mapping) or meta.get("line") is None:
        return None
    return str(meta.get("source")), int(meta["line"])


def _source(event: SigmaEvent) -> str:
    return str(event["meta"].get("source")) if "meta" in event else "None"


def _row_key(row: DefenderRow) -> tuple[str, int] | None:
    extra = row.get("AdditionalFields")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return None
    if not isinstance(extra, Mapping) or extra.get("line") is None:
        return None
    return str(extra.get("source")), int(extra["line"])


def _own_values(row: DefenderRow) -> set[str]:
    """A Defender row's identifying values (of the row's own process, file or remote end)."""
    return {str(v) for k, v in row.items() if k in _IDENTIFYING and v not in (None, "", 0)}


def _result_values(row: Mapping[str, object]) -> set[str]:
    """A query result row's candidate identifying values (queries rename columns: Branch 2 of the
    seed query projects ProcessCommandLine as InitiatingProcessCommandLine)."""
    return {str(v) for k, v in row.items()
            if (k in _IDENTIFYING or k.endswith("CommandLine")) and v not in (None, "", 0)}


def _short(event: Mapping[str, object], limit: int = 600) -> dict[str, Any]:
    """An event for messages and evidence: its fields (nested mappings kept), long values cut."""
    out: dict[str, Any] = {}
    for k, v in event.items():
        if isinstance(v, Mapping):
            out[str(k)] = _short(v, limit)
            continue
        text = v if isinstance(v, int | float | bool) or v is None else str(v)
        if isinstance(text, str) and len(text) > limit:
            text = text[:limit] + "…"
        out[str(k)] = text
    return out


def _instant(value: Any) -> str:
    """A timestamp in one canonical form (the KQL engine and the view may format it differently)."""
    text = str(value)
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds")


def matching_indexes(signal: Signal, events: Sequence[SigmaEvent], args: Mapping[str, str]) -> list[int]:
    """Positions of the events that satisfy the signal (right source and Match)."""
    sources = set(signal.record_sources)
    out = []
    for i, line in enumerate(events):
        meta = line.get("meta")
        src = meta.get("source") if isinstance(meta, Mapping) else None
        if src in sources and signal.match.matches(line, args):
            out.append(i)
    return out


def _near(signal: Signal, events: Sequence[SigmaEvent]) -> list[SigmaEvent]:
    """Events of the signal's source and log source that did not match: what was seen instead."""
    sources = set(signal.record_sources)
    out = []
    for line in events:
        meta = line.get("meta")
        if not isinstance(meta, Mapping) or meta.get("source") not in sources:
            continue
        ls = line.get("logsource")
        if isinstance(ls, Mapping) and all(
            str(ls.get(k) or "").lower() == v.lower() for k, v in signal.match.logsource.items()
        ):
            out.append(line)
        if len(out) >= MAX_EXAMPLES:
            break
    return out


def judge_sigma(signal: Signal, hit: set[int], detections: DetectionResult) -> EngineVerdict:
    if not signal.detections.sigma:
        return EngineVerdict("sigma", Verdict.NOT_JUDGED)
    results = []
    for rid in signal.detections.sigma:
        mine = [m for m in detections.sigma_matches if m.rule_id == rid]
        on = [m for m in mine if m.index in hit or any(i in hit for i in m.event_indexes)]
        results.append(RuleResult(
            rid, detections.sigma_rules.get(rid, ""), rid in detections.sigma_rules, len(mine), len(on),
            tuple(_short(dict(m.event)) for m in on[:MAX_EXAMPLES]),
        ))
    ok = all(r.matches_on_signal > 0 for r in results)
    return EngineVerdict("sigma", Verdict.ALERTED if ok else Verdict.TELEMETRY_ONLY, tuple(results))


def judge_kql(
    signal: Signal,
    hit: set[int],
    events: Sequence[SigmaEvent],
    defender_rows: Sequence[DefenderRecord],
    detections: DetectionResult,
) -> EngineVerdict:
    if not signal.detections.kql:
        return EngineVerdict("kql", Verdict.NOT_JUDGED)
    keys = {k for i in hit if (k := _meta_key(events[i])) is not None}
    derived = [line["row"] for line in defender_rows if _row_key(line["row"]) in keys]
    stamps: dict[str, list[set[str]]] = {}
    for row in derived:
        stamps.setdefault(_instant(row.get("Timestamp")), []).append(_own_values(row))
    results = []
    for exp in signal.detections.kql:
        outcome = detections.kql.get(exp.query) or KqlOutcome(exp.query, exp.query, error="query not run", loaded=False)
        branch_rows = [r for r in outcome.rows if r.get("DetectionBranch") == exp.branch]
        on = [r for r in branch_rows
              if any(_result_values(r) & vals for vals in stamps.get(_instant(r.get("Timestamp")), []))]
        title = exp.branch if outcome.error is None else f"{exp.branch} ({outcome.error})"
        results.append(RuleResult(f"{exp.query}#{exp.branch}", title, outcome.loaded and outcome.error is None,
                                  len(branch_rows), len(on), tuple(_short(r) for r in on[:MAX_EXAMPLES])))
    ok = all(r.matches_on_signal > 0 for r in results)
    return EngineVerdict("kql", Verdict.ALERTED if ok else Verdict.TELEMETRY_ONLY, tuple(results))


def _not_judged(signal: Signal, verdict: Verdict) -> tuple[EngineVerdict, EngineVerdict]:
    s = EngineVerdict("sigma", verdict if signal.detections.sigma else Verdict.NOT_JUDGED)
    k = EngineVerdict("kql", verdict if signal.detections.kql else Verdict.NOT_JUDGED)
    return s, k


def judge_signal(
    signal: Signal,
    args: Mapping[str, str],
    events: Sequence[SigmaEvent],
    defender_rows: Sequence[DefenderRecord],
    sensors: Mapping[str, SensorState],
    run_status: str,
    run_reason: str,
    detections: DetectionResult,
) -> SignalVerdict:
    """The verdict of one signal (see the module docstring for what each test means)."""
    seen = dict(Counter(_source(e) for e in events))
    base: dict[str, Any] = {"signal_id": signal.id, "description": signal.description, "source": signal.source,
            "sensor": signal.sensor, "min_count": signal.match.min_count, "seen": seen}

    def early(verdict: Verdict, reason: str, count: int = 0) -> SignalVerdict:
        s, k = _not_judged(signal, verdict)
        return SignalVerdict(verdict=verdict, sigma=s, kql=k, telemetry_count=count, reason=reason, **base)

    if run_status == "PREREQ_MISSING":
        return early(Verdict.PREREQ_MISSING, run_reason)
    if run_status == "ERROR":
        return early(Verdict.ERROR, f"the run failed: {run_reason}")
    state = sensors.get(signal.sensor)
    if state is None or not state.available:
        why = state.reason if state is not None else "the target reported no status for this sensor"
        if signal.sensor == "auditd" or (state is not None and state.mandatory):
            return early(Verdict.ERROR, f"mandatory sensor {signal.sensor} unavailable: {why}")
        return early(Verdict.SENSOR_UNAVAILABLE, f"sensor {signal.sensor} unavailable: {why}")
    for extra in signal.enriched_by:
        other = sensors.get(extra)
        if other is None or not other.available:
            why = other.reason if other is not None else "the target reported no status for this sensor"
            return early(Verdict.SENSOR_UNAVAILABLE, f"sensor {extra} unavailable (it fills fields this "
                         f"{signal.sensor} signal matches on): {why}")
    idx = matching_indexes(signal, events, args)
    examples = tuple(_short(dict(events[i])) for i in idx[:MAX_EXAMPLES]) or tuple(
        _short(dict(e)) for e in _near(signal, events))
    if run_status in ("EXECUTION_FAILED", "TIMED_OUT"):
        v = early(Verdict.EXECUTION_FAILED, f"the detonation failed: {run_reason}", len(idx))
        return replace(v, examples=examples)
    if len(idx) < signal.match.min_count:
        reason = (f"{len(idx)} matching {'/'.join(signal.record_sources)} event(s), need {signal.match.min_count}"
                  f" (events by source: {seen or 'none'})")
        s, k = _not_judged(signal, Verdict.NO_TELEMETRY)
        return SignalVerdict(verdict=Verdict.NO_TELEMETRY, sigma=s, kql=k, telemetry_count=len(idx),
                             reason=reason, examples=examples, **base)
    hit = set(idx)
    sigma = judge_sigma(signal, hit, detections)
    kql = judge_kql(signal, hit, events, defender_rows, detections)
    if sigma.verdict is Verdict.NOT_JUDGED and kql.verdict is Verdict.NOT_JUDGED:
        verdict, reason = Verdict.OBSERVED, "telemetry present; no detection expected on this signal"
    else:
        verdict = worst(sigma.verdict, kql.verdict)
        missed = [r for ev in (sigma, kql) for r in ev.rules if r.matches_on_signal == 0]
        reason = "; ".join(
            f"{r.rule} {'not loaded' if not r.loaded else 'did not match the signal'}"
            f" ({r.matches_total} match(es) on the detonation)" + (f": {r.title}" if not r.loaded and r.title else "")
            for r in missed
        )
    return SignalVerdict(verdict=verdict, sigma=sigma, kql=kql, telemetry_count=len(idx), reason=reason,
                         examples=examples, **base)


def judge_atomic(
    atomic_id: str,
    name: str,
    target: str,
    signals: Sequence[Signal],
    args: Mapping[str, str],
    events: Sequence[SigmaEvent],
    defender_rows: Sequence[DefenderRecord],
    sensors: Iterable[SensorStatus | SensorState | Mapping[str, Any]],
    run_status: str,
    run_reason: str,
    detections: DetectionResult,
) -> AtomicVerdict:
    """Judge every expected signal of one detonation; the atomic's verdict summarises them."""
    smap = sensor_map(sensors)
    verdicts = tuple(
        judge_signal(s, args, events, defender_rows, smap, run_status, run_reason, detections) for s in signals
    )
    errors = tuple(detections.sigma_problems) + tuple(
        f"{o.query}: {o.error}" for o in detections.kql.values() if o.error is not None)
    if not verdicts:
        overall, reason = Verdict.ERROR, f"no expected signals are defined for {atomic_id}"
    elif run_status == "PREREQ_MISSING":
        overall, reason = Verdict.PREREQ_MISSING, run_reason
    else:
        judged = [v.verdict for v in verdicts if v.verdict is not Verdict.SENSOR_UNAVAILABLE]
        if not judged:
            overall, reason = Verdict.SENSOR_UNAVAILABLE, "no expected signal's sensor is present"
        elif all(v in PASSING for v in judged):
            overall = Verdict.ALERTED if Verdict.ALERTED in judged else Verdict.OBSERVED
            reason = ""
        else:
            overall = worst(*judged)
            reason = ", ".join(f"{v.signal_id}={v.verdict}" for v in verdicts if v.verdict not in PASSING
                               and v.verdict is not Verdict.SENSOR_UNAVAILABLE)
    return AtomicVerdict(atomic_id, name, target, run_status, run_reason, overall, verdicts,
                         detections.rules_ran(), errors, reason)


def judge_control(
    target: str,
    events: Sequence[SigmaEvent],
    run_status: str,
    run_reason: str,
    detections: DetectionResult,
    atomic_id: str = NEGATIVE_CONTROL_ID,
    name: str = "Negative control: benign activity on the same lab",
) -> AtomicVerdict:
    """Benign activity must fire no detection: any Sigma match or KQL row is a FALSE_POSITIVE. A
    control that did not run or left no telemetry proves nothing: ERROR."""
    ran = detections.rules_ran()
    fired = {f"sigma:{k}": v for k, v in ran["sigma"].items() if v}
    fired |= {f"kql:{k}": v for k, v in ran["kql"].items() if v}
    errors = tuple(detections.sigma_problems) + tuple(
        f"{o.query}: {o.error}" for o in detections.kql.values() if o.error is not None)
    if run_status != "EXECUTED":
        verdict, reason = Verdict.ERROR, f"negative control did not run cleanly ({run_status}): {run_reason}"
    elif not events:
        verdict, reason = Verdict.ERROR, "negative control left no telemetry: the lab's sensors saw nothing"
    elif fired:
        verdict = Verdict.FALSE_POSITIVE
        reason = "detections fired on benign activity: " + ", ".join(f"{k} ({v})" for k, v in sorted(fired.items()))
    else:
        verdict, reason = Verdict.CLEAN, ""
    rules = [
        RuleResult(m.rule_id, m.title, True, 1, 1, (_short(dict(m.event)),)) for m in detections.sigma_matches[:20]
    ] + [
        RuleResult(q, "", True, len(o.rows), len(o.rows), tuple(_short(r) for r in o.rows[:MAX_EXAMPLES]))
        for q, o in detections.kql.items() if o.rows
    ]
    sv = SignalVerdict(
        signal_id="no-detection-fires", description="No Sigma rule matches and no KQL query returns a row",
        source="all", sensor="all", verdict=verdict,
        sigma=EngineVerdict("sigma", Verdict.FALSE_POSITIVE if ran["sigma"] and any(ran["sigma"].values())
                            else Verdict.CLEAN, tuple(r for r in rules if not r.rule.endswith(".kql"))),
        kql=EngineVerdict("kql", Verdict.FALSE_POSITIVE if any(ran["kql"].values()) else Verdict.CLEAN,
                          tuple(r for r in rules if r.rule.endswith(".kql"))),
        telemetry_count=len(events), min_count=1, reason=reason,
        seen=dict(Counter(_source(e) for e in events)),
    )
    return AtomicVerdict(atomic_id, name, target, run_status, run_reason, verdict, (sv,), ran, errors, reason)
