"""pytest-xdist: a target's atomics stay on one worker, and the controller writes the one evidence set
from what the workers sent (here a replay of the committed recording, as `pytest atomics/` runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from harness.evidence import run_schema, verify_manifest
from harness.plugin.workers import target_of

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "data" / "recordings" / "embedded-lab"


def test_the_group_is_the_target_the_test_id_names() -> None:
    assert target_of("atomics/t.py::test_nmap[T1590.005-3@ssh://root@lab-07:22?identity_file=/k]") \
        == "ssh://root@lab-07:22?identity_file=/k"
    assert target_of("atomics/t.py::test_x[negative-control@netns://rah]") == "netns://rah"
    assert target_of("tests/test_a.py::test_b[1]") is None


def test_xdist_run_keeps_a_target_on_one_worker_and_writes_one_evidence_set(tmp_path: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (pip install -e '.[dev]')")
    if not RECORDING.is_dir():
        pytest.skip("recording missing")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    ev = tmp_path / "ev"
    cmd = [sys.executable, "-m", "pytest", "atomics/", "-p", "no:cacheprovider", "-v", "-n", "2", "--dist",
           "loadgroup", "--replay", str(RECORDING), "--evidence-dir", str(ev)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "6 passed" in out, out[-3000:]
    workers = {line.split("]")[0] for line in out.splitlines() if line.startswith("[gw") and "PASSED" in line}
    assert len(workers) == 1, out[-3000:]  # one target: one worker ran all of it
    (evidence,) = ev.iterdir()  # written once, by the controller
    doc = json.loads((evidence / "run.json").read_text())
    jsonschema.validate(doc, run_schema(), cls=jsonschema.Draft202012Validator)
    assert {a["id"]: a["verdict"] for a in doc["atomics"]} == {f"T1590.005-{n}": "ALERTED" for n in range(1, 6)}
    assert doc["negative_control"]["verdict"] == "CLEAN" and verify_manifest(evidence) == []
    assert "T1590.005-3        ALERTED" in out and f"evidence: {evidence}" in out  # the controller's summary


def test_other_dist_modes_are_refused(tmp_path: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    cmd = [sys.executable, "-m", "pytest", "atomics/", "-p", "no:cacheprovider", "-n", "2", "--replay",
           str(RECORDING), "--evidence-dir", str(tmp_path / "ev")]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 4 and "use --dist loadgroup" in res.stdout + res.stderr
    assert not (tmp_path / "ev").exists()


def test_the_projects_own_tests_may_use_any_dist_mode(tmp_path: Path) -> None:
    """Only a run of the atomics needs loadgroup: `pytest tests/... -n 2` (xdist's default `load`)
    was refused too, because the plugin loads in every pytest run."""
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    cmd = [sys.executable, "-m", "pytest", "tests/lab/test_instances.py", "-p", "no:cacheprovider", "-q", "-n", "2"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0 and " passed in " in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]


class _WorkerConfig:
    def __init__(self) -> None:
        self.workerinput: dict[str, object] = {}
        self.workeroutput: dict[str, object] = {}


def test_a_workers_records_reach_the_controller_redacted_whatever_the_secrets_alphabet() -> None:
    """A worker's records went out as ASCII-escaped JSON: a secret with a non-ASCII character was
    `\\u00e4`-escaped, passed the redactor, and came back in clear on the controller."""
    from harness.plugin.workers import received, send

    secret = "schlüssel-0a1b2c3d"
    config = _WorkerConfig()
    send(config, [{"target": {"label": "netns://b"}, "reason": f"key {secret} rejected"}], [secret])  # type: ignore[arg-type]
    (doc,) = received(config.workeroutput)
    assert secret not in json.dumps(doc, ensure_ascii=False) and "rejected" in doc["reason"]
