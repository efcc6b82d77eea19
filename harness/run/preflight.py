"""Preflight probe for targets the harness did not build: ask the host which sensors it really has.

The embedded lab answers for itself (``EmbeddedLab.sensors()``: its audit rules live, its
resolver, proxy, NFLOG and simulated-internet processes running). Any other target is asked over
its own channel; only auditd is mandatory there, unless ``--require-sensor NAME`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.errors import HarnessError
from harness.targets.base import Target

#: One line per sensor: ``<name> <0|1> <reason>``. POSIX sh, read-only apart from one probe command
#: (``: <nonce>``) whose Sysmon event must arrive: a running binary alone does not make Sysmon available.
PROBE = r"""
if command -v auditctl >/dev/null 2>&1 && auditctl -s 2>/dev/null | grep -q '^enabled [12]'; then
  n=$(auditctl -l 2>/dev/null | grep -c 'execve')
  if [ "$n" -gt 0 ]; then echo "auditd 1 $n execve rule(s) live"
  else echo "auditd 0 auditd runs but no execve rule is live"; fi
else echo "auditd 0 auditd is not running or not enabled (auditctl -s)"; fi
if pgrep -x sysmon >/dev/null 2>&1; then
  n="recon-sysmon-probe-$$-$(date +%s%N)"; sh -c ": $n"; i=0; found=0
  while [ $i -lt 20 ] && [ $found = 0 ]; do
    if { journalctl -t sysmon --since -2min -o cat 2>/dev/null
         tail -n 20000 /var/log/syslog /var/log/messages 2>/dev/null; } | grep -q "$n"
    then found=1; else sleep 0.5; i=$((i + 1)); fi
  done
  if [ $found = 1 ]; then echo "sysmon 1 a probe command's event arrived in the syslog"
  else echo "sysmon 0 sysmon runs but no event for a probe command reached the syslog within 10 s"; fi
else echo "sysmon 0 Sysmon for Linux is not running"; fi
if pgrep -x dnsmasq >/dev/null 2>&1 && grep -rqs '^log-queries' /etc/dnsmasq.conf /etc/dnsmasq.d; then
  echo "dns 1 dnsmasq logs queries"; else echo "dns 0 no resolver with query logging (dnsmasq log-queries)"; fi
if pgrep -x squid >/dev/null 2>&1; then echo "proxy 1 squid running"; else echo "proxy 0 no proxy (squid) running"; fi
if command -v nft >/dev/null 2>&1 && nft list ruleset 2>/dev/null | grep -q ' log '; then
  echo "firewall 1 nftables log rules present"; else echo "firewall 0 no nftables log rule"; fi
echo "inet 0 the simulated internet exists only in the embedded lab"
"""


def probe_sensors(target: Target) -> list[dict[str, Any]]:
    """Sensor statuses of ``target``; auditd is mandatory."""
    try:
        res = target.run(PROBE, timeout=30)
    except HarnessError as exc:
        return [{"name": "auditd", "available": False, "reason": f"preflight probe failed: {exc}",
                 "mandatory": True}]
    out = []
    for line in res.stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in ("0", "1"):
            ok = parts[1] == "1"
            out.append({"name": parts[0], "available": ok, "reason": "" if ok else parts[2],
                        "mandatory": parts[0] == "auditd"})
    if not any(s["name"] == "auditd" for s in out):
        out.append({"name": "auditd", "available": False, "mandatory": True,
                    "reason": f"preflight probe gave no answer (rc {res.rc}): {res.stderr.strip()[:200]}"})
    return out


def require_sensors(sensors: list[Any], names: Sequence[str]) -> list[Any]:
    """``sensors`` (dicts or objects with ``to_dict``) with each of ``names`` mandatory; a required
    sensor the target did not report at all is added as unavailable, so its signals are ERROR too."""
    if not names:
        return sensors
    rows = [s if isinstance(s, dict) else s.to_dict() for s in sensors]
    out = [{**r, "mandatory": True} if r.get("name") in names else r for r in rows]
    for name in names:
        if not any(r.get("name") == name for r in out):
            out.append({"name": name, "available": False, "mandatory": True,
                        "reason": f"required sensor {name} (--require-sensor) was not reported by the target"})
    return out
