"""run.json: the audit record of one validation run, validated against schemas/run.schema.json."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import TYPE_CHECKING

from harness import __version__
from harness.evidence.document import JsonDoc
from harness.records import CommandEntry
from harness.run.model import iso, sha256_text, utc_now

if TYPE_CHECKING:
    from harness.run import AtomicOutcome, ValidationRun

SCHEMA_VERSION = 1
OUTPUT_EXCERPT = 2000  # characters of each command's stdout/stderr kept beside its hash


def run_schema() -> JsonDoc:
    text = resources.files("harness.evidence").joinpath("schemas/run.schema.json").read_text(encoding="utf-8")
    data: JsonDoc = json.loads(text)
    return data


def _command(c: CommandEntry) -> JsonDoc:
    out = str(c.get("stdout") or "")
    err = str(c.get("stderr") or "")
    return {
        "phase": c.get("phase"),
        "command": c.get("command"),
        "exit_code": c.get("exit_code"),
        "started": c.get("started"),
        "ended": c.get("ended"),
        "duration_s": c.get("duration_s"),
        "timed_out": bool(c.get("timed_out")),
        "pid": c.get("pid"),
        "audit_session": c.get("audit_session"),
        "stdout_sha256": sha256_text(out),
        "stderr_sha256": sha256_text(err),
        "stdout_bytes": len(out.encode()),
        "stderr_bytes": len(err.encode()),
        "stdout_excerpt": out[:OUTPUT_EXCERPT],
        "stderr_excerpt": err[:OUTPUT_EXCERPT],
    }


def _atomic(o: AtomicOutcome) -> JsonDoc:
    v = o.verdict
    run = o.run
    return {
        "id": o.atomic_id,
        "name": o.name,
        "guid": o.guid,
        "status": str(run.get("status") or v.run_status),
        "reason": str(run.get("reason") or ""),
        "correlation_id": run.get("correlation_id"),
        "started": run.get("started"),
        "ended": run.get("ended"),
        "duration_s": run.get("duration_s"),
        "exit_code": run.get("exit_code"),
        "arguments": dict(o.args),
        "commands": [_command(c) for c in run.get("commands") or []],
        "timings": dict(o.timings),
        "kql_now": o.kql_now,
        "verdict": str(v.verdict),
        "verdict_reason": v.reason,
        "signals": [s.to_dict() for s in v.signals],
        "rules_ran": {k: dict(x) for k, x in v.rules_ran.items()},
        "engine_errors": list(v.engine_errors),
        "rule_hits": {"sigma": o.sigma_hits, "kql": o.kql_rows},
        "telemetry": dict(o.telemetry),
        "telemetry_excerpts": list(o.excerpts),
    }


def build_document(run: ValidationRun) -> JsonDoc:
    from harness.atomics.model import NEGATIVE_CONTROL_ID

    atomics = [run.outcomes[a] for a in run.order if a != NEGATIVE_CONTROL_ID]
    control = run.outcomes.get(NEGATIVE_CONTROL_ID)
    signal_counts = Counter(str(s.verdict) for o in atomics for s in o.verdict.signals)
    atomic_counts = Counter(str(o.verdict.verdict) for o in atomics)
    unavailable = [s for s in run.sensors if not s.get("available")]
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.run_id,
        "mode": run.mode,
        "started": iso(run.started),
        "ended": iso(run.ended or utc_now()),
        "harness": {"name": "recon-atomics-harness", "version": __version__},
        "technique": {"id": run.technique.attack_technique, "name": run.technique.display_name,
                      "atomics_file": str(run.atomics_path)},
        "target": {
            "url": run.target_url,
            "label": run.target_label,
            "lab": run.lab_info,
            "facts": run.facts,
            "sensors": run.sensors,
            "sensors_unavailable": [f"{s.get('name')}: {s.get('reason')}" for s in unavailable],
        },
        "replay_of": (f"{run.replay_dir} (run {run.replayed_run_id})" if run.replay_dir is not None else None),
        "record_dir": str(run.record_dir) if run.record_dir is not None else None,
        "detections": {
            "directory": str(run.detections_dir),
            "files": run.suite.files(),
            "sigma_rules_loaded": len(run.suite.rule_titles),
            "sigma_problems": list(run.suite.load_problems),
        },
        "infrastructure_error": run.infra_error,
        "atomics": [_atomic(o) for o in atomics],
        "negative_control": _atomic(control) if control is not None else None,
        "summary": {
            "atomics": dict(atomic_counts),
            "signals": dict(signal_counts),
            "negative_control": str(control.verdict.verdict) if control is not None else None,
            "passed": bool(atomics) and all(o.verdict.verdict in _OK for o in atomics)
            and (control is None or str(control.verdict.verdict) == "CLEAN"),
        },
    }


_OK = {"ALERTED", "OBSERVED", "PREREQ_MISSING", "SENSOR_UNAVAILABLE"}
