"""Human-readable verdicts: the text a failing test shows and the console summary."""

from __future__ import annotations

import json

from harness.verdicts.model import PASSING, AtomicVerdict, SignalVerdict, Verdict


def _signal_lines(sv: SignalVerdict) -> list[str]:
    lines = [f"- {sv.signal_id} [{sv.source}/{sv.sensor}]: {sv.verdict} "
             f"(sigma {sv.sigma.verdict}, kql {sv.kql.verdict})"]
    if sv.reason:
        lines.append(f"    why: {sv.reason}")
    lines.append(f"    telemetry seen: {sv.telemetry_count} matching event(s) (need {sv.min_count}); "
                 f"events by source: {sv.seen or 'none'}")
    for ev in (sv.sigma, sv.kql):
        for r in ev.rules:
            state = "loaded" if r.loaded else "NOT LOADED"
            lines.append(f"    {ev.engine} {r.rule} ({state}): {r.matches_total} match(es) on the detonation, "
                         f"{r.matches_on_signal} on this signal's events")
    for ex in sv.examples:
        lines.append("    event: " + json.dumps(ex, default=str)[:400])
    return lines


def failure_message(av: AtomicVerdict, include_passing: bool = False) -> str:
    """Names each failing signal, what telemetry was seen, and which rules ran with their matches."""
    out = [f"{av.atomic_id} on {av.target}: {av.verdict}" + (f" ({av.reason})" if av.reason else ""),
           f"run: {av.run_status}" + (f" - {av.run_reason}" if av.run_reason else "")]
    for sv in av.signals:
        if sv.verdict is Verdict.SENSOR_UNAVAILABLE:
            continue
        if include_passing or (sv.verdict not in PASSING):
            out.extend(_signal_lines(sv))
    skipped = skipped_signals(av)
    if skipped:
        out.append(f"skipped (sensor unavailable): {len(skipped)} signal(s): " + "; ".join(skipped[:1]) +
                   (f" (+{len(skipped) - 1} more with the same sensor)" if len(skipped) > 1 else ""))
    ran = av.rules_ran
    out.append("rules that ran (matches on this detonation): sigma " +
               (", ".join(f"{k}={v}" for k, v in sorted(ran.get("sigma", {}).items())) or "none loaded") +
               "; kql " + (", ".join(f"{k}={v}" for k, v in sorted(ran.get("kql", {}).items())) or "none ran"))
    for err in av.engine_errors:
        out.append(f"engine problem: {err}")
    return "\n".join(out)


def skipped_signals(av: AtomicVerdict) -> list[str]:
    return [f"{sv.signal_id}: {sv.reason}" for sv in av.signals if sv.verdict is Verdict.SENSOR_UNAVAILABLE]
