"""Live on the embedded lab (root): the README's `pytest atomics/` run with recording and evidence,
its replay reaching the same verdicts, no secret anywhere, and a disabled audit rule turning the
process signals into NO_TELEMETRY. A lab these tests build is brought down again by the session."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.evidence import run_schema, verify_manifest
from harness.evidence.runjson import build_document
from harness.run import ValidationRun

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the embedded lab needs root"),
]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "rahtest0123456789abcdef0123456789"  # the Shodan key this run's session uses


def _verdicts(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {a["id"]: {s["id"]: s["verdict"] for s in a["signals"]}
            for a in [*doc["atomics"], doc["negative_control"]]}


def _explain(out: str, ev: Path) -> str:
    """What a failed live run shows: each non-passing signal with its reason and telemetry counts
    from run.json (the console tail alone may not reach them), then the console's tail."""
    lines: list[str] = []
    for path in ev.glob("*/run.json") if ev.is_dir() else ():
        doc = json.loads(path.read_text())
        for a in [*doc["atomics"], doc["negative_control"]]:
            for s in a["signals"]:
                if s["verdict"] not in ("ALERTED", "OBSERVED", "CLEAN", "SENSOR_UNAVAILABLE"):
                    lines.append(f"{a['id']}/{s['id']}: {s['verdict']}: {s['reason']} {s['telemetry']}")
    return "\n".join([*lines, out[-3000:]])


def test_live_run_records_evidence_and_replays_to_the_same_verdicts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["SHODAN_API_KEY"] = SECRET
    env["TMPDIR"] = str(tmp_path / "tmp")  # checked below: a normal run leaves no temporary files
    (tmp_path / "tmp").mkdir()
    rec, ev = tmp_path / "rec", tmp_path / "ev"
    cmd = [sys.executable, "-m", "pytest", "atomics/", "-p", "no:cacheprovider", "-q", "-rs",
           "--record", str(rec), "--evidence-dir", str(ev)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    out = res.stdout + res.stderr
    from harness.packages import cache_dir, find_pinned, theharvester

    if find_pinned(theharvester.ARCHIVE) is not None:  # the offline package cache has the release
        assert "6 passed" in out and "T1590.005-4        ALERTED" in out, _explain(out, ev)
    else:  # and this machine cannot fetch the tag: the reason names both
        assert "T1590.005-4: PREREQ_MISSING" in out and str(cache_dir() / theharvester.ARCHIVE) in out, out[-3000:]
    assert not [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("recon-harness-")]
    evidence = next(ev.iterdir())
    doc = json.loads((evidence / "run.json").read_text())
    jsonschema.validate(doc, run_schema(), cls=jsonschema.Draft202012Validator)
    assert sorted(p.name for p in evidence.iterdir()) == [
        "MANIFEST.sha256", "attire.json", "junit.xml", "navigator-layer.json", "report.html", "run.json"]
    assert verify_manifest(evidence) == []
    assert doc["mode"] == "live" and doc["target"]["lab"]["kind"] == "embedded"
    assert {s["name"] for s in doc["target"]["sensors"] if s["available"]} >= {"auditd", "dns", "proxy", "firewall"}
    # the replay of what was just recorded reaches the same verdict on every signal
    replay = ValidationRun(target="netns://rah", detections=ROOT / "detections", replay=rec)
    for atomic in replay.expected_atomics():
        replay.outcome(atomic)
    replay.ensure_control()
    replay.close()
    assert _verdicts(build_document(replay)) == _verdicts(doc)
    # the key is a secret: nowhere in the evidence or the recording
    for path in [*evidence.iterdir(), *rec.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            text = gzip.decompress(data).decode() if path.suffix == ".gz" else data.decode("utf-8", "replace")
            assert SECRET not in text, path
            assert SECRET.encode().hex() not in text.lower(), path


def test_disabled_audit_rule_turns_process_signals_into_no_telemetry() -> None:
    from harness.lab import auditctl as auditd

    run = ValidationRun(target="netns://rah", detections=ROOT / "detections")
    test = run.technique.find("T1590.005-3")
    try:
        pipeline = run._open()  # preflight: sensors probed with every audit rule live
        assert next(s for s in run.sensors if s["name"] == "auditd")["available"]
        before = run._atomic(test).verdict
        cfg = pipeline.session.lab_config
        execve = [r for r in auditd.harness_rules(cfg.telemetry.audit_key, cfg.telemetry.audit_watch_dirs)
                  if "execve,execveat" in r.fields]
        assert len(execve) == 2
        for rule in execve:  # disabled mid-run, after the preflight
            assert auditd.remove(rule)
        try:
            after = run._atomic(test).verdict
        finally:
            auditd.install(execve)
    finally:
        run.close()
    b = {s.signal_id: s for s in before.signals}
    a = {s.signal_id: s for s in after.signals}
    for sid in ("nmap-execve", "nmap-process-auditd"):
        assert str(b[sid].verdict) == "ALERTED", b[sid].reason
        assert str(a[sid].verdict) == "NO_TELEMETRY", a[sid].reason
        assert a[sid].telemetry_count == 0
    # the firewall still saw the sweep: only the audit-derived signals are affected
    assert str(a["nmap-icmp-sweep"].verdict) == str(b["nmap-icmp-sweep"].verdict) == "ALERTED"
    assert str(after.verdict) == "NO_TELEMETRY"
