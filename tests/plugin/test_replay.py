"""The committed embedded-lab recording, replayed without root and without a lab: the same verdicts
the live run got, and proof that the verdicts cannot be faked (an empty detections directory and
detections broken on purpose turn the affected signals into TELEMETRY_ONLY)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.evidence import run_schema
from harness.run import ValidationRun

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "data" / "recordings" / "embedded-lab"
EXPECTED = RECORDING / "expected-verdicts.json"
NMAP_SWEEP_RULE = "5af161fc-5087-4f30-9c93-315f7d8b18ad"


def _replay(detections: Path) -> dict[str, dict[str, Any]]:
    run = ValidationRun(target="netns://rah", detections=detections, replay=RECORDING)
    out = {}
    for atomic in [*run.expected_atomics(), "negative-control"]:
        v = run.outcome(atomic).verdict
        out[atomic] = {"verdict": str(v.verdict), "signals": {s.signal_id: s for s in v.signals}}
    run.close()
    return out


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    if not EXPECTED.exists():
        pytest.skip(f"recording missing: {RECORDING}")
    data: dict[str, Any] = json.loads(EXPECTED.read_text())
    return data


@pytest.fixture(scope="module")
def baseline(expected: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _replay(ROOT / "detections")


def test_replay_gets_the_live_runs_verdicts(expected: dict[str, Any], baseline: dict[str, dict[str, Any]]) -> None:
    got = {a: {"verdict": v["verdict"], "signals": {k: str(s.verdict) for k, s in v["signals"].items()}}
           for a, v in baseline.items()}
    assert got == expected["atomics"], (
        "the replay no longer reaches the live run's verdicts; if the signals, views or detections changed "
        "on purpose, re-record on the embedded lab: sudo .venv/bin/python tests/data/recordings/make_recording.py")


def test_recording_exercises_every_verdict_path(baseline: dict[str, dict[str, Any]]) -> None:
    verdicts = {str(s.verdict) for v in baseline.values() for s in v["signals"].values()}
    # Sysmon ran in the recorded lab: every sensor was there, so nothing is SENSOR_UNAVAILABLE.
    assert {"ALERTED", "OBSERVED", "CLEAN"} <= verdicts and "SENSOR_UNAVAILABLE" not in verdicts
    assert any(s.sensor == "sysmon" and str(s.verdict) == "ALERTED" for v in baseline.values()
               for s in v["signals"].values())
    # all five atomics really ran in the recorded lab (theHarvester 4.6.0 included)
    assert {a: v["verdict"] for a, v in baseline.items() if a != "negative-control"} == {
        f"T1590.005-{n}": "ALERTED" for n in range(1, 6)}
    assert baseline["negative-control"]["verdict"] == "CLEAN"
    # both engines alert somewhere in the recording, judged separately
    assert any(str(s.kql.verdict) == "ALERTED" for v in baseline.values() for s in v["signals"].values())
    assert any(str(s.sigma.verdict) == "ALERTED" for v in baseline.values() for s in v["signals"].values())


def test_a_host_without_sysmon_gets_sensor_unavailable_for_its_signals_only(
    recording_without_sysmon: Path, baseline: dict[str, dict[str, Any]]
) -> None:
    run = ValidationRun(target="netns://rah", detections=ROOT / "detections", replay=recording_without_sysmon)
    try:
        got = {a: run.outcome(a).verdict for a in run.expected_atomics()}
    finally:
        run.close()
    sysmon_signals = 0
    for atomic, verdict in got.items():
        for s in verdict.signals:
            if s.sensor == "sysmon":
                sysmon_signals += 1
                assert str(s.verdict) == "SENSOR_UNAVAILABLE", (atomic, s.signal_id)
            else:
                assert str(s.verdict) == str(baseline[atomic]["signals"][s.signal_id].verdict), (atomic, s.signal_id)
        assert str(verdict.verdict) == "ALERTED", atomic  # a skipped sensor never fails or passes a signal
    assert sysmon_signals >= 16


def test_empty_detections_directory_alerts_on_nothing(baseline: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    empty = tmp_path / "detections"
    empty.mkdir()
    got = _replay(empty)
    alerted_before = 0
    for atomic, v in baseline.items():
        if atomic == "negative-control":
            continue
        for sid, before in v["signals"].items():
            after = got[atomic]["signals"][sid]
            assert str(after.verdict) != "ALERTED", (atomic, sid)
            if str(before.verdict) == "ALERTED":
                alerted_before += 1
                assert str(after.verdict) == "TELEMETRY_ONLY", (atomic, sid, after.reason)
                assert "not loaded" in after.reason
    assert alerted_before >= 10
    assert {got[a]["verdict"] for a in ("T1590.005-1", "T1590.005-2", "T1590.005-3", "T1590.005-5")} <= {
        "TELEMETRY_ONLY", "NO_TELEMETRY"}


def test_broken_sigma_rule_turns_only_its_signals_telemetry_only(
    baseline: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    broken = tmp_path / "detections"
    shutil.copytree(ROOT / "detections", broken)
    rule = broken / "sigma" / "proc_creation_lnx_nmap_ping_sweep.yml"
    text = rule.read_text()
    assert NMAP_SWEEP_RULE in text
    # Same id, still valid Sigma, but its condition can never be true.
    text = text.replace("    condition:", "    never:\n        CommandLine|contains: 'zz-never-present-zz'\n"
                        "    condition:", 1)
    text = text.replace("condition: ", "condition: never and ", 1)
    rule.write_text(text)
    got = _replay(broken)
    affected = 0
    for atomic, v in baseline.items():
        for sid, before in v["signals"].items():
            after = got[atomic]["signals"][sid]
            names_rule = any(r.rule == NMAP_SWEEP_RULE for r in before.sigma.rules)
            if names_rule and str(before.sigma.verdict) == "ALERTED":
                affected += 1
                assert str(after.sigma.verdict) == "TELEMETRY_ONLY", (sid, after.reason)
                assert str(after.verdict) == "TELEMETRY_ONLY"
                assert f"{NMAP_SWEEP_RULE} did not match the signal (0 match(es)" in after.reason
            else:
                assert str(after.verdict) == str(before.verdict), (atomic, sid)
    assert affected >= 1


def test_broken_kql_branch_turns_kql_telemetry_only(baseline: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    broken = tmp_path / "detections"
    shutil.copytree(ROOT / "detections", broken)
    query = broken / "kql" / "T1590.005-ip-recon.kql"
    query.write_text(query.read_text().replace('"OSINTToolOnEndpoint"', '"RenamedBranch"'))
    got = _replay(broken)
    affected = 0
    for atomic, v in baseline.items():
        for sid, before in v["signals"].items():
            after = got[atomic]["signals"][sid]
            if any(r.rule.endswith("#OSINTToolOnEndpoint") for r in before.kql.rules) and \
                    str(before.kql.verdict) == "ALERTED":
                affected += 1
                assert str(after.kql.verdict) == "TELEMETRY_ONLY", sid
                assert str(after.sigma.verdict) == str(before.sigma.verdict)  # Sigma judged separately
            else:
                assert str(after.kql.verdict) == str(before.kql.verdict), (atomic, sid)
    assert affected >= 1


def test_pytest_atomics_replay_end_to_end(expected: dict[str, Any], tmp_path: Path) -> None:
    """`pytest atomics/ --replay` as a user runs it, without root: outcomes follow the verdicts (all six
    pass: theHarvester ran in the recorded lab), and every evidence file is written and valid."""
    junit = tmp_path / "pytest-junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    cmd = [sys.executable, "-m", "pytest", "atomics/", "-p", "no:cacheprovider", "-q", "-rs",
           "--replay", str(RECORDING), "--evidence-dir", str(tmp_path / "ev"), f"--junitxml={junit}"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    out = res.stdout + res.stderr
    assert "6 passed" in out and "skipped" not in out.splitlines()[-1], out[-3000:]
    # the run ends with its summary: no DuckDB binding noise after it (an engine left open at exit)
    assert "leaked" not in out, out[-3000:]
    cases = {c.get("name", ""): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert len(cases) == 6
    for name, case in cases.items():
        atomic = name.split("[", 1)[1].split("@", 1)[0]
        assert name.endswith("@replay:embedded-lab]")
        verdict = expected["atomics"][atomic]["verdict"]
        if verdict in ("ALERTED", "OBSERVED", "CLEAN"):
            assert case.find("failure") is None and case.find("skipped") is None, name
        elif verdict == "PREREQ_MISSING":
            assert case.find("skipped") is not None, name
        else:
            failure = case.find("failure")
            assert failure is not None, name
            assert verdict in (failure.get("message") or "") + (failure.text or "")
    evidence = next((tmp_path / "ev").iterdir())
    assert sorted(p.name for p in evidence.iterdir()) == [
        "MANIFEST.sha256", "attire.json", "junit.xml", "navigator-layer.json", "report.html", "run.json"]
    jsonschema.validate(json.loads((evidence / "run.json").read_text()), run_schema(),
                        cls=jsonschema.Draft202012Validator)
    assert res.returncode == (0 if all(v["verdict"] in ("ALERTED", "OBSERVED", "CLEAN", "PREREQ_MISSING")
                                       for v in expected["atomics"].values()) else 1), out[-2000:]


def test_replay_needs_no_root_and_no_lab(monkeypatch: pytest.MonkeyPatch, expected: dict[str, Any]) -> None:
    """As an unprivileged user with every way to a lab or target cut off, the replay still judges."""
    import harness.execution.session as session
    import harness.lab.embedded as embedded

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a replay must not open a target session or touch a lab")

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(session, "open_session", refuse)
    monkeypatch.setattr(embedded.EmbeddedLab, "up", refuse)
    monkeypatch.setattr(embedded.EmbeddedLab, "sensors", refuse)
    got = _replay(ROOT / "detections")
    assert {a: v["verdict"] for a, v in got.items()} == {a: v["verdict"] for a, v in expected["atomics"].items()}


def test_sign_key_signs_the_evidence_as_the_run_ends(tmp_path: Path) -> None:
    import shutil

    from harness.evidence.signing import verify

    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (OpenSSH) is not installed")
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    cmd = [sys.executable, "-m", "pytest", "atomics/test_T1590_005_3_nmap.py", "-p", "no:cacheprovider", "-q",
           "--replay", str(RECORDING), "--evidence-dir", str(tmp_path / "ev"), "--sign-key", str(key)]
    subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    evidence = next((tmp_path / "ev").iterdir())
    result = verify(evidence, Path(f"{key}.pub"))
    assert result.ok, result.problems
    assert result.run_id == evidence.name and "run.json" in json.loads((evidence / "SIGNED.json").read_text())["files"]
