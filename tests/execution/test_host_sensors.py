"""Host sensors of a target the harness did not build: the probe's answers, the audit rules' life cycle
and every way auditd can be unavailable (a scripted shell stands in for the host: these are the
error paths; tests/lab/test_host_sensors.py runs the real thing on the embedded lab's host)."""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from harness.collection import Sensor, Source
from harness.execution.host_sensors import HostFacts, HostSensors, parse_probe, sysmon_status
from harness.lab import teardown
from harness.lab.auditctl import harness_rules
from harness.lab.state import LabState

PROBE_OUT = """audit_enabled=1
audit_execve_rules=0
audit_log=/var/log/audit/audit.log
audit_log_readable=1
sysmon=/var/log/syslog
proxy_log=/var/log/squid/access.log
hostname=lab-07
addresses=198.51.100.2 10.0.0.5
"""


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str = ""


@dataclass
class ScriptedHost:
    """auditctl as a host would answer it: a rule list, 'Rule exists', a failure for chosen rules."""

    url: str = "ssh://root@host"
    rules: list[str] = field(default_factory=list)
    fail_on: str | None = None
    commands: list[str] = field(default_factory=list)

    def run(self, command: str, *, timeout: float | None = None) -> Result:
        self.commands.append(command)
        args = shlex.split(command)
        if args[:2] == ["auditctl", "-A"]:
            spec = " ".join(args[2:])
            if self.fail_on and self.fail_on in spec:
                return Result(255, "", "Error sending add rule data request (Operation not permitted)")
            if spec in self.rules:
                return Result(255, "", "Error sending add rule data request (Rule exists)")
            self.rules.insert(0, spec)
            return Result(0, "")
        if args[:2] == ["auditctl", "-d"]:
            spec = " ".join(args[2:])
            if spec not in self.rules:
                return Result(255, "", "Error sending delete rule data request (No rule matches)")
            self.rules.remove(spec)
            return Result(0, "")
        if args[:2] == ["auditctl", "-m"]:
            return Result(0, "")
        return Result(0, "")


def _ledger(tmp_path: Path) -> LabState:
    return LabState.open(tmp_path / "ledger", "target ssh://root@host")


def test_probe_answers_are_parsed() -> None:
    facts = parse_probe(PROBE_OUT + "noise without equals\nunknown_key=1\n")
    assert facts == HostFacts(audit_enabled="1", audit_execve_rules=0, audit_log="/var/log/audit/audit.log",
                              audit_log_readable=True, sysmon="/var/log/syslog", dns_log=None,
                              proxy_log="/var/log/squid/access.log", hostname="lab-07",
                              addresses=("198.51.100.2", "10.0.0.5"))
    assert parse_probe("") == HostFacts()


def test_sysmon_is_available_from_a_syslog_file_or_the_journal() -> None:
    assert sysmon_status(HostFacts(sysmon="/var/log/messages")).available
    journal = sysmon_status(HostFacts(sysmon="journald"))
    assert journal.available and "journal" in journal.reason
    for where, why in (("absent", "not running"), ("none", "no event for a probe command")):
        st = sysmon_status(HostFacts(sysmon=where))
        assert not st.available and why in st.reason, st


def test_rules_are_recorded_added_and_removed_exactly(tmp_path: Path) -> None:
    host = ScriptedHost(rules=["-a always,exit -F arch=b64 -S openat -F key=hosts_own"])
    ledger = _ledger(tmp_path)
    sensors = HostSensors(host, ledger)
    plan = sensors.start(["s3cret"], probe=lambda: parse_probe(PROBE_OUT))
    ours = [str(r) for r in harness_rules()]
    assert host.rules[: len(ours)] == ours  # prepended, in the listed order
    assert [r.name for r in ledger.resources if r.kind == "target_audit_rule"] == list(reversed(ours))
    by_sensor = {s.name: s for s in plan.sensors}
    assert by_sensor[Sensor.AUDITD].available and by_sensor[Sensor.SYSMON].available
    assert by_sensor[Sensor.PROXY].available and not by_sensor[Sensor.DNS].available
    assert [(s.source, s.path) for s in plan.logs] == [(Source.AUDITD, "/var/log/audit/audit.log"),
                                                       (Source.SYSMON, "/var/log/syslog"),
                                                       (Source.SQUID, "/var/log/squid/access.log")]
    assert plan.client_addresses == ("198.51.100.2", "10.0.0.5") and plan.secrets == ("s3cret",)
    assert plan.audit_sync is not None
    plan.audit_sync("marker-1")
    assert host.commands[-1] == "auditctl -m marker-1"
    assert sorted(sensors.close()) == sorted(ours)
    assert host.rules == ["-a always,exit -F arch=b64 -S openat -F key=hosts_own"]  # the host's own rule stays
    assert not [r for r in ledger.resources if r.kind == "target_audit_rule"]


def test_rules_the_host_already_has_are_neither_added_nor_removed(tmp_path: Path) -> None:
    ours = [str(r) for r in harness_rules()]
    host = ScriptedHost(rules=list(ours[:2]))  # e.g. the embedded lab's own rules, live on this kernel
    sensors = HostSensors(host, _ledger(tmp_path))
    plan = sensors.start([], probe=lambda: parse_probe(PROBE_OUT))
    auditd = next(s for s in plan.sensors if s.name == Sensor.AUDITD)
    assert auditd.available and "2 already present" in auditd.reason
    sensors.close()
    assert host.rules == ours[:2]


def test_a_failing_rule_makes_auditd_unavailable_and_undoes_the_others(tmp_path: Path) -> None:
    host = ScriptedHost(fail_on="-S connect")
    ledger = _ledger(tmp_path)
    plan = HostSensors(host, ledger).start([], probe=lambda: parse_probe(PROBE_OUT))
    auditd = next(s for s in plan.sensors if s.name == Sensor.AUDITD)
    assert not auditd.available and "Operation not permitted" in auditd.reason and auditd.mandatory
    assert host.rules == [] and not ledger.resources
    assert all(s.source != Source.AUDITD for s in plan.logs) and plan.audit_sync is None


def test_locked_or_missing_auditd_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    cases = [
        (PROBE_OUT.replace("audit_enabled=1", "audit_enabled=2"), False, "locked (auditctl -e 2)"),
        (PROBE_OUT.replace("audit_enabled=1", "audit_enabled=2").replace("audit_execve_rules=0",
                                                                          "audit_execve_rules=3"),
         True, "host's own 3 execve rule(s)"),
        (PROBE_OUT.replace("audit_enabled=1", "audit_enabled=0"), False, "disabled"),
        (PROBE_OUT.replace("audit_enabled=1", "audit_enabled="), False, "not installed"),
        (PROBE_OUT.replace("audit_log_readable=1", "audit_log_readable=0"), False, "not readable"),
    ]
    for text, available, why in cases:
        host = ScriptedHost()
        plan = HostSensors(host, _ledger(tmp_path)).start([], probe=functools.partial(parse_probe, text))
        auditd = next(s for s in plan.sensors if s.name == Sensor.AUDITD)
        assert (auditd.available, why in auditd.reason) == (available, True), (why, auditd)
        assert host.rules == []  # nothing added to a locked, disabled or unreadable host


def test_target_cleanup_deletes_a_recorded_rule_after_a_crash(tmp_path: Path) -> None:
    host = ScriptedHost()
    ledger = _ledger(tmp_path)
    sensors = HostSensors(host, ledger)
    sensors.start([], probe=lambda: parse_probe(PROBE_OUT))
    # The run is killed here: close() never runs. `harness target cleanup URL` undoes the ledger.
    reloaded = LabState.load(tmp_path / "ledger")
    assert reloaded is not None

    def run(command: str, shell: str) -> tuple[int, str]:
        res = host.run(command)
        return res.rc, res.stdout + res.stderr

    done, errors = teardown.undo_target_entries(reloaded, run)
    assert errors == [] and len(done) == len(harness_rules()) and host.rules == []
    assert not [r for r in reloaded.resources if r.kind == "target_audit_rule"]


def test_cleanup_refuses_a_rule_without_a_key(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.record("target_audit_rule", "-a always,exit -S all", fields=["always,exit", "-S", "all"])
    done, errors = teardown.undo_target_entries(ledger, lambda c, s: (0, ""))
    assert done == [] and "carries no key" in errors[0]


def test_a_hosts_ulogd_json_output_is_its_firewall_log(tmp_path: Path) -> None:
    plan = HostSensors(ScriptedHost(), _ledger(tmp_path)).start(
        [], probe=lambda: parse_probe(PROBE_OUT + "firewall_log=/var/log/ulog/ulogd.json\n"))
    by_sensor = {s.name: s for s in plan.sensors}
    assert by_sensor[Sensor.FIREWALL].available
    assert (Source.NFLOG, "/var/log/ulog/ulogd.json") in [(s.source, s.path) for s in plan.logs]
    without = HostSensors(ScriptedHost(), _ledger(tmp_path)).start([], probe=lambda: parse_probe(PROBE_OUT))
    firewall = {s.name: s for s in without.sensors}[Sensor.FIREWALL]
    assert not firewall.available and "ulogd2 with a JSON output stack" in firewall.reason
