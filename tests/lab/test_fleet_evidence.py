"""Two targets in one `pytest atomics/` run, as a user runs it: the embedded lab (netns://) and the
same lab host reached as a plain ssh:// target. One evidence set comes out: the fleet's run.json
(validated against fleet.schema.json, each target against run.schema.json), the matrix, a JUnit
testsuite per target, the manifest; and the two targets reach the same atomic verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.evidence import verify_manifest
from harness.evidence.fleet import fleet_validator
from harness.lab import auditctl
from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab
from harness.lab.lock import lab_lock

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="the embedded lab needs root")]
ROOT = Path(__file__).resolve().parents[2]
SCOPE = ROOT / "tests" / "data" / "scope" / "lab-services.toml"


@pytest.fixture(scope="module")
def lab() -> Iterator[EmbeddedLab]:
    """Up before the run (the ssh:// target's key and host key must exist when its URL is read),
    not locked during it: the run's own session takes the lab's lock."""
    lab = EmbeddedLab(load_lab_config())
    with lab_lock(lab.cfg.name):
        lab.down()
        lab.up()
    try:
        yield lab
    finally:
        with lab_lock(lab.cfg.name):
            lab.down()


def test_two_targets_one_evidence_set(lab: EmbeddedLab, tmp_path: Path) -> None:
    rules_before = auditctl.list_rules()
    netns = f"netns://{lab.cfg.name}"
    ssh = (f"ssh://root@{lab.cfg.lab_transit_ip}:{lab.cfg.ssh_port}?identity_file={lab.client_key}"
           f"&known_hosts={lab.known_hosts}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["SHODAN_API_KEY"] = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # a real host's run takes it from the environment
    env["RECON_HARNESS_STATE_DIR"] = str(tmp_path / "ledgers")
    ev = tmp_path / "ev"
    cmd = [sys.executable, "-m", "pytest", "atomics/", "-p", "no:cacheprovider", "-q", "--target", netns,
           "--target", ssh, "--scope", str(SCOPE), "--evidence-dir", str(ev)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    (evidence,) = ev.iterdir()
    doc = json.loads((evidence / "run.json").read_text())
    fleet_validator().validate(doc)
    assert doc["kind"] == "fleet" and list(doc["matrix"]) == [netns, ssh]
    # the same atomic verdicts on both (an atomic's verdict leaves out signals of absent sensors)
    assert doc["matrix"][netns] == doc["matrix"][ssh], doc["matrix"]
    assert set(doc["matrix"][netns].values()) <= {"ALERTED", "CLEAN", "PREREQ_MISSING"}, doc["matrix"]
    assert doc["summary"]["passed"] is True
    suites = ET.parse(evidence / "junit.xml").getroot().findall("testsuite")
    assert [s.get("hostname") for s in suites] == [netns, ssh]
    assert verify_manifest(evidence) == []
    assert f"evidence: {evidence}" in out
    assert auditctl.list_rules() == rules_before  # the ssh:// target's own rules are gone again


def test_nightly_over_two_targets_keeps_history_per_target(lab: EmbeddedLab, tmp_path: Path) -> None:
    """`harness nightly --target netns:// --target ssh://...`: one fleet evidence folder, each
    target's run in the history under its own label, compared with that target's previous run."""
    import sqlite3

    netns = f"netns://{lab.cfg.name}"
    ssh = (f"ssh://root@{lab.cfg.lab_transit_ip}:{lab.cfg.ssh_port}?identity_file={lab.client_key}"
           f"&known_hosts={lab.known_hosts}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["SHODAN_API_KEY"] = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    env["RECON_HARNESS_STATE_DIR"] = str(tmp_path / "ledgers")
    history, ev = tmp_path / "h.sqlite", tmp_path / "ev"
    cmd = [str(Path(sys.executable).parent / "harness"), "nightly", "--history", str(history),
           "--evidence-dir", str(ev), "--target", netns, "--target", ssh, "--scope", str(SCOPE)]
    for night in (1, 2):
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
        out = res.stdout + res.stderr
        assert res.returncode == 0, out[-4000:]
        assert out.count("no previous run on this target" if night == 1 else "no regression against") == 2, out
    folders = sorted(ev.iterdir())
    assert len(folders) == 2 and all(json.loads((f / "run.json").read_text())["kind"] == "fleet" for f in folders)
    con = sqlite3.connect(history)
    labels = [r[0] for r in con.execute("SELECT label FROM runs ORDER BY started")]
    assert sorted(labels) == sorted([netns, ssh, netns, ssh])
    assert con.execute("SELECT count(DISTINCT fleet_id) FROM runs").fetchone()[0] == 2

