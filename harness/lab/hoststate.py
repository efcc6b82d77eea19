"""A snapshot of everything on the host a lab could leave behind, to prove teardown is complete.

Compared before ``lab up`` and after ``lab down``: network namespaces, links, addresses, routes
(all tables), the nft ruleset, audit rules and settings, /etc/netns, PAM services, mounts, the
lab's state, cache-independent paths and output files, the harness's temp dirs, lab processes, and
Sysmon's footprint.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.lab import sysmon
from harness.lab.config import LabConfig
from harness.lab.instances import INSTANCES_DIR

_VOLATILE_AUDIT = re.compile(r"^(lost|backlog|pid|backlog_wait_time_actual)\b")


def cmd_output(*args: str) -> str:
    """stdout and stderr of a command, or a note that it is not installed (snapshots compare text)."""
    if shutil.which(args[0]) is None:
        return f"<{args[0]} not installed>"
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    return (proc.stdout + proc.stderr).strip()


def _ls(path: str | Path) -> str:
    p = Path(path)
    if not p.exists():
        return "<absent>"
    if p.is_dir():
        return " ".join(sorted(x.name for x in p.iterdir()))
    return "<file>"


@dataclass(frozen=True)
class HostState:
    items: tuple[tuple[str, str], ...]

    def diff(self, other: HostState) -> list[str]:
        """Human-readable differences between two snapshots (empty when identical)."""
        a, b = dict(self.items), dict(other.items)
        out = []
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"{key}:\n  before: {a.get(key)!r}\n  after:  {b.get(key)!r}")
        return out


def lab_processes(cfg: LabConfig) -> str:
    """Processes that belong to a lab: by its state dir or its sshd name in their command line."""
    # Every process the lab starts carries its state dir in argv (configs, logs, keys).
    markers = (str(cfg.state_dir), f"{cfg.name}-sshd", f"netns exec {cfg.name}-", str(INSTANCES_DIR))
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmdline for m in markers):
            found.append(cmdline.strip())
    return "\n".join(sorted(found))


def sysmon_footprint() -> str:
    """What the lab's Sysmon install may leave: its packages, files, /dev/log, mounts, daemons."""

    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if line.split()[2] in ("tracefs", "debugfs")]
    return "\n".join([
        "packages: " + " ".join(n for n in sysmon.PACKAGES if sysmon.dpkg_installed(n)),
        "files: " + " ".join(sysmon.footprint()),
        f"dev_log: {sysmon.DEV_LOG.exists() or sysmon.DEV_LOG.is_symlink()}",
        "trace_mounts: " + " ".join(sorted(mounts)),
        f"daemons: {len(sysmon.sysmon_pids())}",
        f"marker: {sysmon.MARKER.exists()}",
    ])


def snapshot(cfg: LabConfig) -> HostState:
    audit_status = "\n".join(
        line for line in cmd_output("auditctl", "-s").splitlines() if not _VOLATILE_AUDIT.match(line)
    )
    mounts = "\n".join(
        line for line in Path("/proc/mounts").read_text().splitlines() if "netns" in line or cfg.name in line
    )
    tmp_outputs = " ".join(sorted(p.name for p in Path("/tmp").glob("atomic-*")))
    tmp_harness = " ".join(sorted(p.name for p in Path("/tmp").glob(".harness-*")))
    # Temp dirs the harness records in its state file (telemetry slices, testinfra's ssh_config).
    tmp_dirs = " ".join(sorted(p.name for p in Path(tempfile.gettempdir()).glob("recon-harness-*")))
    items = {
        "netns": cmd_output("ip", "netns", "list"),
        "links": cmd_output("ip", "-o", "link", "show"),
        "addresses": cmd_output("ip", "-o", "addr", "show"),
        "routes": cmd_output("ip", "route", "show", "table", "all"),
        "routes6": cmd_output("ip", "-6", "route", "show", "table", "all"),
        "nft": cmd_output("nft", "-s", "list", "ruleset"),  # stateless: counters change on any busy host
        "audit_rules": cmd_output("auditctl", "-l"),
        "audit_status": audit_status,
        "etc_netns": _ls("/etc/netns"),
        "run_netns": _ls("/run/netns"),
        "run_sshd": _ls("/run/sshd"),
        "pam.d": _ls("/etc/pam.d"),
        "mounts": mounts,
        "state_dir": _ls(cfg.state_dir),
        "lab_instances": _ls(INSTANCES_DIR),  # harness lab up --name
        "sysmon_log_dir": _ls(sysmon.SHARED_DIR),
        "tmp_atomic_outputs": tmp_outputs,
        "tmp_harness_files": tmp_harness,
        "tmp_harness_dirs": tmp_dirs,
        "lab_processes": lab_processes(cfg),
        "sysmon": sysmon_footprint(),
    }
    return HostState(tuple(sorted(items.items())))
