"""Taking the embedded lab down: every process it started or left in its namespaces, pending atomic
cleanups, then every recorded step undone in reverse (through the undo registry of
:mod:`harness.lab.teardown`); leftovers of a run whose state file is gone are found by name."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.errors import LabError
from harness.lab import auditctl, teardown
from harness.lab import sysmon as lab_sysmon
from harness.lab.instances import HOST_LOCK, claims_of_others, others_live
from harness.lab.layout import NETNS_ETC, NETNS_RUN, PAM_DIR, LabLayout
from harness.lab.lock import lab_lock
from harness.lab.registry import LabStatus
from harness.lab.shell import in_netns, read_pid, require_root, run_checked
from harness.lab.state import LabState, Resource, proc_start_time


class Takedown(LabLayout):
    """Status, leftovers and ``down``."""

    def status(self) -> LabStatus:
        state = LabState.load(self.state_dir)
        if state is None:
            leftovers = self._leftovers()
            return LabStatus(False, tuple(f"leftover without state file: {x}" for x in leftovers), {})
        problems = []
        for res in state.resources:
            if res.kind == "process" and proc_start_time(int(res.data["pid"])) != res.data.get("start_time"):
                problems.append(f"process {res.name} (pid {res.data['pid']}) is not running")
            if res.kind == "netns" and not (NETNS_RUN / res.name).exists():
                problems.append(f"network namespace {res.name} is missing")
        return LabStatus(not problems, tuple(problems), dict(state.info))

    # Down --------------------------------------------------------------------------------------
    def _leftovers(self) -> list[str]:
        """Our named objects that exist although no state file says so (e.g. state dir deleted)."""
        found = []
        for ns in (self.cfg.lab_ns, self.cfg.inet_ns):
            if (NETNS_RUN / ns).exists():
                found.append(f"netns {ns}")
        if Path(f"/sys/class/net/{self.host_veth}").exists():
            found.append(f"link {self.host_veth}")
        if (PAM_DIR / self.pam_service).exists():
            found.append(f"file {PAM_DIR / self.pam_service}")
        if (NETNS_ETC / self.cfg.lab_ns).exists():
            found.append(f"dir {NETNS_ETC / self.cfg.lab_ns}")
        if lab_sysmon.leftover() is not None and not others_live(self.cfg):  # else it is theirs
            found.append(f"Sysmon install ({lab_sysmon.MARKER})")
        return found

    def down(self) -> list[str]:
        """Undo everything the lab created; returns what was removed. Safe to call repeatedly."""
        require_root("harness lab down")
        with lab_lock(self.cfg.name), lab_lock(HOST_LOCK):
            return self._down()

    def _down(self) -> list[str]:
        removed: list[str] = []
        errors: list[str] = []
        state = LabState.load(self.state_dir)
        resources = list(state.resources) if state else []
        inodes: dict[str, int] = dict(state.info.get("netns_inodes", {})) if state else {}
        # Leftovers of a run whose state file is gone: our names only.
        for ns in (self.cfg.lab_ns, self.cfg.inet_ns):
            if not any(r.kind == "netns" and r.name == ns for r in resources) and (NETNS_RUN / ns).exists():
                resources.insert(0, Resource("netns", ns))
        if not any(r.kind == "link" for r in resources):
            resources.append(Resource("link", self.host_veth))
        # Host-wide leftovers found by name belong to another live lab instance while one is up.
        others = others_live(self.cfg)
        sysmon_leftover = None if others else lab_sysmon.leftover()
        if sysmon_leftover is not None and not any(r.kind == "sysmon_install" for r in resources):
            resources.insert(0, Resource("sysmon_install", "sysmon", dict(sysmon_leftover)))  # undone last
        if not any(r.kind == "nft_table" for r in resources):
            guard = {"family": "inet", "table": self.guard_table}
            resources.append(Resource("nft_table", f"inet {self.guard_table}", guard))
        for path in (str(PAM_DIR / self.pam_service), str(NETNS_ETC / self.cfg.lab_ns)):
            if not any(r.name == path for r in resources):
                resources.append(Resource("file" if "pam" in path else "dir", path))
        if not others and not any(r.kind == "audit_rule" for r in resources) and shutil.which("auditctl"):
            for rule in auditctl.harness_rules(self.cfg.telemetry.audit_key, self.cfg.telemetry.audit_watch_dirs):
                resources.append(Resource("audit_rule", str(rule), {"fields": list(rule.fields)}))
        for ns in (self.cfg.lab_ns, self.cfg.inet_ns):
            if (NETNS_RUN / ns).exists() and ns not in inodes:
                inodes[ns] = os.stat(NETNS_RUN / ns).st_ino

        # Host-wide entries another live instance claims too stay for the last one down.
        held = claims_of_others(self.cfg)
        kept = [r for r in resources if r.data.get("shared") and (r.kind, r.name) in held]
        resources = [r for r in resources if r not in kept]

        # 1. Processes: the ones we started (same pid AND start time), then any process left inside
        #    our namespaces (sessions of our sshd: commands we ran), by pid.
        pids: dict[int, str] = {}
        for res in resources:
            if res.kind == "process":
                pid = int(res.data["pid"])
                if proc_start_time(pid) is not None and proc_start_time(pid) == res.data.get("start_time"):
                    pids[pid] = res.name
            elif res.kind == "process_starting":  # started by us if it started after the intent
                for pidfile in res.data.get("pidfiles", []):
                    pid = read_pid(Path(pidfile)) or 0
                    started = proc_start_time(pid) if pid else None
                    if started is not None and started >= int(res.data.get("not_before", 0)):
                        pids[pid] = res.name
        for pid in _pids_in_netns(set(inodes.values())):
            pids.setdefault(pid, leftover_label(pid))
        _terminate(pids, removed, errors)
        # A process forked while we were ending the others (a shell starting its next command) was
        # not in the scan: rescan until the namespaces are empty.
        for _ in range(5):
            late = {pid: leftover_label(pid) for pid in _pids_in_netns(set(inodes.values()))}
            if not late:
                break
            _terminate(late, removed, errors)

        # Atomics that detonated but were never cleaned up (the run was killed): their cleanup runs
        # now, on the lab host, once nothing of theirs still runs there.
        if state is not None:
            done, failed = teardown.undo_target_entries(state, self._lab_shell)
            removed += done
            errors += failed

        # 2. Everything else in reverse order of creation.
        for res in reversed(resources):
            if res.kind in teardown.TARGET_KINDS:
                continue
            try:
                msg = teardown.undo(res)
            except (LabError, OSError) as exc:
                errors.append(str(exc))
                continue
            if msg:
                removed.append(msg)
        if errors:
            raise LabError("lab down could not remove everything:\n  " + "\n  ".join(errors))
        return removed

    def _lab_shell(self, command: str, shell: str) -> tuple[int, str]:
        """Run ``command`` as the lab user on the lab host (its namespace, or the host's files if gone)."""
        user = [] if self.cfg.lab_user == "root" else ["runuser", "-u", self.cfg.lab_user, "--"]
        args = [*user, shell if shell in ("sh", "bash") else "sh", "-c", command]
        if (NETNS_RUN / self.cfg.lab_ns).exists():
            args = in_netns(self.cfg.lab_ns, *args)
        proc = run_checked(args, check=False, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr


def _pids_in_netns(inodes: set[int]) -> list[int]:
    if not inodes:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry / "ns" / "net").st_ino in inodes:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def leftover_label(pid: int) -> str:
    """How `lab down` names a process it found in a lab namespace (``process <label> (pid N)``)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        comm = "?"
    return f"{comm} left in a lab namespace"


def _terminate(pids: dict[int, str], removed: list[str], errors: list[str] | None = None) -> None:
    """End ``pids`` and return only once each has exited (Squid takes its time after SIGTERM); a process
    still there after the bounded wait past SIGKILL goes to ``errors`` (raised when none is given)."""
    result = teardown.terminate(pids)
    removed += result.ended
    if errors is not None:
        errors += result.survivors
    elif result.survivors:
        raise LabError("; ".join(result.survivors))
