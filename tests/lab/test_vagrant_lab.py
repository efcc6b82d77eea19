"""The Vagrant lab VM for real: libvirt, the locally built box, the atomics inside the VM.

Boots a VM (minutes under software emulation), so it runs only with RECON_HARNESS_VAGRANT=1 (and
root): ``RECON_HARNESS_VAGRANT=1 .venv/bin/pytest -m lab tests/lab/test_vagrant_lab.py``.
The unmarked tests at the top check the isolated network's definition without libvirt.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.lab.config import load_lab_config, vagrant_env
from harness.lab.vagrant import DOMAIN_PREFIX, POOL, VagrantLab, check_isolated, network_xml, virsh

VM = pytest.mark.skipif(os.environ.get("RECON_HARNESS_VAGRANT") != "1",
                        reason="boots a VM: set RECON_HARNESS_VAGRANT=1 to run")


def test_network_definition_is_isolated() -> None:
    vc = load_lab_config().vagrant
    xml = network_xml(vc.net_name, vc.net_address)
    assert check_isolated(xml) == []
    assert "<forward" not in xml and "<dns enable='no'/>" in xml
    assert "198.19.10.1" in xml


def test_vagrant_settings_come_from_the_lab_config_and_reach_the_vagrantfile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import resources

    monkeypatch.delenv("RECON_HARNESS_NET_NAME", raising=False)
    monkeypatch.delenv("RECON_HARNESS_SERIAL_LOG", raising=False)
    text = resources.files("harness.lab").joinpath("default-lab.toml").read_text()
    p = tmp_path / "lab.toml"
    p.write_text(text.replace('net_name = "recon-harness"', 'net_name = "rh-test"'))
    vc = load_lab_config(p).vagrant
    assert vc.net_name == "rh-test" and str(vc.net_address) == "198.19.10.0/24"
    env = vagrant_env(vc)
    assert env["RECON_HARNESS_NET_NAME"] == "rh-test" and env["RECON_HARNESS_NET_ADDRESS"] == "198.19.10.0/24"
    assert env["VAGRANT_HOME"] == str(vc.cache_dir / "vagrant.d") or "VAGRANT_HOME" in os.environ
    # A config without [vagrant] gets the packaged settings; the environment overrides either.
    p.write_text(text.partition("[vagrant]")[0])
    monkeypatch.setenv("RECON_HARNESS_SERIAL_LOG", str(tmp_path / "serial.log"))
    vc = load_lab_config(p).vagrant
    assert vc.net_name == "recon-harness" and vc.serial_log == tmp_path / "serial.log"


def test_check_isolated_names_every_problem() -> None:
    nat = "<network><name>n</name><forward mode='nat'/><ip address='192.168.121.1'/></network>"
    problems = check_isolated(nat)
    assert len(problems) == 2
    assert "forward" in problems[0] and "DNS" in problems[1]


def _harvester_in_cache() -> bool:
    """Whether vagrant/build-box.sh baked theHarvester into the box (it asks the same check)."""
    from harness.packages import PackageUnavailable, PinError
    from harness.packages.theharvester import cached_release

    try:
        cached_release()
    except (PackageUnavailable, PinError):
        return False
    return True


def _leftovers() -> list[str]:
    """Our domains, network, volumes and QEMU/libvirt processes that still exist."""
    found: list[str] = []
    if virsh("version", check=False).returncode == 0:
        found += [f"domain {d}" for d in virsh("list", "--all", "--name", check=False).stdout.split()
                  if d.startswith(DOMAIN_PREFIX)]
        found += [f"network {n}" for n in virsh("net-list", "--all", "--name", check=False).stdout.split()
                  if n == load_lab_config().vagrant.net_name]
        found += [f"volume {v}" for v in virsh("vol-list", POOL, check=False).stdout.split()
                  if "recon-harness" in v]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    found += [f"process {line.strip()}" for line in ps.splitlines()
              if f"guest={DOMAIN_PREFIX}" in line]
    return found


@pytest.fixture(scope="module")
def lab_vm() -> Iterator[VagrantLab]:
    lab = VagrantLab()
    lab.down()
    libvirt_was_running = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True).returncode == 0
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
        assert _leftovers() == [], "lab down left things behind"
        if not libvirt_was_running:
            assert subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True).returncode != 0, \
                "libvirtd started by the lab is still running"


@pytest.mark.lab
@VM
def test_atomics_run_in_the_vm_with_the_embedded_lab_verdicts(lab_vm: VagrantLab, tmp_path: Path) -> None:
    from harness.atomics.loader import default_technique_path, load_technique
    from harness.execution.runner import Runner
    from harness.execution.scope import Scope
    from harness.lab.vagrant_target import VagrantTarget

    target = VagrantTarget.for_machine("default")
    assert target.facts()["host_key_verification"] in ("known_hosts", "pinned")
    key = secrets.token_hex(16)
    from harness.execution.collect import TelemetrySession
    from harness.views.context import ViewContext

    plan = lab_vm.collection([key], target=target)
    telemetry = TelemetrySession.from_plan(plan, ViewContext.from_lab_config(lab_vm.cfg))
    sensors = {s.name: s for s in telemetry.sensors}
    for name in ("auditd", "dns", "proxy", "firewall", "inet"):
        assert sensors[name].available, sensors[name]
    # Sysmon is never pretended: the offline VM says exactly why it is not there.
    assert not sensors["sysmon"].available
    assert "Microsoft's package repository" in sensors["sysmon"].reason and "offline" in sensors["sysmon"].reason

    technique = load_technique(default_technique_path())
    runs: dict[str, Any] = {}
    counts: dict[str, dict[str, Any]] = {}
    for test in technique.atomic_tests:
        runner = Runner(target, Scope.from_lab(lab_vm.cfg), env={"SHODAN_API_KEY": key}, secrets=[key],
                        get_prereqs=True, timeout_s=300)
        marks = telemetry.begin()
        run = runner.run(test, {})
        runs[run.id] = run
        if run.detonation_commands():
            tel = telemetry.finish(run, marks, tmp_path / run.id)
            counts[run.id] = tel.counts
    target.close()

    for aid in ("T1590.005-1", "T1590.005-2", "T1590.005-3", "T1590.005-5"):
        assert runs[aid].status == "EXECUTED", runs[aid].to_dict()
        det = runs[aid].detonation_commands()
        assert det and det[0].audit_session is not None, "VM logins must carry an audit session id"
        # Telemetry collected from the VM over SSH, attributed to this detonation.
        assert counts[aid]["auditd"]["kept"] > 0, counts[aid]
    # theHarvester is baked into the box when the package cache held the pinned release
    # (vagrant/build-box.sh checks the same pin); then it runs against the VM's simulated internet.
    h = runs["T1590.005-4"]
    if _harvester_in_cache():
        assert h.status == "EXECUTED", h.to_dict()
        assert counts["T1590.005-4"]["inet"]["kept"] > 0, counts["T1590.005-4"]
    else:
        assert h.status == "PREREQ_MISSING" and "prerequisite missing" in h.reason
        assert not h.detonation_commands()
    # Resolver and proxy telemetry of the lookups came from the VM's simulated internet.
    assert counts["T1590.005-1"]["dnsmasq"]["kept"] > 0 and counts["T1590.005-1"]["squid"]["kept"] > 0
    assert counts["T1590.005-2"]["inet"]["kept"] > 0
    sigma = [json.loads(x) for x in (tmp_path / "T1590.005-3" / "sigma.jsonl").read_text().splitlines()]
    assert any(e["logsource"]["category"] == "process_creation" and "nmap -sn" in e["event"].get("CommandLine", "")
               for e in sigma)
    # The key never reaches what is stored.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key not in path.read_text(errors="replace"), path


def test_lab_down_undoes_a_killed_runs_target_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run against vagrant:// killed mid-detonation leaves its target ledger: the host-side temp dir
    is removed, the pending cleanup inside the (destroyed) VM is forgotten, the ledger goes."""
    from harness.lab.state import target_state

    monkeypatch.setenv("RECON_HARNESS_STATE_DIR", str(tmp_path / "state"))
    ledger = target_state("vagrant://default?cwd=/somewhere")
    host_tmp = ledger.tempdir("recon-harness-testinfra-", parent=tmp_path)
    ledger.record("atomic_cleanup", "T1590.005-1", command="rm -rf /tmp/atomic-shodan-home", shell="sh")
    assert host_tmp.exists() and (tmp_path / "state" / "targets").exists()
    errors: list[str] = []
    done = VagrantLab()._forget_target_ledger(errors)
    assert errors == [] and not host_tmp.exists()
    assert any("in the destroyed VM" in d for d in done) and any(str(host_tmp) in d for d in done)
    assert not list((tmp_path / "state" / "targets").iterdir())
    assert VagrantLab()._forget_target_ledger(errors) == []  # nothing left: a second down is a no-op
