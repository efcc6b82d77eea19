"""Telemetry from a host the harness did not build (``ssh://``, ``local://``): the host's own sensors,
read over the target's own channel with the same log taps, audit barrier, attribution and redaction
as the labs.

auditd: the harness's keyed rules (``harness.lab.auditctl.harness_rules``) are added on the host,
each recorded in the target's ledger before it is added (so ``harness target cleanup URL`` removes
it after a crash), and removed when the session ends. A rule auditctl refuses as present (``Rule
exists``) is the host's and is left alone; a kernel that takes an identical rule twice (Linux 6.18
here did, beside the embedded lab's own) gets a second copy, removed at the end, so the host's list
is as it was. A host whose audit
configuration is locked (``auditctl -e 2``) takes no rule: auditd is then available only when the
host's own rules log execve, and the reason says which rules are used.

Sysmon for Linux: its events are read from the syslog file they reach (``/var/log/syslog``,
``/var/log/messages``), or from the systemd journal (``journalctl -t sysmon``, sliced by cursor)
when they reach only the journal; the probe's own command must show up in one of them.

Resolver and proxy logs are taken when the host has them at their Debian places (dnsmasq with
``log-queries`` and a ``log-facility`` file, Squid's ``/var/log/squid/access.log``); the firewall
log when a running ulogd2 has a JSON output on an active stack (its ``-c`` config, else
``/etc/ulogd.conf``; the instance's ``file``, else the JSON plugin's compiled-in ``/var/log/ulogd.json``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.collection import CollectionPlan, LogSpec, Sensor, SensorStatus, Shell, Source
from harness.errors import TelemetryError
from harness.lab.auditctl import AuditRule, harness_rules
from harness.lab.state import LabState
from harness.telemetry.collectors.files import JOURNAL

#: ``key=value`` lines; POSIX sh, read-only apart from the harmless probe command ``: <nonce>``.
HOST_PROBE = r"""
if command -v auditctl >/dev/null 2>&1 && auditctl -s >/dev/null 2>&1; then
  echo "audit_enabled=$(auditctl -s 2>/dev/null | sed -n 's/^enabled //p')"
  echo "audit_execve_rules=$(auditctl -l 2>/dev/null | grep -c 'execve')"
else echo "audit_enabled="; fi
f=$(sed -n 's/^[[:space:]]*log_file[[:space:]]*=[[:space:]]*//p' /etc/audit/auditd.conf 2>/dev/null | tail -1)
f=${f:-/var/log/audit/audit.log}
echo "audit_log=$f"
if [ -r "$f" ]; then echo "audit_log_readable=1"; else echo "audit_log_readable=0"; fi
if pgrep -x sysmon >/dev/null 2>&1; then
  n="recon-host-probe-$$-$(date +%s%N)"; sh -c ": $n"; i=0; found=""
  while [ $i -lt 20 ] && [ -z "$found" ]; do
    for c in /var/log/syslog /var/log/messages; do
      if [ -z "$found" ] && [ -r "$c" ] && tail -n 20000 "$c" 2>/dev/null | grep -q "$n"; then found=$c; fi
    done
    if [ -z "$found" ] && journalctl -t sysmon --since -2min -o cat 2>/dev/null | grep -q "$n"; then
      found=journald; fi
    [ -z "$found" ] && { sleep 0.5; i=$((i + 1)); }
  done
  echo "sysmon=${found:-none}"
else echo "sysmon=absent"; fi
d=$(grep -rhs '^log-facility=/' /etc/dnsmasq.conf /etc/dnsmasq.d 2>/dev/null | tail -1 | cut -d= -f2)
if pgrep -x dnsmasq >/dev/null 2>&1 && grep -rqs '^log-queries' /etc/dnsmasq.conf /etc/dnsmasq.d && [ -r "$d" ]; then
  echo "dns_log=$d"; fi
p=/var/log/squid/access.log
if pgrep -x squid >/dev/null 2>&1 && [ -r $p ]; then echo "proxy_log=$p"; fi
for u in $(pgrep -x ulogd 2>/dev/null); do
  c=$(tr '\0' '\n' < /proc/$u/cmdline 2>/dev/null | awk 'p {print; exit} $0 == "-c" || $0 == "--configfile" {p = 1}
    /^--configfile=/ {sub(/^--configfile=/, ""); print; exit} /^-c./ {sub(/^-c/, ""); print; exit}')
  c=${c:-/etc/ulogd.conf}
  stacks=$(sed -n 's/^[[:space:]]*stack[[:space:]]*=[[:space:]]*//p' "$c" 2>/dev/null | tr -d '"')
  for j in $(echo "$stacks" | tr ',' '\n' | sed -n 's/:JSON$//p'); do
    f=$(awk -v s="[$j]" '$0 == s {p = 1; next} /^\[/ {p = 0}
      p && /^[[:space:]]*file[[:space:]]*=/ {sub(/^[^=]*=[[:space:]]*/, ""); gsub(/"/, ""); print; exit}' "$c")
    f=${f:-/var/log/ulogd.json}
    if [ -r "$f" ]; then echo "firewall_log=$f"; break 2; fi
  done
done
echo "hostname=$(hostname 2>/dev/null)"
echo "addresses=$(hostname -I 2>/dev/null)"
"""


@dataclass(frozen=True)
class HostFacts:
    """What the probe found on the host."""

    audit_enabled: str = ""  # auditctl -s "enabled": 0, 1, 2 (locked); "" without auditd
    audit_execve_rules: int = 0  # rules of the host (any key) that name execve
    audit_log: str = "/var/log/audit/audit.log"
    audit_log_readable: bool = False
    sysmon: str = "absent"  # the syslog file Sysmon's events reach, "journald", "none" (runs, no event), "absent"
    dns_log: str | None = None
    proxy_log: str | None = None
    firewall_log: str | None = None  # the JSON output file of a running ulogd2 (NFLOG stack)
    hostname: str = ""
    addresses: tuple[str, ...] = ()


def parse_probe(text: str) -> HostFacts:
    """The probe's ``key=value`` lines; unknown keys and other lines are ignored."""
    kv: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            kv[key] = value.strip()
    rules = kv.get("audit_execve_rules", "0")
    return HostFacts(
        audit_enabled=kv.get("audit_enabled", ""),
        audit_execve_rules=int(rules) if rules.isdigit() else 0,
        audit_log=kv.get("audit_log") or "/var/log/audit/audit.log",
        audit_log_readable=kv.get("audit_log_readable") == "1",
        sysmon=kv.get("sysmon", "absent"),
        dns_log=kv.get("dns_log") or None,
        proxy_log=kv.get("proxy_log") or None,
        firewall_log=kv.get("firewall_log") or None,
        hostname=kv.get("hostname", ""),
        addresses=tuple(kv.get("addresses", "").split()),
    )


def sysmon_status(facts: HostFacts) -> SensorStatus:
    where = facts.sysmon
    if where.startswith("/"):
        return SensorStatus(Sensor.SYSMON, True, f"a probe command's event arrived in {where}")
    if where == "journald":
        return SensorStatus(Sensor.SYSMON, True, "a probe command's event arrived in the journal (no syslog file)")
    why = {
        "absent": "Sysmon for Linux is not running",
        "none": "sysmon runs but no event for a probe command reached /var/log/syslog, /var/log/messages "
                "or journald within 10 s",
    }.get(where, f"unexpected probe answer {where!r}")
    return SensorStatus(Sensor.SYSMON, False, why)


@dataclass
class HostSensors:
    """The host's sensors for one session: rules added by :meth:`start`, removed by :meth:`close`."""

    target: Shell  # the target's own channel (harness.targets.base.Target)
    ledger: LabState | None
    audit_key: str = "recon_harness"
    watch_dirs: Sequence[str] = ("/tmp",)
    added: list[AuditRule] = field(default_factory=list)
    preexisting: list[AuditRule] = field(default_factory=list)
    facts: HostFacts = field(default_factory=HostFacts)

    def _run(self, args: Sequence[str]) -> tuple[int, str]:
        res = self.target.run(" ".join(shlex.quote(a) for a in args), timeout=30)
        return res.rc, res.stdout + res.stderr

    def probe(self) -> HostFacts:
        res = self.target.run(HOST_PROBE, timeout=60)
        return parse_probe(res.stdout)

    def _install_rules(self) -> str | None:
        """Add the harness's rules (first-match-wins, so prepended in reverse); the error, if any."""
        for rule in reversed(harness_rules(self.audit_key, self.watch_dirs)):
            res = (self.ledger.record("target_audit_rule", str(rule), fields=list(rule.fields))
                   if self.ledger is not None else None)
            rc, out = self._run(rule.add_args())
            if rc == 0:
                self.added.append(rule)
                continue
            if res is not None and self.ledger is not None:
                self.ledger.discard(res)
            if "exists" in out.lower():
                self.preexisting.append(rule)  # the host's (or the embedded lab's): never ours to remove
                continue
            return f"auditctl {' '.join(rule.add_args()[1:])} failed on the host: {out.strip()[:300]}"
        return None

    def auditd_status(self, facts: HostFacts) -> SensorStatus:
        if facts.audit_enabled == "":
            return SensorStatus(Sensor.AUDITD, False, "auditd is not installed or auditctl -s fails on the host",
                                mandatory=True)
        if not facts.audit_log_readable:
            return SensorStatus(Sensor.AUDITD, False, f"the audit log {facts.audit_log} is not readable",
                                mandatory=True)
        if facts.audit_enabled == "0":
            return SensorStatus(Sensor.AUDITD, False, "auditing is disabled on the host (auditctl -e 0)",
                                mandatory=True)
        if facts.audit_enabled == "2":
            if facts.audit_execve_rules > 0:
                return SensorStatus(Sensor.AUDITD, True,
                                    f"the audit configuration is locked (-e 2): the host's own "
                                    f"{facts.audit_execve_rules} execve rule(s) are used, not the harness's",
                                    mandatory=True)
            return SensorStatus(Sensor.AUDITD, False, "the audit configuration is locked (auditctl -e 2) and the "
                                "host's own rules log no execve: the harness cannot add its rules", mandatory=True)
        error = self._install_rules()
        if error is not None:
            self.close()
            return SensorStatus(Sensor.AUDITD, False, error, mandatory=True)
        return SensorStatus(Sensor.AUDITD, True, f"{len(self.added)} harness rule(s) added, "
                            f"{len(self.preexisting)} already present", mandatory=True)

    def start(self, secrets: Sequence[str], probe: Callable[[], HostFacts] | None = None) -> CollectionPlan:
        facts = self.facts = (probe or self.probe)()
        auditd = self.auditd_status(facts)
        sysmon = sysmon_status(facts)
        sensors = [auditd, sysmon,
                   SensorStatus(Sensor.DNS, facts.dns_log is not None,
                                "" if facts.dns_log else "no dnsmasq with log-queries and a log-facility file"),
                   SensorStatus(Sensor.PROXY, facts.proxy_log is not None,
                                "" if facts.proxy_log else "no Squid with a readable /var/log/squid/access.log"),
                   SensorStatus(Sensor.FIREWALL, facts.firewall_log is not None,
                                "" if facts.firewall_log else "no running ulogd2 with a JSON output stack and a "
                                "readable output file"),
                   SensorStatus(Sensor.INET, False, "the simulated internet exists only in the labs")]
        logs = []
        if auditd.available:
            logs.append(LogSpec(Source.AUDITD, facts.audit_log, Sensor.AUDITD, self.target))
        if sysmon.available:
            path = f"{JOURNAL}sysmon" if facts.sysmon == "journald" else facts.sysmon
            logs.append(LogSpec(Source.SYSMON, path, Sensor.SYSMON, self.target))
        if facts.dns_log:
            logs.append(LogSpec(Source.DNSMASQ, facts.dns_log, Sensor.DNS, self.target))
        if facts.proxy_log:
            logs.append(LogSpec(Source.SQUID, facts.proxy_log, Sensor.PROXY, self.target))
        if facts.firewall_log:
            logs.append(LogSpec(Source.NFLOG, facts.firewall_log, Sensor.FIREWALL, self.target))

        def audit_sync(marker: str) -> None:
            rc, out = self._run(["auditctl", "-m", marker])
            if rc != 0:
                raise TelemetryError(f"auditctl -m failed on the host: {out.strip()[:200]}")

        return CollectionPlan(logs=tuple(logs), sensors=tuple(sensors), secrets=tuple(secrets),
                              client_addresses=facts.addresses,
                              audit_sync=audit_sync if auditd.available else None)

    def close(self) -> list[str]:
        """Remove the rules this session added (newest first); the ledger forgets each one removed."""
        removed: list[str] = []
        for rule in list(self.added):
            rc, out = self._run(rule.delete_args())
            if rc != 0 and "No rule matches" not in out:
                continue  # stays in the ledger: `harness target cleanup URL` retries it
            self.added.remove(rule)
            removed.append(str(rule))
            if self.ledger is not None:
                for res in list(self.ledger.resources):
                    if res.kind == "target_audit_rule" and res.data.get("fields") == list(rule.fields):
                        self.ledger.discard(res)
        return removed
