"""Resetting the lab VM between destructive tests: a libvirt snapshot of the running VM, reverted.

bench/bench_vm_reset.py measured both ways of getting a clean VM back: reverting a snapshot of the
running domain (disk and memory) answers SSH again after 9.7 s (median of 5), a fresh domain from
the cached box after 211.5 s. So the snapshot it is. Two things a revert does not give back, both
found by that bench:

* the serial log that published the VM's host key at first boot is gone (the guest's console
  state is reverted, libvirt's log file restarted), so the key is read once, before the snapshot,
  and pinned for every reconnection;
* the guest's clock resumes at the snapshot's time, minutes behind: it is set from the controller
  right after each revert (log time windows are cut on the target's clock), and Sysmon, whose
  event times follow the monotonic clock the revert turned back, is restarted.

A snapshot left by a killed run is reused, not trusted to be absent: its name is fixed, and the VM
it holds is the clean one. ``harness lab down --lab vagrant`` removes snapshot metadata with the
domain (``virsh undefine --snapshots-metadata``), so a crash leaves nothing behind either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from harness.errors import LabError
from harness.lab.vagrant import DOMAIN_PREFIX, virsh
from harness.lab.vagrant_target import keep_host_key, pinned_host_key
from harness.targets.base import Target

#: The snapshot's name; one per domain (a second ART run on the same VM waits on the lab lock).
SNAPSHOT_NAME = "recon-harness-clean"
#: Sysmon for Linux stamps events (UtcTime) from the kernel's monotonic clock plus the wall time it
#: read when it started: a revert restores the old monotonic clock, so after one its UtcTime lagged
#: by all the time reverts had skipped (29 min after 55 reverts, while auditd and syslog, on the
#: wall clock just set, were right). Restarting it once the clock is set takes about a second.
RESTART_CLOCKED_SENSORS = "if systemctl is-active --quiet sysmon 2>/dev/null; then systemctl restart sysmon; fi"


@dataclass(frozen=True)
class VmSnapshot:
    """A snapshot of the lab VM's domain, with the host key pinned before it was taken."""

    machine: str
    domain: str
    host_key: str
    name: str = SNAPSHOT_NAME
    created_s: float = 0.0
    reused: bool = False  # a snapshot a killed run left: the clean VM it holds is reverted to first
    ssh_url: str = ""  # the VM's address as `vagrant ssh-config` gave it at the snapshot (same after a revert)

    @property
    def target_url(self) -> str:
        """The ``vagrant://`` URL that reaches the VM after a revert (host key pinned)."""
        return f"vagrant://{self.machine}?host_key={quote(self.host_key, safe='')}"

    @classmethod
    def take(cls, machine: str, serial_log: Path | str, name: str = SNAPSHOT_NAME) -> VmSnapshot:
        """Snapshot the running VM ``machine`` now (or reuse the snapshot a killed run left)."""
        domain = f"{DOMAIN_PREFIX}{machine}"
        if virsh("domstate", domain, check=False).stdout.strip() != "running":
            raise LabError(f"the lab VM {domain} is not running: `harness lab up --lab vagrant` first")
        key = keep_host_key(Path(serial_log)) or pinned_host_key(Path(serial_log))
        if key is None:
            raise LabError(f"the lab VM published no host key in {serial_log}: cannot pin it across reverts")
        ssh_url = _ssh_url(machine, key)
        names = virsh("snapshot-list", domain, "--name", check=False).stdout.split()
        if name in names:
            return cls(machine, domain, key, name, reused=True, ssh_url=ssh_url)
        t0 = time.monotonic()
        proc = virsh("snapshot-create-as", domain, name, "--description",
                     "recon-harness: clean lab VM, reverted between destructive tests", check=False)
        if proc.returncode != 0:
            raise LabError(f"virsh snapshot-create-as {domain} {name} failed: {proc.stderr.strip()[-400:]}")
        return cls(machine, domain, key, name, created_s=round(time.monotonic() - t0, 2), ssh_url=ssh_url)

    def revert(self, timeout: float = 180.0) -> float:
        """Revert the VM to the snapshot, wait until SSH answers, set the guest's clock; seconds taken."""
        t0 = time.monotonic()
        proc = virsh("snapshot-revert", self.domain, self.name, check=False)
        if proc.returncode != 0:
            raise LabError(f"virsh snapshot-revert {self.domain} {self.name} failed: {proc.stderr.strip()[-400:]}")
        target = self._wait_ssh(t0 + timeout)
        try:
            res = target.run(f"date -u -s @{time.time():.3f} >/dev/null && {RESTART_CLOCKED_SENSORS}", timeout=60)
            if res.rc != 0:
                raise LabError(f"setting the reverted VM's clock failed: {res.stderr.strip()[:200]}")
        finally:
            target.close()
        return round(time.monotonic() - t0, 2)

    def _wait_ssh(self, deadline: float) -> Target:
        from harness.targets import get_target

        last: Exception | None = None
        while time.monotonic() < deadline:
            # straight to the address: each `vagrant ssh-config` costs seconds of Ruby start-up
            target = get_target(self.ssh_url or self.target_url)
            try:
                if target.run("true", timeout=10).rc == 0:
                    return target
            except Exception as exc:  # the guest's sshd is not back yet: any connection error means "again"
                last = exc
            target.close()
            time.sleep(0.3)
        raise LabError(f"the lab VM did not answer SSH within the revert timeout after a revert: {last}")

    def delete(self) -> str | None:
        """Delete the snapshot; the problem, or None."""
        proc = virsh("snapshot-delete", self.domain, self.name, check=False)
        if proc.returncode != 0 and "not found" not in proc.stderr.lower():
            return f"virsh snapshot-delete {self.domain} {self.name}: {proc.stderr.strip()[-300:]}"
        return None


def _ssh_url(machine: str, host_key: str) -> str:
    """An ``ssh://`` URL of the VM (address, port, Vagrant's key, the pinned host key)."""
    import os

    from harness.atomics.loader import repo_root
    from harness.lab.vagrant_target import vagrant_ssh_config

    entry = vagrant_ssh_config(machine, Path(os.environ.get("RECON_HARNESS_VAGRANT_CWD", str(repo_root()))))
    if not entry.identity_files:
        return ""
    return (f"ssh://root@{entry.hostname}:{entry.port}?identity_file={quote(entry.identity_files[0], safe='')}"
            f"&host_key={quote(host_key, safe='')}")
