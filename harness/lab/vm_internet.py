"""The embedded lab's simulated internet, run INSIDE a lab VM whose root namespace is the lab host.

The Vagrant lab VM has no internet (its only NIC is on an isolated libvirt network). So that the
same atomics run there offline exactly as in the embedded lab, this module reuses
:class:`harness.lab.embedded.EmbeddedLab`'s services (dnsmasq, the HTTPS services with the lab CA,
Squid with TLS bumping, ulogd2 NFLOG, auditd's keyed rules) with another topology::

    VM root namespace (the lab host: sshd, the atomics)  --veth uplink-->  <name>-inet
    198.51.100.250, resolv.conf -> lab DNS, routes for       dnsmasq, HTTPS services, Squid, ulogd2,
    the simulated internet's ranges via .249                 sweep hosts; no route anywhere else

No lab-host namespace, no transit link and no second sshd: the harness logs into the VM's own
sshd. SSH logins trust the lab CA through CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE and SSL_CERT_FILE in
/etc/environment, as the embedded lab's sshd sets them.

Run inside the VM as root (``vagrant/provision.sh`` does)::

    PYTHONPATH=/opt/recon-harness/src python3 -m harness.lab.vm_internet up|down|status|sensors
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.lab.config import load_lab_config
from harness.lab.embedded import NETNS_RUN, EmbeddedLab
from harness.lab.registry import LabStatus
from harness.lab.shell import in_netns as _ns
from harness.lab.shell import run_checked as _run
from harness.lab.state import LabState
from harness.lab.vagrant_paths import GUEST_SYSMON_LOG

GUEST_CA = Path("/etc/ssl/recon-harness-lab-ca.crt")
RESOLV_CONF = Path("/etc/resolv.conf")
SAVED = Path("/var/lib/recon-harness")
SYSMON_STATUS = SAVED / "sysmon-status"
ENVIRONMENT = Path("/etc/environment")
ENV_MARK = "# recon-harness lab CA"
CA_VARIABLES = ("CURL_CA_BUNDLE=", "REQUESTS_CA_BUNDLE=", "SSL_CERT_FILE=")


class VMInternetLab(EmbeddedLab):
    """The simulated internet and the sensors, with this machine's root namespace as the lab host."""

    def _build(self, state: LabState) -> None:
        cfg = self.cfg
        for d in (self.ssh_dir, self.pki_dir, self.log_dir, self.home_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not NETNS_RUN.exists():
            state.record("dir", str(NETNS_RUN), only_if_empty=True)
        ns = cfg.inet_ns
        self._add_netns(state, ns)
        # The uplink: its lab end in the root namespace (deleting it removes the routes via it).
        state.record("link", self.uplink_lab)
        _run(["ip", "link", "add", self.uplink_lab, "type", "veth", "peer", "name", self.uplink_inet, "netns", ns])
        _run(["ip", "addr", "add", f"{cfg.lab_uplink_ip}/{cfg.uplink.prefixlen}", "dev", self.uplink_lab])
        _run(["ip", "link", "set", self.uplink_lab, "up"])
        _run(_ns(ns, "ip", "addr", "add", f"{cfg.inet_gateway_ip}/{cfg.uplink.prefixlen}", "dev", self.uplink_inet))
        _run(_ns(ns, "ip", "link", "set", self.uplink_inet, "up"))
        # Only the simulated internet's ranges go to the gateway (routed, so nmap -sn sends ICMP).
        for r in cfg.scope.ranges:
            _run(["ip", "route", "replace", str(r), "via", str(cfg.inet_gateway_ip), "dev", self.uplink_lab])
        self._add_internet_addresses()

        # The VM resolves through the lab resolver (the original resolv.conf is restored at down).
        SAVED.mkdir(parents=True, exist_ok=True)
        saved = SAVED / "resolv.conf.orig"
        if not saved.exists():
            shutil.copy2(RESOLV_CONF, saved) if RESOLV_CONF.exists() else saved.write_text("")
        if RESOLV_CONF.is_symlink():
            RESOLV_CONF.unlink()
        RESOLV_CONF.write_text(f"# recon-atomics-harness lab\nnameserver {cfg.dns_server}\n")

        self._start_dns(state)
        self._start_inet(state)
        self._trust_lab_ca()
        self._trust_ca_in_tool_venv(state)
        self._start_proxy(state)
        self._start_firewall_log(state)
        self._start_audit(state)
        self._wait_ready()

    def _trust_lab_ca(self) -> None:
        """SSH logins trust the lab CA, as the embedded lab's sshd sets it (pam_env reads
        /etc/environment): curl, Python requests (the Shodan CLI) and OpenSSL clients."""
        shutil.copy(self.ca_bundle, GUEST_CA)
        GUEST_CA.chmod(0o644)
        current = ENVIRONMENT.read_text().splitlines() if ENVIRONMENT.exists() else []
        kept = [x for x in current if not x.startswith((*CA_VARIABLES, ENV_MARK))]
        ENVIRONMENT.write_text("\n".join([*kept, ENV_MARK, *(f"{v}{GUEST_CA}" for v in CA_VARIABLES)]) + "\n")

    def _untrust_lab_ca(self) -> list[str]:
        removed = []
        if GUEST_CA.exists():
            GUEST_CA.unlink()
            removed.append(f"file {GUEST_CA}")
        if ENVIRONMENT.exists() and ENV_MARK in ENVIRONMENT.read_text():
            kept = [x for x in ENVIRONMENT.read_text().splitlines() if not x.startswith((*CA_VARIABLES, ENV_MARK))]
            ENVIRONMENT.write_text("".join(f"{x}\n" for x in kept))
            removed.append(f"lab CA variables in {ENVIRONMENT}")
        return removed

    def _leftovers(self) -> list[str]:
        found = super()._leftovers()
        if RESOLV_CONF.exists() and "recon-atomics-harness lab" in RESOLV_CONF.read_text():
            found.append(f"file {RESOLV_CONF} points to the lab resolver")
        if Path(f"/sys/class/net/{self.uplink_lab}").exists():
            found.append(f"link {self.uplink_lab}")
        return found

    # As EmbeddedLab's, without the lab sshd (the VM's own sshd is the way in), and slower
    # under software emulation.
    READY_SERVICES = ("dns", "inet", "squid")

    def _wait_ready(self, timeout: float = 120.0) -> None:
        super()._wait_ready(timeout)

    def _down(self) -> list[str]:
        removed = super()._down()
        removed += self._untrust_lab_ca()
        saved = SAVED / "resolv.conf.orig"
        if saved.exists():
            shutil.copy2(saved, RESOLV_CONF)
            saved.unlink()
            removed.append(f"restored {RESOLV_CONF}")
        elif RESOLV_CONF.exists() and "recon-atomics-harness lab" in RESOLV_CONF.read_text():
            RESOLV_CONF.write_text("")  # the box's own: nothing to resolve without the lab
            removed.append(f"emptied {RESOLV_CONF}")
        if Path(f"/sys/class/net/{self.uplink_lab}").exists():
            _run(["ip", "link", "del", self.uplink_lab], check=False)
            removed.append(f"link {self.uplink_lab}")
        return removed

    def sensor_rows(self) -> list[dict[str, Any]]:
        """The VM's sensors as JSON rows (``SensorStatus`` fields), checked live."""
        return [s.to_dict() for s in self._core_sensors("VM")] + [sysmon_row()]


def sysmon_row() -> dict[str, Any]:
    """Sysmon for Linux as provisioning left it, proven now: installed, running, and a probe
    command's event reaching its log. Installed, it is mandatory (as in the embedded lab): a Sysmon
    that stopped is an error of the run, not a missing sensor."""
    from harness.lab.sysmon import probe

    try:
        status = SYSMON_STATUS.read_text().strip()
    except OSError:
        status = "unavailable: provisioning did not record Sysmon's status (the VM was not provisioned)"
    if status.startswith("installed"):
        running = any(_comm(p) == "sysmon" for p in Path("/proc").iterdir() if p.name.isdigit())
        why = probe(Path(GUEST_SYSMON_LOG)) if running else "Sysmon for Linux is installed but not running"
        return {"name": "sysmon", "available": not why, "reason": why, "mandatory": True}
    return {"name": "sysmon", "available": False, "reason": status.removeprefix("unavailable: "),
            "mandatory": False}


def _comm(proc: Path) -> str:
    try:
        return (proc / "comm").read_text().strip()
    except OSError:
        return ""


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.lab.vm_internet", description=__doc__.split("\n")[0])
    p.add_argument("action", choices=["up", "down", "status", "sensors"])
    p.add_argument("--lab-config", default=None)
    p.add_argument("--state-dir", default=None, help="state directory (default: the lab config's)")
    args = p.parse_args(argv)
    cfg = load_lab_config(args.lab_config)
    if args.state_dir:
        import dataclasses

        cfg = dataclasses.replace(cfg, state_dir=Path(args.state_dir))
    lab = VMInternetLab(cfg)
    try:
        if args.action == "up":
            state = lab.up(provision=False)
            print(json.dumps({"up": True, "seconds": state.info.get("up_seconds"), "ca": str(GUEST_CA)}))
        elif args.action == "down":
            print(json.dumps({"removed": lab.down()}))
        elif args.action == "status":
            st: LabStatus = lab.status()
            print(json.dumps({"up": st.up, "problems": list(st.problems)}))
            return 0 if st.up else 1
        else:
            print(json.dumps(lab.sensor_rows()))
    except HarnessError as exc:
        print(f"vm_internet: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
