"""Three embedded labs on one machine, as a user runs them: `harness lab up` and `harness lab up --name`
twice, then `pytest atomics/ -n 3` over netns://rah, netns://b and netns://c.

Each lab reaches the verdicts a single run reaches; no lab's normalised telemetry holds another's
atomic outputs; the first lab down leaves the others working (sshd's /run/sshd, auditd's rules, the
shared Sysmon); the last one down leaves the host as it was."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.evidence import verify_manifest
from harness.evidence.fleet import fleet_validator
from harness.lab import auditctl, hoststate
from harness.lab.config import LabConfig, load_lab_config
from harness.lab.embedded import EmbeddedLab
from harness.lab.instances import instance_config
from harness.lab.lock import lab_lock
from harness.targets import get_target

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="the embedded lab needs root")]
ROOT = Path(__file__).resolve().parents[2]
NAMES = ("b", "c")
#: what one lab alone gives (tests/lab/test_embedded.py and the README): the verdict per atomic
SINGLE = {"T1590.005-1": "ALERTED", "T1590.005-2": "ALERTED", "T1590.005-3": "ALERTED",
          "T1590.005-4": "ALERTED", "T1590.005-5": "ALERTED", "negative-control": "CLEAN"}
OUTPUT = re.compile(r"/tmp/atomic-([a-z0-9]+-)?(shodan|arin|rdap|nmap|harvester|bgp)")


def _harness(*args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _settled_snapshot(cfg: LabConfig) -> hoststate.HostState:
    """The host snapshot once IPv6 duplicate address detection on the lab's fresh host link is over:
    a CI run's "before" caught rah-h0's link-local address still `tentative`, and its local routes
    not yet there, which differed from "after" with nothing left behind."""
    deadline = time.monotonic() + 15
    while "tentative" in hoststate.cmd_output("ip", "-o", "addr", "show") and time.monotonic() < deadline:
        time.sleep(0.2)
    snap = hoststate.snapshot(cfg)
    for _ in range(10):  # and until two snapshots half a second apart agree
        time.sleep(0.5)
        again = hoststate.snapshot(cfg)
        if again == snap:
            break
        snap = again
    return snap


def _down_all() -> None:
    for name in NAMES:
        _harness("lab", "down", "--name", name)
    _harness("lab", "down")


def test_three_labs_in_parallel_and_the_last_one_down_restores_the_host(tmp_path: Path) -> None:
    cfg = load_lab_config()
    with lab_lock(f"{cfg.name}-instances-test"):
        _down_all()
        before = hoststate.snapshot(cfg)
        try:
            _run_three(cfg, tmp_path)
        finally:
            _down_all()
        assert hoststate.snapshot(cfg).diff(before) == []


def _run_three(cfg: object, tmp_path: Path) -> None:
    base = load_lab_config()
    _harness("lab", "up")
    for name in NAMES:
        up = json.loads(_harness("lab", "up", "--name", name, "--json"))
        assert up["target"] == f"netns://{name}"
    labs = [EmbeddedLab(base)] + [EmbeddedLab(instance_config(base, n)) for n in NAMES]
    transits = {str(lab.cfg.transit) for lab in labs}
    assert len(transits) == 3, transits
    sysmon_before = {}
    for lab in labs:  # every sensor a lab counts on is live in each (Sysmon where it is installed)
        sensors = {s.name: s for s in lab.sensors()}
        assert [s for s in sensors.values() if s.mandatory and not s.available] == [], sensors
        sysmon_before[lab.cfg.name] = sensors["sysmon"].available
    assert len(set(sysmon_before.values())) == 1, sysmon_before  # one install, shared by all three

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    ev, rec = tmp_path / "ev", tmp_path / "rec"
    targets = [f"netns://{lab.cfg.name}" for lab in labs]
    cmd = [sys.executable, "-m", "pytest", "atomics/", "-p", "no:cacheprovider", "-q", "-n", "3", "--dist",
           "loadgroup", "--evidence-dir", str(ev), "--record", str(rec)]
    for t in targets:
        cmd += ["--target", t]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]

    (evidence,) = ev.iterdir()
    doc = json.loads((evidence / "run.json").read_text())
    fleet_validator().validate(doc)
    assert verify_manifest(evidence) == []
    assert [r["target"]["url"] for r in doc["targets"]] == targets  # the targets' order, not the workers'
    for record in doc["targets"]:
        verdicts = {a["id"]: a["verdict"] for a in [*record["atomics"], record["negative_control"]]}
        assert verdicts == SINGLE, (record["target"]["url"], verdicts)

    # Isolation: what the rules saw on each lab names only that lab's own atomic outputs.
    for run in rec.iterdir():
        url = json.loads((run / "target.json").read_text())["target"]
        mine = url.removeprefix("netns://")
        prefix = "" if mine == base.name else f"{mine}-"
        seen = {m.group(1) or "" for f in run.glob("*/sigma.jsonl") for m in OUTPUT.finditer(f.read_text())}
        assert seen == {prefix}, (url, seen)

    # The first lab down leaves the others working: a new login, the harness's audit rules, Sysmon.
    rules = auditctl.rules_live(base.telemetry.audit_key)
    _harness("lab", "down")
    assert auditctl.rules_live(base.telemetry.audit_key) == rules > 0
    for lab in labs[1:]:
        assert lab.status().up, lab.status().problems
        target = get_target(f"netns://{lab.cfg.name}")
        assert target.run("echo ok").stdout == "ok\n"
        target.close()
        sensors = {s.name: s for s in lab.sensors()}
        assert sensors["auditd"].available, sensors["auditd"].reason
        assert sensors["sysmon"].available == sysmon_before[lab.cfg.name], sensors["sysmon"].reason


@pytest.mark.parametrize("phase", ["lab_up", "detonate"])
def test_a_killed_run_on_an_instance_is_undone_without_touching_the_other_lab(phase: str) -> None:
    """kill -9 of `pytest atomics/ --target netns://b` while it builds lab b, or while an atomic runs
    there, with the configured lab up: `harness lab down --name b` leaves the host as it was with
    only the configured lab up, and that lab still works."""
    import signal

    from harness.crashpoint import DELAY_ENV, ENV

    base = load_lab_config()
    with lab_lock(f"{base.name}-instances-test"):
        _down_all()
        _harness("lab", "up")
        try:
            before = _settled_snapshot(base)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
            env[ENV] = phase
            if phase == "detonate":
                env[DELAY_ENV] = "1"
            res = subprocess.run([sys.executable, "-m", "pytest", "atomics/", "-p", "no:cacheprovider", "-q",
                                  "--target", "netns://b"], cwd=ROOT, capture_output=True, text=True, env=env,
                                 timeout=600, start_new_session=True)
            assert res.returncode == -signal.SIGKILL, (res.stdout + res.stderr)[-2000:]
            _harness("lab", "down", "--name", "b")
            assert hoststate.snapshot(base).diff(before) == []
            target = get_target(f"netns://{base.name}")
            assert target.run("echo ok").stdout == "ok\n"
            target.close()
            assert {s.name: s for s in EmbeddedLab(base).sensors()}["auditd"].available
        finally:
            _down_all()
